// The controller's decisions, as pure transitions over one state record per tunnel (and one attempt
// stream per IKE connection), after controller-runtime's Reconcile returning Result{RequeueAfter}:
//
//   reconcile(state, observation, now, policy) -> { state', action?, requeueAfterMs?, notes }
//   afterAction(state, action, result, now, policy) -> { state', requeueAfterMs?, notes }
//   afterProbes(state, report) -> state'
//
// The Agent only observes, transitions, executes and requeues; it never decides. Every rule is a row
// of the table tests (test/unit/agent-reconcile.test.ts). Nothing here reads a clock or does I/O:
// `now` and `random` come in, so a rule gives the same answer every time.
import { backoffDelay, type BackoffPolicy } from '../../retry.js';
import type { ActionKind } from './events.js';
import type { FailureReason } from './failure-reason.js';
import { pickDuplicates, type ChildRef, type TunnelObservation } from './observe.js';
import type { Reason } from './workqueue.js';
import type { Health, InboundMark } from './health.js';

export type { Health };
import { tunnelCounters } from './traffic-watch.js';


/** The one status vocabulary: logs, metrics, alerts and `status` all use it. */
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
  | 'vici-down'
  | 'not-loaded';

export interface LastAction {
  kind: ActionKind;
  result: 'ok' | 'error';
  at: number;
  ms: number;
  /** charon's reason, for a failed action. */
  reason?: FailureReason;
}

/** Everything the agent remembers about a tunnel between reconciles. */
export interface TunnelRuntime {
  status: TunnelStatus;
  health: Health;
  /** Consecutive repairs of this tunnel that failed for a reason of its own CHILD_SA: its backoff. */
  failures: number;
  /** No repair before this time (the tunnel's backoff, or damping). */
  nextAttemptAt: number;
  /**
   * 0: nothing tried yet for this stale episode; 1: CHILD_SA restarted; 2: IKE_SA restarted; 3: an IKE_SA
   * restart failed or did not help, and the next one waits for the backoff.
   */
  escalation: 0 | 1 | 2 | 3;
  /** When the tunnel was first seen down or stale in the current episode. */
  downSince?: number;
  /** First seen without CHILD_SA while charon negotiated (rekey, reauth): an outage only if it lasts. */
  busySince?: number;
  downReason?: string;
  /** Charon is expected to restore the tunnel by itself until then (close_action after a peer delete, start_action after its restart). */
  graceUntil: number;
  /** First time the current duplicate set was seen; acted on when it persists. */
  duplicateSeenAt?: number;
  upSince?: number;
  /** Bumped on every action: probe results started before it are discarded. */
  generation: number;
  /**
   * When the agent's last successful repair brought a CHILD_SA, until that repair holds (see repairHeld):
   * a loss before then is a repair that did not hold.
   */
  repairedAt?: number;
  /** Consecutive repairs lost before they carried traffic: drives damping. */
  unheldRepairs: number;
  /** Repairs are delayed because they do not hold (a repair loop). */
  damped: boolean;
  /** The last loss counted toward damping, and the damping state before it (see afterCharonLost). */
  lastLoss?: { at: number; unheld: number; damped: boolean; nextAttemptAt: number };
  /** Down or stale episodes since the agent started. */
  flaps: number;
  lastError?: string;
  lastAction?: LastAction;
  /** When the probe round behind `health` started. */
  healthFrom?: number;
  /** The tunnel's packets-in just before that round: passing probes must show there. */
  healthProof?: InboundMark;
  /** Since when the probes of the failing round behind `health` fail (its first attempt's end; re-probes follow). */
  failingFrom?: number;
  /** The last time a reconcile saw a CHILD_SA of the tunnel carrying traffic. */
  seenUpAt?: number;
  /** charon restarted and the tunnel is not back yet: its initiate does not wait inside charon. */
  afterRestart?: boolean;
  /** When this tunnel last restarted its CHILD_SA or the IKE_SA (a step of the stale escalation). */
  escalatedAt?: number;
  /** When the last probe round that passed began. */
  passedFrom?: number;
}

export function newRuntime(): TunnelRuntime {
  return { status: 'unknown', health: 'unknown', failures: 0, nextAttemptAt: 0, escalation: 0, graceUntil: 0, generation: 0, unheldRepairs: 0, damped: false, flaps: 0 };
}

/** One attempt stream per IKE connection: IKE-level failures back off all its tunnels together. */
export interface IkeStream {
  failures: number;
  /** No IKE_SA attempt before this time. */
  nextAttemptAt: number;
  /** When the last IKE-level failure was recorded: initiates started before it failed with it. */
  failedAt: number;
  reason?: FailureReason;
  /** The one tunnel that attempts the IKE_SA while it keeps failing; its siblings follow once it is up. */
  leader?: string;
  /** Until then the leader's attempt may still be running; after it, another sibling may take over. */
  leaderUntil?: number;
  /** When the agent itself last restarted an IKE_SA of the connection (a stale sibling's repair). */
  restartedAt?: number;
}

export function newIkeStream(): IkeStream {
  return { failures: 0, nextAttemptAt: 0, failedAt: 0 };
}

/** The configuration a transition needs, per tunnel. */
export interface TunnelPolicy {
  name: string;
  enabled: boolean;
  probed: boolean;
  graceMs: number;
  holdMs: number;
  backoff: BackoffPolicy;
  /** charon's own close_action restores this CHILD_SA after a peer delete (see closeActionRestores). */
  charonRecovers: boolean;
  /** The longest an initiate can take (its timeout and the client's margin): a leader's lease. */
  attemptMs: number;
  /** false: charon's list-conns has no CHILD_SA config of this name (a misspelling, or not loaded yet). */
  configLoaded?: boolean;
  /** The tunnel's CHILD_SA config name, for messages. */
  childName?: string;
}

export type Action =
  /** `queued`: after charon's restart, sent without waiting inside charon (its up event ends it). */
  | { kind: 'initiate'; why: string; queued?: boolean }
  | { kind: 'restart-child'; child: ChildRef; why: string; peerSilent?: boolean }
  | { kind: 'restart-ike'; ikeId: number; why: string }
  | { kind: 'terminate-duplicates'; keep: ChildRef; extras: ChildRef[]; why: string };

/** What the Agent logs and emits for a transition. */
export type Note =
  | { kind: 'down'; why: string; charonRecovers: boolean }
  | { kind: 'repaired'; downMs: number }
  | { kind: 'duplicates'; count: number }
  | { kind: 'damped'; unheld: number; delayMs: number }
  | { kind: 'backoff'; failures: number; delayMs: number; shared: boolean; reason?: FailureReason }
  | { kind: 'escalate-ike' }
  | { kind: 'unproven'; why: string };

export interface Transition {
  state: TunnelRuntime;
  /** The tunnel's IKE stream as it should be stored (unchanged when absent from the input). */
  ike?: IkeStream;
  action?: Action;
  requeueAfterMs?: number;
  /** Probe the tunnel now: its last verdict no longer says anything. */
  probe?: boolean;
  why: string;
  notes: Note[];
}

/** Duplicates must persist this long before extras are terminated: a rekey briefly shows two. */
export const DUPLICATE_CONFIRM_MS = 1000;
/** Look again this soon after terminating duplicates. */
export const DUPLICATE_VERIFY_MS = 200;
/** How often to look again while charon negotiates. */
export const BUSY_RECHECK_MS = 250;
/** Repairs lost before they carried traffic, in a row, before the next one is damped. */
export const UNHELD_LIMIT = 3;
/** Losses counted this long before charon's socket closed were its shutdown's down events. */
export const CHARON_SHUTDOWN_LOSS_MS = 3000;

export interface ReconcileInput {
  state: TunnelRuntime;
  /** The tunnel's IKE stream, when the tunnel's connection is known. */
  ike?: IkeStream;
  obs: TunnelObservation;
  reasons: ReadonlySet<Reason>;
  now: number;
  policy: TunnelPolicy;
  random?: () => number;
  /** When the peer was last heard on the tunnel's connection (any CHILD_SA's packets-in), by the counter timer. */
  peerHeard?: { readAt: number; heardAt: number };
  /** charon's last count of packets in on the tunnel's CHILD_SA that its down event reports lost. */
  lostPacketsIn?: number;
}

/** Did charon just come back? Downs seen then are its restart, not the tunnel's doing. */
function afterCharonRestart(reasons: ReadonlySet<Reason>): boolean {
  return reasons.has('resync') || reasons.has('start');
}

export function reconcile(i: ReconcileInput): Transition {
  const { obs, now, policy, reasons } = i;
  const s: TunnelRuntime = { ...i.state };
  const notes: Note[] = [];
  const done = (status: TunnelStatus, why: string, requeueAfterMs?: number, extra: Partial<Transition> = {}): Transition => {
    s.status = status;
    const t: Transition = { state: s, why, notes, ...extra };
    if (requeueAfterMs !== undefined) t.requeueAfterMs = Math.max(0, requeueAfterMs);
    if (i.ike && !('ike' in extra)) t.ike = i.ike;
    return t;
  };

  if (obs.installed.length < 2) s.duplicateSeenAt = undefined;
  else {
    s.duplicateSeenAt ??= now;
    notes.push({ kind: 'duplicates', count: obs.installed.length });
  }
  if (!policy.enabled) return done('disabled', 'tunnel disabled in config');

  const installed = obs.up.length > 0;
  if (installed) {
    s.seenUpAt = now;
    s.afterRestart = undefined;
  }
  // Probes that passed although charon had no CHILD_SA of the tunnel when the round started (and has
  // none now, nor is it setting one up) went out through another SA, a sibling's with the same source address, or none: they
  // prove nothing about this tunnel. Judged here, on a fresh observation: when a round ends, the
  // agent's last look may predate the repair that made it pass.
  const passed = s.health === 'healthy' || s.health === 'target-down';
  if (!installed && passed && !obs.charonBusy && (s.seenUpAt === undefined || (s.healthFrom ?? 0) > s.seenUpAt)) {
    s.health = 'unproven';
    notes.push({ kind: 'unproven', why: 'charon has no CHILD_SA of the tunnel' });
  }
  // A probe's reply comes back through the tunnel's own CHILD_SA: its packets-in must have moved since
  // the round began. If not, the probe went through another SA (a sibling's whose traffic selectors
  // cover the target). Judged once, on the first look after the round.
  const proof = s.healthProof;
  s.healthProof = undefined;
  const counters = tunnelCounters(obs.up, now);
  // With no CHILD_SA known before the round (`sas` empty), the one there now must have received something.
  if (installed && passed && proof && counters && (counters.sas === proof.sas || proof.sas === '') && counters.packetsIn <= proof.packetsIn) {
    s.health = 'unproven';
    notes.push({ kind: 'unproven', why: `its CHILD_SA received nothing during the round: the probes went through another SA` });
  }
  // The tunnel was up as far as the agent knew, and is gone (counted once: while charon negotiates the
  // episode has not started yet, busySince marks it). If the agent's own repair brought that CHILD_SA
  // and it was lost before it held (see repairHeld), the repair did not hold; enough of those in a row
  // (a peer that deletes each new CHILD_SA before it carries anything) and repairs are damped. Losses
  // from charon's restart count for nothing.
  let damping: Note | undefined;
  if (!installed && (s.repairedAt !== undefined || (s.downSince === undefined && s.busySince === undefined))) {
    // The agent's own IKE_SA restart (for a stale sibling) took it: not the peer's doing either.
    const ownRestart = i.ike?.restartedAt !== undefined && s.repairedAt !== undefined && i.ike.restartedAt > s.repairedAt;
    if (!afterCharonRestart(reasons) && !ownRestart) {
      s.lastLoss = { at: now, unheld: s.unheldRepairs, damped: s.damped, nextAttemptAt: s.nextAttemptAt };
      // charon's down event still counted the CHILD_SA's packets: one that carried traffic held.
      const carried = (i.lostPacketsIn ?? 0) > 0;
      const unheld = s.repairedAt !== undefined && !carried && now - s.repairedAt < policy.holdMs;
      s.unheldRepairs = unheld ? s.unheldRepairs + 1 : 0;
      if (s.unheldRepairs >= UNHELD_LIMIT) {
        const delayMs = backoffDelay(s.unheldRepairs - UNHELD_LIMIT + 1, policy.backoff, i.random);
        s.nextAttemptAt = Math.max(s.nextAttemptAt, now + delayMs);
        s.damped = true;
        damping = { kind: 'damped', unheld: s.unheldRepairs, delayMs };
      } else if (!unheld && s.damped) {
        s.damped = false;
        s.nextAttemptAt = 0;
      }
    }
    s.repairedAt = undefined;
  } else if (installed && s.repairedAt !== undefined && repairHeld(s, counters?.packetsIn ?? 0, now, policy)) {
    held(s);
  }

  episode(s, obs, reasons, now, policy, notes);
  // After the down: whoever listens hears of the outage before of its damping.
  if (damping) notes.push(damping);

  const dup = pickDuplicates(obs.installed);
  if (dup) {
    const seen = s.duplicateSeenAt ?? now;
    if (now - seen >= DUPLICATE_CONFIRM_MS && !obs.charonBusy) {
      return act(done('up', `${obs.installed.length} INSTALLED CHILD_SAs`), { kind: 'terminate-duplicates', keep: dup.keep, extras: dup.extras, why: `${obs.installed.length} INSTALLED CHILD_SAs` });
    }
    return done('up', 'duplicate seen, confirming', DUPLICATE_CONFIRM_MS - (now - seen));
  }

  if (!installed) {
    if (obs.charonBusy) return done('connecting', 'charon is negotiating', BUSY_RECHECK_MS);
    // A tunnel whose CHILD_SA config charon does not have is said so plainly, not "down" or "backoff":
    // the fix is in charon's configuration (or the agent's), not in the peer. Nothing is attempted: the
    // config source reads list-conns again and reconciles the tunnel as soon as charon loads it.
    if (policy.configLoaded === false) return done('not-loaded', `charon has no CHILD_SA config named ${JSON.stringify(policy.childName ?? policy.name)}; waiting for charon to load it`);
    if (now < s.graceUntil) return done('waiting-for-charon', 'charon restores it itself (close_action after a peer delete, start_action after its restart)', s.graceUntil - now);
    if (now < s.nextAttemptAt) return done('backoff', s.damped ? 'damped: repairs do not hold' : 'backing off', s.nextAttemptAt - now);
    const ike = i.ike;
    if (ike && ike.failures > 0 && !obs.ikeEstablished) {
      const why = `IKE_SA failing${ike.reason ? ` (${ike.reason.class})` : ''}`;
      if (now < ike.nextAttemptAt) return done('backoff', `${why}, backing off`, ike.nextAttemptAt - now);
      // One sibling attempts the IKE_SA; the others follow on it once it is up (its up event requeues
      // them), or look again when the leader's attempt must be over.
      if (ike.leader !== undefined && ike.leader !== policy.name && now < (ike.leaderUntil ?? 0)) {
        return done('backoff', `${why}, ${ike.leader} attempts it`, (ike.leaderUntil ?? now) - now);
      }
      return act(done('down', 'no CHILD_SA installed'), { kind: 'initiate', why: `no CHILD_SA installed; ${why}`, ...queued(s) }, { ...ike, leader: policy.name, leaderUntil: now + policy.attemptMs });
    }
    return act(done('down', 'no CHILD_SA installed'), { kind: 'initiate', why: 'no CHILD_SA installed', ...queued(s) });
  }

  if (s.health === 'failing') {
    if (obs.charonBusy) return done('stale', 'charon is negotiating', BUSY_RECHECK_MS);
    if (now < s.nextAttemptAt) return done('stale', 'probes failing, backing off', s.nextAttemptAt - now);
    const newest = [...obs.up].sort((a, b) => a.installAgeSec - b.installAgeSec)[0] as ChildRef;
    // The IKE_SA is the connection's: its restart is every sibling's step of the escalation. A verdict
    // from a round that began before it says nothing about the new IKE_SA: probe again, act on nothing.
    const restartedAt = i.ike?.restartedAt;
    if (restartedAt !== undefined && (s.healthFrom ?? -Infinity) < restartedAt) {
      s.health = 'unknown';
      return done('stale', "the connection's IKE_SA was restarted after this round began; probing again", undefined, { probe: true });
    }
    // A sibling restarted it since this tunnel's probes last passed and since its own last step (also when
    // that very restart is what took this tunnel down): as if this tunnel had, so it does not restart the
    // new IKE_SA again (one restart for the connection, then the backoff).
    const sinceMine = restartedAt !== undefined && restartedAt > (s.passedFrom ?? -Infinity) && restartedAt > (s.escalatedAt ?? -Infinity);
    if (sinceMine) {
      // Taken up once: after the backoff it leads to, this tunnel's own ladder goes on (its next step restarts the IKE_SA).
      s.escalation = 2;
      s.escalatedAt = restartedAt;
    }
    if (s.escalation === 0) {
      // A peer heard from on no CHILD_SA of the connection since the probes began failing (and read
      // since) has likely lost its state or is cut off: its DELETE answer is not waited for long.
      const h = i.peerHeard;
      const from = s.failingFrom;
      const silent = h !== undefined && from !== undefined && h.readAt > from && h.heardAt < from;
      const why = silent ? 'probes fail through an installed CHILD_SA; the peer has sent nothing since' : 'probes fail through an installed CHILD_SA';
      return act(done('stale', 'probes fail'), { kind: 'restart-child', child: newest, why, ...(silent ? { peerSilent: true } : {}) });
    }
    if (s.escalation === 2) {
      // The IKE_SA restart went through and the probes still fail: it did not help, and the fault may
      // be outside the agent's reach. The next one waits for the backoff, which starts here.
      s.escalation = 3;
      s.failures++;
      const delayMs = backoffDelay(s.failures, policy.backoff, i.random);
      s.nextAttemptAt = now + delayMs;
      notes.push({ kind: 'backoff', failures: s.failures, delayMs, shared: false });
      return done('stale', 'probes still fail after an IKE_SA restart, backing off', delayMs);
    }
    // Noted before it runs: the siblings' losses it causes arrive while it is still under way.
    const ike = i.ike ? { ...i.ike, restartedAt: now } : undefined;
    return act(done('stale', 'probes fail'), { kind: 'restart-ike', ikeId: newest.ikeId, why: 'probes still fail after a CHILD_SA restart' }, ike);
  }
  if (s.health === 'target-down') return done('target-down', 'tunnel passes traffic, probe target does not answer');
  return done('up', 'installed');
}

/**
 * Whether the agent's last repair (its CHILD_SA up now) has held: its CHILD_SA carried traffic (packets
 * in on its counters, or a probe round of the current generation passed through it: an action starts a
 * new generation, so a passing verdict here was judged after the repair, and reconcile's probe proof has
 * already taken back one that went through another SA), or, for a tunnel nothing proves, it stayed up
 * for the hold time. Whichever comes first.
 */
function repairHeld(s: TunnelRuntime, packetsIn: number, now: number, policy: TunnelPolicy): boolean {
  if (s.repairedAt === undefined) return false;
  if (packetsIn > 0 || s.health === 'healthy' || s.health === 'target-down') return true;
  return now - s.repairedAt >= policy.holdMs;
}

/** The repair held: it is no longer judged, and the next loss starts the count afresh. */
function held(s: TunnelRuntime): void {
  s.unheldRepairs = 0;
  s.repairedAt = undefined;
  s.damped = false;
}

/**
 * The counter timer read the tunnel's CHILD_SAs between reconciles (the same set as the agent's last
 * read): packets in on them make the last repair hold, so a peer delete soon after still finds it held.
 */
export function afterCounters(state: TunnelRuntime, up: readonly ChildRef[]): TunnelRuntime {
  const c = tunnelCounters(up, 0);
  if (state.repairedAt === undefined || !c || c.packetsIn === 0) return state;
  const s = { ...state };
  held(s);
  return s;
}

/**
 * Whether charon restores a CHILD_SA by itself after the peer deleted it: only its close_action does
 * (start, or trap for the next packet). dpd_action acts only when DPD declares the peer dead, and
 * start_action only when charon starts or loads the config; neither answers a peer's DELETE.
 */
export function closeActionRestores(closeAction: string | undefined): boolean {
  return /start|trap|route/.test(closeAction ?? '');
}

/**
 * charon's VICI socket closed at `lostAt`. Whatever happens to the tunnel's CHILD_SA from here until
 * the reconnect is charon's restart, not a repair that failed to hold: the last repair is no longer
 * judged. And charon sends a down event for every SA as it shuts down, which the agent does not always
 * hear after its "shutting down" line: a loss counted just before the socket closed is taken back.
 */
export function afterCharonLost(state: TunnelRuntime, lostAt: number): TunnelRuntime {
  const s: TunnelRuntime = { ...state, repairedAt: undefined };
  const l = state.lastLoss;
  if (!l || lostAt - l.at > CHARON_SHUTDOWN_LOSS_MS || l.at > lostAt) return s;
  return { ...s, unheldRepairs: l.unheld, damped: l.damped, nextAttemptAt: l.nextAttemptAt, lastLoss: undefined };
}

/** After charon's restart every tunnel may need an initiate at once: none of them waits inside charon. */
function queued(s: TunnelRuntime): { queued?: true } {
  return s.afterRestart ? { queued: true } : {};
}

/** charon came back after a restart: the tunnel's next initiate is sent without waiting inside charon. */
export function charonRestarted(state: TunnelRuntime): TunnelRuntime {
  return { ...state, afterRestart: true };
}

/**
 * charon loaded the tunnel's CHILD_SA config (at its start, or `swanctl --load-conns` later): whatever
 * back-off the tunnel had waited for the config, not for the peer, so it is tried at once (damping
 * stays: that is the peer's doing). charon starts a start_action=start child itself: `graceMs` gives it
 * that time. `afterRestart`: it came with charon's restart, so its initiate does not wait inside charon.
 */
export function configAppeared(state: TunnelRuntime, o: { now: number; graceMs: number; afterRestart: boolean }): TunnelRuntime {
  const s: TunnelRuntime = { ...state, failures: 0, graceUntil: Math.max(state.graceUntil, o.now + o.graceMs) };
  if (!s.damped) s.nextAttemptAt = 0;
  return o.afterRestart ? charonRestarted(s) : s;
}

/** An action is about to run: probe results from before it no longer describe the tunnel. */
function act(t: Transition, action: Action, ike?: IkeStream): Transition {
  t.state.generation++;
  t.state.health = 'unknown';
  t.action = action;
  t.why = action.why;
  if (ike) t.ike = ike;
  return t;
}

/** Episode bookkeeping: a down or stale episode starts, or ends with the tunnel healthy again. */
function episode(s: TunnelRuntime, obs: TunnelObservation, reasons: ReadonlySet<Reason>, now: number, policy: TunnelPolicy, notes: Note[]): void {
  const installed = obs.up.length > 0;
  if (!installed && obs.charonBusy && s.downSince === undefined) {
    // A reauthentication or charon's own re-initiation: not an outage unless it lasts longer than
    // the grace (then the episode starts from when it was first seen).
    s.busySince ??= now;
    if (now - s.busySince < policy.graceMs) return;
  }
  if (installed) s.busySince = undefined;
  if (!installed || s.health === 'failing') {
    if (s.downSince !== undefined) return;
    s.downSince = s.busySince ?? now;
    s.busySince = undefined;
    s.downReason = installed ? `probes fail: ${s.lastError ?? 'no traffic'}` : 'no CHILD_SA installed';
    s.flaps++;
    s.upSince = undefined;
    // close_action answers the peer's DELETE, which only an event tells: a loss found on a resync (charon's
    // restart; its start_action has its own grace) or any other read gets no grace for it.
    const charonRecovers = !installed && reasons.has('event') && policy.charonRecovers;
    if (charonRecovers) s.graceUntil = now + policy.graceMs;
    notes.push({ kind: 'down', why: s.downReason, charonRecovers });
    return;
  }
  const healthy = (s.health !== 'unknown' && s.health !== 'unproven') || !policy.probed || s.downSince === undefined;
  if (healthy && s.downSince !== undefined) {
    notes.push({ kind: 'repaired', downMs: now - s.downSince });
    s.downSince = undefined;
    s.downReason = undefined;
    s.failures = 0;
    s.escalation = 0;
    if (!s.damped) s.nextAttemptAt = 0;
    s.graceUntil = 0;
    s.lastError = undefined;
    s.upSince = now;
  } else if (healthy && s.upSince === undefined) {
    s.upSince = now;
  }
  if (s.health === 'healthy') {
    s.failures = 0;
    s.escalation = 0;
  }
}

export type ActionResult = { ok: true; startedAt: number; ms: number } | { ok: false; startedAt: number; ms: number; error: string; reason: FailureReason };

export interface AfterActionInput {
  state: TunnelRuntime;
  ike?: IkeStream;
  action: Action;
  result: ActionResult;
  /** What triggered the reconcile that chose the action. */
  reasons: ReadonlySet<Reason>;
  now: number;
  policy: TunnelPolicy;
  random?: () => number;
  /** VICI was lost meanwhile: the resync after the reconnect retries, no backoff. */
  viciLost?: boolean;
}

export interface AfterAction {
  state: TunnelRuntime;
  ike?: IkeStream;
  /** Reconcile again after this long (0: at once); absent: only when something triggers it. */
  requeueAfterMs?: number;
  /** Probe the tunnel now: the action should have restored traffic. */
  verify: boolean;
  notes: Note[];
}

const KIND: Record<Action['kind'], ActionKind> = {
  initiate: 'initiate',
  'restart-child': 'restart-child',
  'restart-ike': 'restart-ike',
  'terminate-duplicates': 'terminate-duplicate',
};

export function afterAction(i: AfterActionInput): AfterAction {
  const { action, result, now, policy } = i;
  const s: TunnelRuntime = { ...i.state };
  // Probe rounds begun while the action ran saw the tunnel in the middle of it (a CHILD_SA restart's
  // gap fails a probe at once): they say nothing about its outcome, nor does a verdict one of them
  // gave before the action was over.
  s.generation++;
  s.health = 'unknown';
  s.healthProof = undefined;
  let ike = i.ike ? { ...i.ike } : undefined;
  const notes: Note[] = [];
  s.lastAction = { kind: KIND[action.kind], result: result.ok ? 'ok' : 'error', at: now, ms: result.ms, ...(result.ok ? {} : { reason: result.reason }) };
  if (!result.ok) s.lastError = `${result.reason.class}: ${result.reason.detail}`;
  const out = (requeueAfterMs: number | undefined, verify: boolean): AfterAction => {
    const r: AfterAction = { state: s, verify, notes };
    if (requeueAfterMs !== undefined) r.requeueAfterMs = Math.max(0, requeueAfterMs);
    if (ike) r.ike = ike;
    return r;
  };
  const backOff = (): number => {
    s.failures++;
    const delayMs = backoffDelay(s.failures, policy.backoff, i.random);
    s.nextAttemptAt = now + delayMs;
    notes.push({ kind: 'backoff', failures: s.failures, delayMs, shared: false, ...(result.ok ? {} : { reason: result.reason }) });
    return delayMs;
  };

  switch (action.kind) {
    case 'initiate': {
      // One attempt without waiting after charon's restart; retries wait inside charon and carry its reason.
      s.afterRestart = undefined;
      // Whatever happened, this tunnel's attempt is over: if it led the IKE stream, the lead is free.
      if (ike && ike.leader === policy.name) ike = { ...ike, leader: undefined, leaderUntil: undefined };
      if (result.ok) {
        // A repair of an outage; bringing tunnels up after charon's (re)start or a reload is not one.
        if (!afterCharonRestart(i.reasons) && !i.reasons.has('reload')) s.repairedAt = now;
        if (ike) ike = { ...ike, failures: 0, nextAttemptAt: 0 };
        return out(0, true);
      }
      if (i.viciLost) return out(undefined, false);
      if (ike && result.reason.ikeLevel) {
        // One failed IKE_SA attempt fails every initiate that rode on it: count it once.
        if (result.startedAt >= ike.failedAt) {
          ike.failures++;
          ike.failedAt = now;
          ike.nextAttemptAt = now + backoffDelay(ike.failures, policy.backoff, i.random);
          ike.reason = result.reason;
          notes.push({ kind: 'backoff', failures: ike.failures, delayMs: ike.nextAttemptAt - now, shared: true, reason: result.reason });
        }
        return out(ike.nextAttemptAt - now, false);
      }
      return out(backOff(), false);
    }
    case 'restart-child': {
      s.escalatedAt = now;
      s.escalation = 1;
      if (result.ok) {
        s.repairedAt = now;
        return out(undefined, true);
      }
      if (result.reason.class === 'peer-delete') {
        // Its DELETE was answered, so the old CHILD_SA is gone, which is what the restart wanted (the
        // executor reports an unanswered DELETE otherwise). charon's initiate that followed ended on a
        // CHILD_SA of the IKE_SA being destroyed (the old one, or a sibling's), which says nothing of
        // the new one: the next reconcile reads, initiates if none is up, and the probes judge it.
        return out(0, true);
      }
      // Not recovered: still stale, and the next reconcile escalates to the IKE_SA at once (an
      // unanswered DELETE means the IKE_SA itself is dead).
      s.health = 'failing';
      return out(0, false);
    }
    case 'restart-ike': {
      s.escalatedAt = now;
      // The restart is over now: siblings' rounds begun while it ran saw the old IKE_SA go.
      if (ike) ike = { ...ike, restartedAt: now };
      notes.push({ kind: 'escalate-ike' });
      if (result.ok) {
        // It went through: nothing to back off from. Whether it helped is for the probes to say; if they
        // still fail, the next stale verdict backs off before another one (see reconcile).
        s.escalation = 2;
        s.repairedAt = now;
        return out(undefined, true);
      }
      // Failed: the next one only after a backoff, the fault may be outside our reach.
      s.escalation = 3;
      return out(backOff(), false);
    }
    case 'terminate-duplicates':
      s.duplicateSeenAt = undefined;
      return out(DUPLICATE_VERIFY_MS, false);
  }
}

export interface ProbeReport {
  health: Health;
  generation: number;
  /** Failed probes as "kind target: error". */
  failures: string[];
  /** When the round's probes were sent (its last attempt). */
  startedAt: number;
  /** When its first attempt's results were in; the last attempt's start when absent. */
  firstDoneAt?: number;
  inBefore?: InboundMark;
}

/** A probe round's verdict. Rounds started before the last action say nothing about now. */
export function afterProbes(state: TunnelRuntime, r: ProbeReport): { state: TunnelRuntime; changed: boolean; stale: boolean } {
  if (r.generation !== state.generation) return { state, changed: false, stale: true };
  const s: TunnelRuntime = { ...state, health: r.health, healthFrom: r.startedAt, healthProof: r.inBefore, failingFrom: r.health === 'failing' ? (r.firstDoneAt ?? r.startedAt) : undefined };
  if (r.health === 'failing') s.lastError = r.failures.join('; ');
  if (r.health === 'healthy' || r.health === 'target-down') s.passedFrom = r.startedAt;
  return { state: s, changed: state.health !== r.health, stale: false };
}

/** Up and passing traffic as far as the agent knows: the one definition of healthy. */
export function isHealthy(s: TunnelRuntime, up: boolean, probed: boolean, enabled: boolean): boolean {
  if (!up) return false;
  if (s.health === 'failing') return false;
  if (!enabled || !probed) return true;
  return s.health === 'healthy' || s.health === 'target-down';
}

export interface RoundReadInput {
  /** The round's verdict, and whether it changed the tunnel's health. */
  health: Health;
  changed: boolean;
  /** The agent's last read of the tunnel exists, and no event from charon concerned the tunnel since. */
  readStands: boolean;
  /** The CHILD_SA set of that read, and the set an earlier round proved (unique ids). */
  sas?: string;
  provenSas?: string;
  /** The counter timer refreshed this tunnel's counters lately: metrics and status stay fresh without the read. */
  countersWatched: boolean;
}

/**
 * Whether a probe round needs a reconcile (a list-sas read) after it. A healthy round that changes
 * nothing, on a CHILD_SA set already proved to carry the probes and with no event since the last read,
 * has nothing to tell: charon's state is what the agent last read, and the counter timer refreshes the
 * counters. Every other round is judged on a fresh read (a repair, the probe proof, a stale tunnel).
 */
export function needsReadAfterRound(i: RoundReadInput): boolean {
  if (i.health !== 'healthy' || i.changed) return true;
  if (!i.readStands || !i.countersWatched) return true;
  return i.sas === undefined || i.sas !== i.provenSas;
}

/**
 * The CHILD_SA set the probes are known to go through, after a reconcile: the set of this read when the
 * round's proof was judged on that very set and passed; the one known before while the tunnel stays
 * healthy; none once it is not. A set only judged as "new since the round" proves nothing yet.
 */
export function provenSet(health: Health, proof: InboundMark | undefined, sas: string | undefined, before: string | undefined): string | undefined {
  if (health !== 'healthy') return undefined;
  if (proof !== undefined && sas !== undefined && proof.sas === sas) return sas;
  return before;
}
