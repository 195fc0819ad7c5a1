// The agent under test is the production build (tsc, as `npm run build` makes it), compiled into a private
// directory so a benchmark never races someone else's `dist/` and never measures tsx's loader thread.
// node_modules/.cache keeps it outside lint and type-check, and module resolution still finds node_modules.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = path.join(ROOT, 'node_modules/.cache/ipsec-keepalive-bench');
export const AGENT_MAIN = path.join(OUT, 'dist/cli/main.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The commit and the uncommitted files under src/, for the results. */
export function sourceState(): { commit: string; dirtySrc: string[] } {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  return { commit: git(['rev-parse', '--short', 'HEAD']), dirtySrc: git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean) };
}

/** Compiles src/ unless the private build is newer than every source file. Returns the CLI entry. */
export function buildAgent(log: (s: string) => void = () => {}): string {
  const src = path.join(ROOT, 'src');
  if (existsSync(AGENT_MAIN) && statSync(AGENT_MAIN).mtimeMs > newest(src)) return AGENT_MAIN;
  const t0 = Date.now();
  mkdirSync(OUT, { recursive: true });
  try {
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(OUT, 'dist'), '--declaration', 'false', '--sourceMap', 'false'],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT, encoding: 'utf8' },
    );
  } catch (err) {
    // tsc still emits on type errors (someone's work in progress in src/): go on with a loud note, fail only
    // when nothing was emitted. The results record the commit and the uncommitted files of src/.
    const out = String((err as { stdout?: string }).stdout ?? '');
    if (!existsSync(AGENT_MAIN)) throw new Error(`tsc failed and emitted nothing:\n${out}`, { cause: err });
    log(`WARNING: tsc reported errors, benchmarking what it emitted:\n${out.split('\n').slice(0, 6).join('\n')}`);
  }
  // The CLI reads ../../package.json for its version.
  copyFileSync(path.join(ROOT, 'package.json'), path.join(OUT, 'package.json'));
  log(`built the agent into ${path.relative(ROOT, OUT)} in ${Date.now() - t0} ms`);
  return AGENT_MAIN;
}
