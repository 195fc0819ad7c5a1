// The agent: turns VICI events, probe results, timers and reconnects into reconcile requests,
// and reconciles one tunnel at a time against what charon reports (level-triggered, after
// controller-runtime). A missed event costs nothing: the next reconcile reads the truth, and the
// counter timer asks for one when a tunnel's CHILD_SAs differ from its last read.
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { IkeSa, ViciClient } from '../../vici/index.js';
import { discoveredTunnel, type AgentConfig, type TunnelConfig } from '../config/load.js';
import { tunnelIke, type ChildConnInfo, type ResponderConn } from './conns.js';
import { ConnsSource, type ConnsUpdate } from './conns-source.js';
import type { AgentEvents } from './events.js';
import { HealthChecker, type HealthReport, type InboundMark, type RunProbe } from './health.js';
import { afterDownEvent, downEventStands, lostPacketsIn, observeTunnel, upByChild, type TunnelObservation } from './observe.js';
import {
  afterAction,
  afterCharonLost,
  afterCounters,
  afterProbes,
  charonRestarted,
  closeActionRestores,
  configAppeared,
  needsReadAfterRound,
  provenSet,
  newIkeStream,
  newRuntime,
  reconcile,
  type IkeStream,
  type Note,
  type TunnelPolicy,
  type TunnelRuntime,
  type TunnelStatus,
} from './reconcile.js';
import { WorkQueue, type Reason, type WorkItem } from './workqueue.js';
import { counterVerdict, hearingStep, newWatch, tunnelCounters, watchStep, type PeerHearing } from './traffic-watch.js';
import { Executor } from './executor.js';
import type { TunnelView } from './tunnel-view.js';
import { errMessage } from '../../error-message.js';

export type { TunnelView };

export interface AgentOptions {
  config: AgentConfig;
  vici: ViciClient;
  logger: Logger;
  runProbe: RunProbe;
  /** Reconcile workers; tunnels are independent, a slow initiate must not stall the others. */
  workers?: number;
}

/** After charon announced its shutdown, its down events are ignored this long unless the socket closes first. */
const CHARON_SHUTDOWN_WINDOW_MS = 10_000;
/** Charon announced its shutdown; its down events follow and must not be acted on. */
const SHUTDOWN_HINT = /received, shutting down|shutting down charon/i;

/** charon starts this CHILD_SA itself (start_action=start): after its restart, or as it is loaded. */
function charonStarts(conn: ChildConnInfo | undefined): boolean {
  return /start/.test(conn?.startAction ?? '');
}

function childNames(ike: IkeSa): string[] {
  return Object.values(ike['child-sas'] ?? {}).map((c) => c.name);
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
  /** charon's loaded connections (list-conns), watched. */
  private readonly source: ConnsSource;
  private readonly workers: number;
  private workerLoops: Promise<void>[] = [];
  private unsubscribes: Array<() => Promise<void>> = [];
  private stopping = false;
  private charonStopping = false;
  private charonStoppingTimer?: NodeJS.Timeout;
  private viciLostAt?: number;
  /** One attempt stream per IKE connection name (IKE-level failures back off all its tunnels). */
  private readonly ikeStreams = new Map<string, IkeStream>();
  private started = false;
  private watchTimer?: NodeJS.Timeout;
  private watchChain = 0;
  private readonly executor: Executor;
  /** When the peer was last heard, per IKE connection (the counter timer's readings). */
  private readonly hearing = new Map<string, PeerHearing>();

  constructor(opts: AgentOptions) {
    super();
    this.config = opts.config;
    this.vici = opts.vici;
    this.log = opts.logger;
    this.workers = opts.workers ?? 8;
    this.source = new ConnsSource({ vici: this.vici, log: this.log, config: () => this.config, refreshed: (u) => this.onConnsRefreshed(u) });
    this.executor = new Executor({
      vici: this.vici,
      log: this.log,
      reported: (e) => this.emit('action', e),
      observe: (v) => this.observe(v),
      bringBack: (ike, child) =>
        !/trap/.test(this.source.conns.get(child)?.startAction ?? '') && this.tunnelsFor(ike ?? '', [child]).every((name) => !this.tunnels.get(name)?.config.enabled),
    });
    this.health = new HealthChecker(opts.runProbe, {
      generation: (t) => this.tunnels.get(t)?.runtime.generation ?? 0,
      report: (r) => this.onHealth(r),
      probed: (t, r) => this.emit('probe', t, r),
      inbound: (t) => this.inbound(t),
    });
  }

  /** Current tunnels with their runtime state (read by metrics at scrape time and by status). */
  view(): ReadonlyMap<string, TunnelView> {
    return this.tunnels;
  }

  /** Whether charon has this CHILD_SA config (list-conns); undefined until list-conns has answered. */
  configLoaded(child: string): boolean | undefined {
    return this.source.known ? this.source.conns.has(child) : undefined;
  }

  /** Loaded connections that only answer (remote %any, a subnet or a range): listed, never kept. */
  responderConns(): readonly ResponderConn[] {
    return this.config.discover ? this.source.responders : [];
  }

  /** When the tunnel's next probe round starts (ms), if one is scheduled. */
  nextProbeAt(name: string): number | undefined {
    return this.health.nextRoundAt(name);
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

    this.unsubscribes.push(await this.vici.onChildUpdown((e) => this.onChildUpdown(e.up, e.ikeName, e.ike)));
    this.unsubscribes.push(await this.vici.onIkeUpdown((e) => this.onIkeUpdown(e.up, e.ikeName, e.ike)));
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
    this.scheduleWatch();
    await this.resync('start');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Initiates sent without waiting end now, not at their timeout: the workers must finish.
    const stopping = new Error('agent stopping');
    this.executor.abandon(stopping);
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.source.stop();
    this.health.stop();
    this.queue.shutdown();
    if (this.charonStoppingTimer) clearTimeout(this.charonStoppingTimer);
    await Promise.allSettled(this.workerLoops);
    for (const u of this.unsubscribes) await u().catch(() => undefined);
    this.unsubscribes = [];
  }

  /**
   * SIGHUP: swap the config in place, keeping every tunnel's runtime state but its backoff: an
   * operator who reloads has usually just fixed something, so whatever was backing off is tried
   * again at once (damping stays: a repair loop is the peer's doing).
   */
  async reload(next: AgentConfig): Promise<void> {
    this.config = next;
    this.source.reloaded();
    this.setTunnels(next.tunnels, this.source.settledView);
    if (this.started) this.scheduleWatch();
    this.ikeStreams.clear();
    for (const v of this.tunnels.values()) {
      if (!v.runtime.damped) v.runtime = { ...v.runtime, failures: 0, nextAttemptAt: 0 };
    }
    await this.resync('reload');
  }

  // ---- wiring -------------------------------------------------------------------------------

  /**
   * The desired set: the file's tunnels, and with `discover` every CHILD_SA config of a connection charon
   * can initiate. `forget`: list-conns' answer has settled, so a discovered tunnel it lacks was unloaded
   * (before that, charon may still be loading its configs).
   */
  private setTunnels(configured: readonly TunnelConfig[], forget = true): void {
    const next = new Map<string, TunnelConfig>(configured.map((t) => [t.name, t]));
    if (this.config.discover) {
      const named = new Set(configured.map((t) => t.child));
      for (const [child, info] of this.source.conns) {
        if (info.initiable && !named.has(child)) next.set(child, discoveredTunnel(this.config, child, info.ike));
      }
    }
    for (const [name, v] of [...this.tunnels]) {
      if (!next.has(name) && !forget && v.config.discovered && this.config.discover) next.set(name, v.config);
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
      const info = this.source.conns.get(v.config.child);
      if (info) v.conn = info;
    }
    // A leader that is gone or disabled attempts nothing: free the lead.
    for (const [ike, stream] of this.ikeStreams) {
      const leader = stream.leader === undefined ? undefined : this.tunnels.get(stream.leader);
      if (stream.leader !== undefined && !leader?.config.enabled) this.ikeStreams.set(ike, { ...stream, leader: undefined, leaderUntil: undefined });
    }
    this.health.set([...this.tunnels.values()].map((v) => v.config));
  }

  /** Start-up, reconnect, reload: re-read charon's connections and reconcile every tunnel. */
  private async resync(reason: Reason): Promise<void> {
    if (this.stopping || !this.started) return;
    this.charonStopping = false;
    const reconnected = this.viciLostAt !== undefined;
    if (this.viciLostAt !== undefined) {
      const downMs = Date.now() - this.viciLostAt;
      this.viciLostAt = undefined;
      this.log.info({ downMs }, 'VICI connection restored, resyncing every tunnel');
      this.emit('vici-restored', { downMs, at: Date.now() });
    }
    // charon's configs may still be arriving (strongswan.service loads them after the socket appears):
    // the source reads list-conns again until its answer settles.
    const u = await this.source.resync(reconnected);
    // A newer resync (a reload meanwhile) has its own read: this one's answer is older.
    if (!u || this.stopping) return;
    this.setTunnels(this.config.tunnels, u.forget);
    for (const [name, v] of this.tunnels) {
      // After a charon restart, a start_action=start child comes back by itself: give it the grace.
      if (reason === 'resync' && charonStarts(v.conn)) {
        v.runtime.graceUntil = Math.max(v.runtime.graceUntil, Date.now() + v.config.charonGraceMs);
      }
      if (reason === 'resync' && u.afterReconnect) v.runtime = charonRestarted(v.runtime);
      this.queue.add(name, reason === 'reload' ? 'reload' : reason);
    }
  }

  /**
   * A read of the config source: tunnels whose config charon loaded since are reconciled at once (their
   * back-off cleared: the wait was for the config, not the peer), those it unloaded are reconciled
   * (not-loaded) or, when discovered, forgotten once the answer has settled.
   */
  private onConnsRefreshed(u: ConnsUpdate): void {
    if (!u.changed || this.stopping) return;
    const { before } = u;
    const known = new Set(this.tunnels.keys());
    this.setTunnels(this.config.tunnels, u.forget);
    const now = Date.now();
    const ikesBefore = new Set([...(before?.values() ?? [])].map((i) => i.ike));
    for (const [name, v] of this.tunnels) {
      const had = before?.has(v.config.child) ?? false;
      const has = this.source.conns.has(v.config.child);
      // With no earlier answer to compare (list-conns had failed), only a tunnel new to the agent appeared.
      if (!known.has(name) || (before !== undefined && has && !had)) {
        v.runtime = configAppeared(v.runtime, { now, graceMs: charonStarts(v.conn) ? v.config.charonGraceMs : 0, afterRestart: u.afterReconnect });
        const ike = tunnelIke(v.config, v.conn);
        // A connection new to charon starts a fresh attempt stream; one that only gained a child keeps its siblings'.
        if (ike !== undefined && !ikesBefore.has(ike)) this.ikeStreams.delete(ike);
        this.log.info({ tunnel: name, child: v.config.child, ike }, `tunnel ${name}: charon loaded its config; reconciling now`);
        this.queue.add(name, 'resync');
      } else if (had && !has) {
        this.queue.add(name, 'resync');
      }
    }
    for (const name of known) if (!this.tunnels.has(name)) this.log.info({ tunnel: name }, `tunnel ${name}: charon unloaded its config; forgotten`);
  }

  private onViciLost(err: Error): void {
    if (this.viciLostAt !== undefined) return;
    this.viciLostAt = Date.now();
    this.log.warn({ err: err.message }, 'VICI connection lost; events may be missed until it is back');
    this.executor.abandon(err);
    this.emit('vici-lost', { error: err.message, at: this.viciLostAt });
    this.source.lost();
    for (const v of this.tunnels.values()) v.runtime = { ...afterCharonLost(v.runtime, this.viciLostAt), status: 'vici-down' };
  }

  private onCharonLog(e: Record<string, unknown>): void {
    const msg = String(e['msg'] ?? '');
    if (SHUTDOWN_HINT.test(msg)) {
      // charon sends a down event for every SA before it closes the socket (since 5.9.1):
      // those are not outages to repair. The flag clears on reconnect, or after a while if the
      // socket unexpectedly stays up.
      this.charonStopping = true;
      this.log.info({ charon: msg }, 'charon is shutting down; ignoring its down events');
      if (this.charonStoppingTimer) clearTimeout(this.charonStoppingTimer);
      this.charonStoppingTimer = setTimeout(() => {
        // The socket stayed up after all: look at every tunnel skipped meanwhile.
        this.charonStopping = false;
        for (const name of this.tunnels.keys()) this.queue.add(name, 'resync');
      }, CHARON_SHUTDOWN_WINDOW_MS);
      this.charonStoppingTimer.unref();
    }
  }

  private tunnelsFor(ikeName: string, children: readonly string[]): string[] {
    const names: string[] = [];
    for (const [name, v] of this.tunnels) {
      const ike = tunnelIke(v.config, v.conn);
      if (children.includes(v.config.child) || (children.length === 0 && ike === ikeName)) names.push(name);
    }
    return names;
  }

  private onChildUpdown(up: boolean, ikeName: string, ike: IkeSa): void {
    if (!up && this.charonStopping) return;
    const children = childNames(ike);
    if (up) this.executor.childrenUp(ikeName, children);
    for (const name of this.tunnelsFor(ikeName, children)) this.queueEvent(name, up ? undefined : ike);
  }

  private onIkeUpdown(up: boolean, ikeName: string, ikeSa: IkeSa): void {
    const children = childNames(ikeSa);
    if (up) {
      // Tunnels waiting on their connection's IKE_SA (its attempt stream) can be created on it now.
      if (this.ikeStreams.get(ikeName)?.failures) {
        this.ikeStreams.delete(ikeName);
        for (const name of this.tunnelsFor(ikeName, [])) this.queueEvent(name);
      }
      return;
    }
    if (this.charonStopping) return;
    // An IKE_SA going down takes all its children: match by connection as well as by child.
    for (const [name, v] of this.tunnels) {
      const ike = tunnelIke(v.config, v.conn);
      if (ike === ikeName || children.includes(v.config.child)) this.queueEvent(name);
    }
  }

  private onRekey(kind: 'child' | 'ike', ikeName: string, child?: string): void {
    // A rekey is not an outage. A reconcile afterwards refreshes what metrics show (install
    // time, counters of the new SA) and catches the duplicate a rekey collision can leave.
    this.log.debug({ kind, ike: ikeName, child }, 'rekey');
    for (const name of this.tunnelsFor(ikeName, child ? [child] : [])) this.queueEvent(name);
  }

  /** charon told of a change: the tunnel's last read no longer stands. A down event's dump is kept for its reconcile. */
  private queueEvent(name: string, down?: IkeSa): void {
    const v = this.tunnels.get(name);
    if (v) {
      // Alone: no earlier event was still waiting to be read when this one came.
      const alone = (v.eventAt ?? 0) <= (v.observedAt ?? 0);
      v.eventAt = Date.now();
      v.downEvent = down ? { at: v.eventAt, alone, ike: down } : undefined;
    }
    this.queue.add(name, 'event');
  }

  /** The tunnel's packets-in, from the freshest reading of the same CHILD_SAs (a counter sample or a reconcile). */
  private inbound(name: string): InboundMark | undefined {
    const v = this.tunnels.get(name);
    const seen = tunnelCounters(v?.obs?.up ?? [], v?.observedAt ?? 0);
    const sample = v?.watch?.last;
    if (sample && (!seen || sample.sas === seen.sas)) return { sas: sample.sas, packetsIn: Math.max(sample.packetsIn, seen?.packetsIn ?? 0) };
    // None known (a repair's verification starts before its first reading): the CHILD_SA that is there
    // after the round must have received something.
    return seen ? { sas: seen.sas, packetsIn: seen.packetsIn } : { sas: '', packetsIn: 0 };
  }

  /**
   * One timer for every tunnel: read the counters, IKE connection by IKE connection. A reload starts a
   * new chain (the interval may have changed, or been 0); a reading still running ends the old one.
   */
  private scheduleWatch(): void {
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    const chain = ++this.watchChain;
    const every = this.config.trafficWatch.intervalMs;
    if (every <= 0 || this.stopping) return;
    this.watchTimer = setTimeout(() => {
      const next = (): void => {
        if (chain === this.watchChain) this.scheduleWatch();
      };
      this.watchCounters().then(next, (err: unknown) => {
        this.log.debug({ err: errMessage(err) }, 'counter reading failed');
        next();
      });
    }, every);
  }

  private async watchCounters(): Promise<void> {
    if (!this.vici.connected || this.charonStopping) return;
    // Only tunnels that carry a CHILD_SA and have probes to confirm a suspicion.
    const byIke = new Map<string, TunnelView[]>();
    for (const v of this.tunnels.values()) {
      const ike = tunnelIke(v.config, v.conn);
      if (!ike || !v.config.enabled || v.config.probes.length === 0 || (v.obs?.up.length ?? 0) === 0) continue;
      byIke.set(ike, [...(byIke.get(ike) ?? []), v]);
    }
    const policy = { windowMs: this.config.trafficWatch.windowMs, minPackets: SUSPECT_MIN_PACKETS };
    for (const ike of this.hearing.keys()) if (!byIke.has(ike)) this.hearing.delete(ike);
    for (const [ike, views] of byIke) {
      if (this.stopping) return;
      const readAt = Date.now();
      const sas = await this.vici.listSas({ ike });
      const at = Date.now();
      const children = sas.flatMap((sa) =>
        Object.values(sa['child-sas'] ?? {}).map((c) => ({ id: Number(c.uniqueid), packetsIn: Number(c['packets-in'] ?? 0), ...(c['use-in'] !== undefined ? { useInSec: Number(c['use-in']) } : {}) })),
      );
      this.hearing.set(ike, hearingStep(this.hearing.get(ike), children, at));
      const up = upByChild(sas, ike);
      for (const v of views) {
        const freshUp = up.get(v.config.child) ?? [];
        const sample = tunnelCounters(freshUp, at);
        // The same CHILD_SAs as the last read: this reading is as good as one (counters for metrics and
        // status; healthy rounds skip their own read on that account). Another set, and no event said so: look now.
        const verdict = counterVerdict({ lastSas: tunnelCounters(v.obs?.up ?? [], 0)?.sas, sampleSas: sample?.sas, readAfterLast: (v.observedAt ?? 0) < readAt, answered: sas.length > 0 });
        if (verdict === 'refresh' && v.obs) {
          v.obs = { ...v.obs, up: freshUp, installed: freshUp.filter((c) => c.state === 'INSTALLED') };
          v.observedAt = readAt;
          v.countersAt = at;
          v.runtime = afterCounters(v.runtime, freshUp);
        } else if (verdict === 'read') {
          this.queue.add(v.config.name, 'verify');
        }
        // After a suspicion the probe decides; a one-way stream is asked again only after half an interval.
        const step = watchStep(v.watch ?? newWatch(), sample, { ...policy, cooldownMs: Math.max(policy.windowMs, v.config.probeIntervalMs / 2) });
        v.watch = step.watch;
        if (step.suspect) {
          this.log.info({ tunnel: v.config.name, why: step.suspect }, `tunnel ${v.config.name}: ${step.suspect}; probing now`);
          this.emit('suspect', { tunnel: v.config.name, why: step.suspect, at });
          this.health.verify(v.config.name, 0, { suspected: true });
        }
      }
    }
  }

  private onHealth(r: HealthReport): void {
    const v = this.tunnels.get(r.tunnel);
    if (!v) return;
    this.emit('health', r);
    const previous = v.runtime.health;
    const failures = r.results.filter((x) => !x.success).map((x) => `${x.kind} ${x.target}: ${x.error ?? 'failed'}`);
    v.probes = { at: Date.now(), results: r.results };
    const p = afterProbes(v.runtime, { health: r.health, generation: r.generation, failures, startedAt: r.startedAt, firstDoneAt: r.firstDoneAt, ...(r.inBefore ? { inBefore: r.inBefore } : {}) });
    if (p.stale) return; // started before a repair: says nothing about now
    v.runtime = p.state;
    const watchMs = this.config.trafficWatch.intervalMs;
    const wantsRead = needsReadAfterRound({
      health: r.health,
      changed: p.changed,
      readStands: v.observedAt !== undefined && (v.eventAt ?? 0) < v.observedAt,
      sas: tunnelCounters(v.obs?.up ?? [], 0)?.sas,
      provenSas: v.provenSas,
      countersWatched: watchMs > 0 && v.countersAt !== undefined && Date.now() - v.countersAt <= 2 * watchMs + COUNTER_SLACK_MS,
    });
    const read = wantsRead || !this.judgeOnLastRead(v);
    this.log.debug({ tunnel: r.tunnel, health: r.health, attempts: r.attempts, read }, 'probe round');
    if (read) this.queue.add(r.tunnel, p.changed || r.health === 'failing' ? 'probe' : 'verify');
    // Probes that could not run (a name that does not resolve) leave the health unknown: say so each round, like failures.
    const unrunnable = r.health === 'unknown' && failures.length > 0;
    // Passing probes of a tunnel the agent last saw without a CHILD_SA are judged by the reconcile
    // queued above (healthy after a repair, or unproven): said there, not here.
    const judgedLater = (r.health === 'healthy' || r.health === 'target-down') && ((v.obs?.up.length ?? 0) === 0 || previous === 'unproven');
    if ((p.changed && !judgedLater) || r.health === 'failing' || unrunnable) {
      this.log.info({ tunnel: r.tunnel, health: r.health, previous, attempts: r.attempts, results: r.results.map((x) => ({ kind: x.kind, target: x.target, ok: x.success, ms: Math.round(x.durationMs), error: x.error })) }, `tunnel ${r.tunnel}: probes ${r.health}`);
    }
  }

  // ---- reconcile: observe, transition, execute, requeue ---------------------------------------

  private async work(): Promise<void> {
    for (;;) {
      const item = await this.queue.get();
      if (!item) return;
      try {
        await this.reconcileOne(item);
      } catch (err) {
        this.log.error({ tunnel: item.name, err: errMessage(err) }, 'reconcile failed unexpectedly');
        this.queue.addRateLimited(item.name, 'retry');
      } finally {
        this.queue.done(item.name);
      }
    }
  }

  private policyOf(v: TunnelView): TunnelPolicy {
    return {
      name: v.config.name,
      enabled: v.config.enabled,
      probed: v.config.probes.length > 0,
      graceMs: v.config.charonGraceMs,
      holdMs: v.config.repairHoldMs,
      backoff: { baseMs: v.config.backoffBaseMs, capMs: v.config.backoffCapMs },
      charonRecovers: this.charonRecovers(v),
      attemptMs: v.config.initiateTimeoutMs + INITIATE_MARGIN_MS,
      childName: v.config.child,
      ...(this.source.known ? { configLoaded: this.source.conns.has(v.config.child) } : {}),
    };
  }

  private async observe(v: TunnelView): Promise<TunnelObservation> {
    const ike = tunnelIke(v.config, v.conn);
    const filter: { child: string; ike?: string } = { child: v.config.child };
    if (ike) filter.ike = ike;
    // charon 5.9.x lists every IKE_SA matching `ike` even when none of its children match
    // `child`, so one read shows both the tunnel's CHILD_SAs and a reauth or initiate in flight.
    // Our own initiates in flight are counted when charon's answer is in, not when the read was
    // queued: a sibling's initiate sent meanwhile set up the IKE_SA the answer shows.
    const own = () => this.executor.initiatesInFlight(ike);
    const sas = await this.vici.listSas(filter);
    let obs = observeTunnel(sas, v.config.child, ike, own());
    if (sas.length === 0 && ike) {
      // Should a charon hide IKE_SAs without a matching child, look at the connection before
      // acting, or we race its own negotiation.
      const whole = observeTunnel(await this.vici.listSas({ ike }), v.config.child, ike, own());
      obs = { ...obs, charonBusy: whole.charonBusy, ikeEstablished: whole.ikeEstablished, ...(whole.busyWhy !== undefined ? { busyWhy: `${whole.busyWhy} (unfiltered read)` } : {}) };
    }
    return obs;
  }

  /**
   * A healthy round that needs no read is still judged, on the last read (charon's state as the agent
   * knows it): the hold time of the last repair runs out, the tunnel is seen up. The same pure reconcile
   * as ever; should it want to act or to look again, the round gets its read after all (false).
   */
  private judgeOnLastRead(v: TunnelView): boolean {
    if (!v.obs) return false;
    const ikeName = tunnelIke(v.config, v.conn);
    const t = reconcile({ state: { ...v.runtime, healthProof: undefined }, ike: this.ikeStream(ikeName), obs: v.obs, reasons: new Set<Reason>(['verify']), now: Date.now(), policy: this.policyOf(v) });
    if (t.action || t.requeueAfterMs !== undefined || t.state.status !== 'up') return false;
    v.runtime = t.state;
    v.why = t.why;
    this.tell(v, t.notes);
    return true;
  }

  /**
   * The tunnel as its last down event leaves it, when that event is the only news since the agent's last
   * read and nothing was done to the tunnel since: then charon's dump in the event is all there is to know.
   */
  private fromDownEvent(v: TunnelView): TunnelObservation | undefined {
    const ev = v.downEvent;
    if (!ev || !v.obs) return undefined;
    const news = { at: ev.at, alone: ev.alone, latestEventAt: v.eventAt ?? 0, ...(v.observedAt !== undefined ? { observedAt: v.observedAt } : {}), ...(v.runtime.lastAction ? { lastActionAt: v.runtime.lastAction.at } : {}) };
    if (!downEventStands(news)) return undefined;
    const ike = tunnelIke(v.config, v.conn);
    if (ike !== undefined && ev.ike.name !== ike) return undefined;
    return afterDownEvent(v.obs, ev.ike, v.config.child, this.executor.initiatesInFlight(ike));
  }

  private async reconcileOne(item: WorkItem): Promise<void> {
    const v = this.tunnels.get(item.name);
    if (!v || this.stopping) return;
    const t0 = performance.now();
    const reasons = [...item.reasons];
    const done = (result: 'ok' | 'error' | 'requeue' | 'skipped') => this.emit('reconcile', { tunnel: item.name, result, ms: performance.now() - t0, reasons });
    if (!this.vici.connected || this.charonStopping) {
      v.runtime = { ...v.runtime, status: 'vici-down' };
      done('skipped');
      return; // the resync after reconnect queues it again
    }
    let obs: TunnelObservation | undefined = item.reasons.has('event') ? this.fromDownEvent(v) : undefined;
    const lostIn = v.downEvent ? lostPacketsIn(v.downEvent.ike, v.config.child) : undefined;
    v.downEvent = undefined;
    if (obs) {
      // Decided on the event's own dump; the read comes after the repair (or with the next requeue).
      v.obs = obs;
    } else {
      try {
        obs = await this.observe(v);
      } catch (err) {
        if (!isConnectionError(err)) this.queue.addRateLimited(item.name, 'retry');
        this.log.warn({ tunnel: item.name, err: errMessage(err) }, 'list-sas failed');
        done('error');
        return;
      }
      v.obs = obs;
      v.observedAt = Date.now();
    }
    const ikeName = tunnelIke(v.config, v.conn);
    const policy = this.policyOf(v);
    const proof = v.runtime.healthProof;
    const heard = ikeName === undefined ? undefined : this.hearing.get(ikeName);
    const t = reconcile({ state: v.runtime, ike: this.ikeStream(ikeName), obs, reasons: item.reasons, now: Date.now(), policy, ...(heard ? { peerHeard: heard } : {}), ...(lostIn !== undefined ? { lostPacketsIn: lostIn } : {}) });
    v.runtime = t.state;
    v.why = t.why;
    if (t.state.health === 'healthy' || t.state.health === 'target-down') v.unprovenSaid = undefined;
    // The probe proof passed on this CHILD_SA set: healthy rounds on it need no read after them.
    v.provenSas = provenSet(t.state.health, proof, tunnelCounters(obs.up, 0)?.sas, v.provenSas);
    if (ikeName && t.ike) this.ikeStreams.set(ikeName, t.ike);
    this.tell(v, t.notes);
    this.log.debug({ tunnel: item.name, status: t.state.status, decision: t.action?.kind ?? 'none', why: t.why, reasons, up: obs.up.length, busy: obs.busyWhy ?? false }, 'reconcile');
    if (t.requeueAfterMs !== undefined) this.queue.addAfter(item.name, t.requeueAfterMs, 'retry');
    if (t.probe) this.health.verify(item.name, 0);
    if (!t.action) {
      this.queue.forgetFailures(item.name);
      done(t.requeueAfterMs !== undefined ? 'requeue' : 'ok');
      return;
    }
    const result = await this.executor.execute(v, t.action, item.reasons);
    const a = afterAction({ state: v.runtime, ike: this.ikeStream(ikeName), action: t.action, result, reasons: item.reasons, now: Date.now(), policy, viciLost: !this.vici.connected });
    v.runtime = a.state;
    if (ikeName && a.ike) this.ikeStreams.set(ikeName, a.ike);
    this.tell(v, a.notes);
    if (a.verify) this.health.verify(item.name, 0);
    if (a.requeueAfterMs !== undefined) this.queue.addAfter(item.name, a.requeueAfterMs, a.requeueAfterMs === 0 && result.ok ? 'verify' : 'retry');
    // A reconcile that ran to its end: unexpected failures start from the base again.
    this.queue.forgetFailures(item.name);
    done(result.ok ? 'ok' : 'error');
  }

  /** The attempt stream of an IKE connection (a fresh one until something happened to it). */
  private ikeStream(ikeName: string | undefined): IkeStream | undefined {
    return ikeName === undefined ? undefined : (this.ikeStreams.get(ikeName) ?? newIkeStream());
  }

  /** Logs and emits what a transition noted. */
  private tell(v: TunnelView, notes: readonly Note[]): void {
    const name = v.config.name;
    const ike = tunnelIke(v.config, v.conn);
    const child = v.config.child;
    const now = Date.now();
    for (const n of notes) {
      switch (n.kind) {
        case 'duplicates':
          this.emit('duplicates', { tunnel: name, count: n.count });
          break;
        case 'down':
          this.log.warn({ tunnel: name, ike, child, why: n.why, charonRecovers: n.charonRecovers }, `tunnel ${name} down: ${n.why}`);
          this.emit('tunnel-down', { tunnel: name, ike, child, why: n.why, at: now });
          break;
        case 'repaired':
          this.log.info({ tunnel: name, downMs: n.downMs }, `tunnel ${name} repaired after ${n.downMs} ms`);
          this.emit('tunnel-repaired', { tunnel: name, ike, child, downMs: n.downMs, at: now });
          break;
        case 'damped':
          this.log.warn({ tunnel: name, unheldRepairs: n.unheld, delayMs: n.delayMs }, `tunnel ${name}: ${n.unheld} repairs in a row were lost before they carried traffic; damping the next by ${n.delayMs} ms`);
          this.emit('escalated', { tunnel: name, ike, child, to: 'backoff', failures: n.unheld, nextAttemptInMs: n.delayMs, why: 'repairs are lost before they carry traffic' });
          break;
        case 'backoff': {
          const why = n.reason ? `${n.reason.class}: ${n.reason.detail}` : undefined;
          const whose = n.shared ? `IKE_SA ${ike}` : `tunnel ${name}`;
          this.log.warn({ tunnel: name, ike, failures: n.failures, delayMs: n.delayMs, shared: n.shared, reason: n.reason?.class, detail: n.reason?.detail }, `${whose}: backing off ${n.delayMs} ms after ${n.failures} failed attempts${why ? ` (${why})` : ''}`);
          this.emit('escalated', { tunnel: name, ike, child, to: 'backoff', failures: n.failures, nextAttemptInMs: n.delayMs, shared: n.shared, ...(why ? { why } : {}) });
          break;
        }
        case 'unproven':
          // Every round says it again; the log says it once until the probes prove the tunnel.
          if (v.unprovenSaid === n.why) break;
          v.unprovenSaid = n.why;
          this.log.warn({ tunnel: name, child, why: n.why }, `tunnel ${name}: probes pass but do not count: ${n.why}`);
          break;
        case 'escalate-ike':
          this.emit('escalated', { tunnel: name, ike, child, to: 'restart-ike', failures: v.runtime.failures, nextAttemptInMs: 0 });
          break;
      }
    }
  }

  /** charon restores the tunnel's CHILD_SA after a peer delete (its close_action; see closeActionRestores). */
  private charonRecovers(v: TunnelView): boolean {
    return closeActionRestores(v.conn?.closeAction);
  }

  /** Snapshot for status output. */
  statusOf(name: string): TunnelStatus | undefined {
    return this.tunnels.get(name)?.runtime.status;
  }

}

/** Packets sent without an answer, at the least, before a tunnel is suspect (a lone keepalive says little). */
const SUSPECT_MIN_PACKETS = 3;
/** Beyond two counter intervals, how old a counter refresh may be and still keep the metrics' counters fresh. */
const COUNTER_SLACK_MS = 1000;
/** Beyond its own timeout, how long an initiate may take (the VICI client's margin) before its IKE attempt counts as over. */
const INITIATE_MARGIN_MS = 5000;

export type { TunnelRuntime };
