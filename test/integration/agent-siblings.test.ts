// Three CHILD_SAs of one IKE_SA against real charons: the IKE_SA is the connection's, so a fault that takes
// them all is one episode with one escalation: at most one IKE_SA restart and one restart alert for the
// connection, however many siblings see their probes fail.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/lab.js';
import { tcpCheck } from '../../lab/net-check.js';
import { waitFor } from '../../lab/wait.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../lab/webhook-receiver.js';
import { installedCount, labConfig, startAgent, type RunningAgent } from './agent-harness.js';

/** How long the ESP blackhole lasts: long enough for a CHILD_SA restart and the escalation after it. */
const FAULT_MS = 10_000;
/**
 * A back-off (after an IKE_SA restart that did not help) that outlasts the rest of the 10 s fault: a
 * second restart within the fault would then be a sibling acting alone, not the connection's next step.
 */
const DEFAULTS = { backoff_base: '5s', backoff_cap: '10s', initiate_timeout: '2s' };

describe('controller: sibling CHILD_SAs of one IKE_SA are one connection', () => {
  let lab: Lab;
  let agent: RunningAgent;
  let receiver: WebhookReceiver;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ik-siblings-'));
    lab = await startLab({ initiate: true });
    receiver = await startWebhookReceiver(lab, join(tmp, 'alerts.jsonl'));
    agent = await startAgent(
      lab,
      labConfig(lab, { defaults: DEFAULTS, alerts: { webhook: { url: receiver.url() }, retries: 1 } }),
      'siblings',
    );
    await allHealthy(0);
  });

  after(async () => {
    await agent?.stop();
    await receiver?.stop();
    await lab?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function allHealthy(from: number, timeoutMs = 20_000): Promise<void> {
    await Promise.all(
      lab.children.map((c) => agent.waitForLog((l) => l.tunnel === c && l.msg === 'probe round' && l.health === 'healthy', { from, timeoutMs, what: `${c} healthy` })),
    );
  }

  /** Every tunnel's target answers through the tunnel, polled from the left's inside address. */
  async function allPass(timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    await Promise.all(
      lab.targets.map((t) =>
        waitFor(async () => (await tcpCheck(lab, 'left', t.host, t.port, { sourceAddr: lab.leftInsideAddr, timeoutMs: 300 })).ok, {
          timeoutMs,
          intervalMs: 50,
          what: `${t.child}'s target through the tunnel`,
        }),
      ),
    );
    return performance.now() - t0;
  }

  const escalations = (from: number) => receiver.received().slice(from).filter((a) => a.body['event'] === 'escalated');
  /** What the agent did and decided since `from`, for a failure's message. */
  const story = (from: number) =>
    agent.logs
      .slice(from)
      .filter((l) => typeof l.action === 'string' || / down|repaired|backing off|probing again|probes (failing|healthy)/.test(l.msg))
      .map((l) => `${l.time.slice(11)} ${l.msg}${l['why'] ? ` (${String(l['why'])})` : ''}`)
      .join('\n');

  it('ESP dropped for 10 s, then healed: at most one IKE_SA restart and one restart alert; all three pass traffic within 3 s of the heal', async () => {
    const from = agent.logs.length;
    const alertsFrom = receiver.received().length;
    await lab.blackholeEsp();
    const faultAt = performance.now();
    // The escalation the fault is meant to provoke: a CHILD_SA restart that does not help.
    await agent.waitForLog((l) => l.action === 'restart-child', { from, timeoutMs: FAULT_MS });
    // The fault lasts its time: that is the scenario, not a wait for the agent.
    await new Promise((r) => setTimeout(r, Math.max(0, FAULT_MS - (performance.now() - faultAt))));
    await lab.healEsp();
    const ms = await allPass(3000);
    // One more round each after the heal: a second restart decided late would show here.
    await allHealthy(agent.logs.length);
    await allHealthy(agent.logs.length);
    const restarts = agent.actions(from).filter((l) => l.action === 'restart-ike');
    assert.ok(restarts.length <= 1, `IKE_SA restarts: ${restarts.map((l) => `${String(l.tunnel)} ${String(l.result)}`).join(', ')}\n${story(from)}`);
    assert.ok(escalations(alertsFrom).length <= 1, `restart alerts: ${escalations(alertsFrom).map((a) => String(a.body['message'])).join(' | ')}\n${story(from)}`);
    assert.ok(ms < 3000, `traffic back ${ms.toFixed(0)} ms after the heal`);
  });

  it('a peer that loses its state: one IKE_SA restart for the connection, every sibling back', async () => {
    const from = agent.logs.length;
    const alertsFrom = receiver.received().length;
    await lab.peerKillAndRestart();
    await agent.waitForLog((l) => l.action === 'restart-ike', { from, timeoutMs: 20_000 });
    await allPass(10_000);
    await allHealthy(agent.logs.length);
    // One more round each: a second restart decided late would show here.
    await allHealthy(agent.logs.length);
    const restarts = agent.actions(from).filter((l) => l.action === 'restart-ike');
    assert.equal(restarts.length, 1, `IKE_SA restarts: ${restarts.map((l) => `${String(l.tunnel)} ${String(l.result)}`).join(', ')}\n${story(from)}`);
    assert.ok(escalations(alertsFrom).length <= 1, `restart alerts: ${escalations(alertsFrom).length}`);
  });

  it('an IKE_SA restart brings back the CHILD_SA of a sibling the agent leaves alone (enabled: false)', async () => {
    const off = lab.children[2]!;
    const cfg = labConfig(lab, {
      tunnels: lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }, { icmp: t.host }], ...(t.child === off ? { enabled: false } : {}) })),
      defaults: DEFAULTS,
      alerts: { webhook: { url: receiver.url() }, retries: 1 },
    });
    let from = agent.logs.length;
    agent.writeConfig(cfg);
    agent.reload();
    await agent.waitForLog((l) => l.msg === 'configuration reloaded', { from });
    assert.equal(await installedCount(lab, off), 1, 'the disabled tunnel is still up, left alone');
    from = agent.logs.length;
    await lab.blackholeEsp();
    await agent.waitForLog((l) => l.action === 'restart-ike', { from, timeoutMs: 30_000 });
    await lab.healEsp();
    await agent.waitForLog((l) => l.msg === `tunnel ${agent.actions(from).find((a) => a.action === 'restart-ike')!.tunnel}: bringing back CHILD_SA ${off}, which the IKE_SA restart took down`, { from, timeoutMs: 5000 });
    await waitFor(async () => (await installedCount(lab, off)) === 1, { timeoutMs: 5000, what: `${off} back after the IKE_SA restart` });
    assert.deepEqual(agent.actions(from).filter((l) => l.tunnel === off).map((l) => l.action), [], 'no action of its own: it is disabled');
  });
});
