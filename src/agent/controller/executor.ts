// The executor: carries one action out against charon and reports how it went, with charon's reason
// when it failed. It decides nothing (reconcile.ts does); what it knows is how charon's answers read.
//
// An initiate is done for a tunnel only when the tunnel's own CHILD_SA is up. charon's answer to a
// blocking initiate is the IKE_SA's (controller.c): success when any CHILD_SA of it is installed,
// failure when any is destroyed, so with siblings on one IKE_SA neither proves this child. Its own
// up event does, or a read at the deadline when no event came.
import type { Logger } from 'pino';
import type { ViciClient } from '../../vici/index.js';
import { ViciError } from '../../vici/index.js';
import { tunnelIke } from './conns.js';
import type { ActionEvent, ActionKind, ActionReason } from './events.js';
import { classifyFailure, type FailureReason } from './failure-reason.js';
import { upByChild, type ChildRef, type TunnelObservation } from './observe.js';
import type { Action, ActionResult } from './reconcile.js';
import type { TunnelView } from './tunnel-view.js';
import type { Reason } from './workqueue.js';
import { errMessage } from '../../error-message.js';

export interface ExecutorDeps {
  vici: ViciClient;
  log: Logger;
  /** Every action's result, for metrics and alerts. */
  reported(e: ActionEvent): void;
  /** A fresh read of the tunnel: how an initiate ends when no up event came by its deadline. */
  observe(v: TunnelView): Promise<TunnelObservation>;
  /**
   * Whether the executor brings this CHILD_SA back after an IKE_SA restart took it down: not when an
   * enabled tunnel keeps it (its own reconcile does), nor when charon traps it (an initiate would race the trap).
   */
  bringBack(ike: string | undefined, child: string): boolean;
}

/** How long a CHILD_SA restart waits for a silent peer's answer to its DELETE before restarting the IKE_SA. */
const SILENT_PEER_DELETE_WAIT_MS = 1000;
/** How long a stale IKE_SA's DELETE is waited for before the new one is initiated. */
const IKE_RESTART_TERMINATE_MS = 500;
/**
 * After charon answered a blocking initiate, how long its own up event may still take at the least: the
 * answer may be for a sibling installed first, this child's CREATE_CHILD_SA following on the same IKE_SA.
 */
const OWN_UP_AFTER_ANSWER_MS = 1000;

/** An initiate's own CHILD_SA came up, or the VICI connection was lost while it was set up. */
interface Creation {
  done(): void;
  lost(err: Error): void;
}

/** Why an action ran, as metrics and logs name it. */
export function actionReason(reasons: ReadonlySet<Reason>, kind: ActionKind): ActionReason {
  if (kind === 'terminate-duplicate') return 'duplicate';
  if (kind !== 'initiate') return 'probe';
  if (reasons.has('event')) return 'event';
  if (reasons.has('probe')) return 'probe';
  if (reasons.has('resync') || reasons.has('start') || reasons.has('reload')) return 'resync';
  return 'retry';
}

export class Executor {
  /** Initiates waiting for their own CHILD_SA, by `ike\0child` (and `\0child` when the IKE name is unknown). */
  private readonly creations = new Map<string, Set<Creation>>();
  /** Our initiates in flight, by IKE connection name: other reconciles tell our CHILD_CREATE tasks from charon's. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly d: ExecutorDeps) {}

  initiatesInFlight(ike: string | undefined): number {
    return ike === undefined ? 0 : (this.inFlight.get(ike) ?? 0);
  }

  /** charon's child-updown (up) for these CHILD_SA names of IKE connection `ike`. */
  childrenUp(ike: string, children: readonly string[]): void {
    for (const c of children) for (const key of [`${ike}\0${c}`, `\0${c}`]) for (const w of this.creations.get(key) ?? []) w.done();
  }

  /** The VICI connection was lost, or the agent stops: initiates still waiting end now. */
  abandon(err: Error): void {
    for (const set of this.creations.values()) for (const w of set) w.lost(err);
  }

  async execute(v: TunnelView, action: Action, reasons: ReadonlySet<Reason>): Promise<ActionResult> {
    const name = v.config.name;
    const ike = tunnelIke(v.config, v.conn);
    const child = v.config.child;
    const startedAt = Date.now();
    const t0 = performance.now();
    const report = (kind: ActionKind, err?: unknown, known?: FailureReason): ActionResult => {
      const ms = performance.now() - t0;
      const reason = actionReason(reasons, kind);
      if (err === undefined) {
        this.d.log.info({ tunnel: name, action: kind, reason, result: 'ok', ms: Math.round(ms), why: action.why }, `tunnel ${name}: ${kind} ok`);
        this.d.reported({ tunnel: name, ike, child, kind, reason, result: 'ok', ms });
        return { ok: true, startedAt, ms };
      }
      const error = errMessage(err);
      // charon's log for the command travels on the VICI error, also when a message wraps it.
      const vici = err instanceof ViciError ? err : err instanceof Error && err.cause instanceof ViciError ? err.cause : undefined;
      const failure = known ?? classifyFailure(vici?.charonLog ?? [], error);
      this.d.log.warn(
        { tunnel: name, action: kind, reason, result: 'error', ms: Math.round(ms), err: error, failure: failure.class, charon: failure.detail, why: action.why },
        `tunnel ${name}: ${kind} failed (${failure.class}: ${failure.detail})`,
      );
      this.d.reported({ tunnel: name, ike, child, kind, reason, result: 'error', ms, error, failure: failure.class });
      return { ok: false, startedAt, ms, error, reason: failure };
    };
    /** The initiate that ends every action but duplicate removal, reported as that action. */
    const initiateAs = (kind: ActionKind, queued = false): Promise<ActionResult> =>
      this.initiateOwn(v, queued).then(
        () => report(kind),
        (err: unknown) => report(kind, err, err instanceof OwnChildNotUp ? err.reason : undefined),
      );

    switch (action.kind) {
      case 'initiate':
        return initiateAs('initiate', action.queued === true);
      case 'restart-child':
        try {
          // A silent peer's answer is not waited for long: a live one answers a DELETE within a round trip.
          const timeoutMs = action.peerSilent ? Math.min(SILENT_PEER_DELETE_WAIT_MS, v.config.terminateTimeoutMs) : v.config.terminateTimeoutMs;
          await this.d.vici.terminate({ childId: action.child.childId, timeoutMs });
        } catch (err) {
          // charon's answer is not about this CHILD_SA alone: its terminate watches the whole IKE_SA and
          // ends on the first CHILD_SA of it destroyed (failure unless that one finished a DELETE
          // exchange), and one the peer's own DELETE removed first is "not found". Its log for the
          // command holds every line of the IKE_SA, the peer's answer to our DELETE too ("received
          // DELETE for ESP CHILD_SA", classified peer-delete). Only charon's state says whether the
          // CHILD_SA is gone, which is what the restart wanted: then the initiate decides.
          if (await this.childGone(v, action.child)) {
            this.d.log.info({ tunnel: name, err: errMessage(err) }, `tunnel ${name}: the CHILD_SA is gone although charon reported its terminate failed; initiating`);
            return initiateAs('restart-child');
          }
          // The peer did not answer our DELETE: the IKE_SA itself is dead (the peer lost its state, or
          // the path is cut). A CHILD_SA on it can never come up: the next reconcile restarts the IKE_SA.
          this.d.log.info({ tunnel: name }, `tunnel ${name}: escalating to an IKE_SA restart at once`);
          const e = new Error(`CHILD_SA delete not answered (${errMessage(err)}); restarting the IKE_SA`, { cause: err });
          // Said so, whatever else charon logged on the IKE_SA meanwhile (a sibling's DELETE exchange).
          return report('restart-child', e, { class: 'timeout', ikeLevel: true, detail: e.message });
        }
        return initiateAs('restart-child');
      case 'restart-ike': {
        // Every CHILD_SA the restart takes down comes back: the tunnels the agent keeps through their own
        // reconciles (their down events), the others (disabled, or not the agent's) from here.
        const others = (await this.childrenOf(action.ikeId, ike)).filter((c) => c !== child && this.d.bringBack(ike, c));
        // force + a short timeout: a DELETE is sent so a live peer cleans up, but a dead one is
        // not waited for beyond half a second.
        await this.d.vici.terminate({ ikeId: action.ikeId, force: true, timeoutMs: Math.min(IKE_RESTART_TERMINATE_MS, v.config.terminateTimeoutMs) }).catch((err: unknown) => {
          this.d.log.debug({ tunnel: name, err: errMessage(err) }, 'terminate of the stale IKE_SA did not complete');
        });
        const result = await initiateAs('restart-ike');
        // Only on an IKE_SA that came up: against a peer that just failed, more attempts would only add to it.
        for (const c of result.ok ? others : []) {
          // Without waiting inside charon: they ride on the IKE_SA the restart just set up.
          this.d.log.info({ tunnel: name, child: c, ike }, `tunnel ${name}: bringing back CHILD_SA ${c}, which the IKE_SA restart took down`);
          await this.d.vici.initiate({ child: c, ...(ike ? { ike } : {}), timeoutMs: -1 }).catch((err: unknown) => {
            this.d.log.warn({ tunnel: name, child: c, err: errMessage(err) }, `tunnel ${name}: could not bring back CHILD_SA ${c}: ${errMessage(err)}`);
          });
        }
        return result;
      }
      case 'terminate-duplicates': {
        this.d.log.warn({ tunnel: name, keep: action.keep.childId, terminate: action.extras.map((e) => e.childId) }, `tunnel ${name}: ${action.extras.length + 1} CHILD_SAs installed, terminating the older ${action.extras.length}`);
        let last: ActionResult = { ok: true, startedAt, ms: 0 };
        for (const extra of action.extras) {
          try {
            await this.d.vici.terminate({ childId: extra.childId, timeoutMs: v.config.terminateTimeoutMs });
            const r = report('terminate-duplicate');
            if (last.ok) last = r;
          } catch (err) {
            last = report('terminate-duplicate', err);
          }
        }
        return last;
      }
    }
  }

  /**
   * Sends the initiate and ends when the tunnel's own CHILD_SA is up. `queued` (after charon's restart,
   * when every tunnel may be down at once): sent with timeout -1, so it holds none of charon's worker
   * threads (enough blocking ones and charon cannot process the replies they wait for, strongSwan
   * #2776); what waits is this reconcile worker, which also bounds how many are outstanding.
   */
  private async initiateOwn(v: TunnelView, queued: boolean): Promise<void> {
    const ike = tunnelIke(v.config, v.conn);
    const child = v.config.child;
    const limitMs = v.config.initiateTimeoutMs;
    const deadline = Date.now() + limitMs;
    // Listening before sending: the up event may come before charon's answer.
    let up = false;
    let w!: Creation;
    const ended = new Promise<void>((resolve, reject) => {
      w = {
        done: () => {
          up = true;
          resolve();
        },
        lost: (err) => reject(new Error(`VICI connection lost while the CHILD_SA was set up: ${err.message}`, { cause: err })),
      };
    });
    ended.catch(() => undefined); // awaited below, unless the initiate itself fails first
    const key = `${ike ?? ''}\0${child}`;
    const set = this.creations.get(key) ?? new Set<Creation>();
    set.add(w);
    this.creations.set(key, set);
    // Counted by IKE connection, for the reads of its siblings; without a known name nobody asks.
    if (ike !== undefined) this.inFlight.set(ike, (this.inFlight.get(ike) ?? 0) + 1);
    let timer: NodeJS.Timeout | undefined;
    try {
      const a: { child: string; ike?: string; timeoutMs: number } = { child, timeoutMs: queued ? -1 : limitMs };
      if (ike) a.ike = ike;
      let failed: unknown;
      try {
        await this.d.vici.initiate(a);
      } catch (err) {
        failed = err;
      }
      if (up) return;
      if (failed !== undefined) {
        // A failure can be a sibling's teardown on the same IKE_SA while this child's own exchange goes on:
        // charon's state says. Up: done; still negotiating: its up event is waited for; else the failure stands.
        const now = await this.d.observe(v);
        if (up || now.up.length > 0) return;
        if (!now.charonBusy) throw failed;
      }
      const waitMs = Math.max(deadline - Date.now(), queued ? 0 : OWN_UP_AFTER_ANSWER_MS);
      const timedOut = await Promise.race([
        ended.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), waitMs);
        }),
      ]);
      if (!timedOut) return;
      // No up event in time: look once. Up after all (its event lost): done.
      const obs = await this.d.observe(v);
      if (obs.up.length > 0) return;
      // charon's own failure, when there was one, says more than the deadline.
      if (failed !== undefined) throw failed;
      throw new OwnChildNotUp(child, limitMs, queued, obs.ikeEstablished);
    } finally {
      clearTimeout(timer);
      set.delete(w);
      if (set.size === 0 && this.creations.get(key) === set) this.creations.delete(key);
      if (ike !== undefined) {
        const n = (this.inFlight.get(ike) ?? 1) - 1;
        if (n > 0) this.inFlight.set(ike, n);
        else this.inFlight.delete(ike);
      }
    }
  }

  /** The names of the CHILD_SAs up (installed, or rekeying) on an IKE_SA; none when charon cannot say. */
  private async childrenOf(ikeId: number, ike: string | undefined): Promise<string[]> {
    try {
      const sas = await this.d.vici.listSas({ ikeId });
      return [...upByChild(sas, ike ?? sas[0]?.name ?? '').keys()];
    } catch {
      return [];
    }
  }

  /** Whether charon no longer holds the CHILD_SA (gone, or its DELETE exchange over); false when it cannot tell. */
  private async childGone(v: TunnelView, c: ChildRef): Promise<boolean> {
    try {
      const sas = await this.d.vici.listSas({ ike: c.ikeName, child: v.config.child });
      const still = sas.flatMap((sa) => Object.values(sa['child-sas'] ?? {})).find((x) => Number(x.uniqueid) === c.childId);
      return still === undefined || still.state === 'DELETED';
    } catch {
      return false;
    }
  }
}

/**
 * The tunnel's own CHILD_SA was not up by the deadline. After an answer sent without waiting charon gives
 * no reason; after a blocking one that succeeded, the success was a sibling's. A timeout of the IKE_SA, or
 * of the CHILD_SA alone on an established one.
 */
class OwnChildNotUp extends Error {
  readonly reason: FailureReason;
  constructor(child: string, ms: number, queued: boolean, ikeEstablished: boolean) {
    const how = queued ? "initiate sent without waiting after charon's restart: charon gives no reason" : "charon's success was another CHILD_SA's of the IKE_SA";
    super(ikeEstablished ? `CHILD_SA '${child}' not up ${ms} ms after its initiate (${how}); its IKE_SA is established` : `CHILD_SA '${child}' not established after ${ms}ms (${how})`);
    this.reason = { class: 'timeout', ikeLevel: !ikeEstablished, detail: this.message };
  }
}
