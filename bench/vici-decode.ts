// `node --import tsx bench/vici-decode.ts`: decode throughput of src/vici/message.ts alone, many times over,
// for work on the decoder. bench/vici.ts takes one median for the results table; this one reports the spread
// (median, best, 10th percentile) because single figures on the shared 2-core VM vary 2x between processes.
//
//   --against <rev>   also load src/vici as of git <rev> and time both, interleaved round by round, in this
//                     one process (the fairest before/after comparison here: same heap, same noise); <rev>
//                     may also be a directory holding a copy of src/vici (an experiment not committed)
//   --procs <n>       run the whole thing in n fresh processes one after another and summarise across them
//                     (JIT and heap layout differ per process; that spread is part of the answer)
//   --rounds <n>      timed rounds per case (default 40), each of --per calls (default 5)
//   --json            print one JSON line (what --procs reads from its children)
//
// Data: the ~423 KiB charon-shaped list-sa event with 1000 CHILD_SAs (bench/vici-data.ts, the target's
// message); the same with new CHILD_SA names on every call (names are keys the decoder's table of charon's
// own key names cannot know); and, as a check on real bytes,
// every message charon sent in the recorded fixtures/vici/*.jsonl (small messages: per-call costs dominate).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parsePacket } from '../src/vici/packet.js';
import * as current from '../src/vici/message.js';
import { listSaFrame, renamedListSaFrames } from './vici-data.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Impl {
  label: string;
  decodeMessage: (buf: Buffer, base?: number) => unknown;
  decodeMessagePlain: (buf: Buffer, base?: number) => unknown;
}

interface Case {
  name: string;
  bytes: number;
  run: () => void;
}

interface Stats {
  median: number;
  best: number;
  p10: number;
}

type Report = Record<string, Stats>;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** src/vici as of git `rev`, extracted to a temporary directory and imported from there. */
async function loadRevision(rev: string): Promise<Impl> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vici-bench-'));
  const tar = execFileSync('git', ['archive', rev, 'src/vici'], { cwd: ROOT, maxBuffer: 64 << 20 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  // ESM like the working tree: outside a "type": "module" package tsx would load it as CommonJS, where every
  // call across modules goes through an export getter, and the comparison would be unfair.
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const mod = (await import(pathToFileURL(path.join(dir, 'src/vici/message.ts')).href)) as Impl;
  return { label: rev, decodeMessage: mod.decodeMessage, decodeMessagePlain: mod.decodeMessagePlain };
}

/** A copy of src/vici in `dir` (in a "type": "module" package, see loadRevision). */
async function loadDirectory(dir: string): Promise<Impl> {
  const mod = (await import(pathToFileURL(path.resolve(dir, 'message.ts')).href)) as Impl;
  return { label: path.basename(dir), decodeMessage: mod.decodeMessage, decodeMessagePlain: mod.decodeMessagePlain };
}

/** Message bodies (payloads) of every packet charon sent in the recorded fixtures. */
function fixturePayloads(): Buffer[] {
  const dir = path.join(ROOT, 'fixtures/vici');
  const out: Buffer[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line.includes('"s2c"')) continue;
      const { hex } = JSON.parse(line) as { hex?: string };
      if (hex === undefined) continue;
      const p = parsePacket(Buffer.from(hex, 'hex').subarray(4));
      if (p.payload.length > 0) out.push(p.payload);
    }
  }
  return out;
}

function cases(impls: Impl[]): Case[] {
  const big = parsePacket(listSaFrame(1000).subarray(4));
  const renamed = renamedListSaFrames(1000, 8).map((f) => parsePacket(f.subarray(4)));
  let next = 0;
  const cold = () => renamed[next++ % renamed.length]!;
  const small = fixturePayloads();
  const smallBytes = small.reduce((a, b) => a + b.length, 0);
  const out: Case[] = [];
  for (const impl of impls) {
    const { decodeMessage, decodeMessagePlain } = impl;
    out.push(
      { name: `${impl.label} buffer list-sa`, bytes: big.payload.length, run: () => decodeMessage(big.payload, big.payloadOffset) },
      { name: `${impl.label} text   list-sa`, bytes: big.payload.length, run: () => decodeMessagePlain(big.payload, big.payloadOffset) },
      { name: `${impl.label} buffer list-sa cold`, bytes: renamed[0]!.payload.length, run: () => decodeMessage(cold().payload) },
      { name: `${impl.label} text   list-sa cold`, bytes: renamed[0]!.payload.length, run: () => decodeMessagePlain(cold().payload) },
      { name: `${impl.label} buffer fixtures`, bytes: smallBytes, run: () => small.forEach((p) => decodeMessage(p)) },
      { name: `${impl.label} text   fixtures`, bytes: smallBytes, run: () => small.forEach((p) => decodeMessagePlain(p)) },
    );
  }
  return out;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

/** MB/s per case: every round runs each case once (interleaved), so slow phases of the machine hit all. */
function measure(all: Case[], rounds: number, per: number): Report {
  for (const c of all) for (let k = 0; k < per * 10; k++) c.run();
  const mbs = new Map<string, number[]>(all.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of all) {
      const t0 = performance.now();
      for (let k = 0; k < per; k++) c.run();
      const ms = (performance.now() - t0) / per;
      mbs.get(c.name)!.push(c.bytes / 1e6 / (ms / 1000));
    }
  }
  const report: Report = {};
  for (const [name, xs] of mbs) {
    const s = xs.sort((a, b) => a - b);
    report[name] = { median: quantile(s, 0.5), best: s[s.length - 1]!, p10: quantile(s, 0.1) };
  }
  return report;
}

function print(title: string, report: Report): void {
  console.log(title);
  console.log(`${'case'.padEnd(34)} ${'median'.padStart(8)} ${'p10'.padStart(8)} ${'best'.padStart(8)}   (MB/s)`);
  for (const [name, s] of Object.entries(report)) {
    console.log(`${name.padEnd(34)} ${s.median.toFixed(1).padStart(8)} ${s.p10.toFixed(1).padStart(8)} ${s.best.toFixed(1).padStart(8)}`);
  }
}

/** Runs this script in `n` fresh processes and summarises: median and minimum of the per-process medians. */
function acrossProcesses(n: number): void {
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--procs' && all[i - 1] !== '--procs');
  const medians = new Map<string, number[]>();
  for (let k = 0; k < n; k++) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args, '--json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child ${k} failed: ${r.stderr}`);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as Report;
    for (const [name, s] of Object.entries(report)) medians.set(name, [...(medians.get(name) ?? []), s.median]);
    process.stderr.write('.');
  }
  process.stderr.write('\n');
  console.log(`across ${n} processes: the per-process medians (MB/s)`);
  console.log(`${'case'.padEnd(34)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'max'.padStart(8)}`);
  for (const [name, xs] of medians) {
    const s = xs.sort((a, b) => a - b);
    console.log(`${name.padEnd(34)} ${quantile(s, 0.5).toFixed(1).padStart(8)} ${s[0]!.toFixed(1).padStart(8)} ${s[s.length - 1]!.toFixed(1).padStart(8)}`);
  }
}

async function main(): Promise<void> {
  const procs = arg('--procs');
  if (procs !== undefined) return acrossProcesses(Number(procs));
  const impls: Impl[] = [{ label: 'now', decodeMessage: current.decodeMessage, decodeMessagePlain: current.decodeMessagePlain }];
  const against = arg('--against');
  if (against !== undefined) impls.push(existsSync(path.join(against, 'message.ts')) ? await loadDirectory(against) : await loadRevision(against));
  const report = measure(cases(impls), Number(arg('--rounds') ?? 40), Number(arg('--per') ?? 5));
  if (process.argv.includes('--json')) console.log(JSON.stringify(report));
  else print(`decode throughput, ${process.version}, one process`, report);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
