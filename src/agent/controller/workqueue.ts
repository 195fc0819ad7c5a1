// A de-duplicating work queue keyed by tunnel name, after client-go's workqueue:
// - a name is queued at most once, whatever the number of triggers (the reasons are merged);
// - a name being processed is never handed out again until done(); if triggered meanwhile it
//   is marked dirty and queued again on done(), so no trigger is lost and no two reconciles of
//   one tunnel ever run at once;
// - addAfter() keeps only the earliest timer per name;
// - addRateLimited() requeues a name after a delay that grows with its consecutive failures (the one
//   retry policy, src/retry.ts), until forgetFailures() says it went through.
import { FailureRateLimiter } from '../../retry.js';

/** Unexpected reconcile failures (a list-sas that failed, a bug): first retry after this, doubling. */
export const RECONCILE_RETRY = { baseMs: 1000, capMs: 60_000 };

export type Reason = 'start' | 'event' | 'resync' | 'probe' | 'retry' | 'reload' | 'duplicate' | 'verify';

export interface WorkItem {
  name: string;
  reasons: Set<Reason>;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly pending = new Map<string, Set<Reason>>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Map<string, Set<Reason>>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout; reason: Reason }>();
  private waiters: Array<(item: WorkItem | undefined) => void> = [];
  private shut = false;
  private readonly limiter = new FailureRateLimiter(RECONCILE_RETRY);

  get length(): number {
    return this.queue.length;
  }

  add(name: string, reason: Reason): void {
    if (this.shut) return;
    if (this.processing.has(name)) {
      merge(this.dirty, name, reason);
      return;
    }
    const existing = this.pending.get(name);
    if (existing) {
      existing.add(reason);
      return;
    }
    this.pending.set(name, new Set([reason]));
    const waiter = this.waiters.shift();
    if (waiter) {
      this.handOut(name, waiter);
    } else {
      this.queue.push(name);
    }
  }

  /** Queue `name` after `ms`; an earlier timer for the same name wins. */
  addAfter(name: string, ms: number, reason: Reason): void {
    if (this.shut) return;
    if (ms <= 0) {
      this.add(name, reason);
      return;
    }
    const at = Date.now() + ms;
    const current = this.timers.get(name);
    if (current && current.at <= at) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(() => {
      this.timers.delete(name);
      this.add(name, reason);
    }, ms);
    timer.unref();
    this.timers.set(name, { at, timer, reason });
  }

  /** Queue `name` again after a delay that grows with each call until forgetFailures(name). */
  addRateLimited(name: string, reason: Reason): void {
    this.addAfter(name, this.limiter.when(name), reason);
  }

  forgetFailures(name: string): void {
    this.limiter.forget(name);
  }

  /** When `name` is next due by timer, if it is. */
  dueAt(name: string): number | undefined {
    return this.timers.get(name)?.at;
  }

  /** Forget timers of a name (tunnel removed or disabled). */
  forget(name: string): void {
    this.limiter.forget(name);
    const t = this.timers.get(name);
    if (t) clearTimeout(t.timer);
    this.timers.delete(name);
  }

  /** Next item; resolves undefined once the queue is shut down. */
  get(): Promise<WorkItem | undefined> {
    const name = this.queue.shift();
    if (name !== undefined) {
      return new Promise((resolve) => this.handOut(name, resolve));
    }
    if (this.shut) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(name: string): void {
    this.processing.delete(name);
    const reasons = this.dirty.get(name);
    if (reasons) {
      this.dirty.delete(name);
      for (const r of reasons) this.add(name, r);
    }
  }

  shutdown(): void {
    this.shut = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters) w(undefined);
    this.waiters = [];
  }

  private handOut(name: string, to: (item: WorkItem) => void): void {
    const reasons = this.pending.get(name) ?? new Set<Reason>();
    this.pending.delete(name);
    this.processing.add(name);
    to({ name, reasons });
  }
}

function merge(map: Map<string, Set<Reason>>, name: string, reason: Reason): void {
  const s = map.get(name);
  if (s) s.add(reason);
  else map.set(name, new Set([reason]));
}
