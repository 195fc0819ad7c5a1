// Scenario 8: the agent never adds a second CHILD_SA when charon re-initiates by itself, and
// removes duplicates that exist anyway (keeping the newest), saying so.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { installedCount, labConfig, startAgent, watchLeft, type RunningAgent } from './agent-harness.js';
import { ViciClient } from '../../src/vici/index.js';

const T = 'ikev2-vpn-140';

/**
 * Waits until a probe round started after `notBefore` found `tunnel` healthy, its last reconcile having
 * found it up (a steady state: a healthy round that changes nothing is not followed by another read).
 */
async function steadyUp(agent: RunningAgent, tunnel: string, from: number, notBefore: number): Promise<void> {
  await agent.waitForLog((l) => l.tunnel === tunnel && l.msg === 'probe round' && l['health'] === 'healthy' && Date.parse(l.time) >= notBefore, { from, timeoutMs: 15_000, what: `${tunnel} probed healthy after ${new Date(notBefore).toISOString()}` });
  const last = agent.logs.findLast((l) => l.tunnel === tunnel && l.msg === 'reconcile');
  assert.equal(last?.['status'], 'up', `${tunnel}: the last reconcile found it up`);
}

describe('agent: duplicate CHILD_SAs', () => {
  const labs: Lab[] = [];
  const agents: RunningAgent[] = [];
  after(async () => {
    for (const a of agents) await a.stop();
    for (const l of labs) await l.close();
  });

  it('8a: charon restores a peer-deleted child itself (close_action=start): the agent waits and adds no duplicate', async () => {
    const lab = await startLab({ initiate: true, closeAction: 'start' });
    labs.push(lab);
    // With probes: each round also re-reads the tunnel, which is what "steady state" waits for.
    const agent = await startAgent(lab, labConfig(lab));
    agents.push(agent);
    const watch = await watchLeft(lab);
    try {
      const from = agent.logs.length;
      const evFrom = watch.events.length;
      await lab.peerDeleteChild(T);
      await watch.waitChild(T, false, { from: evFrom });
      const downAt = Date.now();
      await watch.waitChild(T, true, { from: evFrom });
      // Past the agent's grace period (1.5 s in labConfig) it has reconciled again and found it up.
      await steadyUp(agent, T, from, downAt + 1600);
      assert.equal(await installedCount(lab, T), 1);
      assert.deepEqual(agent.actions(from).filter((l) => l.tunnel === T).map((l) => l.action), [], 'charon restored it; the agent did nothing');
    } finally {
      await watch.close();
    }
  });

  it('8b: duplicates made behind the agent\'s back (both peers initiating at once) are terminated, the newest kept', async () => {
    const lab = labs[0]!;
    const agent = agents[0]!;
    // Take the tunnel out of the agent's hands while the duplicate is made.
    const cfg = labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c, enabled: c !== T, source: lab.leftInsideAddr, probes: [{ icmp: lab.targets.find((t) => t.child === c)!.host }] })) });
    let from = agent.logs.length;
    agent.writeConfig(cfg);
    agent.reload();
    await agent.waitForLog((l) => l.msg === 'configuration reloaded', { from });
    const right = new ViciClient({ uri: lab.right.viciUri, reconnect: false });
    const left = new ViciClient({ uri: lab.left.viciUri, reconnect: false });
    await Promise.all([right.connect(), left.connect()]);
    try {
      // charon refuses to initiate a CHILD_SA it already has, but a collision of both peers
      // initiating at once produces the classic duplicate (close_action on both sides does that).
      let made = false;
      for (let i = 0; i < 20 && !made; i++) {
        await left.terminate({ child: T, timeoutMs: 3000 }).catch(() => undefined);
        await Promise.allSettled([left.initiate({ child: T, timeoutMs: 3000 }), right.initiate({ child: T, timeoutMs: 3000 })]);
        made = (await installedCount(lab, T)) >= 2;
      }
      assert.ok(made, 'made a duplicate by a simultaneous initiate from both peers');
    } finally {
      await right.close();
      await left.close();
    }
    const ids = async () => {
      const sas = await lab.swanctl('left', ['--list-sas', '--raw', '--child', T]);
      return [...sas.matchAll(/name=ikev2-vpn-140 uniqueid=(\d+)/g)].map((m) => Number(m[1]));
    };
    const before = await ids();
    assert.ok(before.length >= 2, `ids ${before.join(',')}`);
    from = agent.logs.length;
    agent.writeConfig(labConfig(lab));
    agent.reload();
    const line = await agent.waitForLog((l) => l.tunnel === T && l.action === 'terminate-duplicate', { from, timeoutMs: 5000 });
    assert.equal(line.reason, 'duplicate');
    await waitFor(async () => (await installedCount(lab, T)) === 1, { timeoutMs: 5000, what: 'one CHILD_SA left' });
    const kept = await ids();
    assert.equal(kept.length, 1);
    assert.ok(agent.logs.slice(from).some((l) => /CHILD_SAs installed, terminating the older/.test(l.msg)), 'says so');
    assert.equal(kept[0], Math.max(...before), `kept the newest of ${before.join(",")}`);
  });

  it('8c: trap policies (start_action=trap) racing the agent converge on exactly one CHILD_SA', async () => {
    const lab = await startLab({ initiate: false, startAction: 'trap' });
    labs.push(lab);
    const agent = await startAgent(lab, labConfig(lab), 'agent-trap');
    agents.push(agent);
    const watch = await watchLeft(lab);
    try {
      await waitFor(async () => (await installedCount(lab, T)) === 1, { timeoutMs: 15_000, what: 'tunnel up' });
      for (let i = 0; i < 3; i++) {
        const from = agent.logs.length;
        const evFrom = watch.events.length;
        await lab.peerDeleteChild(T);
        await watch.waitChild(T, false, { from: evFrom });
        const downAt = Date.now();
        await watch.waitChild(T, true, { from: evFrom });
        await steadyUp(agent, T, from, downAt + 1100);
        assert.equal(await installedCount(lab, T), 1, `round ${i}: exactly one CHILD_SA at steady state`);
      }
    } finally {
      await watch.close();
    }
  });
});
