// Scenario 8: the agent never adds a second CHILD_SA when charon re-initiates by itself, and
// removes duplicates that exist anyway (keeping the newest), saying so.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../lab/lab.js';
import { waitFor } from '../lab/wait.js';
import { installedCount, labConfig, startAgent, watchLeft, type RunningAgent } from './agent-harness.js';

const T = 'ikev2-vpn-140';

/** Waits until the agent has reconciled `tunnel` as up at a time later than `afterMs` (a steady state). */
async function steadyUp(agent: RunningAgent, tunnel: string, from: number, notBefore: number): Promise<void> {
  await agent.waitForLog((l) => l.tunnel === tunnel && l.msg === 'reconcile' && l['status'] === 'up' && Date.parse(l.time) >= notBefore, { from, timeoutMs: 15_000, what: `${tunnel} reconciled up after ${new Date(notBefore).toISOString()}` });
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
    const agent = await startAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }));
    agents.push(agent);
    const watch = await watchLeft(lab);
    try {
      const from = agent.logs.length;
      const evFrom = watch.events.length;
      await lab.peerDeleteChild(T);
      await watch.waitChild(T, true, { from: evFrom });
      const downLine = await agent.waitForLog((l) => l.tunnel === T && /down/.test(l.msg) && l['charonRecovers'] === true, { from });
      // Past the agent's grace period (1.5 s in labConfig) it reconciles once more and finds it up.
      await steadyUp(agent, T, from, Date.parse(downLine.time) + 1500);
      assert.equal(await installedCount(lab, T), 1);
      assert.deepEqual(agent.actions(from).filter((l) => l.tunnel === T).map((l) => l.action), []);
    } finally {
      await watch.close();
    }
  });

  it('8b: a duplicate made behind the agent\'s back is terminated, the newest kept', async () => {
    const lab = labs[0]!;
    const agent = agents[0]!;
    const before = await lab.swanctl('left', ['--list-sas', '--raw', '--child', T]);
    const oldId = /uniqueid=(\d+) reqid/.exec(before.slice(before.indexOf('child-sas')))?.[1];
    const from = agent.logs.length;
    await lab.swanctl('left', ['--initiate', '--child', T]);
    assert.equal(await installedCount(lab, T), 2, 'swanctl made a duplicate');
    const line = await agent.waitForLog((l) => l.tunnel === T && l.action === 'terminate-duplicate', { from, timeoutMs: 5000 });
    assert.equal(line.reason, 'duplicate');
    await waitFor(async () => (await installedCount(lab, T)) === 1, { timeoutMs: 5000, what: 'one CHILD_SA left' });
    const afterList = await lab.swanctl('left', ['--list-sas', '--raw', '--child', T]);
    assert.ok(oldId && !new RegExp(`uniqueid=${oldId} reqid`).test(afterList), 'the older CHILD_SA was the one terminated');
    assert.ok(agent.logs.slice(from).some((l) => /CHILD_SAs installed, terminating the older/.test(l.msg)), 'says so');
  });

  it('8c: trap policies (start_action=trap) racing the agent converge on exactly one CHILD_SA', async () => {
    const lab = await startLab({ initiate: false, startAction: 'trap' });
    labs.push(lab);
    const agent = await startAgent(lab, labConfig(lab), 'agent-trap');
    agents.push(agent);
    await waitFor(async () => (await installedCount(lab, T)) === 1, { timeoutMs: 15_000, what: 'tunnel up' });
    for (let i = 0; i < 3; i++) {
      const from = agent.logs.length;
      await lab.peerDeleteChild(T);
      await agent.waitForLog((l) => l.tunnel === T && /down/.test(l.msg), { from });
      const t = Date.now();
      await steadyUp(agent, T, from, t + 1100);
      assert.equal(await installedCount(lab, T), 1, `round ${i}: exactly one CHILD_SA at steady state`);
    }
  });
});
