// A probe round over many targets: bounded concurrency, results in input order, and a round that
// ends by `timeoutMs` after it started however many targets there are. Not part of the product (the
// agent probes each tunnel on its own timer): used by the probe tests and the footprint benchmark.
import { performance } from 'node:perf_hooks';
import { runProbe } from '../../src/probes/index.js';
import { ms } from '../../src/probes/outcome.js';
import { probeTargetLabel, type ProbeOptions, type ProbeResult, type ProbeTarget } from '../../src/probes/types.js';

export interface PoolOptions {
  /** Probes in flight at once (file descriptors, SYN bursts). Default 512. */
  concurrency?: number;
  /** Injected by tests, and by benchmarks to probe with a build's dispatcher; defaults to src/probes' runProbe. */
  probe?: (t: ProbeTarget, o: ProbeOptions) => Promise<ProbeResult>;
}

/**
 * Every probe gets at most what is left of the round's budget (`opts.timeoutMs` from the call), so a
 * round of any size finishes in about one timeout. A target still queued when the budget is spent
 * (concurrency too low for the number of slow targets) is reported as not probed rather than
 * silently dropped: one result per target, always.
 */
export async function probeAll(targets: readonly ProbeTarget[], opts: ProbeOptions, pool: PoolOptions = {}): Promise<ProbeResult[]> {
  const concurrency = Math.max(1, Math.floor(pool.concurrency ?? 512));
  const probe = pool.probe ?? runProbe;
  const roundEnd = performance.now() + opts.timeoutMs;
  const results = new Array<ProbeResult>(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= targets.length) return;
      const t = targets[i]!;
      const left = Math.floor(roundEnd - performance.now());
      if (left <= 0 || opts.signal?.aborted) {
        results[i] = notProbed(t, opts.signal?.aborted ? 'aborted before start' : `round budget of ${opts.timeoutMs} ms spent before start (concurrency ${concurrency})`);
        continue;
      }
      const started = performance.now();
      try {
        results[i] = await probe(t, { ...opts, timeoutMs: left });
      } catch (err) {
        // Probers never reject; an injected one might.
        results[i] = { ...notProbed(t, err instanceof Error ? err.message : String(err)), durationMs: ms(started) };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return results;
}

function notProbed(t: ProbeTarget, why: string): ProbeResult {
  return {
    kind: t.kind,
    target: probeTargetLabel(t),
    success: false,
    durationMs: 0,
    phases: {},
    error: `not probed: ${why}`,
    errorCode: 'other',
  };
}
