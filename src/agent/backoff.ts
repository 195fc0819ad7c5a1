// Exponential backoff with "full jitter" (AWS architecture blog): the delay before attempt n is
// uniform in [0.5, 1] x min(cap, base x 2^(n-1)). The half-floor keeps a flapping peer from being
// retried almost at once, the jitter keeps many tunnels of one dead peer from retrying in step.

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** Delay before the given failed-attempt count is retried. 0 failures: no delay. */
export function backoffDelay(failures: number, p: BackoffPolicy, random: () => number = Math.random): number {
  if (failures <= 0) return 0;
  const exp = Math.min(p.capMs, p.baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(exp * (0.5 + 0.5 * random()));
}
