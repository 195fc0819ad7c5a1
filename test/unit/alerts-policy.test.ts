// Which agent events become alerts: one per change of state.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AlertPolicy, CHARON_ALERT_WINDOW_MS, formatDuration } from '../../src/agent/observability/alerts/policy.js';
import type { Alert } from '../../src/agent/observability/alerts/types.js';
import { FakeAgent, labConfig } from './metrics-fake-agent.js';

const T0 = 1_700_000_000_000;

function setup(): { agent: FakeAgent; alerts: Alert[]; duplicates: string[]; advance(ms: number): void; policy: AlertPolicy } {
  let now = T0;
  const agent = new FakeAgent(labConfig()).start();
  const alerts: Alert[] = [];
  const duplicates: string[] = [];
  const policy = new AlertPolicy(agent, { alert: (a) => alerts.push(a), duplicate: (e) => duplicates.push(e) }, () => now);
  return { agent, alerts, duplicates, policy, advance: (ms) => (now += ms) };
}

const A = { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140' };

describe('alert policy', () => {
  it('an outage is one down and one repaired, however many events repeat it', () => {
    const { agent, alerts, duplicates } = setup();
    for (let i = 0; i < 25; i++) agent.emit('tunnel-down', { ...A, why: 'probes fail: tcp 198.51.100.140:9802: timeout', at: T0 + i * 1000 });
    agent.emit('tunnel-repaired', { ...A, downMs: 61_000, at: T0 + 61_000 });
    agent.emit('tunnel-repaired', { ...A, downMs: 61_000, at: T0 + 61_000 });
    assert.deepEqual(alerts.map((a) => a.event), ['tunnel-down', 'tunnel-repaired']);
    assert.equal(duplicates.length, 25);
    const [down, repaired] = alerts as [Alert, Alert];
    assert.equal(down.message, 'tunnel branch-a down: probes fail: tcp 198.51.100.140:9802: timeout');
    assert.equal(down.severity, 'critical');
    assert.deepEqual([down.tunnel, down.ike, down.child], ['branch-a', 'ikev2-vpn', 'ikev2-vpn-140']);
    assert.equal(repaired.message, 'tunnel branch-a repaired after 1 min 1 s down');
    assert.equal(repaired.downMs, 61_000);
    assert.equal(repaired.since, T0);
  });

  it('the next outage is announced again', () => {
    const { agent, alerts } = setup();
    agent.emit('tunnel-down', { ...A, why: 'x', at: T0 });
    agent.emit('tunnel-repaired', { ...A, downMs: 100, at: T0 + 100 });
    agent.emit('tunnel-down', { ...A, why: 'y', at: T0 + 200 });
    assert.deepEqual(alerts.map((a) => a.event), ['tunnel-down', 'tunnel-repaired', 'tunnel-down']);
  });

  it('IKE restart once per outage; backoff only once repairs fail, once per outage', () => {
    const { agent, alerts } = setup();
    agent.emit('tunnel-down', { ...A, why: 'probes fail', at: T0 });
    agent.emit('escalated', { ...A, to: 'restart-ike', failures: 0, nextAttemptInMs: 0 });
    agent.emit('action', { ...A, kind: 'restart-ike', reason: 'probe', result: 'ok', ms: 20 });
    // Every IKE restart is followed by a backoff: a routine one is not news.
    agent.emit('escalated', { ...A, to: 'backoff', failures: 1, nextAttemptInMs: 1000 });
    assert.deepEqual(alerts.map((a) => a.event), ['tunnel-down', 'escalated']);
    agent.emit('escalated', { ...A, to: 'restart-ike', failures: 1, nextAttemptInMs: 0 });
    agent.emit('action', { ...A, kind: 'restart-ike', reason: 'probe', result: 'error', ms: 5000, error: 'timeout' });
    agent.emit('escalated', { ...A, to: 'backoff', failures: 2, nextAttemptInMs: 2000 });
    agent.emit('escalated', { ...A, to: 'backoff', failures: 3, nextAttemptInMs: 4000 });
    assert.deepEqual(alerts.map((a) => a.event), ['tunnel-down', 'escalated', 'backoff']);
    assert.match(alerts[2]!.message, /^tunnel branch-a: 2 repairs failed; backing off, next attempt in 2\.0 s/);
    assert.equal(alerts[2]!.details?.['failures'], 2);
  });

  it('a failed initiate followed by a backoff is announced at the first failure', () => {
    const { agent, alerts } = setup();
    agent.emit('tunnel-down', { ...A, why: 'no CHILD_SA installed', at: T0 });
    agent.emit('action', { ...A, kind: 'initiate', reason: 'event', result: 'error', ms: 10_000, error: 'initiate timed out' });
    agent.emit('escalated', { ...A, to: 'backoff', failures: 1, nextAttemptInMs: 800 });
    assert.deepEqual(alerts.map((a) => a.event), ['tunnel-down', 'backoff']);
  });

  it('VICI lost and restored once each', () => {
    const { agent, alerts, duplicates } = setup();
    agent.emit('vici-lost', { error: 'connection closed', at: T0 });
    agent.emit('vici-lost', { error: 'ENOENT', at: T0 + 10 });
    agent.emit('vici-restored', { downMs: 4200, at: T0 + 4200 });
    agent.emit('vici-restored', { downMs: 4200, at: T0 + 4200 });
    assert.deepEqual(alerts.map((a) => a.event), ['vici-lost', 'vici-restored']);
    assert.deepEqual(duplicates, ['vici-lost', 'vici-restored']);
    assert.equal(alerts[1]!.message, 'VICI connection to charon restored after 4.2 s');
    assert.equal(alerts[1]!.since, T0);
  });

  it("charon's alerts are forwarded, one per type per minute", () => {
    const { agent, alerts, advance } = setup();
    const detail = { type: 'peer-auth-failed', 'ikev2-vpn': { name: 'ikev2-vpn', uniqueid: '3' } };
    for (let i = 0; i < 5; i++) agent.emit('charon-alert', { type: 'peer-auth-failed', detail });
    agent.emit('charon-alert', { type: 'retransmit-send-timeout', detail: { type: 'retransmit-send-timeout' } });
    advance(CHARON_ALERT_WINDOW_MS);
    agent.emit('charon-alert', { type: 'peer-auth-failed', detail });
    assert.deepEqual(alerts.map((a) => a.details?.['type']), ['peer-auth-failed', 'retransmit-send-timeout', 'peer-auth-failed']);
    assert.equal(alerts[0]!.message, 'charon alert: peer-auth-failed (IKE_SA ikev2-vpn)');
    assert.equal(alerts[0]!.ike, 'ikev2-vpn');
  });

  it('stops listening when closed', () => {
    const { agent, alerts, policy } = setup();
    policy.close();
    agent.emit('tunnel-down', { ...A, why: 'x', at: T0 });
    assert.equal(alerts.length, 0);
    assert.equal(agent.listenerCount('tunnel-down'), 0);
  });

  it('formats durations for people', () => {
    assert.equal(formatDuration(250), '250 ms');
    assert.equal(formatDuration(4200), '4.2 s');
    assert.equal(formatDuration(42_000), '42 s');
    assert.equal(formatDuration(125_000), '2 min 5 s');
    assert.equal(formatDuration(7_260_000), '2 h 1 min');
  });
});
