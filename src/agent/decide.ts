// The decision of one reconcile: given what charon says (observation), what traffic says
// (health) and what the agent remembers (runtime), what to do now. Pure and synchronous so
// every rule is unit-tested without a daemon; the Agent (agent.ts) carries the decision out.
import { pickDuplicates, type ChildRef, type TunnelObservation } from './observe.js';

export type Health = 'unknown' | 'healthy' | 'failing' | 'target-down';

export type TunnelStatus =
  | 'unknown'
  | 'up'
  | 'down'
  | 'connecting'
  | 'waiting-for-charon'
  | 'backoff'
  | 'stale'
  | 'target-down'
  | 'disabled'
  | 'vici-down';

/** What the agent remembers about a tunnel between reconciles. */
export interface TunnelRuntime {
  status: TunnelStatus;
  health: Health;
  /** Consecutive repairs that did not bring the tunnel back: drives the backoff. */
  failures: number;
  /** No repair before this time (backoff). */
  nextAttemptAt: number;
  /** 0: nothing tried yet for this stale episode; 1: CHILD_SA restarted; 2: IKE_SA restarted. */
  escalation: 0 | 1 | 2;
  /** When the tunnel was first seen down or stale in the current episode. */
  downSince?: number;
  /** First seen without CHILD_SA while charon negotiated (rekey, reauth): an outage only if it lasts. */
  busySince?: number;
  downReason?: string;
  /** Charon is expected to restore the tunnel by itself until then (close_action, dpd_action, start_action). */
  graceUntil: number;
  /** First time the current duplicate set was seen; acted on when it persists. */
  duplicateSeenAt?: number;
  upSince?: number;
  /** Bumped on every action: probe results started before it are discarded. */
  generation: number;
  /** Times of recent up->down transitions, for flap damping. */
  recentDowns: number[];
  flaps: number;
  lastError?: string;
}

export function newRuntime(): TunnelRuntime {
  return {
    status: 'unknown',
    health: 'unknown',
    failures: 0,
    nextAttemptAt: 0,
    escalation: 0,
    graceUntil: 0,
    generation: 0,
    recentDowns: [],
    flaps: 0,
  };
}

export type Decision =
  | { kind: 'none'; status: TunnelStatus; requeueAfterMs?: number; why: string }
  | { kind: 'initiate'; status: TunnelStatus; why: string }
  | { kind: 'restart-child'; status: TunnelStatus; child: ChildRef; why: string }
  | { kind: 'restart-ike'; status: TunnelStatus; ikeId: number; why: string }
  | { kind: 'terminate-duplicates'; status: TunnelStatus; keep: ChildRef; extras: ChildRef[]; why: string };

/** Duplicates must persist this long before extras are terminated: a rekey briefly shows two. */
export const DUPLICATE_CONFIRM_MS = 1000;
/** How often to look again while charon negotiates. */
export const BUSY_RECHECK_MS = 250;

export interface DecideInput {
  enabled: boolean;
  obs: TunnelObservation;
  rt: TunnelRuntime;
  now: number;
}

export function decide({ enabled, obs, rt, now }: DecideInput): Decision {
  if (!enabled) return { kind: 'none', status: 'disabled', why: 'tunnel disabled in config' };

  const dup = pickDuplicates(obs.installed);
  if (dup) {
    const seen = rt.duplicateSeenAt ?? now;
    if (now - seen >= DUPLICATE_CONFIRM_MS && !obs.charonBusy) {
      return { kind: 'terminate-duplicates', status: 'up', keep: dup.keep, extras: dup.extras, why: `${obs.installed.length} INSTALLED CHILD_SAs` };
    }
    return { kind: 'none', status: 'up', requeueAfterMs: DUPLICATE_CONFIRM_MS - (now - seen), why: 'duplicate seen, confirming' };
  }

  if (obs.up.length === 0) {
    if (obs.charonBusy) return { kind: 'none', status: 'connecting', requeueAfterMs: BUSY_RECHECK_MS, why: 'charon is negotiating' };
    if (now < rt.graceUntil) {
      return { kind: 'none', status: 'waiting-for-charon', requeueAfterMs: rt.graceUntil - now, why: 'charon restores it itself (close_action/dpd_action/start_action)' };
    }
    if (now < rt.nextAttemptAt) {
      return { kind: 'none', status: 'backoff', requeueAfterMs: rt.nextAttemptAt - now, why: 'backing off' };
    }
    return { kind: 'initiate', status: 'down', why: 'no CHILD_SA installed' };
  }

  if (rt.health === 'failing') {
    if (obs.charonBusy) return { kind: 'none', status: 'stale', requeueAfterMs: BUSY_RECHECK_MS, why: 'charon is negotiating' };
    if (now < rt.nextAttemptAt) {
      return { kind: 'none', status: 'stale', requeueAfterMs: rt.nextAttemptAt - now, why: 'probes failing, backing off' };
    }
    const newest = [...obs.up].sort((a, b) => a.installAgeSec - b.installAgeSec)[0] as ChildRef;
    if (rt.escalation === 0) return { kind: 'restart-child', status: 'stale', child: newest, why: 'probes fail through an installed CHILD_SA' };
    return { kind: 'restart-ike', status: 'stale', ikeId: newest.ikeId, why: 'probes still fail after a CHILD_SA restart' };
  }

  if (rt.health === 'target-down') return { kind: 'none', status: 'target-down', why: 'tunnel passes traffic, probe target does not answer' };
  return { kind: 'none', status: 'up', why: 'installed' };
}
