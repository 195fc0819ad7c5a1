// npm run soak -- --faults 200 --seed 42 [--ci] [--kinds a,b] [--only 3,17] [--out DIR]
//
// Runs the fault soak (test/soak/runner.ts) on a fresh lab as root: a seeded random schedule of
// faults against the real agent, checks after each, a table at the end. Exit 0 without violations,
// 1 with, 64 on bad arguments. Without --seed a random seed is drawn and printed: re-run with it.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { runSoak } from '../test/soak/runner.js';
import { formatRss } from '../test/soak/report.js';
import { FAULT_KINDS, type FaultKind } from '../test/soak/schedule.js';

function usage(msg: string): never {
  console.error(`soak: ${msg}\nusage: npm run soak -- --faults N [--seed N] [--ci] [--kinds ${FAULT_KINDS.join(',')}] [--only I,J] [--out DIR]`);
  process.exit(64);
}

let values: { faults?: string; seed?: string; ci?: boolean; kinds?: string; only?: string; out?: string };
try {
  ({ values } = parseArgs({
    options: { faults: { type: 'string' }, seed: { type: 'string' }, ci: { type: 'boolean' }, kinds: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  }));
} catch (err) {
  usage((err as Error).message);
}
const int = (name: string, v: string | undefined, dflt?: number): number => {
  if (v === undefined && dflt !== undefined) return dflt;
  if (v === undefined || !/^\d+$/.test(v)) usage(`--${name} needs a non-negative integer`);
  return Number(v);
};
const faults = int('faults', values.faults, 200);
const seed = values.seed === undefined ? randomInt(0, 2 ** 31) : int('seed', values.seed);
const kinds = values.kinds?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
for (const k of kinds ?? []) if (!FAULT_KINDS.includes(k)) usage(`unknown fault kind ${JSON.stringify(k)}`);
const only = values.only?.split(',').map((i) => int('only', i.trim()));
if (process.getuid?.() !== 0) usage('the lab needs root (network namespaces, charon)');

const out = values.out ?? `/tmp/ipsec-keepalive-soak-${seed}`;
console.log(`soak: seed ${seed} (re-run: npm run soak -- --faults ${faults} --seed ${seed}${values.ci ? ' --ci' : ''}); agent logs and report in ${out}`);
const r = await runSoak({ seed, faults, mode: values.ci ? 'ci' : 'long', ...(kinds ? { kinds } : {}), ...(only ? { only } : {}), outDir: out, log: (l) => console.log(l) });
console.log(`\nseed ${r.seed}, ${r.records.length} faults in ${(r.durationMs / 60_000).toFixed(1)} min (${r.mode} mode)${r.completed ? '' : ', NOT COMPLETED'}\n`);
console.log(r.table);
console.log(`\n${formatRss(r.rss)}`);
console.log(`secrets (PSK, webhook path and token, Slack token, SMTP password) checked in: ${r.secretsChecked.map((s) => `${s.source} (${s.bytes} bytes)`).join(', ')}`);
if (r.violations.length) {
  console.log(`\n${r.violations.length} violation(s):`);
  for (const v of r.violations) console.log(`- ${v}`);
} else {
  console.log('\nno violations');
}
process.exit(r.violations.length ? 1 : 0);
