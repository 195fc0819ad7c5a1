// The code under test is one compiled snapshot of src/, taken once per run: by default the committed HEAD
// (`git archive`), so a run measures a commit and never a half-saved file of someone's work in progress;
// BENCH_SOURCE=worktree snapshots the working tree instead (copied first, then compiled). It is compiled with
// the project's tsconfig.build.json (what `npm run build` ships) into node_modules/.cache, outside lint and
// type-check, where module resolution still finds node_modules. Everything the benchmarks run of the product
// (the agent CLI, the in-process Agent, ViciClient, probeAll) is loaded from there; lab/ is the world and
// is used from the tree.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = path.join(ROOT, 'node_modules/.cache/ipsec-keepalive-bench');

export interface Build {
  /** the compiled dist/ directory */
  dist: string;
  /** the CLI entry (`ipsec-keepalive`) */
  main: string;
  commit: string;
  source: 'HEAD' | 'worktree';
  /** uncommitted changes under src/ at build time (not in a HEAD build) */
  dirtySrc: string[];
  /** file URL of a module of the build, e.g. url('vici/index.js') */
  url(rel: string): string;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

let current: Build | undefined;

/** The commit and the uncommitted files under src/. */
export function sourceState(): { commit: string; source: string; dirtySrc: string[] } {
  return {
    commit: current?.commit ?? git(['rev-parse', '--short', 'HEAD']),
    source: current?.source ?? 'not built',
    dirtySrc: git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean),
  };
}

function makeBuild(dir: string, commit: string, source: Build['source'], dirtySrc: string[]): Build {
  const dist = path.join(dir, 'dist');
  return { dist, main: path.join(dist, 'cli/main.js'), commit, source, dirtySrc, url: (rel) => pathToFileURL(path.join(dist, rel)).href };
}

/** Snapshots and compiles once per process; later calls return the same build. */
export function buildAgent(log: (s: string) => void = () => {}): Build {
  if (current) return current;
  const source: Build['source'] = process.env['BENCH_SOURCE'] === 'worktree' ? 'worktree' : 'HEAD';
  const commit = git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';
  const dirtySrc = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean);
  const dir = path.join(CACHE, source === 'HEAD' ? commit : 'worktree');
  const b = makeBuild(dir, commit, source, source === 'worktree' ? dirtySrc : []);
  if (source === 'HEAD' && existsSync(path.join(dir, 'complete'))) {
    current = b;
    return b;
  }
  const t0 = Date.now();
  rmSync(dir, { recursive: true, force: true });
  const snap = path.join(dir, 'snapshot');
  mkdirSync(snap, { recursive: true });
  if (source === 'HEAD') {
    const tar = execFileSync('git', ['archive', '--format=tar', 'HEAD', 'src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'], { cwd: ROOT, maxBuffer: 256 * 2 ** 20 });
    execFileSync('tar', ['-x', '-C', snap], { input: tar });
  } else {
    for (const f of ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) cpSync(path.join(ROOT, f), path.join(snap, f), { recursive: true });
  }
  try {
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(snap, 'tsconfig.build.json'), '--outDir', b.dist, '--declaration', 'false', '--sourceMap', 'false'],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: snap, encoding: 'utf8' },
    );
  } catch (err) {
    // tsc still emits on type errors: go on with a loud note, fail only when nothing was emitted.
    const out = String((err as { stdout?: string }).stdout ?? '');
    if (!existsSync(b.main)) throw new Error(`tsc failed and emitted nothing:\n${out}`, { cause: err });
    log(`WARNING: tsc reported errors in the ${source} snapshot, benchmarking what it emitted:\n${out.split('\n').slice(0, 6).join('\n')}`);
  }
  // The CLI reads ../../package.json (from dist/cli) for its version.
  cpSync(path.join(snap, 'package.json'), path.join(dir, 'package.json'));
  writeFileSync(path.join(dir, 'complete'), `${new Date().toISOString()}\n`);
  log(`built the agent from ${source === 'HEAD' ? `commit ${commit}` : 'the working tree'} in ${Date.now() - t0} ms`);
  current = b;
  return b;
}

/** The build of this run (buildAgent must have run). */
export function built(): Build {
  if (!current) throw new Error('bench: buildAgent() has not run');
  return current;
}

/** The product's modules, from the build. */
export async function loadBuilt() {
  const b = built();
  const [vici, agent, config, probes] = await Promise.all([
    import(b.url('vici/index.js')) as Promise<typeof import('../../src/vici/index.js')>,
    import(b.url('agent/controller/agent.js')) as Promise<typeof import('../../src/agent/controller/agent.js')>,
    import(b.url('agent/config/load.js')) as Promise<typeof import('../../src/agent/config/load.js')>,
    import(b.url('probes/index.js')) as Promise<typeof import('../../src/probes/index.js')>,
  ]);
  return { ViciClient: vici.ViciClient, Agent: agent.Agent, parseConfig: config.parseConfig, runProbe: probes.runProbe };
}
