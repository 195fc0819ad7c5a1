// Poll-with-deadline: the one way tests wait for a state they cannot get an event for.
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the error message when the deadline passes. */
  what?: string;
  /** What was seen instead, appended to that message (a failure in CI must say more than "timed out"). */
  seen?: () => string | Promise<string>;
}

/**
 * Calls `fn` until it returns a value other than undefined/false, or throws when the
 * deadline passes. Errors thrown by `fn` count as "not yet" and the last one is reported.
 */
export async function waitFor<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : '';
      const seen = opts.seen ? `; seen: ${await Promise.resolve(opts.seen()).catch((err: unknown) => `(unavailable: ${String(err)})`)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}${seen}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
