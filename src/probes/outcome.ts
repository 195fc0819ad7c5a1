// What every prober shares: one deadline per probe, a failure type that carries its errorCode,
// and the wrapper that turns whatever happened into a ProbeResult (probers never reject).
import { performance } from 'node:perf_hooks';
import type { ProbeErrorCode, ProbeKind, ProbeOptions, ProbeResult } from './types.js';

export class ProbeFailure extends Error {
  constructor(
    readonly code: ProbeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Fires once, on the caller's timeout or the caller's signal, whichever comes first. Each probe
 * phase races against `signal` so a stuck resolve or connect cannot outlive the budget.
 */
export class Deadline {
  private readonly ctrl = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onOuterAbort = (): void => this.fire(new ProbeFailure('other', 'aborted'));
  private failure: ProbeFailure | undefined;

  constructor(
    readonly timeoutMs: number,
    private readonly outer?: AbortSignal,
  ) {
    this.timer = setTimeout(() => this.fire(new ProbeFailure('timeout', `timeout after ${timeoutMs} ms`)), Math.max(0, timeoutMs));
    if (outer?.aborted) this.onOuterAbort();
    else outer?.addEventListener('abort', this.onOuterAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.ctrl.signal;
  }

  /** The failure to report once the deadline fired. */
  get reason(): ProbeFailure {
    return this.failure ?? new ProbeFailure('timeout', `timeout after ${this.timeoutMs} ms`);
  }

  /** Rejects with the deadline's failure as soon as it fires; `p` is left to settle on its own. */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.ctrl.signal.aborted) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.reason);
      this.ctrl.signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          this.ctrl.signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          this.ctrl.signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }

  private fire(f: ProbeFailure): void {
    if (this.ctrl.signal.aborted) return;
    this.failure = f;
    this.ctrl.abort(f);
  }
}

/** Milliseconds, rounded to microseconds so results stay readable in logs. */
export function ms(start: number, end = performance.now()): number {
  return Math.round((end - start) * 1000) / 1000;
}

export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Runs a probe body and converts its outcome (or any throw) into a ProbeResult. */
export async function runProbeBody(
  kind: ProbeKind,
  target: string,
  opts: ProbeOptions,
  body: (deadline: Deadline, phases: Record<string, number>) => Promise<void>,
): Promise<ProbeResult> {
  const start = performance.now();
  const phases: Record<string, number> = {};
  const deadline = new Deadline(opts.timeoutMs, opts.signal);
  try {
    await body(deadline, phases);
    return { kind, target, success: true, durationMs: ms(start), phases };
  } catch (err) {
    const f = err instanceof ProbeFailure ? err : new ProbeFailure('other', err instanceof Error ? err.message : String(err));
    return { kind, target, success: false, durationMs: ms(start), phases, error: oneLine(f.message), errorCode: f.code };
  } finally {
    deadline.dispose();
  }
}

const ERRNO_CODES: Record<string, ProbeErrorCode> = {
  ETIMEDOUT: 'timeout',
  ECONNREFUSED: 'refused',
  ECONNRESET: 'refused',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  EHOSTDOWN: 'unreachable',
  ENETDOWN: 'unreachable',
  ENOTFOUND: 'resolve',
  EAI_AGAIN: 'resolve',
  EAI_FAIL: 'resolve',
  ENODATA: 'resolve',
  EACCES: 'permission',
  EPERM: 'permission',
};

/** Maps a Node system error to a ProbeFailure, keeping Node's own one-line message. */
export function fromSystemError(err: unknown): ProbeFailure {
  if (err instanceof ProbeFailure) return err;
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? (ERRNO_CODES[e.code] ?? 'other') : 'other';
  return new ProbeFailure(code, oneLine(e instanceof Error ? e.message : String(err)));
}
