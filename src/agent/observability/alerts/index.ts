// Alerts: the policy turns agent events into alerts, one queue per configured channel delivers them.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { AgentConfig } from '../../config/load.js';
import type { AgentSource } from '../../controller/tunnel-view.js';
import type { AlertCounters } from '../alert-counters.js';
import { emailChannel } from './email.js';
import { AlertPolicy } from './policy.js';
import { ChannelQueue, type QueueOptions } from './queue.js';
import type { Alert, AlertSource, Channel } from './types.js';
import { slackChannel, webhookChannel } from './webhook.js';

export type { Alert, AlertEvent, Channel } from './types.js';
export { AlertPolicy } from './policy.js';
export { ChannelQueue } from './queue.js';

export type AlertsConfig = NonNullable<AgentConfig['alerts']>;

export const NO_COUNTERS: AlertCounters = { sent: () => undefined, failed: () => undefined, dropped: () => undefined };

export interface DispatcherOptions {
  agent: AgentSource;
  log: Logger;
  counters?: AlertCounters;
  version: string;
  host?: string;
  /** Retry timing, queue size, window: tests shorten them; production uses the defaults. */
  tuning?: Omit<QueueOptions, 'ratePerMinute' | 'retries'>;
  /** Grace for queued messages when a channel is replaced or the agent stops. */
  closeGraceMs?: number;
}

/** Channels a config asks for. */
export function channelsFor(cfg: AlertsConfig | undefined, src: AlertSource): Channel[] {
  if (!cfg) return [];
  const out: Channel[] = [];
  if (cfg.webhook) out.push(webhookChannel(cfg.webhook, src));
  if (cfg.slack) out.push(slackChannel(cfg.slack, src));
  if (cfg.email) out.push(emailChannel(cfg.email, src));
  return out;
}

interface Slot {
  key: string;
  queue: ChannelQueue;
}

export class AlertDispatcher {
  private readonly policy: AlertPolicy;
  private readonly slots = new Map<string, Slot>();
  private readonly src: AlertSource;
  private readonly counters: AlertCounters;
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly opts: DispatcherOptions) {
    this.src = { host: opts.host ?? hostname(), version: opts.version };
    this.counters = opts.counters ?? NO_COUNTERS;
    this.policy = new AlertPolicy(opts.agent, {
      alert: (a) => this.dispatch(a),
      duplicate: () => {
        for (const s of this.slots.values()) this.counters.dropped(s.queue.channel.name, 'duplicate');
      },
    });
  }

  /** Names of the channels in use. */
  get channels(): string[] {
    return [...this.slots.keys()];
  }

  queue(name: string): ChannelQueue | undefined {
    return this.slots.get(name)?.queue;
  }

  /**
   * Applies an alerts config: unchanged channels keep their queue; changed or removed ones get
   * a grace period to deliver what they hold, then stop. De-duplication state is kept.
   */
  configure(cfg: AlertsConfig | undefined): void {
    const wanted = new Map<string, { key: string; channel: () => Channel }>();
    if (cfg) {
      const common = { rate: cfg.rate_limit_per_minute, retries: cfg.retries };
      if (cfg.webhook) wanted.set('webhook', { key: JSON.stringify({ ...cfg.webhook, ...common }), channel: () => webhookChannel(cfg.webhook!, this.src) });
      if (cfg.slack) wanted.set('slack', { key: JSON.stringify({ ...cfg.slack, ...common }), channel: () => slackChannel(cfg.slack!, this.src) });
      if (cfg.email) wanted.set('email', { key: JSON.stringify({ ...cfg.email, ...common }), channel: () => emailChannel(cfg.email!, this.src) });
    }
    for (const [name, slot] of this.slots) {
      if (wanted.get(name)?.key !== slot.key) {
        this.slots.delete(name);
        this.retire(slot.queue);
      }
    }
    for (const [name, w] of wanted) {
      if (this.slots.has(name) || !cfg) continue;
      const channel = w.channel();
      const queue = new ChannelQueue(channel, { ratePerMinute: cfg.rate_limit_per_minute, retries: cfg.retries, ...this.opts.tuning }, this.counters, this.opts.log);
      this.slots.set(name, { key: w.key, queue });
      this.opts.log.info({ channel: name, target: channel.target }, `alerts: ${name} channel to ${channel.target}`);
    }
  }

  /** Sends an alert to every channel (the policy's output; also for tests and `check`). */
  dispatch(a: Alert): void {
    for (const s of this.slots.values()) s.queue.push(a);
  }

  /** Resolves when every channel has delivered (or given up on) what it holds. */
  async drained(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => s.queue.drained()));
  }

  async close(): Promise<void> {
    this.policy.close();
    for (const s of this.slots.values()) this.retire(s.queue);
    this.slots.clear();
    await Promise.all([...this.closing]);
  }

  private retire(q: ChannelQueue): void {
    const p = q.close(this.opts.closeGraceMs ?? 2000).finally(() => this.closing.delete(p));
    this.closing.add(p);
  }
}
