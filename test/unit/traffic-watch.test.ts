// Passive stale detection, sample by sample: a tunnel is suspect only when packets go out and none
// come in for a whole window; answers, idleness, a new CHILD_SA or the cooldown clear or hold it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { counterVerdict, hearingStep, newWatch, tunnelCounters, watchStep, type CounterSample, type Watch } from '../../src/agent/controller/traffic-watch.js';

const POLICY = { windowMs: 4000, minPackets: 3, cooldownMs: 30_000 };

/** Feeds [at s, packets in, packets out, child id] samples; returns when (s) it became suspect. */
function run(samples: Array<[number, number, number, number?]>, start: Watch = newWatch()): number[] {
  let w = start;
  const fired: number[] = [];
  for (const [at, pin, pout, id] of samples) {
    const s: CounterSample = { sas: String(id ?? 1), packetsIn: pin, packetsOut: pout, at: at * 1000 };
    const step = watchStep(w, s, POLICY);
    w = step.watch;
    if (step.suspect) fired.push(at);
  }
  return fired;
}

describe('watchStep', () => {
  const ROWS: Array<[string, Array<[number, number, number, number?]>, number[]]> = [
    ['traffic both ways: never', [[0, 10, 10], [2, 20, 20], [4, 30, 30], [6, 40, 40], [8, 50, 50]], []],
    ['idle: never (an idle tunnel costs nothing)', [[0, 10, 10], [2, 10, 10], [4, 10, 10], [6, 10, 10]], []],
    ['out rising, in flat for the window: suspect once the window is full', [[0, 10, 10], [2, 10, 15], [4, 10, 20], [6, 10, 25], [8, 10, 30]], [4]],
    ['in moves again within the window: the clock restarts', [[0, 10, 10], [2, 10, 15], [3, 11, 18], [5, 11, 22], [7, 11, 26]], [7]],
    ['fewer packets than the minimum: not yet', [[0, 10, 10], [2, 10, 11], [4, 10, 12], [6, 10, 13]], [6]],
    ['a new CHILD_SA (repair or rekey) starts over', [[0, 10, 10], [2, 10, 15], [4, 0, 3, 2], [6, 0, 8, 2], [8, 0, 12, 2]], [8]],
    ['sending pauses: the flat stretch continues only while packets go out', [[0, 10, 10], [2, 10, 15], [4, 10, 15], [6, 10, 20], [8, 10, 25]], [8]],
    ['counters going backwards (a new SA with the same id is impossible, a reset is not): start over', [[0, 10, 10], [2, 10, 15], [4, 0, 2], [6, 0, 6], [8, 0, 10]], [8]],
    ['after a suspicion, one-way traffic is not suspect again before the cooldown', [[0, 10, 10], [2, 10, 15], [4, 10, 20], [10, 10, 40], [20, 10, 60], [34, 10, 100], [40, 10, 120]], [4, 34]],
  ];
  for (const [what, samples, want] of ROWS) {
    it(what, () => assert.deepEqual(run(samples), want));
  }

  it('no CHILD_SA: forgets the reading, keeps the cooldown', () => {
    const w = watchStep({ last: { sas: '1', packetsIn: 1, packetsOut: 1, at: 0 }, flatSince: 0, outAtFlat: 1, quietUntil: 9000 }, undefined, POLICY).watch;
    assert.deepEqual(w, { quietUntil: 9000 });
  });

  it('sums a tunnel over its CHILD_SAs, and names the set', () => {
    const c = (childId: number, packetsIn: number, packetsOut: number) => ({ childId, packetsIn, packetsOut }) as Parameters<typeof tunnelCounters>[0][number];
    assert.deepEqual(tunnelCounters([c(7, 1, 2), c(3, 10, 20)], 5), { sas: '3,7', packetsIn: 11, packetsOut: 22, at: 5 });
    assert.equal(tunnelCounters([], 5), undefined);
  });

  it('says why', () => {
    let w = newWatch();
    let why: string | undefined;
    for (const [at, out] of [[0, 10], [2000, 14], [4500, 19]] as const) {
      const step = watchStep(w, { sas: '1', packetsIn: 5, packetsOut: out, at }, POLICY);
      w = step.watch;
      why = step.suspect ?? why;
    }
    assert.equal(why, '9 packets out and none in for 4.5 s');
  });
});

// When the peer was last heard on a connection: any CHILD_SA's packets-in moving between two readings.
describe('hearingStep', () => {
  const first = hearingStep(undefined, [{ id: 1, packetsIn: 10 }, { id: 2, packetsIn: 5 }], 1000);
  const ROWS: Array<[string, Array<{ id: number; packetsIn: number }>, number]> = [
    ['nothing moved: heard when first read', [{ id: 1, packetsIn: 10 }, { id: 2, packetsIn: 5 }], 1000],
    ['a sibling received: heard now', [{ id: 1, packetsIn: 10 }, { id: 2, packetsIn: 6 }], 3000],
    ['a new CHILD_SA (a rekey) that has received something: heard', [{ id: 1, packetsIn: 10 }, { id: 7, packetsIn: 50 }], 3000],
    ['a new CHILD_SA that has received nothing: not heard', [{ id: 1, packetsIn: 10 }, { id: 7, packetsIn: 0 }], 1000],
    ['a CHILD_SA gone: not heard', [{ id: 1, packetsIn: 10 }], 1000],
    ['no CHILD_SA at all: not heard', [], 1000],
  ];
  it('the first reading counts as heard (nothing known yet)', () => {
    assert.deepEqual([first.readAt, first.heardAt], [1000, 1000]);
  });
  for (const [what, children, heardAt] of ROWS) {
    it(what, () => {
      const h = hearingStep(first, children, 3000);
      assert.deepEqual([h.readAt, h.heardAt], [3000, heardAt]);
    });
  }
  it("charon's use-in dates the last packet to the second, also on the first reading", () => {
    const h = hearingStep(undefined, [{ id: 1, packetsIn: 10, useInSec: 7 }, { id: 2, packetsIn: 5, useInSec: 3 }], 10_000);
    assert.equal(h.heardAt, 7000);
    const later = hearingStep(h, [{ id: 1, packetsIn: 10, useInSec: 9 }, { id: 2, packetsIn: 5, useInSec: 5 }], 12_000);
    assert.equal(later.heardAt, 7000, 'nothing since');
    assert.equal(hearingStep(later, [{ id: 1, packetsIn: 11, useInSec: 0 }], 14_000).heardAt, 14_000);
  });
  it('silence carries on across readings, a packet ends it', () => {
    let h = hearingStep(first, [{ id: 1, packetsIn: 10 }], 3000);
    h = hearingStep(h, [{ id: 1, packetsIn: 10 }], 5000);
    assert.equal(h.heardAt, 1000);
    h = hearingStep(h, [{ id: 1, packetsIn: 11 }], 7000);
    assert.equal(h.heardAt, 7000);
  });
});

// A counter reading after the tunnel's last read: refresh that read, ask for a new one, or nothing.
describe('counterVerdict', () => {
  const ROWS: Array<[string, Parameters<typeof counterVerdict>[0], string]> = [
    ['the same CHILD_SAs: refresh', { lastSas: '1', sampleSas: '1', readAfterLast: true, answered: true }, 'refresh'],
    ['another set, no event said so: read', { lastSas: '1', sampleSas: '2', readAfterLast: true, answered: true }, 'read'],
    ['its CHILD_SA gone from an answer that came: read', { lastSas: '1', readAfterLast: true, answered: true }, 'read'],
    ['no IKE_SA in the answer (down, or over charon\'s 512 KiB limit): nothing', { lastSas: '1', readAfterLast: true, answered: false }, 'none'],
    ['the reading started before the last read: nothing', { lastSas: '1', sampleSas: '2', readAfterLast: false, answered: true }, 'none'],
  ];
  for (const [what, input, want] of ROWS) it(what, () => assert.equal(counterVerdict(input), want));
});
