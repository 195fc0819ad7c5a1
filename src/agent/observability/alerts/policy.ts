// Which agent events become alerts: one message per change of state, not one per event. A tunnel
// that fails a hundred probes is one "down" and one "repaired"; the IKE restart and the backoff of
// an outage are said once each; a VICI outage is one "lost" and one "restored"; a charon alert type
// that repeats is forwarded once a minute.
import type { EventEmitter } from 'eventemitter3';
import type { AgentEvents, EscalatedEvent, TunnelDownEvent, TunnelRepairedEvent } from '../../controller/events.js';
import type { AgentSource } from '../../controller/tunnel-view.js';
import type { Alert } from './types.js';

/** A repeated charon alert of one type is forwarded at most once per this window. */
export const CHARON_ALERT_WINDOW_MS = 60_000;

interface Episode {
  since: number;
  ikeRestartSaid: boolean;
  backoffSaid: boolean;
}

export interface PolicyOutput {
  alert(a: Alert): void;
  /** An event that repeated a state already announced. */
  duplicate(event: Alert['event']): void;
}

export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 1) return `${Math.round(ms)} ms`;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function where(e: { tunnel: string; ike?: string; child: string }): Pick<Alert, 'tunnel' | 'ike' | 'child'> {
  const w: Pick<Alert, 'tunnel' | 'ike' | 'child'> = { tunnel: e.tunnel, child: e.child };
  if (e.ike) w.ike = e.ike;
  return w;
}

export class AlertPolicy {
  private readonly episodes = new Map<string, Episode>();
  /** Tunnels whose last repair action failed: their next backoff is worth telling. */
  private readonly lastActionFailed = new Set<string>();
  private viciLostAt: number | undefined;
  private readonly charonAlertAt = new Map<string, number>();
  private readonly detach: Array<() => void> = [];

  constructor(
    private readonly agent: AgentSource,
    private readonly out: PolicyOutput,
    private readonly now: () => number = Date.now,
  ) {
    this.hook('tunnel-down', (e) => this.down(e));
    this.hook('tunnel-repaired', (e) => this.repaired(e));
    this.hook('escalated', (e) => this.escalated(e));
    this.hook('action', (e) => {
      if (e.result === 'error') this.lastActionFailed.add(e.tunnel);
      else this.lastActionFailed.delete(e.tunnel);
    });
    this.hook('vici-lost', (e) => {
      if (this.viciLostAt !== undefined) return this.out.duplicate('vici-lost');
      this.viciLostAt = e.at;
      this.out.alert({ event: 'vici-lost', severity: 'critical', at: e.at, message: `lost the VICI connection to charon (${e.error}); tunnels are not watched until it is back`, details: { error: e.error } });
    });
    this.hook('vici-restored', (e) => {
      if (this.viciLostAt === undefined) return this.out.duplicate('vici-restored');
      const since = this.viciLostAt;
      this.viciLostAt = undefined;
      this.out.alert({ event: 'vici-restored', severity: 'info', at: e.at, since, downMs: e.downMs, message: `VICI connection to charon restored after ${formatDuration(e.downMs)}` });
    });
    this.hook('charon-alert', (e) => this.charonAlert(e.type, e.detail));
  }

  close(): void {
    for (const d of this.detach.splice(0)) d();
  }

  private hook<E extends keyof AgentEvents>(event: E, fn: (...args: AgentEvents[E]) => void): void {
    const f = fn as EventEmitter.EventListener<AgentEvents, E>;
    this.agent.on(event, f);
    this.detach.push(() => this.agent.off(event, f));
  }

  private down(e: TunnelDownEvent): void {
    if (this.episodes.has(e.tunnel)) return this.out.duplicate('tunnel-down');
    this.episodes.set(e.tunnel, { since: e.at, ikeRestartSaid: false, backoffSaid: false });
    this.out.alert({ event: 'tunnel-down', severity: 'critical', at: e.at, since: e.at, ...where(e), message: `tunnel ${e.tunnel} down: ${e.why}`, details: { reason: e.why } });
  }

  private repaired(e: TunnelRepairedEvent): void {
    const ep = this.episodes.get(e.tunnel);
    this.lastActionFailed.delete(e.tunnel);
    if (!ep) return this.out.duplicate('tunnel-repaired');
    this.episodes.delete(e.tunnel);
    this.out.alert({
      event: 'tunnel-repaired',
      severity: 'info',
      at: e.at,
      since: e.at - e.downMs,
      downMs: e.downMs,
      ...where(e),
      message: `tunnel ${e.tunnel} repaired after ${formatDuration(e.downMs)} down`,
    });
  }

  private escalated(e: EscalatedEvent): void {
    const at = this.now();
    let ep = this.episodes.get(e.tunnel);
    if (!ep) {
      // Escalation without a down we saw (the agent started mid-outage): the episode starts now.
      ep = { since: at, ikeRestartSaid: false, backoffSaid: false };
      this.episodes.set(e.tunnel, ep);
    }
    if (e.to === 'restart-ike') {
      if (ep.ikeRestartSaid) return this.out.duplicate('escalated');
      ep.ikeRestartSaid = true;
      this.out.alert({
        event: 'escalated',
        severity: 'warning',
        at,
        since: ep.since,
        ...where(e),
        message: `tunnel ${e.tunnel}: traffic still fails after a CHILD_SA restart; restarting IKE_SA${e.ike ? ` ${e.ike}` : ''}`,
        details: { to: 'restart-ike' },
      });
      return;
    }
    // A backoff follows every IKE restart, successful or not: worth telling only once repairs
    // actually fail (an action errored, or a second repair did not bring traffic back).
    if (!this.lastActionFailed.has(e.tunnel) && e.failures < 2) return;
    if (ep.backoffSaid) return this.out.duplicate('backoff');
    ep.backoffSaid = true;
    this.out.alert({
      event: 'backoff',
      severity: 'warning',
      at,
      since: ep.since,
      ...where(e),
      message: `tunnel ${e.tunnel}: ${e.failures} repair${e.failures === 1 ? '' : 's'} failed${e.why ? ` (${e.why})` : ''}; backing off${e.shared ? ` with every tunnel of IKE_SA ${e.ike ?? ''}` : ''}, next attempt in ${formatDuration(e.nextAttemptInMs)} (further attempts are not announced until it is repaired)`,
      details: { failures: e.failures, next_attempt_in_seconds: Math.round(e.nextAttemptInMs / 100) / 10, ...(e.why ? { reason: e.why } : {}) },
    });
  }

  private charonAlert(type: string, detail: Record<string, unknown>): void {
    const at = this.now();
    const last = this.charonAlertAt.get(type);
    if (last !== undefined && at - last < CHARON_ALERT_WINDOW_MS) return this.out.duplicate('charon-alert');
    this.charonAlertAt.set(type, at);
    const details: Record<string, string | number | boolean> = { type };
    let ike: string | undefined;
    for (const [k, v] of Object.entries(detail)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') details[k] = v;
      else if (v && typeof v === 'object' && !ike) {
        // charon attaches the IKE_SA as a section named after its config.
        const name = (v as Record<string, unknown>)['name'];
        ike = typeof name === 'string' ? name : k;
      }
    }
    const a: Alert = { event: 'charon-alert', severity: 'warning', at, message: `charon alert: ${type}${ike ? ` (IKE_SA ${ike})` : ''}`, details };
    if (ike) a.ike = ike;
    this.out.alert(a);
  }
}
