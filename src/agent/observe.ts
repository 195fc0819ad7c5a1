// Turns charon's list-sas answer into what the reconciler needs to know about one tunnel.
// Pure: no I/O, so every rule here is unit-tested on recorded answers.
import type { IkeSa } from '../vici/index.js';

/** CHILD_SA states that carry traffic. REKEYED is the old half of a finished rekey, on its way out. */
const UP_STATES = new Set(['INSTALLED', 'REKEYING', 'REKEYED', 'UPDATING']);
/** IKE_SA states in which charon is still negotiating: acting now would race it. */
const IKE_BUSY_STATES = new Set(['CREATED', 'CONNECTING', 'REKEYING', 'REKEYED', 'PASSIVE']);
/** Tasks that create or re-create CHILD_SAs: when queued or active, charon is already on it. */
const CREATING_TASKS = new Set(['CHILD_CREATE', 'IKE_INIT', 'IKE_AUTH', 'IKE_REAUTH', 'IKE_REAUTH_COMPLETE', 'IKE_REKEY', 'CHILD_REKEY', 'QUICK_MODE', 'MAIN_MODE', 'AGGRESSIVE_MODE', 'IKE_MOBIKE']);

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
}

export interface TunnelObservation {
  /** CHILD_SAs of this tunnel that carry traffic (INSTALLED/REKEYING/REKEYED/UPDATING). */
  up: ChildRef[];
  /** Only INSTALLED ones: more than one of these is a duplicate (a rekey has one INSTALLED and one REKEY*). */
  installed: ChildRef[];
  /** Some IKE_SA of this tunnel's connection is negotiating, or has child-creating tasks queued. */
  charonBusy: boolean;
  /** Unique ids of IKE_SAs that hold this tunnel's children. */
  ikeIds: number[];
  /** IKE_SA names seen holding the child (learned when the config did not name it). */
  ikeNames: string[];
}

function num(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function busy(ike: IkeSa): boolean {
  if (IKE_BUSY_STATES.has(ike.state)) return true;
  for (const key of ['tasks-queued', 'tasks-active'] as const) {
    if (list(ike[key]).some((t) => CREATING_TASKS.has(t))) return true;
  }
  return false;
}

/**
 * What list-sas says about the tunnel whose CHILD_SA config is `child`.
 * `sas` may hold other IKE_SAs and children: only `child` (and IKE_SAs named `ike`, when given) count.
 */
export function observeTunnel(sas: readonly IkeSa[], child: string, ike?: string): TunnelObservation {
  const obs: TunnelObservation = { up: [], installed: [], charonBusy: false, ikeIds: [], ikeNames: [] };
  for (const sa of sas) {
    if (ike !== undefined && sa.name !== ike) continue;
    let holds = false;
    for (const c of Object.values(sa['child-sas'] ?? {})) {
      if (c.name !== child) continue;
      holds = true;
      const ref: ChildRef = {
        ikeName: sa.name,
        ikeId: num(sa.uniqueid),
        childId: num(c.uniqueid),
        state: c.state,
        installAgeSec: num(c['install-time']),
        bytesIn: num(c['bytes-in']),
        bytesOut: num(c['bytes-out']),
        packetsIn: num(c['packets-in']),
        packetsOut: num(c['packets-out']),
      };
      if (UP_STATES.has(c.state)) obs.up.push(ref);
      if (c.state === 'INSTALLED') obs.installed.push(ref);
      if (c.state === 'CREATED' || c.state === 'INSTALLING') obs.charonBusy = true;
    }
    // An IKE_SA that does not hold the child still matters when it belongs to the tunnel's
    // connection: a reauthentication or an initiate in flight will bring the child with it.
    if (holds || ike !== undefined) {
      if (busy(sa)) obs.charonBusy = true;
    }
    if (holds) {
      obs.ikeIds.push(num(sa.uniqueid));
      if (!obs.ikeNames.includes(sa.name)) obs.ikeNames.push(sa.name);
    }
  }
  return obs;
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
