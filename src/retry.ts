// The one retry policy: exponential backoff with "equal jitter" (half the step fixed, half random:
// the delay before attempt n is uniform in [1/2, 1] x min(cap, base x 2^(n-1))), and a per-key failure
// rate limiter after client-go's ItemExponentialFailureRateLimiter. The fixed half keeps a flapping
// peer from being retried almost at once; the random half keeps many tunnels of one dead peer, or
// many agents of one charon, from retrying in step. Tunnel repairs, the VICI reconnect and alert
// delivery all use it.

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** Delay before retrying after `failures` consecutive failures; 0 failures: none. */
export function backoffDelay(failures: number, p: BackoffPolicy, random: () => number = Math.random): number {
  if (failures <= 0) return 0;
  const step = Math.min(p.capMs, p.baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(step * (0.5 + 0.5 * random()));
}

/** Failures counted per key; `when` records one more and says how long to wait. */
export class FailureRateLimiter<K = string> {
  private readonly counts = new Map<K, number>();

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  when(key: K): number {
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return backoffDelay(n, this.policy, this.random);
  }

  failures(key: K): number {
    return this.counts.get(key) ?? 0;
  }

  /** Success: the next failure starts from the base again. */
  forget(key: K): void {
    this.counts.delete(key);
  }
}
