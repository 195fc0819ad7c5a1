// One probe round over many targets (test/support/probe-pool.ts probeAll) probing with the build's dispatcher
// (probes/index.js runProbe), run inside a lab namespace:
// node --import tsx bench/lib/probe-round.ts REQUEST.json  ->  one JSON line of results.
import { readFileSync } from 'node:fs';
import type { ProbeOptions, ProbeTarget } from '../../src/probes/types.js';
import { probeAll as poolAll } from '../../test/support/probe-pool.js';

interface Req {
  targets: ProbeTarget[];
  source: string;
  timeoutMs: number;
  rounds: number;
  /** the anchor: the same call over only the first target */
  singleRounds: number;
  /** file URL of the build's probes/index.js */
  probesModule: string;
}

async function main(): Promise<void> {
  const req = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as Req;
  const { runProbe } = (await import(req.probesModule)) as typeof import('../../src/probes/index.js');
  const probeAll = (targets: readonly ProbeTarget[], o: ProbeOptions) => poolAll(targets, o, { probe: runProbe });
  const opts = { timeoutMs: req.timeoutMs, sourceAddr: req.source };
  const single: number[] = [];
  const many: { ms: number; ok: number; refused: number; failed: number; errors: Record<string, number> }[] = [];
  // Warm-up: module loading, the raw socket, JIT.
  await probeAll(req.targets.slice(0, 1), opts);
  for (let i = 0; i < req.singleRounds; i++) {
    const t0 = performance.now();
    await probeAll(req.targets.slice(0, 1), opts);
    single.push(performance.now() - t0);
  }
  for (let i = 0; i < req.rounds; i++) {
    const t0 = performance.now();
    const rs = await probeAll(req.targets, opts);
    const ms = performance.now() - t0;
    const errors: Record<string, number> = {};
    for (const r of rs) if (!r.success) errors[r.errorCode ?? 'other'] = (errors[r.errorCode ?? 'other'] ?? 0) + 1;
    many.push({ ms, ok: rs.filter((r) => r.success).length, refused: errors['refused'] ?? 0, failed: rs.filter((r) => !r.success).length, errors });
  }
  process.stdout.write(`${JSON.stringify({ single, many })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`probe-round: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
