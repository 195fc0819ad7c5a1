// One delivery queue per channel: the agent only ever pushes (synchronously, never blocked, never
// throws); a loop delivers in order, retrying with exponential backoff; a sliding one-minute window
// limits messages per channel, and what it holds back is counted and summarised in one message as
// soon as the window has room again. The queue is bounded: when a receiver stays down, the oldest
// waiting messages go first.
import { backoffDelay } from '../../../retry.js';
import type { Logger } from 'pino';
import type { AlertCounters } from '../alert-counters.js';
import { formatDuration } from './policy.js';
import { errorLine, scrub } from './redact.js';
import type { Alert, AlertEvent, Channel } from './types.js';

export interface QueueOptions {
  ratePerMinute: number;
  /** Retries after the first attempt. */
  retries: number;
  retryBaseMs?: number;
  retryCapMs?: number;
  maxQueue?: number;
  /** The rate-limit window (a minute; tests shorten it). */
  windowMs?: number;
  now?: () => number;
}

const DEFAULTS = { retryBaseMs: 1000, retryCapMs: 60_000, maxQueue: 100, windowMs: 60_000 };
/** Tunnel names listed per event in a summary; the rest are counted. */
const SUMMARY_NAMES = 5;

export class ChannelQueue {
  private readonly waiting: Alert[] = [];
  private readonly sentAt: number[] = [];
  private held: Alert[] = [];
  private heldSince: number | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private idle: Array<() => void> = [];
  private readonly o: Required<QueueOptions>;

  constructor(
    readonly channel: Channel,
    opts: QueueOptions,
    private readonly counters: AlertCounters,
    private readonly log: Logger,
  ) {
    this.o = { ...DEFAULTS, now: Date.now, ...opts };
  }

  /** Accepts an alert for delivery, or holds it back (rate limit). Never blocks, never throws. */
  push(alert: Alert): void {
    if (this.closed) {
      this.counters.dropped(this.channel.name, 'closed');
      return;
    }
    if (this.held.length > 0 && this.room() > 0) this.releaseSummary();
    if (this.room() <= 0) {
      this.counters.dropped(this.channel.name, 'rate-limit');
      if (this.held.length === 0) {
        this.heldSince = this.o.now();
        this.log.warn({ channel: this.channel.name, target: this.channel.target, perMinute: this.o.ratePerMinute }, `alerts to ${this.channel.name}: rate limit reached; holding back and summarising`);
      }
      this.held.push(alert);
      this.scheduleSummary();
      return;
    }
    this.enqueue(alert);
  }

  /** Messages not yet delivered (waiting or held back by the rate limit). */
  get pending(): number {
    return this.waiting.length + this.held.length;
  }

  /** Resolves when nothing is waiting and nothing is in flight (tests, shutdown). */
  drained(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Stops accepting; gives what is queued up to `graceMs` to go out, then aborts the rest
   * (counted as dropped, reason closed). Held-back messages are summarised first.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.held.length > 0 && !this.closed) this.releaseSummary(true);
    this.closed = true;
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.drained(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    if (timer) clearTimeout(timer);
    this.abort.abort();
    this.wake?.();
    await this.drained();
    if (this.waiting.length > 0) this.counters.dropped(this.channel.name, 'closed', this.waiting.splice(0).length);
    this.channel.close?.();
  }

  private room(): number {
    const now = this.o.now();
    while (this.sentAt.length > 0 && now - (this.sentAt[0] as number) >= this.o.windowMs) this.sentAt.shift();
    return this.o.ratePerMinute - this.sentAt.length;
  }

  private enqueue(alert: Alert): void {
    this.sentAt.push(this.o.now());
    if (this.waiting.length >= this.o.maxQueue) {
      this.waiting.shift();
      this.counters.dropped(this.channel.name, 'queue-full');
    }
    this.waiting.push(alert);
    if (!this.running) void this.run();
  }

  private scheduleSummary(): void {
    if (this.summaryTimer || this.closed) return;
    const oldest = this.sentAt[0] ?? this.o.now();
    const delay = Math.max(0, oldest + this.o.windowMs - this.o.now());
    this.summaryTimer = setTimeout(() => {
      this.summaryTimer = undefined;
      if (this.held.length === 0 || this.closed) return;
      if (this.room() > 0) this.releaseSummary();
      else this.scheduleSummary();
    }, delay + 1);
    this.summaryTimer.unref();
  }

  /** One message standing for everything held back. */
  private releaseSummary(force = false): void {
    const held = this.held;
    this.held = [];
    const since = this.heldSince ?? this.o.now();
    this.heldSince = undefined;
    if (this.summaryTimer) {
      clearTimeout(this.summaryTimer);
      this.summaryTimer = undefined;
    }
    const byEvent = new Map<AlertEvent, { n: number; tunnels: Set<string> }>();
    for (const a of held) {
      const e = byEvent.get(a.event) ?? { n: 0, tunnels: new Set<string>() };
      e.n++;
      if (a.tunnel) e.tunnels.add(a.tunnel);
      byEvent.set(a.event, e);
    }
    const parts = [...byEvent].map(([event, { n, tunnels }]) => {
      const names = [...tunnels];
      const shown = names.slice(0, SUMMARY_NAMES).join(', ');
      const more = names.length > SUMMARY_NAMES ? ` +${names.length - SUMMARY_NAMES} more` : '';
      return `${n} ${event}${names.length ? ` (${shown}${more})` : ''}`;
    });
    const details: Record<string, number> = { held_back: held.length };
    for (const [event, { n }] of byEvent) details[event] = n;
    const now = this.o.now();
    const alert: Alert = {
      event: 'suppressed',
      severity: 'info',
      at: now,
      since,
      message: `rate limit (${this.o.ratePerMinute}/min) held back ${held.length} alert${held.length === 1 ? '' : 's'} in the last ${formatDuration(now - since)}: ${parts.join('; ')}`,
      details,
    };
    if (force) {
      // Shutting down: the summary bypasses the window, it is the last word.
      this.waiting.push(alert);
      if (!this.running) void this.run();
    } else {
      this.enqueue(alert);
    }
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let alert = this.waiting.shift(); alert; alert = this.waiting.shift()) {
        await this.deliver(alert);
        if (this.abort.signal.aborted) break;
      }
    } finally {
      this.running = false;
      if (this.waiting.length === 0 || this.abort.signal.aborted) for (const r of this.idle.splice(0)) r();
      else void this.run();
    }
  }

  private async deliver(alert: Alert): Promise<void> {
    const { name, target, secrets } = this.channel;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.channel.deliver(alert, this.abort.signal);
        this.counters.sent(name, alert.event);
        if (attempt > 1) this.log.info({ channel: name, target, event: alert.event, attempt }, `alert delivered to ${name} after ${attempt} attempts`);
        return;
      } catch (err) {
        this.counters.failed(name);
        const error = scrub(errorLine(err), secrets);
        if (this.abort.signal.aborted) {
          this.counters.dropped(name, 'closed');
          return;
        }
        if (attempt > this.o.retries) {
          this.counters.dropped(name, 'retries-exhausted');
          this.log.error({ channel: name, target, event: alert.event, attempts: attempt, error }, `alert to ${name} (${target}) dropped after ${attempt} attempts: ${error}`);
          return;
        }
        const delay = backoffDelay(attempt, { baseMs: this.o.retryBaseMs, capMs: this.o.retryCapMs });
        this.log.warn({ channel: name, target, event: alert.event, attempt, retryInMs: delay, error }, `alert to ${name} (${target}) failed: ${error}; retrying`);
        await this.sleep(delay);
        if (this.abort.signal.aborted) {
          this.counters.dropped(name, 'closed');
          return;
        }
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}
