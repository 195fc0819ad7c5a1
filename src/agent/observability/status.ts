// The operator's view of the tunnels, as one JSON document: served by the running agent (/status on
// the metrics listener and on its unix socket) and built by `ipsec-keepalive status` from charon's
// own answers when no agent runs. Both views share this shape; what only the agent knows (probes,
// backoff, damping, the last action) is null in charon's. Keys are snake_case, like the config file.
// Pure: the callers pass the clock.
import type { ChildSa, IkeSa } from '../../vici/index.js';
import type { TunnelObservation } from '../controller/observe.js';
import { isHealthy, type TunnelRuntime, type TunnelStatus } from '../controller/reconcile.js';
import type { ProbeResult } from '../../probes/types.js';
import type { TunnelView } from '../controller/tunnel-view.js';
import { tunnelIke, type ResponderConn } from '../controller/conns.js';

export type StatusView = 'agent' | 'charon';

export interface ChildSaStatus {
  id: number;
  name: string;
  reqid: number | null;
  state: string;
  mode: string | null;
  protocol: string | null;
  encap: boolean;
  spi_in: string | null;
  spi_out: string | null;
  encryption: string | null;
  integrity: string | null;
  dh_group: string | null;
  local_ts: string[];
  remote_ts: string[];
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  installed_seconds_ago: number | null;
  rekey_in_seconds: number | null;
  expires_in_seconds: number | null;
}

export interface IkeSaStatus {
  id: number;
  name: string;
  state: string;
  version: number | null;
  local_host: string | null;
  remote_host: string | null;
  local_id: string | null;
  remote_id: string | null;
  encryption: string | null;
  integrity: string | null;
  prf: string | null;
  dh_group: string | null;
  established_seconds_ago: number | null;
  rekey_in_seconds: number | null;
  reauth_in_seconds: number | null;
}

export interface ProbeStatus {
  kind: string;
  target: string;
  ok: boolean;
  latency_ms: number;
  error: string | null;
}

export interface TunnelStatusDoc {
  name: string;
  child: string;
  ike: string | null;
  /** Found by `discover: true` rather than listed in the config file. */
  discovered: boolean;
  enabled: boolean;
  status: TunnelStatus;
  /** Since when the tunnel has this status (up: since it came up; otherwise since the outage began). */
  since: string | null;
  /** What the status rests on, in a few words. */
  why: string | null;
  /** Up and passing traffic (probes through its own CHILD_SA); null in charon's view. */
  healthy: boolean | null;
  health: string | null;
  /** charon has a CHILD_SA config of this name (list-conns); null when it could not be read. */
  config_loaded: boolean | null;
  ike_sa: IkeSaStatus | null;
  child_sas: ChildSaStatus[];
  observed_at: string | null;
  probes: ProbeStatus[];
  probed_at: string | null;
  next_probe_at: string | null;
  backoff_until: string | null;
  damped: boolean | null;
  flaps: number | null;
  down_since: string | null;
  last_error: string | null;
  last_action: { kind: string; result: string; at: string; ms: number; failure: string | null; detail: string | null } | null;
}

export interface StatusDocument {
  view: StatusView;
  generated_at: string;
  /** The agent that served it (agent view), or null. */
  agent: { version: string; pid: number; started_at: string; config: string; vici_socket: string; vici_connected: boolean } | null;
  /** Reading charon directly: its socket, and what could not be read. */
  charon: { vici_socket: string; notes: string[] } | null;
  counts: Partial<Record<TunnelStatus, number>>;
  tunnels: TunnelStatusDoc[];
  /** Loaded connections that only answer (remote %any, a subnet or a range): `discover` keeps none of them. */
  responders: ResponderStatus[];
}

export interface ResponderStatus {
  ike: string;
  children: string[];
  remote_addrs: string[];
}

function responderStatus(r: ResponderConn): ResponderStatus {
  return { ike: r.ike, children: [...r.children], remote_addrs: [...r.remoteAddrs] };
}

/** One tunnel as the builder needs it; the agent fills everything, charon's view the first part. */
export interface TunnelInput {
  name: string;
  child: string;
  ike: string | undefined;
  discovered: boolean;
  enabled: boolean;
  obs: TunnelObservation | undefined;
  observedAt: number | undefined;
  configLoaded: boolean | undefined;
  /** Charon's view: why the tunnel's SAs could not be read (then its status is `unknown`). */
  unreadable?: string;
  // The agent's own knowledge:
  runtime?: TunnelRuntime;
  why?: string;
  probed?: boolean;
  probes?: { at: number; results: readonly ProbeResult[] };
  nextProbeAt?: number;
  viciConnected?: boolean;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined || !Number.isFinite(ms) || ms <= 0 ? null : new Date(ms).toISOString();
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function int(v: unknown): number | null {
  const n = typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** "AES_CBC-256" from charon's encr-alg and encr-keysize. */
function cipher(sa: Record<string, unknown>): string | null {
  const alg = str(sa['encr-alg']);
  if (!alg) return null;
  const size = str(sa['encr-keysize']);
  return size ? `${alg}-${size}` : alg;
}

/** charon's relative times were read `elapsedSec` ago: carry them to now. */
function ago(v: unknown, elapsedSec: number): number | null {
  const n = int(v);
  return n === null ? null : n + elapsedSec;
}
function within(v: unknown, elapsedSec: number): number | null {
  const n = int(v);
  return n === null ? null : Math.max(0, n - elapsedSec);
}

export function childSaStatus(c: ChildSa, elapsedSec = 0): ChildSaStatus {
  return {
    id: int(c.uniqueid) ?? 0,
    name: c.name,
    reqid: int(c.reqid),
    state: c.state,
    mode: str(c['mode']),
    protocol: str(c['protocol']),
    encap: c['encap'] === 'yes',
    spi_in: str(c['spi-in']),
    spi_out: str(c['spi-out']),
    encryption: cipher(c),
    integrity: str(c['integ-alg']),
    dh_group: str(c['dh-group']),
    local_ts: list(c['local-ts']),
    remote_ts: list(c['remote-ts']),
    bytes_in: int(c['bytes-in']) ?? 0,
    bytes_out: int(c['bytes-out']) ?? 0,
    packets_in: int(c['packets-in']) ?? 0,
    packets_out: int(c['packets-out']) ?? 0,
    installed_seconds_ago: ago(c['install-time'], elapsedSec),
    rekey_in_seconds: within(c['rekey-time'], elapsedSec),
    expires_in_seconds: within(c['life-time'], elapsedSec),
  };
}

export function ikeSaStatus(sa: IkeSa, elapsedSec = 0): IkeSaStatus {
  return {
    id: int(sa.uniqueid) ?? 0,
    name: sa.name,
    state: sa.state,
    version: int(sa['version']),
    local_host: str(sa['local-host']),
    remote_host: str(sa['remote-host']),
    local_id: str(sa['local-id']),
    remote_id: str(sa['remote-id']),
    encryption: cipher(sa),
    integrity: str(sa['integ-alg']),
    prf: str(sa['prf-alg']),
    dh_group: str(sa['dh-group']),
    established_seconds_ago: ago(sa.established, elapsedSec),
    rekey_in_seconds: within(sa['rekey-time'], elapsedSec),
    reauth_in_seconds: within(sa['reauth-time'], elapsedSec),
  };
}

/** Charon's view has no controller: what its answer alone says. */
function charonStatus(t: TunnelInput): { status: TunnelStatus; why: string } {
  if (t.unreadable !== undefined) return { status: 'unknown', why: t.unreadable };
  if (!t.enabled) return { status: 'disabled', why: 'tunnel disabled in config' };
  const obs = t.obs;
  if (obs && obs.up.length > 0) return { status: 'up', why: obs.installed.length > 1 ? `${obs.installed.length} INSTALLED CHILD_SAs` : 'installed' };
  if (t.configLoaded === false) return { status: 'not-loaded', why: `charon has no CHILD_SA config named ${JSON.stringify(t.child)}` };
  if (obs?.charonBusy) return { status: 'connecting', why: obs.busyWhy ?? 'charon is negotiating' };
  return { status: 'down', why: 'no CHILD_SA installed' };
}

export function tunnelStatus(t: TunnelInput, now: number): TunnelStatusDoc {
  const obs = t.obs;
  const elapsedSec = t.observedAt === undefined ? 0 : Math.max(0, Math.round((now - t.observedAt) / 1000));
  // The newest CHILD_SA first (a rekey or a duplicate shows more than one).
  const children = [...(obs?.up ?? [])].sort((a, b) => a.installAgeSec - b.installAgeSec || b.childId - a.childId);
  const holder = obs?.ikeSas.find((sa) => Number(sa.uniqueid) === children[0]?.ikeId) ?? obs?.ikeSas[0];
  const r = t.runtime;
  const fromCharon = charonStatus(t);
  const status = r ? r.status : fromCharon.status;
  const newestInstall = children[0] ? now - (children[0].installAgeSec + elapsedSec) * 1000 : undefined;
  const since = r ? (status === 'up' || status === 'target-down' ? (r.upSince ?? newestInstall) : r.downSince) : status === 'up' ? newestInstall : undefined;
  const up = (obs?.up.length ?? 0) > 0;
  const a = r?.lastAction;
  return {
    name: t.name,
    child: t.child,
    ike: t.ike ?? obs?.ikeNames[0] ?? null,
    discovered: t.discovered,
    enabled: t.enabled,
    status,
    since: iso(since),
    why: r ? (t.why ?? null) : fromCharon.why,
    healthy: r ? isHealthy(r, Boolean(t.viciConnected) && up, t.probed ?? false, t.enabled) : null,
    health: r ? r.health : null,
    config_loaded: t.configLoaded ?? null,
    ike_sa: holder ? ikeSaStatus(holder, elapsedSec) : null,
    child_sas: children.map((c) => childSaStatus(c.sa, elapsedSec)),
    observed_at: iso(t.observedAt),
    probes: (t.probes?.results ?? []).map((p) => ({ kind: p.kind, target: p.target, ok: p.success, latency_ms: Math.round(p.durationMs * 10) / 10, error: p.error ?? null })),
    probed_at: iso(t.probes?.at),
    next_probe_at: iso(t.nextProbeAt),
    backoff_until: r && r.nextAttemptAt > now ? iso(r.nextAttemptAt) : null,
    damped: r ? r.damped : null,
    flaps: r ? r.flaps : null,
    down_since: iso(r?.downSince),
    last_error: r?.lastError ?? null,
    last_action: a ? { kind: a.kind, result: a.result, at: iso(a.at) ?? '', ms: Math.round(a.ms), failure: a.reason?.class ?? null, detail: a.reason?.detail ?? null } : null,
  };
}

export function countByStatus(tunnels: readonly TunnelStatusDoc[]): Partial<Record<TunnelStatus, number>> {
  const counts: Partial<Record<TunnelStatus, number>> = {};
  for (const t of tunnels) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return counts;
}

export function statusDocument(
  view: StatusView,
  tunnels: readonly TunnelInput[],
  now: number,
  about: Pick<StatusDocument, 'agent' | 'charon'>,
  responders: readonly ResponderConn[] = [],
): StatusDocument {
  const docs = tunnels.map((t) => tunnelStatus(t, now)).sort((a, b) => a.name.localeCompare(b.name));
  return { view, generated_at: new Date(now).toISOString(), ...about, counts: countByStatus(docs), tunnels: docs, responders: responders.map(responderStatus) };
}

/** The running agent as its status view reads it. */
export interface AgentStatusSource {
  view(): ReadonlyMap<string, TunnelView>;
  nextProbeAt(name: string): number | undefined;
  configLoaded(child: string): boolean | undefined;
  /** The responder connections discover passed over (none without discover). */
  responderConns(): readonly ResponderConn[];
  readonly viciConnected: boolean;
}

export function agentStatusDocument(agent: AgentStatusSource, about: NonNullable<StatusDocument['agent']>, now: number): StatusDocument {
  const connected = agent.viciConnected;
  const inputs: TunnelInput[] = [...agent.view().values()].map((v) => {
    const t: TunnelInput = {
      name: v.config.name,
      child: v.config.child,
      ike: tunnelIke(v.config, v.conn),
      discovered: v.config.discovered,
      enabled: v.config.enabled,
      obs: v.obs,
      observedAt: v.observedAt,
      configLoaded: agent.configLoaded(v.config.child),
      runtime: v.runtime,
      probed: v.config.probes.length > 0,
      viciConnected: connected,
    };
    if (v.why !== undefined) t.why = v.why;
    if (v.probes) t.probes = v.probes;
    const next = agent.nextProbeAt(v.config.name);
    if (next !== undefined) t.nextProbeAt = next;
    return t;
  });
  return statusDocument('agent', inputs, now, { agent: { ...about, vici_connected: connected }, charon: null }, agent.responderConns());
}
