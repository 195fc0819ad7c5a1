// How long each kind of fault may keep a tunnel away, derived from the agent's own configuration
// (the tuning the soak hands it) and the product's documented behaviour. Each bound says what the
// clock starts from and why the terms add up; none is fitted to measurements.
import type { Tuning } from '../../src/agent/config/load.js';
import type { FaultKind } from './schedule.js';

/** Event-driven repairs: "well under a second" after the down event. */
export const EVENT_MS = 1000;
/** Scheduling and process noise on a 2-core lab machine running two charons and the agent. */
export const MARGIN_MS = 1000;
/** The VICI client's reconnect backoff cap (ViciClient default; `run` does not change it). */
export const VICI_RECONNECT_CAP_MS = 5000;
/** restart-ike sends its DELETE but forces after at most this long (agent.ts). */
const IKE_FORCE_MS = 500;

export interface Bound {
  ms: number;
  /** What the clock starts from. */
  from: string;
  formula: string;
}

/** One probe round that fails: the first attempt plus every re-probe (each waits, then probes). */
export function failingRoundMs(t: Tuning): number {
  return t.probeTimeoutMs + t.reprobeAttempts * (t.reprobeIntervalMs + t.probeTimeoutMs);
}

export function boundsFor(t: Tuning): Record<FaultKind, Bound> {
  const round = failingRoundMs(t);
  const forceMs = Math.min(IKE_FORCE_MS, t.terminateTimeoutMs);
  // A stale tunnel: the next round starts within one interval and fails through its re-probes; the
  // CHILD_SA restart's DELETE goes unanswered (terminate timeout), the IKE_SA restart forces its
  // DELETE and initiates; a verify probe confirms.
  const probeRepair = t.probeIntervalMs + round + t.terminateTimeoutMs + forceMs + t.initiateTimeoutMs + t.probeTimeoutMs + MARGIN_MS;
  const event: Bound = { ms: EVENT_MS, from: 'the down event', formula: 'event-driven: 1 s' };
  return {
    'peer-delete-child': event,
    'peer-delete-ike': event,
    'peer-kill': {
      ms: probeRepair,
      from: "the peer's restart (its state lost)",
      formula: 'interval + failing round + terminate_timeout + IKE force + initiate_timeout + probe_timeout + margin',
    },
    'esp-blackhole': {
      ms: probeRepair,
      from: 'the heal',
      formula: 'interval + failing round + terminate_timeout + IKE force + initiate_timeout + probe_timeout + margin',
    },
    'link-cut': {
      // After the restore the tunnel waits out at most one backoff step (capped), then an IKE
      // restart or initiate runs, and a round confirms traffic.
      ms: t.backoffCapMs + forceMs + t.initiateTimeoutMs + round + MARGIN_MS,
      from: "the link's restore",
      formula: 'backoff_cap + IKE force + initiate_timeout + failing round + margin',
    },
    'charon-restart': {
      // The agent reconnects within the VICI client's backoff cap; if it got in before the config was
      // loaded its initiates failed and it waits out up to two backoff steps; then it initiates.
      ms: VICI_RECONNECT_CAP_MS + 2 * t.backoffBaseMs + EVENT_MS,
      from: "charon's VICI socket back with its config loaded",
      formula: 'VICI reconnect cap (5 s) + 2 x backoff_base + 1 s',
    },
    'target-down': {
      ms: t.probeIntervalMs + 2 * t.probeTimeoutMs + MARGIN_MS,
      from: "the service's restart",
      formula: 'interval + 2 x probe_timeout + margin (and no repair at all while it is down)',
    },
    'sighup-reload': {
      ms: EVENT_MS,
      from: 'the reload (enabled: the re-enable; invalid: the peer delete under the kept config)',
      formula: '1 s',
    },
    'agent-restart': {
      ms: Math.min(t.probeIntervalMs, 1000) + t.probeTimeoutMs + MARGIN_MS,
      from: "the new agent's 'agent running'",
      formula: 'first-round spread (<= 1 s) + probe_timeout + margin (and no tunnel down meanwhile)',
    },
  };
}

/**
 * A tunnel the agent damps (repairs in a row that did not hold: the soak's quick successive faults on
 * one tunnel can look like that) may wait one damping delay, itself capped at backoff_cap, before its
 * repair.
 */
export function dampedAllowanceMs(t: Tuning): number {
  return t.backoffCapMs;
}
