// Scenario 10: everything also for connections from a legacy ipsec.conf (starter + stroke
// backend), as the operators run it: conn names are CHILD_SA names, the IKE config is named
// after the first conn, and the hardened file has closeaction/dpdaction=restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { installedCount, labConfig, startAgent, watchLeft, type RunningAgent, type Watcher } from './agent-harness.js';

const T = 'ikev2-vpn-141';

for (const hardened of [false, true]) {
  describe(`agent on ipsec.conf (${hardened ? 'hardened: auto=start, closeaction=restart, dpdaction=restart' : 'plain auto=add'})`, () => {
    let lab: Lab;
    let agent: RunningAgent;
    let watch: Watcher;

    before(async () => {
      lab = await startLab({ frontEnd: 'ipsec.conf', hardened, initiate: !hardened });
      agent = await startAgent(lab, labConfig(lab));
      watch = await watchLeft(lab);
      await waitFor(async () => (await lab.installedChildren('left')).size === lab.children.length, { timeoutMs: 20_000, what: 'all children up' });
    });
    after(async () => {
      await watch?.close();
      await agent?.stop();
      await lab?.close();
    });

    it('knows the stroke naming: children by conn name under the first conn\'s IKE config', async () => {
      const line = await agent.waitForLog((l) => l.tunnel === T && l.msg === 'reconcile');
      assert.equal(line['status'], 'up');
      assert.ok(!agent.logs.some((l) => /has no CHILD_SA config named/.test(l.msg)), 'every child found in list-conns');
    });

    it('peer deletes a CHILD_SA: back well under a second, exactly one', async () => {
      const from = watch.events.length;
      await lab.peerDeleteChild(T);
      const down = await watch.waitChild(T, false, { from });
      const up = await watch.waitChild(T, true, { from });
      assert.ok(up.at - down.at < 1000, `back after ${(up.at - down.at).toFixed(1)} ms`);
      await waitFor(async () => (await installedCount(lab, T)) === 1, { timeoutMs: 5000, what: 'exactly one CHILD_SA' });
    });

    it('an operator terminates locally (close_action does not act on local deletes): the agent restores it', async () => {
      const from = watch.events.length;
      const logFrom = agent.logs.length;
      await lab.swanctl('left', ['--terminate', '--child', T]);
      const down = await watch.waitChild(T, false, { from });
      const up = await watch.waitChild(T, true, { from });
      assert.ok(up.at - down.at < 1000 + (hardened ? 1500 : 0), `back after ${(up.at - down.at).toFixed(1)} ms`);
      await agent.waitForLog((l) => l.tunnel === T && l.action === 'initiate' && l['result'] === 'ok', { from: logFrom, what: 'the agent initiated it' });
      await waitFor(async () => (await installedCount(lab, T)) === 1, { timeoutMs: 5000, what: 'exactly one CHILD_SA' });
    });

    it('stale tunnel (ESP blackholed): repaired after the fault clears, one CHILD_SA per child', async () => {
      const from = agent.logs.length;
      await lab.blackholeEsp();
      // The three tunnels share one IKE_SA: whichever fails its probes first restarts its CHILD_SA, then
      // the IKE_SA, which takes the others' CHILD_SAs along and starts their probe rounds over. The
      // connection escalates, not necessarily T itself (T may not even have failed a round yet).
      const first = await agent.waitForLog((l) => l.action === 'restart-child' && lab.children.includes(String(l.tunnel)), { from, timeoutMs: 15_000 });
      const healFrom = agent.logs.length;
      await lab.healEsp();
      await agent.waitForLog((l) => l.tunnel === first.tunnel && /repaired/.test(l.msg), { from, timeoutMs: 20_000, what: `${String(first.tunnel)} repaired` });
      await Promise.all(
        lab.children.map((c) => agent.waitForLog((l) => l.tunnel === c && l.msg === 'probe round' && l['health'] === 'healthy', { from: healFrom, timeoutMs: 20_000, what: `${c} healthy after the fault` })),
      );
      await waitFor(async () => {
        const m = await lab.installedChildren('left');
        return lab.children.every((c) => m.get(c) === 1);
      }, { timeoutMs: 15_000, what: 'one CHILD_SA per child' });
    });
  });
}
