// The controller's decisions, rule by rule: each row is a state, an observation (or an action's
// result) and the expected action, status and requeue. Also the observation itself, the probe
// verdict, charon's failure reasons and the one retry formula.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  afterAction,
  afterCharonLost,
  afterCounters,
  afterProbes,
  charonRestarted,
  closeActionRestores,
  configAppeared,
  isHealthy,
  needsReadAfterRound,
  provenSet,
  newIkeStream,
  newRuntime,
  reconcile,
  BUSY_RECHECK_MS,
  CHARON_SHUTDOWN_LOSS_MS,
  DUPLICATE_CONFIRM_MS,
  DUPLICATE_VERIFY_MS,
  UNHELD_LIMIT,
  type Action,
  type ActionResult,
  type IkeStream,
  type RoundReadInput,
  type TunnelPolicy,
  type TunnelRuntime,
} from '../../src/agent/controller/reconcile.js';
import { afterDownEvent, downEventStands, lostPacketsIn, observeTunnel, pickDuplicates, upByChild, type DownEventNews, type TunnelObservation } from '../../src/agent/controller/observe.js';
import { classifyFailure, type FailureReason } from '../../src/agent/controller/failure-reason.js';
import { backoffDelay, FailureRateLimiter } from '../../src/retry.js';
import { classify } from '../../src/agent/controller/health.js';
import type { Reason } from '../../src/agent/controller/workqueue.js';
import type { IkeSa } from '../../src/vici/index.js';
import type { ProbeResult } from '../../src/probes/types.js';

function child(name: string, uniqueid: number, state = 'INSTALLED', installTime = 10): Record<string, unknown> {
  return { name, uniqueid: String(uniqueid), state, 'install-time': String(installTime), 'bytes-in': '100', 'bytes-out': '200', 'packets-in': '1', 'packets-out': '2' };
}

function ike(name: string, uniqueid: number, children: Record<string, unknown>[], extra: Record<string, unknown> = {}): IkeSa {
  const sas: Record<string, unknown> = {};
  for (const c of children) sas[`${String(c['name'])}-${String(c['uniqueid'])}`] = c;
  return { name, uniqueid: String(uniqueid), state: 'ESTABLISHED', 'child-sas': sas, ...extra } as unknown as IkeSa;
}


const NOW = 1_000_000;
const HOLD = 30_000;
const POLICY: TunnelPolicy = { name: 'a', enabled: true, probed: true, graceMs: 1500, holdMs: HOLD, backoff: { baseMs: 1000, capMs: 8000 }, charonRecovers: false, attemptMs: 15_000 };
/** random() = 1: every backoff is its full step, so rows can name exact delays. */
const FULL = () => 1;

function rt(over: Partial<TunnelRuntime> = {}): TunnelRuntime {
  return { ...newRuntime(), ...over };
}

const UP = observeTunnel([ike('gw', 1, [child('a', 1)])], 'a', 'gw');
/** Up, and nothing has come in on it yet. */
const UP_SILENT = observeTunnel([ike('gw', 1, [{ ...child('a', 1), 'packets-in': '0' }])], 'a', 'gw');
const DOWN = observeTunnel([], 'a', 'gw');
const DOWN_IKE_UP = observeTunnel([ike('gw', 1, [child('b', 2)])], 'a', 'gw');
const BUSY: TunnelObservation = { ...DOWN, charonBusy: true };
const DUP = observeTunnel([ike('gw', 1, [child('a', 1, 'INSTALLED', 50), child('a', 2, 'INSTALLED', 1)])], 'a', 'gw');
const EVENT: ReadonlySet<Reason> = new Set(['event']);
const RESYNC: ReadonlySet<Reason> = new Set(['resync']);

describe('observeTunnel', () => {
  it('counts only the tunnel child, REKEY* as up but not as installed', () => {
    const obs = observeTunnel([ike('gw', 1, [child('a', 1), child('a', 2, 'REKEYED'), child('b', 3)])], 'a');
    assert.equal(obs.up.length, 2);
    assert.equal(obs.installed.length, 1);
    assert.deepEqual(obs.ikeIds, [1]);
    assert.equal(obs.charonBusy, false);
  });

  it('sees charon busy on a connecting IKE_SA of the connection, or queued CHILD_CREATE', () => {
    assert.equal(observeTunnel([ike('gw', 1, [], { state: 'CONNECTING' })], 'a', 'gw').charonBusy, true);
    assert.equal(observeTunnel([ike('gw', 1, [], { 'tasks-queued': ['CHILD_CREATE'] })], 'a', 'gw').charonBusy, true);
    assert.equal(observeTunnel([ike('other', 1, [], { state: 'CONNECTING' })], 'a', 'gw').charonBusy, false);
    assert.equal(observeTunnel([ike('gw', 1, [], { 'tasks-active': ['IKE_DPD'] })], 'a', 'gw').charonBusy, false);
  });

  it("does not wait for an IKE_SA being set up by the agent's own initiate; does for charon's own, a rekey or a reauth", () => {
    const setup = { state: 'CONNECTING', 'tasks-active': ['IKE_INIT', 'IKE_AUTH', 'CHILD_CREATE'] };
    // A sibling's initiate (1 in flight) set it up: initiate on it too (charon queues the CHILD_SA there).
    assert.equal(observeTunnel([ike('gw', 1, [], setup)], 'a', 'gw', 1).charonBusy, false);
    // Two CHILD_CREATEs but one initiate of ours: charon is restoring something itself.
    assert.equal(observeTunnel([ike('gw', 1, [], { ...setup, 'tasks-queued': ['CHILD_CREATE'] })], 'a', 'gw', 1).charonBusy, true);
    // Nothing of ours in flight: charon's own (close_action, dpd_action, start_action).
    assert.equal(observeTunnel([ike('gw', 1, [], setup)], 'a', 'gw', 0).charonBusy, true);
    assert.equal(observeTunnel([ike('gw', 1, [], { state: 'REKEYING' })], 'a', 'gw', 1).charonBusy, true);
    assert.equal(observeTunnel([ike('gw', 1, [], { 'tasks-active': ['IKE_REAUTH'] })], 'a', 'gw', 1).charonBusy, true);
    // The debug log says why.
    assert.equal(observeTunnel([ike('gw', 1, [], setup)], 'a', 'gw', 0).busyWhy, 'IKE_SA 1 CONNECTING');
    assert.equal(observeTunnel([ike('gw', 1, [], { ...setup, 'tasks-queued': ['CHILD_CREATE'] })], 'a', 'gw', 1).busyWhy, '2 CHILD_CREATE tasks, 1 initiates of ours');
  });

  it('upByChild: every tunnel\'s up CHILD_SAs from one pass, as observeTunnel finds them one by one', () => {
    const sas = [ike('gw', 1, [child('a', 1), child('a', 2, 'REKEYED'), child('b', 3), child('c', 4, 'CREATED')]), ike('gw', 2, [child('b', 5)]), ike('other', 3, [child('a', 6)])];
    const by = upByChild(sas, 'gw');
    for (const name of ['a', 'b', 'c', 'd']) assert.deepEqual(by.get(name) ?? [], observeTunnel(sas, name, 'gw').up, name);
  });

  it('keeps the newest duplicate', () => {
    const obs = observeTunnel([ike('gw', 1, [child('a', 5, 'INSTALLED', 30), child('a', 9, 'INSTALLED', 2)]), ike('gw', 2, [child('a', 12, 'INSTALLED', 2)])], 'a');
    const d = pickDuplicates(obs.installed);
    assert.equal(d?.keep.childId, 12);
    assert.deepEqual(d?.extras.map((e) => e.childId), [9, 5]);
  });
});


// A down event carries charon's dump of the IKE_SA: with the agent's last look, it can be enough to
// decide the repair without reading again; where it is not, the reconcile reads.
describe('afterDownEvent', () => {
  const LAST = observeTunnel([ike('gw', 1, [child('a', 1), child('b', 2)])], 'a', 'gw');
  const ROWS: Array<[string, TunnelObservation, IkeSa, { up: number; established: boolean; busy: boolean } | undefined]> = [
    ['its CHILD_SA went down, the IKE_SA stays', LAST, ike('gw', 1, [child('a', 1, 'DELETING')]), { up: 0, established: true, busy: false }],
    ["a sibling's CHILD_SA went down: the tunnel's is still up", LAST, ike('gw', 1, [child('a', 7, 'DELETING')]), undefined],
    ['charon already queued a CHILD_SA (close_action): busy', LAST, ike('gw', 1, [child('a', 1, 'DELETING')], { 'tasks-queued': ['CHILD_CREATE'] }), { up: 0, established: true, busy: true }],
    // A CHILD_SA initiated while charon tears the IKE_SA down could land on it and die with it.
    ['its CHILD_SA went down with the IKE_SA (DELETING): read', LAST, ike('gw', 1, [child('a', 1, 'DELETING')], { state: 'DELETING' }), undefined],
    ['another IKE_SA than the last look had the tunnel on: read', LAST, ike('gw', 3, [child('a', 1)]), undefined],
    ['the last look saw two IKE_SAs of the connection: read', observeTunnel([ike('gw', 1, [child('a', 1)]), ike('gw', 2, [])], 'a', 'gw'), ike('gw', 1, [child('a', 1)]), undefined],
    ['the last look saw it down already: read', observeTunnel([ike('gw', 1, [])], 'a', 'gw'), ike('gw', 1, [child('a', 1)]), undefined],
  ];
  for (const [what, last, dump, want] of ROWS) {
    it(what, () => {
      const o = afterDownEvent(last, dump, 'a');
      assert.deepEqual(o && { up: o.up.length, established: o.ikeEstablished, busy: o.charonBusy }, want);
    });
  }
  // When the event, with the last read, may stand in for a new read.
  const NEWS = { at: 2000, alone: true, latestEventAt: 2000, observedAt: 1000, lastActionAt: 500 };
  const STANDS: Array<[string, Partial<DownEventNews>, boolean]> = [
    ['the only news since the last read', {}, true],
    ['an earlier event was still unread (an up, then this down: make-before-break)', { alone: false }, false],
    ['another event came after it', { latestEventAt: 2100 }, false],
    ['read since it came', { observedAt: 2500 }, false],
    ['the agent acted since its last read', { lastActionAt: 1500 }, false],
    ['never read', { observedAt: undefined }, false],
  ];
  for (const [what, over, want] of STANDS) {
    it(`stands in for a read: ${what}: ${want}`, () => {
      const n: DownEventNews = { ...NEWS, ...over };
      if ('observedAt' in over && over.observedAt === undefined) delete n.observedAt;
      assert.equal(downEventStands(n), want);
    });
  }
  it('a down event decided from the dump initiates at once', () => {
    const o = afterDownEvent(LAST, ike('gw', 1, [child('a', 1, 'DELETING')]), 'a');
    assert.ok(o);
    assert.equal(reconcile({ state: rt({ status: 'up', seenUpAt: NOW - 1000 }), obs: o, reasons: EVENT, now: NOW, policy: POLICY }).action?.kind, 'initiate');
  });
});

interface Row {
  rule: string;
  state?: Partial<TunnelRuntime>;
  ike?: Partial<IkeStream>;
  obs: TunnelObservation;
  reasons?: ReadonlySet<Reason>;
  policy?: Partial<TunnelPolicy>;
  action?: Action['kind'];
  status: TunnelRuntime['status'];
  requeue?: number;
  /** State fields the transition must leave so. */
  after?: Partial<TunnelRuntime>;
  notes?: string[];
  /** charon's last packets-in count of the lost CHILD_SA, from its down event. */
  lostIn?: number;
}

const ROWS: Row[] = [
  { rule: 'a down tunnel is initiated at once', obs: DOWN, action: 'initiate', status: 'down', notes: ['down'] },
  { rule: 'a disabled tunnel is left alone', obs: DOWN, policy: { enabled: false }, status: 'disabled' },
  { rule: 'charon negotiating: look again soon', obs: BUSY, status: 'connecting', requeue: BUSY_RECHECK_MS },
  { rule: "charon's own recovery has its grace", obs: DOWN, state: { graceUntil: NOW + 700, downSince: NOW - 10 }, status: 'waiting-for-charon', requeue: 700 },
  { rule: 'a peer delete with close_action=restart: grace for charon first', obs: DOWN, reasons: EVENT, policy: { charonRecovers: true }, status: 'waiting-for-charon', requeue: 1500, after: { graceUntil: NOW + 1500 }, notes: ['down'] },
  {
    rule: "a loss found on a resync (charon's restart) gets no close_action grace: close_action answers only a peer's DELETE",
    obs: DOWN, reasons: RESYNC, policy: { charonRecovers: true }, action: 'initiate', status: 'down', after: { graceUntil: 0 }, notes: ['down'],
  },
  { rule: 'backoff: wait until the next attempt', obs: DOWN, state: { nextAttemptAt: NOW + 5000, downSince: NOW - 10 }, status: 'backoff', requeue: 5000 },
  { rule: 'stale: restart the CHILD_SA first', obs: UP, state: { health: 'failing' }, action: 'restart-child', status: 'stale', notes: ['down'] },
  { rule: 'still stale after it: restart the IKE_SA', obs: UP, state: { health: 'failing', escalation: 1, downSince: NOW - 9000 }, action: 'restart-ike', status: 'stale' },
  {
    rule: 'still stale after an IKE_SA restart that went through: it did not help, back off before the next',
    obs: UP, state: { health: 'failing', escalation: 2, downSince: NOW - 9000 }, status: 'stale', requeue: 1000, after: { escalation: 3, failures: 1, nextAttemptAt: NOW + 1000 }, notes: ['backoff'],
  },
  {
    rule: 'still stale once that backoff is over: restart the IKE_SA again',
    obs: UP, state: { health: 'failing', escalation: 3, failures: 1, nextAttemptAt: NOW - 1, downSince: NOW - 9000 }, action: 'restart-ike', status: 'stale',
  },
  { rule: 'stale and backing off: nothing yet', obs: UP, state: { health: 'failing', escalation: 2, nextAttemptAt: NOW + 1, downSince: NOW - 9000 }, status: 'stale', requeue: 1 },
  { rule: 'a dead service behind a working tunnel is never restarted', obs: UP, state: { health: 'target-down' }, status: 'target-down' },
  { rule: 'duplicates: confirm first', obs: DUP, status: 'up', requeue: DUPLICATE_CONFIRM_MS, after: { duplicateSeenAt: NOW }, notes: ['duplicates'] },
  { rule: 'duplicates that persist: terminate the older', obs: DUP, state: { duplicateSeenAt: NOW - DUPLICATE_CONFIRM_MS }, action: 'terminate-duplicates', status: 'up', notes: ['duplicates'] },
  { rule: 'installed and probes pass: up, nothing to do', obs: UP, state: { health: 'healthy' }, status: 'up', after: { upSince: NOW } },
  { rule: 'repaired: the episode ends', obs: UP, state: { health: 'healthy', downSince: NOW - 4000, failures: 2, escalation: 1 }, status: 'up', after: { downSince: undefined, failures: 0, escalation: 0, upSince: NOW }, notes: ['repaired'] },
  // Damping: only repairs lost before they carried traffic.
  {
    rule: 'a peer delete of a CHILD_SA the agent repaired long ago: repaired at once, the count starts afresh',
    obs: DOWN, reasons: EVENT, state: { repairedAt: NOW - HOLD, unheldRepairs: 5, damped: true, nextAttemptAt: NOW + 60_000 },
    action: 'initiate', status: 'down', after: { unheldRepairs: 0, damped: false }, notes: ['down'],
  },
  {
    rule: 'a peer delete after any number of earlier deletes, none of them within the hold: repaired at once',
    obs: DOWN, reasons: EVENT, state: { unheldRepairs: 0, flaps: 40 }, action: 'initiate', status: 'down', notes: ['down'],
  },
  {
    rule: 'a repair lost before it carried traffic (within the hold time) counts, below the limit repairs go on',
    obs: DOWN, reasons: EVENT, state: { repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 2 }, action: 'initiate', status: 'down', after: { unheldRepairs: UNHELD_LIMIT - 1, repairedAt: undefined }, notes: ['down'],
  },
  {
    rule: 'a repair loop: the limit of repairs lost before they carried traffic damps the next one',
    obs: DOWN, reasons: EVENT, state: { repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 1 }, status: 'backoff', requeue: 1000, after: { unheldRepairs: UNHELD_LIMIT, damped: true }, notes: ['damped', 'down'],
  },
  {
    rule: "a peer delete of a repaired CHILD_SA whose down event counted packets in: it carried traffic, the count starts afresh",
    obs: DOWN, reasons: EVENT, lostIn: 4, state: { repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 1, damped: true }, action: 'initiate', status: 'down', after: { unheldRepairs: 0, damped: false }, notes: ['down'],
  },
  {
    rule: 'a repaired CHILD_SA with packets in on its counters: the repair held at once',
    obs: UP, state: { repairedAt: NOW - 800, unheldRepairs: 2, damped: true }, status: 'up', after: { unheldRepairs: 0, damped: false, repairedAt: undefined },
  },
  {
    rule: 'a repaired CHILD_SA a probe round passed through, nothing counted in yet: the repair held',
    obs: UP_SILENT, state: { health: 'healthy', repairedAt: NOW - 800, unheldRepairs: 2, damped: true }, status: 'up', after: { unheldRepairs: 0, damped: false, repairedAt: undefined },
  },
  {
    rule: 'a repaired CHILD_SA nothing went through yet, within the hold time: the repair is still judged',
    obs: UP_SILENT, state: { repairedAt: NOW - 800, unheldRepairs: 2 }, status: 'up', after: { unheldRepairs: 2, repairedAt: NOW - 800 },
  },
  {
    rule: 'passing probes that went through another SA (its CHILD_SA received nothing) do not make the repair hold',
    obs: UP_SILENT, state: { health: 'healthy', healthProof: { sas: '1', packetsIn: 0 }, repairedAt: NOW - 800, unheldRepairs: 2 }, status: 'up', after: { unheldRepairs: 2, repairedAt: NOW - 800, health: 'unproven' }, notes: ['unproven'],
  },
  {
    rule: "the agent's own IKE_SA restart for a stale sibling takes the CHILD_SA down: not a repair that failed to hold",
    obs: DOWN, reasons: EVENT, ike: { restartedAt: NOW - 100 }, state: { repairedAt: NOW - 3000, unheldRepairs: UNHELD_LIMIT - 1 }, action: 'initiate', status: 'down', after: { unheldRepairs: UNHELD_LIMIT - 1, damped: false }, notes: ['down'],
  },
  {
    rule: "charon's restart takes the CHILD_SA down: never a flap",
    obs: DOWN, reasons: RESYNC, state: { repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 1 }, action: 'initiate', status: 'down', after: { unheldRepairs: UNHELD_LIMIT - 1, repairedAt: undefined }, notes: ['down'],
  },
  {
    rule: 'a tunnel nothing proves (no probes, nothing in) up for the hold time after its repair: it held, the count is cleared while up',
    obs: UP_SILENT, policy: { probed: false }, state: { repairedAt: NOW - HOLD, unheldRepairs: 2, damped: true }, status: 'up', after: { unheldRepairs: 0, damped: false, repairedAt: undefined },
  },
  // Per-IKE attempt streams.
  {
    rule: 'IKE_SA failing and backing off: every tunnel of the connection waits for it',
    obs: DOWN, ike: { failures: 2, nextAttemptAt: NOW + 3000, failedAt: NOW - 1000 }, state: { downSince: NOW - 5000 }, status: 'backoff', requeue: 3000,
  },
  {
    rule: 'IKE_SA failing, its backoff over: the first tunnel leads the next attempt',
    obs: DOWN, ike: { failures: 2, nextAttemptAt: NOW - 1, failedAt: NOW - 4000 }, state: { downSince: NOW - 5000 }, action: 'initiate', status: 'down',
  },
  {
    rule: "IKE_SA failing, a sibling leads the attempt: follow once it is up, or look again when the leader's attempt must be over",
    obs: DOWN, ike: { failures: 2, nextAttemptAt: NOW - 1, failedAt: NOW - 4000, leader: 'b', leaderUntil: NOW + 4000 }, state: { downSince: NOW - 5000 }, status: 'backoff', requeue: 4000,
  },
  {
    rule: "IKE_SA failing, the leader's attempt is long over (it went away): take the lead",
    obs: DOWN, ike: { failures: 2, nextAttemptAt: NOW - 1, failedAt: NOW - 4000, leader: 'b', leaderUntil: NOW - 1 }, state: { downSince: NOW - 5000 }, action: 'initiate', status: 'down',
  },
  {
    rule: "the connection's IKE_SA is up again: its stream no longer holds the CHILD_SA back",
    obs: DOWN_IKE_UP, ike: { failures: 2, nextAttemptAt: NOW + 3000, failedAt: NOW - 1000, leader: 'b' }, state: { downSince: NOW - 5000 }, action: 'initiate', status: 'down',
  },
];

describe('reconcile: one rule a row', () => {
  for (const row of ROWS) {
    it(row.rule, () => {
      const ike = row.ike ? { ...newIkeStream(), ...row.ike } : undefined;
      const t = reconcile({ state: rt(row.state), ike, obs: row.obs, reasons: row.reasons ?? new Set(['event']), now: NOW, policy: { ...POLICY, ...row.policy }, random: FULL, ...(row.lostIn !== undefined ? { lostPacketsIn: row.lostIn } : {}) });
      assert.equal(t.action?.kind, row.action, `action (${t.why})`);
      assert.equal(t.state.status, row.status);
      assert.equal(t.requeueAfterMs, row.requeue, 'requeue');
      for (const [k, v] of Object.entries(row.after ?? {})) assert.deepEqual(t.state[k as keyof TunnelRuntime], v, k);
      assert.deepEqual(t.notes.map((n) => n.kind).sort(), (row.notes ?? []).sort());
      if (t.action) {
        assert.equal(t.state.generation, 1, 'an action bumps the generation');
        assert.equal(t.state.health, 'unknown', 'probe results from before an action no longer count');
      }
    });
  }

  it('a loss while charon negotiates is counted once: the damping it caused stays', () => {
    const policy = { ...POLICY };
    const first = reconcile({ state: rt({ repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 1 }), obs: BUSY, reasons: EVENT, now: NOW, policy, random: FULL });
    assert.deepEqual([first.state.unheldRepairs, first.state.damped, first.state.status], [UNHELD_LIMIT, true, 'connecting']);
    const again = reconcile({ state: first.state, obs: BUSY, reasons: new Set(['retry']), now: NOW + BUSY_RECHECK_MS, policy, random: FULL });
    assert.deepEqual([again.state.unheldRepairs, again.state.damped, again.state.nextAttemptAt], [UNHELD_LIMIT, true, first.state.nextAttemptAt]);
    assert.deepEqual(again.notes, []);
  });

  it('the down is told before its damping', () => {
    const t = reconcile({ state: rt({ repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 1 }), obs: DOWN, reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual(t.notes.map((n) => n.kind), ['down', 'damped']);
  });

  it("a loss counted just before charon's socket closed was its shutdown: taken back, damping included", () => {
    const t = reconcile({ state: rt({ repairedAt: NOW - 800, unheldRepairs: UNHELD_LIMIT - 1 }), obs: DOWN, reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([t.state.unheldRepairs, t.state.damped], [UNHELD_LIMIT, true]);
    const back = afterCharonLost(t.state, NOW + 200);
    assert.deepEqual([back.unheldRepairs, back.damped, back.nextAttemptAt, back.lastLoss], [UNHELD_LIMIT - 1, false, 0, undefined]);
    // A loss long before the socket closed stays counted.
    assert.equal(afterCharonLost(t.state, NOW + CHARON_SHUTDOWN_LOSS_MS + 1).unheldRepairs, UNHELD_LIMIT);
  });

  it('across a charon restart a repair is no longer judged: the CHILD_SA it brought goes with charon', () => {
    const lost = afterCharonLost(rt({ repairedAt: NOW - 800, unheldRepairs: 2 }), NOW);
    assert.equal(lost.repairedAt, undefined);
    // A reconcile that sees the loss after the reconnect, whatever triggered it, counts nothing.
    const t = reconcile({ state: lost, obs: DOWN, reasons: new Set(['retry']), now: NOW + 5000, policy: POLICY, random: FULL });
    assert.deepEqual([t.state.unheldRepairs, t.state.damped, t.action?.kind], [0, false, 'initiate']);
  });

  it('an IKE_SA restart is noted on the stream before it runs', () => {
    const t = reconcile({ state: rt({ health: 'failing', escalation: 1, downSince: NOW - 9000 }), ike: newIkeStream(), obs: UP, reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([t.action?.kind, t.ike?.restartedAt], ['restart-ike', NOW]);
  });

  describe("siblings share the connection's IKE_SA: one escalation for the connection", () => {
    const RESTARTED = NOW - 3000;
    const stream = (): IkeStream => ({ ...newIkeStream(), restartedAt: RESTARTED });
    const ROWS: Array<{ rule: string; state: Partial<TunnelRuntime>; action?: string; probe?: boolean; escalation: number; requeue?: number }> = [
      {
        rule: 'a failing verdict from a round that began before a sibling restarted the IKE_SA: probe again, no action',
        state: { health: 'failing', healthFrom: RESTARTED - 1, escalation: 1, downSince: NOW - 9000 },
        probe: true,
        escalation: 1,
      },
      {
        rule: 'a sibling restarted it this episode, after our CHILD_SA restart (our initiate after it does not count): still failing after it backs off, no second restart',
        state: { health: 'failing', healthFrom: RESTARTED + 500, escalation: 1, downSince: NOW - 9000, escalatedAt: NOW - 6000, lastAction: { kind: 'initiate', result: 'ok', at: RESTARTED + 30, ms: 5 } },
        escalation: 3,
        requeue: 1000,
      },
      {
        rule: 'our own IKE_SA restart (after it in time): the usual step, backoff',
        state: { health: 'failing', healthFrom: RESTARTED + 500, escalation: 2, downSince: NOW - 9000, escalatedAt: RESTARTED + 40 },
        escalation: 3,
        requeue: 1000,
      },
      {
        rule: 'backing off after our own restart, a sibling restarted it since: wait again instead of restarting the new one',
        state: { health: 'failing', healthFrom: RESTARTED + 500, escalation: 3, failures: 1, nextAttemptAt: NOW - 1, downSince: NOW - 20_000, escalatedAt: NOW - 10_000 },
        escalation: 3,
        requeue: 2000,
      },
      {
        rule: "the sibling's restart is what took this tunnel down; its own CHILD_SA restart failed to help since: no second IKE_SA restart",
        state: { health: 'failing', healthFrom: NOW - 1000, escalation: 1, downSince: RESTARTED + 10, passedFrom: RESTARTED - 2000, escalatedAt: RESTARTED - 100 },
        escalation: 3,
        requeue: 1000,
      },
      {
        rule: 'a restart before this tunnel last passed is not this trouble: the ladder starts at the CHILD_SA',
        state: { health: 'failing', healthFrom: NOW - 2000, escalation: 0, downSince: NOW - 1000, passedFrom: RESTARTED + 100 },
        action: 'restart-child',
        escalation: 0,
      },
    ];
    it("a sibling's restart is taken up once: after the backoff it led to, a still failing tunnel restarts the IKE_SA itself", () => {
      const adopted = reconcile({ state: rt({ health: 'failing', healthFrom: RESTARTED + 500, escalation: 1, downSince: NOW - 9000, escalatedAt: NOW - 6000 }), ike: stream(), obs: UP, reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
      assert.deepEqual([adopted.state.escalation, adopted.state.escalatedAt], [3, RESTARTED]);
      const later = NOW + 5000;
      const t = reconcile({ state: { ...adopted.state, health: 'failing', healthFrom: later - 1000 }, ike: stream(), obs: UP, reasons: new Set(['probe']), now: later, policy: POLICY, random: FULL });
      assert.equal(t.action?.kind, 'restart-ike');
    });
    it('a restart that went through is noted on the stream when it is over too: rounds begun while it ran are probed again', () => {
      const a = afterAction({ state: rt({ escalation: 1 }), ike: { ...newIkeStream(), restartedAt: NOW - 400 }, action: { kind: 'restart-ike', ikeId: 1, why: '' }, result: { ok: true, startedAt: NOW - 400, ms: 400 }, reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
      assert.equal(a.ike?.restartedAt, NOW);
    });
    for (const r of ROWS) {
      it(r.rule, () => {
        const t = reconcile({ state: rt(r.state), ike: stream(), obs: UP, reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
        assert.deepEqual(
          { action: t.action?.kind, probe: t.probe ?? false, escalation: t.state.escalation, requeue: t.requeueAfterMs, status: t.state.status },
          { action: r.action, probe: r.probe ?? false, escalation: r.escalation, requeue: r.requeue, status: 'stale' },
        );
      });
    }
  });

  it('the leader is recorded on the IKE stream', () => {
    const t = reconcile({ state: rt({ downSince: NOW - 5000 }), ike: { ...newIkeStream(), failures: 1, nextAttemptAt: NOW - 1, failedAt: NOW - 2000 }, obs: DOWN, reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.equal(t.ike?.leader, 'a');
    assert.equal(t.ike?.leaderUntil, NOW + POLICY.attemptMs);
  });
});

const AUTH: FailureReason = { class: 'auth', ikeLevel: true, detail: 'received AUTHENTICATION_FAILED notify error' };
const TS: FailureReason = { class: 'traffic-selectors', ikeLevel: false, detail: 'received TS_UNACCEPTABLE notify, no CHILD_SA built' };
const ok = (startedAt = NOW - 50): ActionResult => ({ ok: true, startedAt, ms: 50 });
const failed = (reason: FailureReason, startedAt = NOW - 50): ActionResult => ({ ok: false, startedAt, ms: 50, error: 'vici initiate failed', reason });
const INITIATE: Action = { kind: 'initiate', why: 'no CHILD_SA installed' };

describe('afterAction: one rule a row', () => {
  it('an initiate that worked: verify at once, and it is a repair (the hold time starts)', () => {
    const a = afterAction({ state: rt(), action: INITIATE, result: ok(), reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.requeueAfterMs, a.verify, a.state.repairedAt, a.state.lastAction?.result], [0, true, NOW, 'ok']);
  });
  it("an initiate after charon's restart is not a repair", () => {
    const a = afterAction({ state: rt(), action: INITIATE, result: ok(), reasons: RESYNC, now: NOW, policy: POLICY, random: FULL });
    assert.equal(a.state.repairedAt, undefined);
  });
  it("a CHILD_SA-level failure (TS_UNACCEPTABLE) backs this tunnel off alone", () => {
    const ike = { ...newIkeStream() };
    const a = afterAction({ state: rt({ failures: 1 }), ike, action: INITIATE, result: failed(TS), reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.state.failures, a.state.nextAttemptAt, a.requeueAfterMs, a.ike?.failures], [2, NOW + 2000, 2000, 0]);
    assert.equal(a.state.lastAction?.reason?.class, 'traffic-selectors');
    assert.equal(a.state.lastError, `traffic-selectors: ${TS.detail}`);
  });
  it('an IKE-level failure (auth) backs off the whole connection, counted once per attempt', () => {
    const first = afterAction({ state: rt(), ike: newIkeStream(), action: INITIATE, result: failed(AUTH), reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([first.ike?.failures, first.ike?.nextAttemptAt, first.requeueAfterMs, first.state.failures], [1, NOW + 1000, 1000, 0]);
    // A sibling's initiate rode on the same IKE_SA attempt (started before the failure was recorded).
    const sibling = afterAction({ state: rt(), ike: first.ike, action: INITIATE, result: failed(AUTH, NOW - 40), reasons: EVENT, now: NOW + 5, policy: POLICY, random: FULL });
    assert.deepEqual([sibling.ike?.failures, sibling.requeueAfterMs], [1, 995]);
    // The next attempt, after the backoff: counted.
    const next = afterAction({ state: rt(), ike: first.ike, action: INITIATE, result: failed(AUTH, NOW + 1000), reasons: EVENT, now: NOW + 1100, policy: POLICY, random: FULL });
    assert.deepEqual([next.ike?.failures, next.ike?.nextAttemptAt], [2, NOW + 1100 + 2000]);
  });
  it("the leader's attempt is over whatever its result: a CHILD_SA-level failure or a lost VICI frees the lead", () => {
    const led = { ...newIkeStream(), failures: 2, nextAttemptAt: NOW - 10, failedAt: NOW - 3000, leader: 'a', leaderUntil: NOW + 10_000 };
    const child = afterAction({ state: rt(), ike: led, action: INITIATE, result: failed(TS), reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([child.ike?.leader, child.ike?.failures], [undefined, 2]);
    const lost = afterAction({ state: rt(), ike: led, action: INITIATE, result: failed(AUTH), reasons: EVENT, now: NOW, policy: POLICY, random: FULL, viciLost: true });
    assert.equal(lost.ike?.leader, undefined);
    // Another tunnel's straggling failure leaves the leader's lead alone.
    const other = afterAction({ state: rt(), ike: { ...led, leader: 'b' }, action: INITIATE, result: failed(AUTH, NOW - 4000), reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.equal(other.ike?.leader, 'b');
  });

  it('an initiate that worked clears the IKE stream', () => {
    const a = afterAction({ state: rt(), ike: { ...newIkeStream(), failures: 3, nextAttemptAt: NOW, leader: 'a' }, action: INITIATE, result: ok(), reasons: EVENT, now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.ike?.failures, a.ike?.leader], [0, undefined]);
  });
  it('VICI lost during the initiate: no backoff, the resync retries', () => {
    const a = afterAction({ state: rt(), action: INITIATE, result: failed(AUTH), reasons: EVENT, now: NOW, policy: POLICY, random: FULL, viciLost: true });
    assert.deepEqual([a.requeueAfterMs, a.state.failures], [undefined, 0]);
  });
  it('a CHILD_SA restart whose DELETE was not answered: still stale, escalate at once', () => {
    const a = afterAction({ state: rt(), action: { kind: 'restart-child', child: UP.up[0]!, why: '' }, result: failed({ class: 'timeout', ikeLevel: true, detail: 'x' }), reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.state.escalation, a.state.health, a.requeueAfterMs], [1, 'failing', 0]);
  });
  it("a CHILD_SA restart that charon failed on its DELETE's answer (peer-delete): the CHILD_SA is gone, no escalation; the next reconcile reads and the probes judge", () => {
    const a = afterAction({ state: rt({ health: 'unknown' }), action: { kind: 'restart-child', child: UP.up[0]!, why: '' }, result: failed({ class: 'peer-delete', ikeLevel: false, detail: 'received DELETE for ESP CHILD_SA with SPI 17e88550' }), reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.state.escalation, a.state.health, a.requeueAfterMs, a.verify, a.notes], [1, 'unknown', 0, true, []]);
  });
  it('an IKE_SA restart that went through: no backoff, the probes judge it', () => {
    const a = afterAction({ state: rt(), action: { kind: 'restart-ike', ikeId: 1, why: '' }, result: ok(), reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.state.escalation, a.state.failures, a.state.nextAttemptAt, a.requeueAfterMs, a.verify, a.state.repairedAt], [2, 0, 0, undefined, true, NOW]);
    assert.deepEqual(a.notes.map((n) => n.kind), ['escalate-ike']);
  });
  it('an IKE_SA restart that failed: backoff before the next one', () => {
    const a = afterAction({ state: rt(), action: { kind: 'restart-ike', ikeId: 1, why: '' }, result: failed(AUTH), reasons: new Set(['probe']), now: NOW, policy: POLICY, random: FULL });
    assert.deepEqual([a.state.escalation, a.state.failures, a.requeueAfterMs, a.verify], [3, 1, 1000, false]);
    assert.deepEqual(a.notes.map((n) => n.kind).sort(), ['backoff', 'escalate-ike']);
  });
  it('duplicates terminated: look again shortly', () => {
    const a = afterAction({ state: rt({ duplicateSeenAt: NOW - 2000 }), action: { kind: 'terminate-duplicates', keep: DUP.installed[1]!, extras: [DUP.installed[0]!], why: '' }, result: ok(), reasons: new Set(['retry']), now: NOW, policy: POLICY });
    assert.deepEqual([a.requeueAfterMs, a.state.duplicateSeenAt], [DUPLICATE_VERIFY_MS, undefined]);
  });
});

// Between reconciles the counter timer reads a probed tunnel's CHILD_SAs: packets in on the repaired one
// make the repair hold, so a peer delete soon after finds it held.
describe('afterCounters', () => {
  it('packets in on the repaired CHILD_SA: the repair held', () => {
    const s = afterCounters(rt({ repairedAt: NOW - 800, unheldRepairs: 2, damped: true }), UP.up);
    assert.deepEqual([s.repairedAt, s.unheldRepairs, s.damped], [undefined, 0, false]);
  });
  it('nothing in yet: still judged', () => {
    const s = afterCounters(rt({ repairedAt: NOW - 800, unheldRepairs: 2 }), UP_SILENT.up);
    assert.deepEqual([s.repairedAt, s.unheldRepairs], [NOW - 800, 2]);
  });
  it('no repair being judged: nothing changes', () => {
    const s = rt({ unheldRepairs: 2 });
    assert.equal(afterCounters(s, UP.up), s);
  });
});

describe("a down event's last counters", () => {
  it("sums packets-in of the tunnel's CHILD_SAs it reports", () => {
    assert.equal(lostPacketsIn(ike('gw', 1, [{ ...child('a', 1, 'DELETED'), 'packets-in': '7' }, child('b', 2)]), 'a'), 7);
    assert.equal(lostPacketsIn(ike('gw', 1, [{ ...child('a', 1, 'DELETED'), 'packets-in': '0' }]), 'a'), 0);
  });
  it("names none of the tunnel's CHILD_SAs: unknown", () => {
    assert.equal(lostPacketsIn(ike('gw', 1, [child('b', 2)]), 'a'), undefined);
  });
});

// Only close_action answers a peer's DELETE; dpd_action and start_action act on other occasions.
describe('closeActionRestores', () => {
  const ROWS: Array<[string | undefined, boolean]> = [
    ['start', true],
    ['trap', true],
    ['trap|start', true],
    ['restart', true],
    ['none', false],
    ['clear', false],
    [undefined, false],
  ];
  for (const [value, want] of ROWS) it(`close_action ${String(value)}: ${want}`, () => assert.equal(closeActionRestores(value), want));
});

describe('afterProbes', () => {
  it('takes the verdict of a round started after the last action, and ignores older rounds', () => {
    const s = rt({ generation: 3 });
    assert.equal(afterProbes(s, { health: 'failing', generation: 2, failures: [], startedAt: NOW }).stale, true);
    const p = afterProbes(s, { health: 'failing', generation: 3, failures: ['tcp t: timeout'], startedAt: NOW });
    assert.deepEqual([p.state.health, p.state.lastError, p.changed, p.state.healthFrom], ['failing', 'tcp t: timeout', true, NOW]);
  });
});

// Probes that pass while charon has no CHILD_SA of the tunnel went out through a sibling's SA (same
// source address) or none at all: never healthy. Judged by the reconcile on a fresh observation,
// against when the round started and when the tunnel was last seen up.
describe('probes that prove nothing about the tunnel (unproven)', () => {
  const ROWS: Array<[string, Partial<TunnelRuntime>, TunnelObservation, string, boolean]> = [
    ['passing, no CHILD_SA yet but charon is setting one up: not judged', { health: 'healthy', healthFrom: NOW - 100 }, BUSY, 'healthy', false],
    ['passing, never seen up (a misspelled child)', { health: 'healthy', healthFrom: NOW - 100 }, DOWN, 'unproven', true],
    ['target refuses, never seen up', { health: 'target-down', healthFrom: NOW - 100 }, DOWN, 'unproven', true],
    ['passing, round started after it was last seen up', { health: 'healthy', healthFrom: NOW - 100, seenUpAt: NOW - 5000 }, DOWN, 'unproven', true],
    ['passing, round from while it was up, now lost (a peer delete)', { health: 'healthy', healthFrom: NOW - 6000, seenUpAt: NOW - 5000 }, DOWN, 'healthy', false],
    ['passing, CHILD_SA installed now (a repair the round ran after)', { health: 'healthy', healthFrom: NOW - 100, seenUpAt: NOW - 5000 }, UP, 'healthy', false],
    ['failing, never seen up', { health: 'failing', healthFrom: NOW - 100 }, DOWN, 'failing', false],
    ['could not run, never seen up', { health: 'unknown', healthFrom: NOW - 100 }, DOWN, 'unknown', false],
  ];
  for (const [what, state, obs, want, noted] of ROWS) {
    it(`${what}: ${want}`, () => {
      // Backing off: no action this time (an action starts a new generation and forgets the health).
      const t = reconcile({ state: rt({ ...state, nextAttemptAt: NOW + 10_000 }), obs, reasons: new Set(['verify']), now: NOW, policy: POLICY });
      assert.equal(t.state.health, want);
      assert.equal(t.notes.some((n) => n.kind === 'unproven'), noted);
    });
  }
  // UP's one CHILD_SA (unique id 1) shows packets-in 1 (see child()).
  const PROOF_ROWS: Array<[string, Partial<TunnelRuntime>, string, boolean]> = [
    ['passing, its CHILD_SA received during the round', { health: 'healthy', healthProof: { sas: '1', packetsIn: 0 } }, 'healthy', false],
    ['passing, its CHILD_SA received nothing: the probe went through another SA', { health: 'healthy', healthProof: { sas: '1', packetsIn: 1 } }, 'unproven', true],
    ['target refuses, its CHILD_SA received nothing', { health: 'target-down', healthProof: { sas: '1', packetsIn: 5 } }, 'unproven', true],
    ['passing, the CHILD_SAs changed during the round (a rekey, a repair): no judgement', { health: 'healthy', healthProof: { sas: '9', packetsIn: 1 } }, 'healthy', false],
    ['passing, no CHILD_SA known before the round, the one there now received something (a repair verified)', { health: 'healthy', healthProof: { sas: '', packetsIn: 0 } }, 'healthy', false],
    ['passing, no CHILD_SA known before the round, the one there now received nothing', { health: 'healthy', healthProof: { sas: '', packetsIn: 1 } }, 'unproven', true],
    ['failing: nothing to prove', { health: 'failing', healthProof: { sas: '1', packetsIn: 1 } }, 'failing', false],
  ];
  for (const [what, state, want, noted] of PROOF_ROWS) {
    it(`${what}: ${want}`, () => {
      const t = reconcile({ state: rt({ ...state, nextAttemptAt: NOW + 10_000, escalation: 2 }), obs: UP, reasons: new Set(['verify']), now: NOW, policy: POLICY });
      assert.equal(t.state.health, want);
      assert.equal(t.notes.some((n) => n.kind === 'unproven' && /another SA/.test(n.why)), noted);
      assert.equal(t.state.healthProof, undefined, 'judged once');
    });
  }
  it('an unproven tunnel is not healthy, and a CHILD_SA appearing later does not end its outage before new probes pass', () => {
    const s = reconcile({ state: rt({ health: 'healthy', healthFrom: NOW - 100, downSince: NOW - 5000, status: 'down', nextAttemptAt: NOW + 10_000 }), obs: DOWN, reasons: new Set(['verify']), now: NOW, policy: POLICY }).state;
    assert.equal(isHealthy(s, true, true, true), false);
    const t = reconcile({ state: { ...s, nextAttemptAt: 0 }, obs: UP, reasons: new Set(['verify']), now: NOW + 10, policy: POLICY });
    assert.equal(t.notes.some((n) => n.kind === 'repaired'), false, 'repaired only once probes pass through its own CHILD_SA');
  });
});

// A CHILD_SA restart waits for the peer's answer to its DELETE; not long when the peer has been
// silent on every CHILD_SA of the connection since the failing round began (it lost its state).
describe('a stale tunnel whose peer is silent', () => {
  // The failing round's first attempt failed 3 s ago (its re-probes later).
  const FAILING = { health: 'failing' as const, healthFrom: NOW - 1000, failingFrom: NOW - 3000 };
  const ROWS: Array<[string, { readAt: number; heardAt: number } | undefined, boolean]> = [
    ['heard before the round, read since: silent', { readAt: NOW - 1000, heardAt: NOW - 8000 }, true],
    ['heard during the round (a sibling carries traffic): not silent', { readAt: NOW - 1000, heardAt: NOW - 2000 }, false],
    ['read during the re-probes, nothing heard since the first attempt failed: silent', { readAt: NOW - 2000, heardAt: NOW - 8000 }, true],
    ['no reading since the round began: not known', { readAt: NOW - 4000, heardAt: NOW - 8000 }, false],
    ['the counter timer is off: not known', undefined, false],
  ];
  for (const [what, heard, silent] of ROWS) {
    it(what, () => {
      const t = reconcile({ state: rt(FAILING), obs: UP, reasons: new Set(['probe']), now: NOW, policy: POLICY, ...(heard ? { peerHeard: heard } : {}) });
      assert.equal(t.action?.kind, 'restart-child');
      assert.equal(t.action?.kind === 'restart-child' && t.action.peerSilent === true, silent);
    });
  }
});

// After charon's restart, a tunnel's next initiate does not wait inside charon; retries do again.
describe('initiates after charon restarts', () => {
  it('the first initiate after the restart is queued, the retry after it waits inside charon, and being up ends it', () => {
    const s = charonRestarted(rt());
    const t = reconcile({ state: s, obs: DOWN, reasons: new Set(['retry']), now: NOW, policy: POLICY });
    assert.deepEqual([t.action?.kind, t.action?.kind === 'initiate' && t.action.queued], ['initiate', true]);
    const a = afterAction({ state: t.state, action: t.action!, result: failed({ class: 'timeout', ikeLevel: true, detail: 'x' }), reasons: new Set(['retry']), now: NOW, policy: POLICY, random: FULL });
    const again = reconcile({ state: { ...a.state, nextAttemptAt: 0 }, obs: DOWN, reasons: new Set(['retry']), now: NOW + 5000, policy: POLICY });
    assert.equal(again.action?.kind === 'initiate' && again.action.queued, undefined);
    assert.equal(reconcile({ state: s, obs: UP, reasons: new Set(['verify']), now: NOW, policy: POLICY }).state.afterRestart, undefined, 'up: over');
  });
  it('a tunnel charon did not restart initiates waiting, with charon\'s reason', () => {
    const t = reconcile({ state: rt(), obs: DOWN, reasons: EVENT, now: NOW, policy: POLICY });
    assert.equal(t.action?.kind === 'initiate' && t.action.queued, undefined);
  });
});

// The CHILD_SA set a probe round proved, after a reconcile.
describe('provenSet', () => {
  const ROWS: Array<[string, Parameters<typeof provenSet>, string | undefined]> = [
    ['proof judged on this set and passed', ['healthy', { sas: '1', packetsIn: 0 }, '1', undefined], '1'],
    ['a set new since the round (no CHILD_SA known before it): proves nothing yet', ['healthy', { sas: '', packetsIn: 0 }, '1', undefined], undefined],
    ['no round judged now, still healthy: the set known before', ['healthy', undefined, '1', '1'], '1'],
    ['unproven', ['unproven', { sas: '1', packetsIn: 0 }, '1', '1'], undefined],
    ['failing', ['failing', undefined, '1', '1'], undefined],
  ];
  for (const [what, args, want] of ROWS) it(what, () => assert.equal(provenSet(...args), want));
});

// After a healthy round the agent reads charon again only when the round may have something to say.
describe('a read after a probe round', () => {
  const QUIET = { health: 'healthy' as const, changed: false, readStands: true, sas: '1', provenSas: '1', countersWatched: true };
  const ROWS: Array<[string, Partial<RoundReadInput>, boolean]> = [
    ['healthy again, nothing since the last read, the CHILD_SA already proved', {}, false],
    ['health changed', { changed: true }, true],
    ['failing', { health: 'failing' }, true],
    ['target down (its reconcile keeps the status)', { health: 'target-down' }, true],
    ['unproven before (the round must be judged)', { health: 'healthy', changed: false, provenSas: undefined }, true],
    ['an event since the last read', { readStands: false }, true],
    ['a new CHILD_SA (rekey, repair) not proved yet', { sas: '2' }, true],
    ['no CHILD_SA at the last read', { sas: undefined }, true],
    ['the counter timer is off: the read keeps metrics fresh', { countersWatched: false }, true],
  ];
  for (const [what, over, want] of ROWS) {
    it(`${what}: ${want ? 'read' : 'no read'}`, () => {
      assert.equal(needsReadAfterRound({ ...QUIET, ...over }), want);
    });
  }
});

describe('a tunnel whose CHILD_SA config charon does not have', () => {
  const MISSING: TunnelPolicy = { ...POLICY, configLoaded: false, childName: 'ikev2-vpn-999' };
  it('is not-loaded, never down or backoff, attempts nothing, and the reason names the config', () => {
    const t = reconcile({ state: rt(), obs: DOWN, reasons: new Set(['start']), now: NOW, policy: MISSING });
    assert.deepEqual([t.state.status, t.action, t.requeueAfterMs], ['not-loaded', undefined, undefined], 'the config source requeues it when charon loads it');
    assert.match(t.why, /no CHILD_SA config named "ikev2-vpn-999"/);
    const later = reconcile({ state: { ...t.state, nextAttemptAt: NOW + 4000 }, obs: DOWN, reasons: new Set(['retry']), now: NOW, policy: MISSING });
    assert.deepEqual([later.state.status, later.action], ['not-loaded', undefined]);
  });
  it('once charon loads it, back-off is cleared and it is initiated at once', () => {
    const waiting = rt({ status: 'not-loaded', failures: 4, nextAttemptAt: NOW + 60_000, downSince: NOW - 90_000 });
    const s = configAppeared(waiting, { now: NOW, graceMs: 0, afterRestart: false });
    assert.deepEqual([s.failures, s.nextAttemptAt, s.afterRestart], [0, 0, undefined]);
    const t = reconcile({ state: s, obs: DOWN, reasons: new Set(['resync']), now: NOW, policy: POLICY });
    assert.equal(t.action?.kind, 'initiate');
  });
  it('loaded with charon starting it (start_action=start): charon gets its grace first', () => {
    const s = configAppeared(rt(), { now: NOW, graceMs: 1500, afterRestart: false });
    const t = reconcile({ state: s, obs: DOWN, reasons: new Set(['resync']), now: NOW, policy: POLICY });
    assert.deepEqual([t.state.status, t.action, t.requeueAfterMs], ['waiting-for-charon', undefined, 1500]);
  });
  it("loaded with charon's restart: its initiate does not wait inside charon", () => {
    const s = configAppeared(rt(), { now: NOW, graceMs: 0, afterRestart: true });
    const t = reconcile({ state: s, obs: DOWN, reasons: new Set(['resync']), now: NOW, policy: POLICY });
    assert.deepEqual(t.action && t.action.kind === 'initiate' ? t.action.queued : 'none', true);
  });
  it('damping stays when the config appears: repairs that do not hold are the peer\'s doing', () => {
    const s = configAppeared(rt({ damped: true, nextAttemptAt: NOW + 5000 }), { now: NOW, graceMs: 0, afterRestart: false });
    assert.equal(s.nextAttemptAt, NOW + 5000);
  });
  it('is up when charon has its CHILD_SA after all (loaded since the last list-conns)', () => {
    assert.equal(reconcile({ state: rt(), obs: UP, reasons: new Set(['event']), now: NOW, policy: MISSING }).state.status, 'up');
  });
  it('when list-conns has not answered yet, nothing is claimed', () => {
    assert.equal(reconcile({ state: rt(), obs: DOWN, reasons: new Set(['start']), now: NOW, policy: POLICY }).state.status, 'down');
  });
});

describe("charon's reason for a failed action", () => {
  const CASES: Array<[string[], string, FailureReason['class'], boolean]> = [
    [['initiating IKE_SA ikev2-vpn[1] to 192.0.2.2', 'received AUTHENTICATION_FAILED notify error', 'establishing CHILD_SA failed'], "establishing CHILD_SA 'a' failed", 'auth', true],
    [['retransmit 5 of request with message ID 0', 'giving up after 5 retransmits', 'establishing IKE_SA failed, peer not responding'], "establishing CHILD_SA 'a' failed", 'timeout', true],
    [['received NO_PROPOSAL_CHOSEN notify error'], 'failed', 'proposal', true],
    [['IKE_SA ikev2-vpn[1] established between 192.0.2.1[192.0.2.1]...192.0.2.2[192.0.2.2]', 'received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built'], 'failed', 'proposal', false],
    [['received TS_UNACCEPTABLE notify, no CHILD_SA built'], 'failed', 'traffic-selectors', false],
    [[], "vici initiate failed: CHILD_SA config 'ikev2-vpn-999' not found", 'config', false],
    [[], 'vici initiate: no reply within 15000 ms', 'timeout', true],
    [[], "vici initiate failed: CHILD_SA 'a' not established after 10000ms", 'timeout', true],
    [['retransmit 1 of request with message ID 2', 'received DELETE for IKE_SA ikev2-vpn[3]'], 'failed', 'peer-delete', false],
    [['something else entirely'], 'vici initiate failed: establishing CHILD_SA failed', 'other', false],
  ];
  for (const [log, err, cls, ikeLevel] of CASES) {
    it(`${cls}${ikeLevel ? ' (IKE)' : ''}: ${log.at(-1) ?? err}`, () => {
      const r = classifyFailure(log, err);
      assert.deepEqual([r.class, r.ikeLevel], [cls, ikeLevel]);
    });
  }
});

describe('the one retry policy', () => {
  it('grows exponentially to the cap with equal jitter in [0.5, 1]', () => {
    const p = { baseMs: 1000, capMs: 8000 };
    assert.equal(backoffDelay(0, p), 0);
    assert.equal(backoffDelay(1, p, () => 1), 1000);
    assert.equal(backoffDelay(3, p, () => 1), 4000);
    assert.equal(backoffDelay(10, p, () => 1), 8000);
    assert.equal(backoffDelay(10, p, () => 0), 4000);
  });
  it('counts failures per key until forgotten', () => {
    const l = new FailureRateLimiter({ baseMs: 100, capMs: 1000 }, () => 1);
    assert.deepEqual([l.when('a'), l.when('a'), l.when('b'), l.failures('a')], [100, 200, 100, 2]);
    l.forget('a');
    assert.equal(l.when('a'), 100);
  });
});

describe('classify', () => {
  const r = (success: boolean, errorCode?: ProbeResult['errorCode'], kind: 'tcp' | 'icmp' = 'tcp'): ProbeResult => ({ kind, target: 't', success, durationMs: 1, phases: {}, ...(errorCode ? { errorCode } : {}) });
  it('tells a dead tunnel from a dead service', () => {
    assert.equal(classify([r(true), r(true, undefined, 'icmp')]), 'healthy');
    assert.equal(classify([r(false, 'timeout'), r(false, 'timeout', 'icmp')]), 'failing');
    assert.equal(classify([r(false, 'refused')]), 'target-down');
    assert.equal(classify([r(false, 'timeout'), r(true, undefined, 'icmp')]), 'target-down');
    assert.equal(classify([]), 'unknown');
  });
});
