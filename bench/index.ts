// `npm run bench [-- --quick] [-- --only=recovery,storm,...]`: every benchmark, one table each, and
// bench/results/summary.json (--quick writes to bench/results/quick/, which is not committed).
//
// Order: the millisecond-scale measurements run alone (vici, recovery, storm); the slow, mostly idle ones
// (stale tunnel / state loss with their probe intervals, and the footprint windows) run side by side on their
// own labs, since they wait seconds to minutes and measure seconds or per-process CPU.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { buildAgent } from './lib/build.js';
import { parseBenchArgs, requireRoot } from './lib/common.js';
import { formatTable, machine, printResult, progress, resultsDir, writeResult, type BenchResult } from './lib/report.js';
import { runFootprint } from './footprint.js';
import { runRecovery } from './recovery.js';
import { runStale } from './stale.js';
import { runStorm } from './storm.js';
import { runPassive } from './passive.js';
import { runViciReport } from './vici-report.js';

type Runner = (o: { quick: boolean }) => Promise<BenchResult>;

async function main(): Promise<void> {
  requireRoot('bench');
  const o = parseBenchArgs();
  const t0 = performance.now();
  const want = (n: string) => !o.only || o.only.includes(n);
  progress(`bench: ${o.quick ? 'quick' : 'full'} run${o.only ? ` (only ${o.only.join(', ')})` : ''}`);
  buildAgent(progress);
  const results: BenchResult[] = [];
  const failures: { name: string; error: string }[] = [];
  const attempt = async (name: string, fn: Runner) => {
    if (!want(name)) return;
    try {
      const r = await fn(o);
      writeResult(r);
      results.push(r);
      progress(`bench: ${name} done in ${r.durationS.toFixed(0)} s`);
    } catch (err) {
      failures.push({ name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      progress(`bench: ${name} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await attempt('vici', runViciReport);
  await attempt('recovery', runRecovery);
  if (o.quick) {
    // --quick trades isolation for time: the storm (seconds-scale) shares the machine with the slow group.
    await Promise.all([attempt('storm', runStorm), attempt('stale', runStale), attempt('footprint', runFootprint), attempt('passive', runPassive)]);
  } else {
    await attempt('storm', runStorm);
    await Promise.all([attempt('stale', runStale), attempt('footprint', runFootprint), attempt('passive', runPassive)]);
  }

  const durationS = (performance.now() - t0) / 1000;
  const order = ['recovery', 'stale', 'passive', 'vici-report', 'footprint', 'storm'];
  results.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  for (const r of results) printResult(r);
  const missed = results.flatMap((r) => r.rows.filter((x) => x.verdict === 'MISSED').map((x) => `${r.name}: ${x.metric}`));
  const summary = {
    at: new Date().toISOString(),
    mode: o.quick ? 'quick' : 'full',
    durationS,
    machine: machine(),
    benchmarks: results.map((r) => ({ name: r.name, title: r.title, file: `${r.name}.json`, durationS: r.durationS, rows: r.rows, method: r.method })),
    missed,
    failures,
  };
  const dir = resultsDir(o.quick);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  // The same tables as markdown, ready for docs/benchmarks.md.
  const md = results.map((r) => formatTable(`${r.title} (${r.durationS.toFixed(0)} s)`, r.rows)).join('\n\n');
  writeFileSync(path.join(dir, 'summary.md'), `${md}\n`);
  console.log(`\nbench: ${o.quick ? 'quick' : 'full'} run took ${durationS.toFixed(0)} s; ${missed.length} target(s) missed; ${failures.length} benchmark(s) failed`);
  for (const f of failures) console.log(`  FAILED ${f.name}: ${f.error.split('\n')[0]}`);
  progress(`written ${path.relative(process.cwd(), path.join(dir, 'summary.json'))}`);
  if (failures.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
