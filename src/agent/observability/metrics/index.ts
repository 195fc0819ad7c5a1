// Prometheus metrics of the agent, in a Registry of its own (never prom-client's global one).
//
// Two kinds of values, after prom-client's own advice:
// - state (VICI up, tunnel up/healthy/status, CHILD_SA count, install time, backoff, traffic
//   totals) is read from `agent.view()` and the VICI client in `collect()` at scrape time;
// - happenings (actions, failures, downs, probes, reconciles, VICI events and commands, alerts)
//   are counted or observed when the agent's events arrive.
// Every label value known in advance is initialised to zero, so a rate() or an alert on a series
// works before the first incident, and a configured tunnel that never came up still has series.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TunnelView } from '../../controller/tunnel-view.js';
import type { TunnelConfig } from '../../config/load.js';
import { isHealthy, newRuntime, type TunnelStatus } from '../../controller/reconcile.js';
import type { EventEmitter } from 'eventemitter3';
import type { ActionEvent, ActionKind, ActionReason, AgentEvents, ReconcileEvent } from '../../controller/events.js';
import type { AgentSource } from '../../controller/tunnel-view.js';
import { tunnelIke } from '../../controller/conns.js';
import { tunnelUp, type TunnelObservation } from '../../controller/observe.js';
import { FAILURE_CLASSES } from '../../controller/failure-reason.js';
import { probeTargetLabel, type ProbeResult } from '../../../probes/types.js';
import { TrafficAccumulator, type TrafficKey } from './traffic.js';
import { VICI_DOWN_REASONS, viciDown } from '../vici-down.js';
import { ALERT_EVENTS, type AlertCounters, type AlertDropReason } from '../alert-counters.js';

export const METRIC_PREFIX = 'ipsec_keepalive_';

/** The VICI client as metrics see it, read at scrape time. */
export interface ViciState {
  readonly connected: boolean;
  readonly reconnects: number;
  /** Why it is not connected (the last failure); undefined when no attempt has failed yet. */
  readonly lastError?: Error | undefined;
}

export interface ViciCommandEvent {
  name: string;
  ms: number;
  result: 'ok' | 'error' | 'timeout';
}

export interface MetricsOptions {
  agent: AgentSource;
  vici: ViciState;
  /** Tunnels from the config file: they have series even before the agent has started. */
  tunnels: readonly TunnelConfig[];
  version: string;
  /** Wall clock in ms (tests pin it). */
  now?: () => number;
}

const TUNNEL_STATUSES = [
  'unknown',
  'up',
  'down',
  'connecting',
  'waiting-for-charon',
  'backoff',
  'stale',
  'target-down',
  'disabled',
  'vici-down',
  'not-loaded',
] as const satisfies readonly TunnelStatus[];
// Fails to compile when reconcile.ts grows a status this list does not export.
const _allStatuses: Record<Exclude<TunnelStatus, (typeof TUNNEL_STATUSES)[number]>, never> = {};
void _allStatuses;

/** The (kind, reason) pairs the agent produces (Agent.actionReason); others appear when first seen. */
const ACTION_PAIRS: ReadonlyArray<readonly [ActionKind, ActionReason]> = [
  ['initiate', 'event'],
  ['initiate', 'probe'],
  ['initiate', 'resync'],
  ['initiate', 'retry'],
  ['restart-child', 'probe'],
  ['restart-ike', 'probe'],
  ['terminate-duplicate', 'duplicate'],
];
const ACTION_KINDS: readonly ActionKind[] = ['initiate', 'restart-child', 'restart-ike', 'terminate-duplicate'];
const RECONCILE_RESULTS: ReadonlyArray<ReconcileEvent['result']> = ['ok', 'error', 'requeue', 'skipped'];
/** Events the agent subscribes to (alert only on strongSwan >= 6.0.3). */
export const VICI_EVENTS = ['child-updown', 'ike-updown', 'child-rekey', 'ike-rekey', 'log', 'alert'] as const;
/** Commands the agent sends (others, e.g. from `status`, appear when first used). */
export const VICI_COMMANDS = ['list-conns', 'list-sas', 'initiate', 'terminate'] as const;
const VICI_RESULTS: ReadonlyArray<ViciCommandEvent['result']> = ['ok', 'error', 'timeout'];
const ALERT_DROP_REASONS: readonly AlertDropReason[] = ['rate-limit', 'queue-full', 'retries-exhausted', 'duplicate', 'closed'];

// Buckets: VICI commands and reconciles run in milliseconds, an initiate up to its timeout; probes in
// milliseconds over a LAN up to their timeout; recovery from as fast as charon's own close_action to
// the backoff cap and beyond.
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const RECOVERY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

type TunnelLabels = { tunnel: string; ike: string; child: string };

interface Row {
  view: TunnelView;
  labels: TunnelLabels;
  traffic: TrafficAccumulator;
}

function ikeOf(v: TunnelView): string {
  return tunnelIke(v.config, v.conn) ?? v.obs?.ikeNames[0] ?? '';
}

export class AgentMetrics implements AlertCounters {
  readonly registry = new Registry();
  private readonly agent: AgentSource;
  private readonly vici: ViciState;
  private readonly now: () => number;
  private configured: readonly TunnelConfig[];
  private readonly traffic = new Map<string, TrafficAccumulator>();
  /** Observations already fed to the traffic counters. */
  private readonly ingested = new WeakSet<TunnelObservation>();
  /** When each tunnel's current observation was first seen here (ms): how fresh its state is. */
  private readonly observedAt = new Map<string, number>();
  /** Per tunnel: the probe label sets initialised; per tunnel presence for the event-driven series. */
  private readonly initialised = new Map<string, Set<string>>();
  private readonly alertChannels = new Set<string>();
  private rowsCache: Row[] | undefined;
  private readonly detach: Array<() => void> = [];

  // agent and VICI
  private readonly viciUp: Gauge;
  private readonly viciReconnects: Counter;
  private readonly viciEvents: Counter<'event'>;
  private readonly viciCommands: Counter<'command' | 'result'>;
  private readonly viciCommandSeconds: Histogram<'command'>;
  // tunnels (state)
  private readonly tunnelConfigured: Gauge<keyof TunnelLabels>;
  private readonly tunnelEnabled: Gauge<keyof TunnelLabels>;
  private readonly tunnelUp: Gauge<keyof TunnelLabels>;
  private readonly tunnelHealthy: Gauge<keyof TunnelLabels>;
  private readonly tunnelStatus: Gauge<keyof TunnelLabels | 'status'>;
  private readonly tunnelChildSas: Gauge<keyof TunnelLabels>;
  private readonly tunnelInstalledAt: Gauge<keyof TunnelLabels>;
  private readonly tunnelBackoff: Gauge<keyof TunnelLabels>;
  private readonly tunnelObservedAt: Gauge<keyof TunnelLabels>;
  private readonly tunnelTraffic: Record<TrafficKey, Counter<keyof TunnelLabels>>;
  // probes
  private readonly probeSuccess: Gauge<'tunnel' | 'kind' | 'target'>;
  private readonly probeSeconds: Histogram<'tunnel' | 'kind' | 'target'>;
  private readonly probeLastSuccess: Gauge<'tunnel' | 'kind' | 'target'>;
  // recovery
  private readonly recoveryActions: Counter<'tunnel' | 'kind' | 'reason'>;
  private readonly recoveryFailures: Counter<'tunnel' | 'kind' | 'reason'>;
  private readonly recoverySeconds: Histogram<'tunnel'>;
  private readonly tunnelDowns: Counter<'tunnel'>;
  private readonly tunnelSuspects: Counter<'tunnel'>;
  private readonly reconciles: Counter<'result'>;
  private readonly reconcileSeconds: Histogram;
  // alerts
  private readonly alertsSent: Counter<'channel' | 'event'>;
  private readonly alertsFailed: Counter<'channel'>;
  private readonly alertsDropped: Counter<'channel' | 'reason'>;

  constructor(opts: MetricsOptions) {
    this.agent = opts.agent;
    this.vici = opts.vici;
    this.now = opts.now ?? Date.now;
    this.configured = opts.tunnels;
    const registers = [this.registry];
    const p = METRIC_PREFIX;

    new Gauge({
      name: `${p}build_info`,
      help: 'Always 1; the labels say which ipsec-keepalive and Node.js are running.',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: opts.version, nodejs: process.versions.node }, 1);

    this.viciUp = new Gauge({
      name: `${p}vici_up`,
      help: "1 when the agent is connected to charon's VICI socket, else 0.",
      registers,
      collect: () => this.viciUp.set(this.vici.connected ? 1 : 0),
    });
    const downReason = new Gauge({
      name: `${p}vici_down_reason`,
      help: 'While the agent is not connected to VICI, 1 for why (permission, missing, refused, other), 0 for the other reasons; all 0 while connected.',
      labelNames: ['reason'],
      registers,
      collect: () => {
        // Not connected and nothing failed yet (the first attempt is under way): still down, for a reason not known.
        const now = this.vici.connected ? undefined : this.vici.lastError ? viciDown(this.vici.lastError).reason : 'other';
        for (const reason of VICI_DOWN_REASONS) downReason.set({ reason }, reason === now ? 1 : 0);
      },
    });
    this.viciReconnects = new Counter({
      name: `${p}vici_reconnects_total`,
      help: 'Times the VICI connection was re-established after it was lost.',
      registers,
      collect: () => {
        this.viciReconnects.reset();
        this.viciReconnects.inc(this.vici.reconnects);
      },
    });
    this.viciEvents = new Counter({
      name: `${p}vici_events_total`,
      help: 'VICI events received from charon, by event name.',
      labelNames: ['event'],
      registers,
    });
    this.viciCommands = new Counter({
      name: `${p}vici_commands_total`,
      help: 'VICI commands sent to charon, by command and result (ok, error, timeout).',
      labelNames: ['command', 'result'],
      registers,
    });
    this.viciCommandSeconds = new Histogram({
      name: `${p}vici_command_duration_seconds`,
      help: 'Time from sending a VICI command to its complete answer.',
      labelNames: ['command'],
      buckets: FAST_BUCKETS,
      registers,
    });
    for (const e of VICI_EVENTS) this.viciEvents.inc({ event: e }, 0);
    for (const c of VICI_COMMANDS) {
      for (const r of VICI_RESULTS) this.viciCommands.inc({ command: c, result: r }, 0);
      this.viciCommandSeconds.zero({ command: c });
    }

    const tl: Array<keyof TunnelLabels> = ['tunnel', 'ike', 'child'];
    const stateGauge = (name: string, help: string, value: (r: Row) => number | undefined): Gauge<keyof TunnelLabels> => {
      const g: Gauge<keyof TunnelLabels> = new Gauge({
        name: `${p}${name}`,
        help,
        labelNames: tl,
        registers,
        collect: () => {
          g.reset();
          for (const r of this.rows()) {
            const v = value(r);
            if (v !== undefined) g.set(r.labels, v);
          }
        },
      });
      return g;
    };
    this.tunnelConfigured = stateGauge('tunnel_configured', 'Always 1 for every tunnel the agent keeps (from the config file or discovered).', () => 1);
    this.tunnelEnabled = stateGauge('tunnel_enabled', '1 when the agent repairs the tunnel, 0 when it is disabled in the config.', (r) => (r.view.config.enabled ? 1 : 0));
    this.tunnelUp = stateGauge(
      'tunnel_up',
      'At the last look, 1 when charon had a CHILD_SA of the tunnel that carries traffic (INSTALLED, REKEYING, REKEYED, UPDATING), else 0 (also while VICI is down).',
      (r) => (this.isUp(r.view) ? 1 : 0),
    );
    this.tunnelHealthy = stateGauge(
      'tunnel_healthy',
      'Up and its probes pass through it (or it has no probes, or only the probe target is down).',
      (r) => (this.isHealthy(r.view) ? 1 : 0),
    );
    this.tunnelStatus = new Gauge({
      name: `${p}tunnel_status`,
      help: "The agent's view of the tunnel: 1 for its current status, 0 for the others.",
      labelNames: [...tl, 'status'],
      registers,
      collect: () => {
        this.tunnelStatus.reset();
        for (const r of this.rows()) {
          const current = this.vici.connected ? r.view.runtime.status : 'vici-down';
          for (const s of TUNNEL_STATUSES) this.tunnelStatus.set({ ...r.labels, status: s }, s === current ? 1 : 0);
        }
      },
    });
    this.tunnelChildSas = stateGauge(
      'tunnel_child_sas',
      'INSTALLED CHILD_SAs of the tunnel at the last look; more than 1 is a duplicate.',
      (r) => (this.vici.connected ? (r.view.obs?.installed.length ?? 0) : 0),
    );
    this.tunnelInstalledAt = stateGauge(
      'tunnel_child_sa_installed_timestamp_seconds',
      'When the newest CHILD_SA of the tunnel was installed (unix seconds); absent while none is up.',
      (r) => (this.isUp(r.view) ? r.traffic.installedAt : undefined),
    );
    this.tunnelBackoff = stateGauge('tunnel_backoff_seconds', 'Seconds until the agent may try to repair the tunnel again (0: not backing off).', (r) =>
      Math.max(0, (r.view.runtime.nextAttemptAt - this.now()) / 1000),
    );
    this.tunnelObservedAt = stateGauge(
      'tunnel_last_observed_timestamp_seconds',
      "When the agent last read the tunnel's SAs from charon (unix seconds): the age of tunnel_up, child_sas and the traffic counters; absent before the first look.",
      (r) => {
        const at = this.observedAt.get(r.view.config.name);
        return at === undefined ? undefined : at / 1000;
      },
    );
    const trafficCounter = (name: string, key: TrafficKey, help: string): Counter<keyof TunnelLabels> => {
      const c: Counter<keyof TunnelLabels> = new Counter({
        name: `${p}${name}`,
        help,
        labelNames: tl,
        registers,
        collect: () => {
          c.reset();
          for (const r of this.rows()) c.inc(r.labels, r.traffic.total[key]);
        },
      });
      return c;
    };
    const across = 'summed over its CHILD_SAs as the agent saw them (keeps growing across rekeys and repairs).';
    this.tunnelTraffic = {
      bytesIn: trafficCounter('tunnel_bytes_in_total', 'bytesIn', `Bytes received through the tunnel, ${across}`),
      bytesOut: trafficCounter('tunnel_bytes_out_total', 'bytesOut', `Bytes sent through the tunnel, ${across}`),
      packetsIn: trafficCounter('tunnel_packets_in_total', 'packetsIn', `Packets received through the tunnel, ${across}`),
      packetsOut: trafficCounter('tunnel_packets_out_total', 'packetsOut', `Packets sent through the tunnel, ${across}`),
    };

    const pl: Array<'tunnel' | 'kind' | 'target'> = ['tunnel', 'kind', 'target'];
    this.probeSuccess = new Gauge({ name: `${p}probe_success`, help: '1 when the last probe of the target through the tunnel succeeded, else 0.', labelNames: pl, registers });
    this.probeSeconds = new Histogram({ name: `${p}probe_duration_seconds`, help: 'Duration of probes, successful or not.', labelNames: pl, buckets: FAST_BUCKETS, registers });
    this.probeLastSuccess = new Gauge({
      name: `${p}probe_last_success_timestamp_seconds`,
      help: 'When the probe last succeeded (unix seconds); 0: not since the agent started.',
      labelNames: pl,
      registers,
    });

    this.recoveryActions = new Counter({
      name: `${p}recovery_actions_total`,
      help: 'Repair actions taken, by kind (initiate, restart-child, restart-ike, terminate-duplicate) and reason (event, probe, resync, duplicate, retry).',
      labelNames: ['tunnel', 'kind', 'reason'],
      registers,
    });
    this.recoveryFailures = new Counter({
      name: `${p}recovery_failures_total`,
      help: "Repair actions that failed, by kind and charon's reason (auth, timeout, proposal, traffic-selectors, peer-delete, config, other). Initiate's series exist from the start, the other kinds' from their first failure.",
      labelNames: ['tunnel', 'kind', 'reason'],
      registers,
    });
    this.recoverySeconds = new Histogram({
      name: `${p}tunnel_recovery_seconds`,
      help: 'How long the tunnel was down or stale before it was healthy again.',
      labelNames: ['tunnel'],
      buckets: RECOVERY_BUCKETS,
      registers,
    });
    this.tunnelDowns = new Counter({ name: `${p}tunnel_down_total`, help: 'Times the tunnel went down or stale (flaps).', labelNames: ['tunnel'], registers });
    this.tunnelSuspects = new Counter({ name: `${p}tunnel_suspect_total`, help: "Times the tunnel's own counters showed packets out and none in for a whole window (probed at once).", labelNames: ['tunnel'], registers });
    this.reconciles = new Counter({ name: `${p}reconcile_total`, help: 'Reconciles of one tunnel, by result (ok, error, requeue, skipped).', labelNames: ['result'], registers });
    this.reconcileSeconds = new Histogram({ name: `${p}reconcile_duration_seconds`, help: 'Duration of one reconcile, actions included.', buckets: FAST_BUCKETS, registers });
    for (const r of RECONCILE_RESULTS) this.reconciles.inc({ result: r }, 0);

    this.alertsSent = new Counter({ name: `${p}alerts_sent_total`, help: 'Alert messages delivered, by channel and event.', labelNames: ['channel', 'event'], registers });
    this.alertsFailed = new Counter({ name: `${p}alerts_failed_total`, help: 'Alert delivery attempts that failed (each retry counts).', labelNames: ['channel'], registers });
    this.alertsDropped = new Counter({
      name: `${p}alerts_dropped_total`,
      help: 'Alert messages not delivered, by channel and reason (rate-limit, queue-full, retries-exhausted, duplicate, closed).',
      labelNames: ['channel', 'reason'],
      registers,
    });

    this.listen();
    this.syncTunnels(this.currentViews());
  }

  // ---- inputs -------------------------------------------------------------------------------

  private hook<E extends keyof AgentEvents>(event: E, fn: (...args: AgentEvents[E]) => void): void {
    const f = fn as EventEmitter.EventListener<AgentEvents, E>;
    this.agent.on(event, f);
    this.detach.push(() => this.agent.off(event, f));
  }

  private listen(): void {
    this.hook('action', (e) => this.onAction(e));
    this.hook('reconcile', (e) => this.onReconcile(e));
    this.hook('probe', (tunnel, r) => this.onProbe(tunnel, r));
    this.hook('suspect', (e) => {
      if (this.known(e.tunnel)) this.tunnelSuspects.inc({ tunnel: e.tunnel });
    });
    this.hook('tunnel-down', (e) => {
      if (this.known(e.tunnel)) this.tunnelDowns.inc({ tunnel: e.tunnel });
    });
    this.hook('tunnel-repaired', (e) => {
      if (this.known(e.tunnel)) this.recoverySeconds.observe({ tunnel: e.tunnel }, e.downMs / 1000);
    });
  }

  /** New config (SIGHUP): tunnels removed lose their series, new ones get zeroed series. */
  setConfigured(tunnels: readonly TunnelConfig[]): void {
    this.configured = tunnels;
    this.rowsCache = undefined;
    this.syncTunnels(this.currentViews());
  }

  recordViciEvent(name: string): void {
    this.viciEvents.inc({ event: name });
  }

  recordViciCommand(e: ViciCommandEvent): void {
    this.viciCommands.inc({ command: e.name, result: e.result });
    this.viciCommandSeconds.observe({ command: e.name }, e.ms / 1000);
  }

  /** Zeroes the alert series of these channels (called when channels are configured). */
  initAlertChannels(channels: readonly string[]): void {
    for (const c of channels) {
      if (this.alertChannels.has(c)) continue;
      this.alertChannels.add(c);
      for (const e of ALERT_EVENTS) this.alertsSent.inc({ channel: c, event: e }, 0);
      this.alertsFailed.inc({ channel: c }, 0);
      for (const r of ALERT_DROP_REASONS) this.alertsDropped.inc({ channel: c, reason: r }, 0);
    }
  }

  sent(channel: string, event: string): void {
    this.alertsSent.inc({ channel, event });
  }

  failed(channel: string): void {
    this.alertsFailed.inc({ channel });
  }

  dropped(channel: string, reason: AlertDropReason, count = 1): void {
    this.alertsDropped.inc({ channel, reason }, count);
  }

  close(): void {
    for (const d of this.detach.splice(0)) d();
  }

  private onAction(e: ActionEvent): void {
    if (!this.known(e.tunnel)) return;
    this.recoveryActions.inc({ tunnel: e.tunnel, kind: e.kind, reason: e.reason });
    if (e.result === 'error') this.recoveryFailures.inc({ tunnel: e.tunnel, kind: e.kind, reason: e.failure ?? 'other' });
  }

  private onReconcile(e: ReconcileEvent): void {
    this.reconciles.inc({ result: e.result });
    this.reconcileSeconds.observe(e.ms / 1000);
    // The observation was taken just now: its CHILD_SA ages convert to install times here.
    const v = this.agent.view().get(e.tunnel);
    if (v?.obs) this.ingest(v.config.name, v.obs);
  }

  private onProbe(tunnel: string, r: ProbeResult): void {
    if (!this.known(tunnel)) return;
    const labels = { tunnel, kind: r.kind, target: r.target };
    const probes = this.initialised.get(tunnel);
    const key = `${r.kind}\0${r.target}`;
    if (probes && !probes.has(key)) {
      probes.add(key);
      this.probeLastSuccess.set(labels, 0);
    }
    this.probeSuccess.set(labels, r.success ? 1 : 0);
    this.probeSeconds.observe(labels, r.durationMs / 1000);
    if (r.success) this.probeLastSuccess.set(labels, this.now() / 1000);
  }

  private ingest(tunnel: string, obs: TunnelObservation): void {
    if (this.ingested.has(obs)) return;
    this.ingested.add(obs);
    let acc = this.traffic.get(tunnel);
    if (!acc) {
      acc = new TrafficAccumulator();
      this.traffic.set(tunnel, acc);
    }
    const now = this.now();
    acc.observe(obs.up, now);
    this.observedAt.set(tunnel, now);
  }

  // ---- tunnel set and label initialisation ---------------------------------------------------

  /** The agent's tunnels, plus configured ones it does not have yet (not started, charon unreachable). */
  private currentViews(): TunnelView[] {
    const view = this.agent.view();
    const out = [...view.values()];
    for (const t of this.configured) {
      if (!view.has(t.name)) out.push({ config: t, runtime: newRuntime() });
    }
    return out;
  }

  private rows(): Row[] {
    if (this.rowsCache) return this.rowsCache;
    const views = this.currentViews();
    this.syncTunnels(views);
    const rows = views.map((view): Row => {
      const name = view.config.name;
      if (view.obs) this.ingest(name, view.obs);
      let traffic = this.traffic.get(name);
      if (!traffic) {
        traffic = new TrafficAccumulator();
        this.traffic.set(name, traffic);
      }
      return { view, traffic, labels: { tunnel: name, ike: ikeOf(view), child: view.config.child } };
    });
    // One scrape calls every metric's collect() in the same tick: they share this snapshot.
    this.rowsCache = rows;
    queueMicrotask(() => {
      this.rowsCache = undefined;
    });
    return rows;
  }

  /**
   * Whether the tunnel is one the agent keeps (initialising its series if new). An event about a
   * tunnel a reload just removed would otherwise leave series behind that nothing removes.
   */
  private known(name: string): boolean {
    if (this.initialised.has(name)) return true;
    const v = this.agent.view().get(name) ?? this.configured.find((t) => t.name === name);
    if (!v) return false;
    this.initTunnel('config' in v ? v.config : v);
    return true;
  }

  private initTunnel(cfg: TunnelConfig): void {
    const tunnel = cfg.name;
    let probes = this.initialised.get(tunnel);
    if (!probes) {
      probes = new Set();
      this.initialised.set(tunnel, probes);
      for (const [kind, reason] of ACTION_PAIRS) this.recoveryActions.inc({ tunnel, kind, reason }, 0);
      for (const reason of FAILURE_CLASSES) this.recoveryFailures.inc({ tunnel, kind: 'initiate', reason }, 0);
      this.tunnelDowns.inc({ tunnel }, 0);
      this.tunnelSuspects.inc({ tunnel }, 0);
      this.recoverySeconds.zero({ tunnel });
    }
    const wanted = new Set(cfg.enabled ? cfg.probes.map((p) => `${p.kind}\0${probeTargetLabel(p)}`) : []);
    for (const key of probes) {
      if (!wanted.has(key)) {
        const [kind, target] = key.split('\0') as [string, string];
        this.removeProbe({ tunnel, kind, target });
        probes.delete(key);
      }
    }
    for (const key of wanted) {
      if (probes.has(key)) continue;
      probes.add(key);
      const [kind, target] = key.split('\0') as [string, string];
      const labels = { tunnel, kind, target };
      this.probeSuccess.set(labels, 0);
      this.probeLastSuccess.set(labels, 0);
      this.probeSeconds.zero(labels);
    }
  }

  private removeProbe(labels: { tunnel: string; kind: string; target: string }): void {
    this.probeSuccess.remove(labels);
    this.probeLastSuccess.remove(labels);
    this.probeSeconds.remove(labels);
  }

  private removeTunnel(tunnel: string): void {
    for (const key of this.initialised.get(tunnel) ?? []) {
      const [kind, target] = key.split('\0') as [string, string];
      this.removeProbe({ tunnel, kind, target });
    }
    for (const [kind, reason] of ACTION_PAIRS) this.recoveryActions.remove({ tunnel, kind, reason });
    for (const kind of ACTION_KINDS) for (const reason of FAILURE_CLASSES) this.recoveryFailures.remove({ tunnel, kind, reason });
    this.tunnelDowns.remove({ tunnel });
    this.tunnelSuspects.remove({ tunnel });
    this.recoverySeconds.remove({ tunnel });
    this.initialised.delete(tunnel);
    this.traffic.delete(tunnel);
    this.observedAt.delete(tunnel);
  }

  private syncTunnels(views: readonly TunnelView[]): void {
    const names = new Set(views.map((v) => v.config.name));
    for (const name of [...this.initialised.keys()]) if (!names.has(name)) this.removeTunnel(name);
    for (const name of [...this.traffic.keys()]) if (!names.has(name)) this.traffic.delete(name);
    for (const name of [...this.observedAt.keys()]) if (!names.has(name)) this.observedAt.delete(name);
    for (const v of views) this.initTunnel(v.config);
  }

  // ---- derived state ------------------------------------------------------------------------

  private isUp(v: TunnelView): boolean {
    return tunnelUp(v.obs, this.vici.connected);
  }

  private isHealthy(v: TunnelView): boolean {
    return isHealthy(v.runtime, this.isUp(v), v.config.probes.length > 0, v.config.enabled);
  }
}
