// The agent: turns VICI events, probe results, timers and reconnects into reconcile requests,
// and reconciles one tunnel at a time against what charon reports (level-triggered, after
// controller-runtime). A missed event costs nothing: the next reconcile reads the truth.
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { ViciClient, Conn } from '../vici/index.js';
import { discoveredTunnel, type AgentConfig, type TunnelConfig } from './config.js';
import { backoffDelay } from './backoff.js';
import { decide, newRuntime, type Decision, type TunnelRuntime, type TunnelStatus } from './decide.js';
import type { ActionKind, ActionReason, AgentEvents } from './events.js';
import { HealthChecker, type HealthReport, type RunProbe } from './health.js';
import { observeTunnel, type TunnelObservation } from './observe.js';
import { WorkQueue, type Reason, type WorkItem } from './workqueue.js';

/** What charon does by itself for a CHILD_SA config, from list-conns. */
export interface ChildConnInfo {
  ike: string;
  closeAction?: string;
  dpdAction?: string;
  startAction?: string;
}

export interface TunnelView {
  config: TunnelConfig;
  runtime: TunnelRuntime;
  /** Last observation, for metrics and status. */
  obs?: TunnelObservation;
  conn?: ChildConnInfo;
}

export interface AgentOptions {
  config: AgentConfig;
  vici: ViciClient;
  logger: Logger;
  runProbe: RunProbe;
  /** Reconcile workers; tunnels are independent, a slow initiate must not stall the others. */
  workers?: number;
}

/** A window of this many ms holding more than FLAP_LIMIT downs damps repairs with backoff. */
const FLAP_WINDOW_MS = 10 * 60_000;
const FLAP_LIMIT = 6;
/** Charon announced its shutdown; its down events follow and must not be acted on. */
const SHUTDOWN_HINT = /received, shutting down|shutting down charon/i;

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isConnectionError(err: unknown): boolean {
  const name = err instanceof Error ? err.name : '';
  return name === 'ViciConnectionError' || /not connected|connection (closed|lost)|ECONNRESET|EPIPE|ENOENT/i.test(errMessage(err));
}

export class Agent extends EventEmitter<AgentEvents> {
  private config: AgentConfig;
  private readonly vici: ViciClient;
  private readonly log: Logger;
  private readonly queue = new WorkQueue();
  private readonly health: HealthChecker;
  private readonly tunnels = new Map<string, TunnelView>();
  /** child config name -> connection info, from list-conns */
  private conns = new Map<string, ChildConnInfo>();
  private readonly workers: number;
  private workerLoops: Promise<void>[] = [];
  private unsubscribes: Array<() => Promise<void>> = [];
  private stopping = false;
  private charonStopping = false;
  private charonStoppingTimer?: NodeJS.Timeout;
  private viciLostAt?: number;
  /** Our blocking initiates in flight, by IKE connection name. */
  private readonly initiatesInFlight = new Map<string, number>();
  private started = false;

  constructor(opts: AgentOptions) {
    super();
    this.config = opts.config;
    this.vici = opts.vici;
    this.log = opts.logger;
    this.workers = opts.workers ?? 8;
    this.health = new HealthChecker(opts.runProbe, {
      generation: (t) => this.tunnels.get(t)?.runtime.generation ?? 0,
      report: (r) => this.onHealth(r),
      probed: (t, r) => this.emit('probe', t, r),
    });
  }

  /** Current tunnels with their runtime state (read by metrics at scrape time and by status). */
  view(): ReadonlyMap<string, TunnelView> {
    return this.tunnels;
  }

  get viciConnected(): boolean {
    return this.vici.connected;
  }

  async start(): Promise<void> {
    this.setTunnels(this.config.tunnels);
    this.vici.on('disconnect', (err) => this.onViciLost(err));
    this.vici.on('resync', () => void this.resync('resync'));
    this.vici.on('event', (name) => this.emit('vici-event', name));
    for (let i = 0; i < this.workers; i++) this.workerLoops.push(this.work());

    this.unsubscribes.push(await this.vici.onChildUpdown((e) => this.onChildUpdown(e.up, e.ikeName, Object.values(e.ike['child-sas'] ?? {}).map((c) => c.name))));
    this.unsubscribes.push(await this.vici.onIkeUpdown((e) => this.onIkeUpdown(e.up, e.ikeName, Object.values(e.ike['child-sas'] ?? {}).map((c) => c.name))));
    this.unsubscribes.push(await this.vici.onChildRekey((e) => this.onRekey('child', e.ikeName, e.child)));
    this.unsubscribes.push(await this.vici.onIkeRekey((e) => this.onRekey('ike', e.ikeName)));
    this.unsubscribes.push(await this.vici.onLog((e) => this.onCharonLog(e)));
    try {
      this.unsubscribes.push(await this.vici.onAlert((e) => this.emit('charon-alert', { type: String(e['type'] ?? 'unknown'), detail: e })));
    } catch (err) {
      // 'alert' exists only since strongSwan 6.0.3; older charons answer EVENT_UNKNOWN.
      this.log.debug({ err: errMessage(err) }, 'charon has no alert events (strongSwan < 6.0.3)');
    }
    this.started = true;
    await this.resync('start');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.health.stop();
    this.queue.shutdown();
    if (this.charonStoppingTimer) clearTimeout(this.charonStoppingTimer);
    await Promise.allSettled(this.workerLoops);
    for (const u of this.unsubscribes) await u().catch(() => undefined);
    this.unsubscribes = [];
  }

  /** SIGHUP: swap the config in place, keeping every tunnel's runtime state. */
  async reload(next: AgentConfig): Promise<void> {
    this.config = next;
    this.setTunnels(next.tunnels);
    await this.resync('reload');
  }

  // ---- wiring -------------------------------------------------------------------------------

  private setTunnels(configured: readonly TunnelConfig[]): void {
    const next = new Map<string, TunnelConfig>(configured.map((t) => [t.name, t]));
    if (this.config.discover) {
      for (const [child, info] of this.conns) {
        if (![...next.values()].some((t) => t.child === child)) next.set(child, discoveredTunnel(this.config, child, info.ike));
      }
    }
    for (const name of [...this.tunnels.keys()]) {
      if (!next.has(name)) {
        this.tunnels.delete(name);
        this.queue.forget(name);
      }
    }
    for (const [name, cfg] of next) {
      const existing = this.tunnels.get(name);
      if (existing) existing.config = cfg;
      else this.tunnels.set(name, { config: cfg, runtime: newRuntime() });
    }
    for (const v of this.tunnels.values()) {
      const info = this.conns.get(v.config.child);
      if (info) v.conn = info;
    }
    this.health.set([...this.tunnels.values()].map((v) => v.config));
  }

  private async loadConns(): Promise<void> {
    const conns: Conn[] = await this.vici.listConns();
    const map = new Map<string, ChildConnInfo>();
    for (const conn of conns) {
      for (const [child, c] of Object.entries(conn.children ?? {})) {
        const info: ChildConnInfo = { ike: conn.name };
        if (typeof c['close_action'] === 'string') info.closeAction = c['close_action'];
        if (typeof c['dpd_action'] === 'string') info.dpdAction = c['dpd_action'];
        if (typeof c['start_action'] === 'string') info.startAction = c['start_action'];
        map.set(child, info);
      }
    }
    this.conns = map;
    for (const t of this.config.tunnels) {
      if (t.enabled && !map.has(t.child)) {
        this.log.warn({ tunnel: t.name, child: t.child }, `tunnel ${t.name}: charon has no CHILD_SA config named ${JSON.stringify(t.child)} (list-conns); will retry`);
      }
    }
  }

  /** Start-up, reconnect, reload: re-read charon's connections and reconcile every tunnel. */
  private async resync(reason: Reason): Promise<void> {
    if (this.stopping || !this.started) return;
    this.charonStopping = false;
    if (this.viciLostAt !== undefined) {
      const downMs = Date.now() - this.viciLostAt;
      this.viciLostAt = undefined;
      this.log.info({ downMs }, 'VICI connection restored, resyncing every tunnel');
      this.emit('vici-restored', { downMs, at: Date.now() });
    }
    try {
      await this.loadConns();
    } catch (err) {
      this.log.warn({ err: errMessage(err) }, 'list-conns failed; reconciling with the configured names');
    }
    this.setTunnels(this.config.tunnels);
    for (const [name, v] of this.tunnels) {
      // After a charon restart, a start_action=start child comes back by itself: give it the grace.
      if (reason === 'resync' && v.conn?.startAction && /start/.test(v.conn.startAction)) {
        v.runtime.graceUntil = Math.max(v.runtime.graceUntil, Date.now() + v.config.charonGraceMs);
      }
      this.queue.add(name, reason === 'reload' ? 'reload' : reason);
    }
  }

  private onViciLost(err: Error): void {
    if (this.viciLostAt !== undefined) return;
    this.viciLostAt = Date.now();
    this.log.warn({ err: err.message }, 'VICI connection lost; events may be missed until it is back');
    this.emit('vici-lost', { error: err.message, at: this.viciLostAt });
    for (const v of this.tunnels.values()) v.runtime.status = 'vici-down';
  }

  private onCharonLog(e: Record<string, unknown>): void {
    const msg = String(e['msg'] ?? '');
    if (SHUTDOWN_HINT.test(msg)) {
      // charon sends a down event for every SA before it closes the socket (since 5.9.1):
      // those are not outages to repair. The flag clears on reconnect, or after a while if the
      // socket unexpectedly stays up.
      this.charonStopping = true;
      this.log.info({ msg }, 'charon is shutting down; ignoring its down events');
      if (this.charonStoppingTimer) clearTimeout(this.charonStoppingTimer);
      this.charonStoppingTimer = setTimeout(() => {
        this.charonStopping = false;
      }, 10_000);
      this.charonStoppingTimer.unref();
    }
  }

  private tunnelsFor(ikeName: string, children: readonly string[]): string[] {
    const names: string[] = [];
    for (const [name, v] of this.tunnels) {
      const ike = v.config.ike ?? v.conn?.ike;
      if (children.includes(v.config.child) || (children.length === 0 && ike === ikeName)) names.push(name);
    }
    return names;
  }

  private onChildUpdown(up: boolean, ikeName: string, children: string[]): void {
    if (!up && this.charonStopping) return;
    for (const name of this.tunnelsFor(ikeName, children)) this.queue.add(name, 'event');
  }

  private onIkeUpdown(up: boolean, ikeName: string, children: string[]): void {
    // An IKE_SA coming up changes no tunnel by itself: its children announce themselves.
    if (up || this.charonStopping) return;
    // An IKE_SA going down takes all its children: match by connection as well as by child.
    for (const [name, v] of this.tunnels) {
      const ike = v.config.ike ?? v.conn?.ike;
      if (ike === ikeName || children.includes(v.config.child)) this.queue.add(name, 'event');
    }
  }

  private onRekey(kind: 'child' | 'ike', ikeName: string, child?: string): void {
    // A rekey is not an outage. A reconcile afterwards refreshes what metrics show (install
    // time, counters of the new SA) and catches the duplicate a rekey collision can leave.
    this.log.debug({ kind, ike: ikeName, child }, 'rekey');
    for (const name of this.tunnelsFor(ikeName, child ? [child] : [])) this.queue.add(name, 'event');
  }

  private onHealth(r: HealthReport): void {
    const v = this.tunnels.get(r.tunnel);
    if (!v) return;
    this.emit('health', r);
    const rt = v.runtime;
    if (r.generation !== rt.generation) return; // started before a repair: says nothing about now
    this.log.debug({ tunnel: r.tunnel, health: r.health, attempts: r.attempts }, 'probe round');
    const previous = rt.health;
    rt.health = r.health;
    if (r.health === 'failing') {
      const failed = r.results.filter((x) => !x.success).map((x) => `${x.kind} ${x.target}: ${x.error ?? 'failed'}`);
      rt.lastError = failed.join('; ');
    }
    // Every round also refreshes the tunnel's SA view (install time, counters) for metrics:
    // one filtered list-sas per tunnel per probe interval.
    this.queue.add(r.tunnel, previous !== r.health || r.health === 'failing' ? 'probe' : 'verify');
    // Probes that could not run (a name that does not resolve) leave the health unknown: say so each round, like failures.
    const unrunnable = r.health === 'unknown' && r.results.some((x) => !x.success);
    if (previous !== r.health || r.health === 'failing' || unrunnable) {
      this.log.info({ tunnel: r.tunnel, health: r.health, previous, attempts: r.attempts, results: r.results.map((x) => ({ kind: x.kind, target: x.target, ok: x.success, ms: Math.round(x.durationMs), error: x.error })) }, `tunnel ${r.tunnel}: probes ${r.health}`);
    }
  }

  // ---- reconcile ----------------------------------------------------------------------------

  private async work(): Promise<void> {
    for (;;) {
      const item = await this.queue.get();
      if (!item) return;
      try {
        await this.reconcile(item);
      } catch (err) {
        this.log.error({ tunnel: item.name, err: errMessage(err) }, 'reconcile failed unexpectedly');
        this.queue.addAfter(item.name, 1000, 'retry');
      } finally {
        this.queue.done(item.name);
      }
    }
  }

  private async observe(v: TunnelView): Promise<TunnelObservation> {
    const ike = v.config.ike ?? v.conn?.ike;
    const filter: { child: string; ike?: string } = { child: v.config.child };
    if (ike) filter.ike = ike;
    // charon 5.9.x lists every IKE_SA matching `ike` even when none of its children match
    // `child`, so one read shows both the tunnel's CHILD_SAs and a reauth or initiate in flight.
    // Our own initiates in flight are counted when charon's answer is in, not when the read was
    // queued: a sibling's initiate sent meanwhile set up the IKE_SA the answer shows (counting too
    // few made the last tunnel of an IKE_SA wait 250 ms after a peer's IKE_SA delete).
    const own = () => (ike ? (this.initiatesInFlight.get(ike) ?? 0) : 0);
    const sas = await this.vici.listSas(filter);
    let obs = observeTunnel(sas, v.config.child, ike, own());
    if (sas.length === 0 && ike) {
      // Should a charon hide IKE_SAs without a matching child, look at the connection before
      // acting, or we race its own negotiation.
      const whole = observeTunnel(await this.vici.listSas({ ike }), v.config.child, ike, own());
      obs = { ...obs, charonBusy: whole.charonBusy, ...(whole.busyWhy !== undefined ? { busyWhy: `${whole.busyWhy} (unfiltered read)` } : {}) };
    }
    return obs;
  }

  private async reconcile(item: WorkItem): Promise<void> {
    const v = this.tunnels.get(item.name);
    if (!v || this.stopping) return;
    const t0 = performance.now();
    const reasons = [...item.reasons];
    const rt = v.runtime;
    if (!this.vici.connected || this.charonStopping) {
      rt.status = 'vici-down';
      this.emit('reconcile', { tunnel: item.name, result: 'skipped', ms: performance.now() - t0, reasons });
      return; // the resync after reconnect queues it again
    }
    let obs: TunnelObservation;
    try {
      obs = await this.observe(v);
    } catch (err) {
      if (!isConnectionError(err)) this.queue.addAfter(item.name, 1000, 'retry');
      this.log.warn({ tunnel: item.name, err: errMessage(err) }, 'list-sas failed');
      this.emit('reconcile', { tunnel: item.name, result: 'error', ms: performance.now() - t0, reasons });
      return;
    }
    v.obs = obs;
    const now = Date.now();
    this.track(v, obs, item.reasons, now);
    const d = decide({ enabled: v.config.enabled, obs, rt, now });
    rt.status = d.status;
    this.log.debug({ tunnel: item.name, status: d.status, decision: d.kind, why: d.why, reasons, up: obs.up.length, busy: obs.busyWhy ?? false }, 'reconcile');
    if (d.kind === 'none') {
      if (d.requeueAfterMs !== undefined) this.queue.addAfter(item.name, d.requeueAfterMs, 'retry');
      this.emit('reconcile', { tunnel: item.name, result: d.requeueAfterMs !== undefined ? 'requeue' : 'ok', ms: performance.now() - t0, reasons });
      return;
    }
    const ok = await this.act(v, d, item.reasons);
    this.emit('reconcile', { tunnel: item.name, result: ok ? 'ok' : 'error', ms: performance.now() - t0, reasons });
  }

  /** Episode bookkeeping: down/stale transitions, repairs, flaps, grace. */
  private track(v: TunnelView, obs: TunnelObservation, reasons: Set<Reason>, now: number): void {
    const rt = v.runtime;
    const name = v.config.name;
    if (obs.installed.length < 2) {
      rt.duplicateSeenAt = undefined;
    } else {
      rt.duplicateSeenAt ??= now;
      this.emit('duplicates', { tunnel: name, count: obs.installed.length });
    }
    const installed = obs.up.length > 0;
    const probed = v.config.probes.length > 0;
    const healthy = installed && rt.health !== 'failing' && (!probed || rt.health !== 'unknown' || rt.downSince === undefined);
    if (!v.config.enabled) return;
    if (!installed && obs.charonBusy && rt.downSince === undefined) {
      // A reauthentication or charon's own re-initiation: not an outage unless it lasts
      // longer than the grace period (then the episode starts from when it was first seen).
      rt.busySince ??= now;
      if (now - rt.busySince < v.config.charonGraceMs) return;
    }
    if (installed) rt.busySince = undefined;
    if (!installed || rt.health === 'failing') {
      if (rt.downSince === undefined) {
        rt.downSince = rt.busySince ?? now;
        rt.busySince = undefined;
        rt.downReason = installed ? `probes fail: ${rt.lastError ?? 'no traffic'}` : 'no CHILD_SA installed';
        rt.flaps++;
        rt.recentDowns = [...rt.recentDowns.filter((t) => now - t < FLAP_WINDOW_MS), now];
        rt.upSince = undefined;
        const charonRecovers = !installed && (reasons.has('event') || reasons.has('resync')) && this.charonRecovers(v);
        if (charonRecovers) rt.graceUntil = now + v.config.charonGraceMs;
        if (rt.recentDowns.length > FLAP_LIMIT) {
          const delay = backoffDelay(rt.recentDowns.length - FLAP_LIMIT, { baseMs: v.config.backoffBaseMs, capMs: v.config.backoffCapMs });
          rt.nextAttemptAt = Math.max(rt.nextAttemptAt, now + delay);
          this.log.warn({ tunnel: name, downs: rt.recentDowns.length, delayMs: delay }, `tunnel ${name} is flapping; damping repairs`);
        }
        this.log.warn({ tunnel: name, ike: v.config.ike ?? v.conn?.ike, child: v.config.child, why: rt.downReason, charonRecovers }, `tunnel ${name} down: ${rt.downReason}`);
        this.emit('tunnel-down', { tunnel: name, ike: v.config.ike ?? v.conn?.ike, child: v.config.child, why: rt.downReason, at: now });
      }
      return;
    }
    if (healthy && rt.downSince !== undefined) {
      const downMs = now - rt.downSince;
      rt.downSince = undefined;
      rt.downReason = undefined;
      rt.failures = 0;
      rt.escalation = 0;
      rt.nextAttemptAt = 0;
      rt.graceUntil = 0;
      rt.lastError = undefined;
      rt.upSince = now;
      this.log.info({ tunnel: name, downMs }, `tunnel ${name} repaired after ${downMs} ms`);
      this.emit('tunnel-repaired', { tunnel: name, ike: v.config.ike ?? v.conn?.ike, child: v.config.child, downMs, at: now });
    } else if (rt.upSince === undefined && healthy) {
      rt.upSince = now;
    }
    if (rt.health === 'healthy') {
      rt.failures = 0;
      rt.escalation = 0;
    }
  }

  private charonRecovers(v: TunnelView): boolean {
    const c = v.conn;
    if (!c) return false;
    return /start|restart|trap|route/.test(`${c.closeAction ?? ''} ${c.dpdAction ?? ''}`);
  }

  private actionReason(reasons: Set<Reason>, kind: ActionKind): ActionReason {
    if (kind === 'terminate-duplicate') return 'duplicate';
    if (kind !== 'initiate') return 'probe';
    if (reasons.has('event')) return 'event';
    if (reasons.has('probe')) return 'probe';
    if (reasons.has('resync') || reasons.has('start') || reasons.has('reload')) return 'resync';
    return 'retry';
  }

  private async act(v: TunnelView, d: Exclude<Decision, { kind: 'none' }>, reasons: Set<Reason>): Promise<boolean> {
    const rt = v.runtime;
    const name = v.config.name;
    const ike = v.config.ike ?? v.conn?.ike;
    const child = v.config.child;
    const policy = { baseMs: v.config.backoffBaseMs, capMs: v.config.backoffCapMs };
    const run = async (kind: ActionKind, fn: () => Promise<void>): Promise<boolean> => {
      const t0 = performance.now();
      const reason = this.actionReason(reasons, kind);
      try {
        await fn();
        const ms = performance.now() - t0;
        this.log.info({ tunnel: name, action: kind, reason, result: 'ok', ms: Math.round(ms), why: d.why }, `tunnel ${name}: ${kind} ok`);
        this.emit('action', { tunnel: name, ike, child, kind, reason, result: 'ok', ms });
        return true;
      } catch (err) {
        const ms = performance.now() - t0;
        rt.lastError = errMessage(err);
        this.log.warn({ tunnel: name, action: kind, reason, result: 'error', ms: Math.round(ms), err: rt.lastError, why: d.why }, `tunnel ${name}: ${kind} failed`);
        this.emit('action', { tunnel: name, ike, child, kind, reason, result: 'error', ms, error: rt.lastError });
        return false;
      }
    };
    const initiate = async (): Promise<void> => {
      const a: { child: string; ike?: string; timeoutMs: number } = { child, timeoutMs: v.config.initiateTimeoutMs };
      if (ike) a.ike = ike;
      // Counted so that other tunnels' reconciles can tell our CHILD_CREATE tasks from charon's.
      const key = ike ?? '';
      this.initiatesInFlight.set(key, (this.initiatesInFlight.get(key) ?? 0) + 1);
      try {
        await this.vici.initiate(a);
      } finally {
        const n = (this.initiatesInFlight.get(key) ?? 1) - 1;
        if (n > 0) this.initiatesInFlight.set(key, n);
        else this.initiatesInFlight.delete(key);
      }
    };
    const backOff = (): void => {
      rt.failures++;
      const delay = backoffDelay(rt.failures, policy);
      rt.nextAttemptAt = Date.now() + delay;
      this.queue.addAfter(name, delay, 'retry');
      this.log.warn({ tunnel: name, failures: rt.failures, delayMs: delay }, `tunnel ${name}: backing off ${delay} ms after ${rt.failures} failed repairs`);
      this.emit('escalated', { tunnel: name, ike, child, to: 'backoff', failures: rt.failures, nextAttemptInMs: delay });
    };
    // Whatever happens next, probe results from before this action no longer describe the tunnel.
    rt.generation++;
    rt.health = 'unknown';

    switch (d.kind) {
      case 'initiate': {
        const ok = await run('initiate', initiate);
        if (ok) {
          this.health.verify(name, 0);
          this.queue.add(name, 'verify');
        } else if (!this.vici.connected) {
          return false; // resync will retry
        } else {
          backOff();
        }
        return ok;
      }
      case 'restart-child': {
        let ikeDead = false;
        const ok = await run('restart-child', async () => {
          try {
            await this.vici.terminate({ childId: d.child.childId, timeoutMs: v.config.terminateTimeoutMs });
          } catch (err) {
            // The peer did not answer our DELETE: the IKE_SA itself is dead (the peer lost its
            // state, or the path is cut). A CHILD_SA on it can never come up: go to the IKE restart.
            ikeDead = true;
            throw new Error(`CHILD_SA delete not answered (${errMessage(err)}); restarting the IKE_SA`, { cause: err });
          }
          await initiate();
        });
        rt.escalation = 1;
        if (ok) {
          this.health.verify(name, 0);
        } else {
          if (ikeDead) this.log.info({ tunnel: name }, `tunnel ${name}: escalating to an IKE_SA restart at once`);
          rt.health = 'failing';
          this.queue.add(name, 'retry');
        }
        return ok;
      }
      case 'restart-ike': {
        this.emit('escalated', { tunnel: name, ike, child, to: 'restart-ike', failures: rt.failures, nextAttemptInMs: 0 });
        // force + a short timeout: a DELETE is sent so a live peer cleans up, but a dead one is
        // not waited for beyond half a second.
        const ok = await run('restart-ike', async () => {
          await this.vici.terminate({ ikeId: d.ikeId, force: true, timeoutMs: Math.min(500, v.config.terminateTimeoutMs) }).catch((err: unknown) => {
            this.log.debug({ tunnel: name, err: errMessage(err) }, 'terminate of the stale IKE_SA did not complete');
          });
          await initiate();
        });
        rt.escalation = 2;
        // Next time (if traffic still fails) only after a backoff: the fault may be outside our reach.
        backOff();
        rt.health = 'unknown';
        if (ok) this.health.verify(name, 0);
        return ok;
      }
      case 'terminate-duplicates': {
        this.log.warn({ tunnel: name, keep: d.keep.childId, terminate: d.extras.map((e) => e.childId) }, `tunnel ${name}: ${d.extras.length + 1} CHILD_SAs installed, terminating the older ${d.extras.length}`);
        let all = true;
        for (const extra of d.extras) {
          all = (await run('terminate-duplicate', () => this.vici.terminate({ childId: extra.childId, timeoutMs: v.config.terminateTimeoutMs }))) && all;
        }
        rt.duplicateSeenAt = undefined;
        this.queue.addAfter(name, 200, 'verify');
        return all;
      }
    }
  }

  /** Snapshot for status output. */
  statusOf(name: string): TunnelStatus | undefined {
    return this.tunnels.get(name)?.runtime.status;
  }
}
