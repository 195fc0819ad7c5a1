// The VICI figures (bench/vici.ts, owned with src/vici) in this report's table shape. Full mode runs
// bench/vici.ts as its own process (it writes bench/results/vici.json) so its numbers come from the same run;
// --quick reads the last vici.json and says how old it is.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../lab/proc.js';
import { ROOT } from './lib/build.js';
import type { BenchOptions } from './lib/common.js';
import type { ViciRow } from './vici.js';
import { benchResult, progress, row, type BenchResult, type Row } from './lib/report.js';

const VICI_JSON = path.join(ROOT, 'bench/results/vici.json');

export async function runViciReport(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  const method: string[] = [];
  if (!o.quick) {
    progress('vici: running bench/vici.ts (decode MB/s, list-sas 400/1000 vs swanctl)');
    const r = await run([process.execPath, '--import', 'tsx', path.join(ROOT, 'bench/vici.ts')], { allowFail: true, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`bench/vici.ts exited ${r.code}: ${r.stderr.slice(-1500)}`);
    process.stdout.write(`${r.stdout}\n`);
    method.push('bench/vici.ts run as part of this run (its own labs with 400 and 1000 CHILD_SAs); rows copied from bench/results/vici.json.');
  }
  if (!existsSync(VICI_JSON)) throw new Error('no bench/results/vici.json: run `npm run bench:vici` (or the full bench) first');
  const j = JSON.parse(readFileSync(VICI_JSON, 'utf8')) as { at?: string; rows?: ViciRow[] };
  if (o.quick) method.push(`--quick does not run bench/vici.ts (it starts two labs of 400 and 1000 CHILD_SAs); these rows are from bench/results/vici.json of ${j.at ?? 'an unknown date'}.`);
  const rows: Row[] = (j.rows ?? []).map((v) =>
    row({
      metric: v.what,
      agent: v.value,
      unit: v.unit,
      anchor: v.reference ?? null,
      anchorLabel: v.reference === undefined ? '' : /list-sas/.test(v.what) ? 'swanctl --list-sas --raw' : 'reference',
      ...(v.ratio !== undefined ? { ratio: v.ratio } : {}),
      target: v.target ?? '',
      verdict: v.ok === undefined ? 'info' : v.ok ? 'met' : 'MISSED',
    }),
  );
  method.push('Owned by the VICI client (src/vici); see bench/vici.ts for the method. Anchor for list-sas: `swanctl --list-sas --raw` on the same charon in the same run; decode figures have their calibration row.');
  return benchResult(
    { name: 'vici-report', title: 'VICI client (from bench/vici.ts)', o, started },
    {
      rows,
      method,
      raw: { source: path.relative(ROOT, VICI_JSON), viciAt: j.at },
    },
  );
}
