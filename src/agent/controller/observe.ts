// Turns charon's list-sas answer into what the agent's reconcile needs to know about one tunnel.
// Pure: no I/O, so every rule here is unit-tested on recorded answers.
import type { ChildSa, IkeSa } from '../../vici/index.js';

/** CHILD_SA states that carry traffic. REKEYED is the old half of a finished rekey, on its way out. */
const UP_STATES = new Set(['INSTALLED', 'REKEYING', 'REKEYED', 'UPDATING']);
/** IKE_SA states in which charon is still negotiating: acting now would race it. */
const IKE_BUSY_STATES = new Set(['CREATED', 'CONNECTING', 'REKEYING', 'REKEYED', 'PASSIVE']);
/** IKE-level tasks that bring CHILD_SAs back with them (reauthentication, a new IKE_SA). */
const IKE_CREATING_TASKS = new Set(['IKE_INIT', 'IKE_AUTH', 'IKE_REAUTH', 'IKE_REAUTH_COMPLETE', 'IKE_REKEY', 'QUICK_MODE', 'MAIN_MODE', 'AGGRESSIVE_MODE', 'IKE_MOBIKE']);

export interface ChildRef {
  ikeName: string;
  ikeId: number;
  childId: number;
  state: string;
  /** Seconds since installation, as charon reports it (smaller = newer). */
  installAgeSec: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** charon's own section for the CHILD_SA (SPIs, traffic selectors, algorithms, lifetimes), for `status`. */
  sa: ChildSa;
}

export interface TunnelObservation {
  /** CHILD_SAs of this tunnel that carry traffic (INSTALLED/REKEYING/REKEYED/UPDATING). */
  up: ChildRef[];
  /** Only INSTALLED ones: more than one of these is a duplicate (a rekey has one INSTALLED and one REKEY*). */
  installed: ChildRef[];
  /**
   * Charon is already bringing the tunnel back: an IKE_SA of the connection is negotiating or
   * reauthenticating, the child is being installed, or there are more CHILD_CREATE tasks than
   * the caller's own initiates in flight (see `childCreates`).
   */
  charonBusy: boolean;
  /** Why charonBusy was set (the first reason), for the debug log. */
  busyWhy?: string;
  /** CHILD_CREATE tasks queued or active on the connection's IKE_SAs (for any child: tasks carry no child name). */
  childCreates: number;
  /** Unique ids of IKE_SAs that hold this tunnel's children. */
  ikeIds: number[];
  /** IKE_SA names seen holding the child (learned when the config did not name it). */
  ikeNames: string[];
  /** An IKE_SA of the tunnel's connection is ESTABLISHED: a CHILD_SA can be created on it. */
  ikeEstablished: boolean;
  /** The IKE_SAs that hold the child or belong to the tunnel's connection, as charon listed them, for `status`. */
  ikeSas: IkeSa[];
}

/** Up: at the agent's last look, made while VICI was connected, charon had a CHILD_SA of the tunnel carrying traffic. */
export function tunnelUp(obs: TunnelObservation | undefined, viciConnected: boolean): boolean {
  return viciConnected && (obs?.up.length ?? 0) > 0;
}

function num(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** IKE_SA states of a first negotiation (IKE_SA_INIT/IKE_AUTH), as opposed to a rekey or reauth. */
const IKE_SETUP_STATES = new Set(['CREATED', 'CONNECTING']);

/** Why the IKE_SA counts as negotiating, or undefined. */
function ikeBusy(ike: IkeSa, ownInitiates: number): string | undefined {
  // An IKE_SA being set up while the caller has initiates in flight on the connection is most
  // likely the caller's own: charon queues further CHILD_SAs of the connection on it, so waiting
  // for it only delays siblings (an IKE_SA delete took ~6x charon's own close_action). If charon
  // set it up itself, its CHILD_CREATE tasks outnumber the caller's initiates (checked below).
  if (ownInitiates > 0 && IKE_SETUP_STATES.has(ike.state)) return undefined;
  if (IKE_BUSY_STATES.has(ike.state)) return `IKE_SA ${ike.uniqueid} ${ike.state}`;
  const task = [...list(ike['tasks-queued']), ...list(ike['tasks-active'])].find((t) => IKE_CREATING_TASKS.has(t));
  return task === undefined ? undefined : `IKE_SA ${ike.uniqueid} ${task}`;
}

function childCreates(ike: IkeSa): number {
  return [...list(ike['tasks-queued']), ...list(ike['tasks-active'])].filter((t) => t === 'CHILD_CREATE').length;
}

/**
 * What list-sas says about the tunnel whose CHILD_SA config is `child`.
 * `sas` may hold other IKE_SAs and children: only `child` (and IKE_SAs named `ike`, when given) count.
 */
export function observeTunnel(sas: readonly IkeSa[], child: string, ike?: string, ownInitiates = 0): TunnelObservation {
  const obs: TunnelObservation = { up: [], installed: [], charonBusy: false, childCreates: 0, ikeIds: [], ikeNames: [], ikeEstablished: false, ikeSas: [] };
  for (const sa of sas) {
    if (ike !== undefined && sa.name !== ike) continue;
    let holds = false;
    for (const c of Object.values(sa['child-sas'] ?? {})) {
      if (c.name !== child) continue;
      holds = true;
      const ref = childRef(sa, c);
      if (UP_STATES.has(c.state)) obs.up.push(ref);
      if (c.state === 'INSTALLED') obs.installed.push(ref);
      if (c.state === 'CREATED' || c.state === 'INSTALLING') busy(obs, `CHILD_SA ${c.uniqueid} ${c.state}`);
    }
    // An IKE_SA that does not hold the child still matters when it belongs to the tunnel's
    // connection: a reauthentication or an initiate in flight will bring the child with it.
    if (holds || ike !== undefined) {
      obs.ikeSas.push(sa);
      if (sa.state === 'ESTABLISHED') obs.ikeEstablished = true;
      const why = ikeBusy(sa, ownInitiates);
      if (why) busy(obs, why);
      obs.childCreates += childCreates(sa);
    }
    if (holds) {
      obs.ikeIds.push(num(sa.uniqueid));
      if (!obs.ikeNames.includes(sa.name)) obs.ikeNames.push(sa.name);
    }
  }
  // CHILD_CREATE tasks the caller queued itself (its initiates in flight on this connection) are
  // not charon's own re-initiation: only a surplus means charon is restoring something itself
  // (close_action, a trap acquire) that may be this tunnel. Without this, one tunnel's initiate
  // would hold every other tunnel of the connection back, serialising a restart storm.
  if (obs.childCreates > ownInitiates) busy(obs, `${obs.childCreates} CHILD_CREATE tasks, ${ownInitiates} initiates of ours`);
  return obs;
}

function childRef(sa: IkeSa, c: ChildSa): ChildRef {
  return {
    ikeName: sa.name,
    ikeId: num(sa.uniqueid),
    childId: num(c.uniqueid),
    state: c.state,
    installAgeSec: num(c['install-time']),
    bytesIn: num(c['bytes-in']),
    bytesOut: num(c['bytes-out']),
    packetsIn: num(c['packets-in']),
    packetsOut: num(c['packets-out']),
    sa: c,
  };
}

/**
 * The CHILD_SAs that carry traffic in one answer for a whole connection, by CHILD_SA config name (the
 * `up` of observeTunnel for every tunnel at once): one pass over the answer, however many tunnels.
 */
export function upByChild(sas: readonly IkeSa[], ike: string): Map<string, ChildRef[]> {
  const out = new Map<string, ChildRef[]>();
  for (const sa of sas) {
    if (sa.name !== ike) continue;
    for (const c of Object.values(sa['child-sas'] ?? {})) {
      if (!UP_STATES.has(c.state)) continue;
      const list = out.get(c.name);
      if (list) list.push(childRef(sa, c));
      else out.set(c.name, [childRef(sa, c)]);
    }
  }
  return out;
}

function busy(obs: TunnelObservation, why: string): void {
  obs.charonBusy = true;
  obs.busyWhy ??= why;
}

/**
 * Which duplicates to terminate: keep the newest INSTALLED CHILD_SA (smallest install age,
 * then highest unique id, since ids grow), terminate the rest.
 */
export function pickDuplicates(installed: readonly ChildRef[]): { keep: ChildRef; extras: ChildRef[] } | undefined {
  if (installed.length < 2) return undefined;
  const sorted = [...installed].sort((a, b) => a.installAgeSec - b.installAgeSec || b.childId - a.childId);
  const [keep, ...extras] = sorted as [ChildRef, ...ChildRef[]];
  return { keep, extras };
}

/**
 * The tunnel as a child-updown (down) event leaves it, from the agent's last look and the event's own
 * dump of the IKE_SA, without asking charon again: the repair can start at once, and the read comes
 * after it. Only for a CHILD_SA that went down on an IKE_SA that stays ESTABLISHED, when that last look
 * had the tunnel on this one IKE_SA and nothing else of its connection (anything else, undefined: read
 * instead). An IKE_SA going down is not decided from its event: a CHILD_SA initiated while charon
 * still tears it down can land on it and die with it.
 */
export function afterDownEvent(last: TunnelObservation, ike: IkeSa, child: string, ownInitiates = 0): TunnelObservation | undefined {
  const ikeId = num(ike.uniqueid);
  if (ike.state !== 'ESTABLISHED') return undefined;
  if (last.ikeSas.length !== 1 || num(last.ikeSas[0]?.uniqueid) !== ikeId) return undefined;
  if (last.up.some((c) => c.ikeId !== ikeId) || last.up.length === 0) return undefined;
  const gone = new Set(
    Object.values(ike['child-sas'] ?? {})
      .filter((c) => c.name === child)
      .map((c) => num(c.uniqueid)),
  );
  if (!last.up.some((c) => gone.has(c.childId))) return undefined;
  // The IKE_SA's own tasks (a reauthentication, charon's own re-initiation) say whether charon is busy.
  const { 'child-sas': _children, ...rest } = ike;
  const now = observeTunnel([{ ...rest, name: ike.name } as IkeSa], child, ike.name, ownInitiates);
  const up = last.up.filter((c) => !gone.has(c.childId));
  const out: TunnelObservation = {
    ...last,
    up,
    installed: up.filter((c) => c.state === 'INSTALLED'),
    charonBusy: now.charonBusy,
    childCreates: now.childCreates,
    ikeEstablished: now.ikeEstablished,
  };
  delete out.busyWhy;
  if (now.busyWhy !== undefined) out.busyWhy = now.busyWhy;
  return out;
}

/**
 * charon's last count of packets in on the tunnel's CHILD_SAs that a down event reports (the event's
 * dump still carries the counters of a CHILD_SA being deleted); undefined when it names none of them.
 */
export function lostPacketsIn(ike: IkeSa, child: string): number | undefined {
  const gone = Object.values(ike['child-sas'] ?? {}).filter((c) => c.name === child);
  if (gone.length === 0) return undefined;
  return gone.reduce((n, c) => n + num(c['packets-in']), 0);
}

export interface DownEventNews {
  /** When the down event came. */
  at: number;
  /** No other event for the tunnel was waiting to be read when it came. */
  alone: boolean;
  /** The latest event for the tunnel (this one, unless another came after it). */
  latestEventAt: number;
  /** The agent's last read of the tunnel, and its last action. */
  observedAt?: number;
  lastActionAt?: number;
}

/**
 * Whether a down event, with the agent's last read, may stand in for a new read: it is the only news
 * since that read (no event before it still unread, none after it), and the agent did nothing to the
 * tunnel since. A make-before-break reauthentication, for one, is an up event then a down event: the
 * down alone would say the tunnel is gone while its new CHILD_SA is up.
 */
export function downEventStands(n: DownEventNews): boolean {
  if (n.observedAt === undefined || !n.alone) return false;
  if (n.latestEventAt !== n.at || n.at <= n.observedAt) return false;
  return (n.lastActionAt ?? 0) <= n.observedAt;
}
