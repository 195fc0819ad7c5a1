import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decide, newRuntime, DUPLICATE_CONFIRM_MS, type TunnelRuntime } from '../../src/agent/decide.js';
import { observeTunnel, pickDuplicates } from '../../src/agent/observe.js';
import { backoffDelay } from '../../src/agent/backoff.js';
import { classify } from '../../src/agent/health.js';
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

function rt(over: Partial<TunnelRuntime> = {}): TunnelRuntime {
  return { ...newRuntime(), ...over };
}

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

  it('keeps the newest duplicate', () => {
    const obs = observeTunnel([ike('gw', 1, [child('a', 5, 'INSTALLED', 30), child('a', 9, 'INSTALLED', 2)]), ike('gw', 2, [child('a', 12, 'INSTALLED', 2)])], 'a');
    const d = pickDuplicates(obs.installed);
    assert.equal(d?.keep.childId, 12);
    assert.deepEqual(d?.extras.map((e) => e.childId), [9, 5]);
  });
});

describe('decide', () => {
  const up = observeTunnel([ike('gw', 1, [child('a', 1)])], 'a');
  const down = observeTunnel([], 'a');

  it('initiates a down tunnel at once', () => {
    assert.equal(decide({ enabled: true, obs: down, rt: rt(), now: NOW }).kind, 'initiate');
  });
  it('leaves a disabled tunnel alone', () => {
    assert.equal(decide({ enabled: false, obs: down, rt: rt(), now: NOW }).kind, 'none');
  });
  it('waits while charon negotiates, while its own recovery has grace, and during backoff', () => {
    const busy = { ...down, charonBusy: true };
    assert.equal(decide({ enabled: true, obs: busy, rt: rt(), now: NOW }).status, 'connecting');
    const g = decide({ enabled: true, obs: down, rt: rt({ graceUntil: NOW + 700 }), now: NOW });
    assert.deepEqual([g.kind, g.status, g.kind === 'none' ? g.requeueAfterMs : -1], ['none', 'waiting-for-charon', 700]);
    const b = decide({ enabled: true, obs: down, rt: rt({ nextAttemptAt: NOW + 5000 }), now: NOW });
    assert.deepEqual([b.kind, b.status], ['none', 'backoff']);
  });
  it('escalates a stale tunnel: CHILD_SA, then IKE_SA, respecting backoff', () => {
    assert.equal(decide({ enabled: true, obs: up, rt: rt({ health: 'failing' }), now: NOW }).kind, 'restart-child');
    assert.equal(decide({ enabled: true, obs: up, rt: rt({ health: 'failing', escalation: 1 }), now: NOW }).kind, 'restart-ike');
    assert.equal(decide({ enabled: true, obs: up, rt: rt({ health: 'failing', escalation: 2, nextAttemptAt: NOW + 1 }), now: NOW }).kind, 'none');
  });
  it('never restarts a tunnel that passes traffic to a dead service', () => {
    const d = decide({ enabled: true, obs: up, rt: rt({ health: 'target-down' }), now: NOW });
    assert.deepEqual([d.kind, d.status], ['none', 'target-down']);
  });
  it('terminates duplicates only once they persist', () => {
    const dup = observeTunnel([ike('gw', 1, [child('a', 1, 'INSTALLED', 50), child('a', 2, 'INSTALLED', 1)])], 'a');
    assert.equal(decide({ enabled: true, obs: dup, rt: rt({ duplicateSeenAt: NOW }), now: NOW }).kind, 'none');
    const d = decide({ enabled: true, obs: dup, rt: rt({ duplicateSeenAt: NOW - DUPLICATE_CONFIRM_MS }), now: NOW });
    assert.equal(d.kind, 'terminate-duplicates');
    if (d.kind === 'terminate-duplicates') assert.deepEqual([d.keep.childId, d.extras.map((e) => e.childId)], [2, [1]]);
  });
});

describe('backoff', () => {
  it('grows exponentially to the cap with jitter in [0.5, 1]', () => {
    const p = { baseMs: 1000, capMs: 8000 };
    assert.equal(backoffDelay(0, p), 0);
    assert.equal(backoffDelay(1, p, () => 1), 1000);
    assert.equal(backoffDelay(3, p, () => 1), 4000);
    assert.equal(backoffDelay(10, p, () => 1), 8000);
    assert.equal(backoffDelay(10, p, () => 0), 4000);
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
