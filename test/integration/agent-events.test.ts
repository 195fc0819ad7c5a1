// Event-driven repair against real charon: the agent re-initiates the moment a tunnel goes
// down, keeps away from charon's own shutdown, rekeys and reauthentication, and honours
// `enabled: false`. Scenarios 1, 2, 3 and 9 of the agent issue.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { everyTunnelOnce, installedCount, labConfig, startAgent, watchLeft, type RunningAgent, type Watcher } from './agent-harness.js';

/** Event-driven repairs must be back "well under a second". */
const EVENT_BOUND_MS = 1000;

describe('agent: event-driven repair (swanctl front end)', () => {
  let lab: Lab;
  let agent: RunningAgent;
  let watch: Watcher;

  before(async () => {
    lab = await startLab({ initiate: false });
    // No probes here: these scenarios are about events; probes have their own file.
    agent = await startAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }));
    watch = await watchLeft(lab);
    // Start-up: the agent initiates every configured tunnel by itself (no start_action).
    await everyTunnelOnce(lab, 'all children up after agent start');
  });

  after(async () => {
    await watch?.close();
    await agent?.stop();
    await lab?.close();
  });

  async function allBack(): Promise<void> {
    await waitFor(async () => {
      const m = await lab.installedChildren('left');
      return lab.children.every((c) => m.get(c) === 1);
    }, { timeoutMs: 15_000, what: 'every child installed exactly once' });
  }

  it('1a: peer deletes a CHILD_SA: re-initiated from the event, well under a second', async () => {
    const from = watch.events.length;
    await lab.peerDeleteChild('ikev2-vpn-140');
    const down = await watch.waitChild('ikev2-vpn-140', false, { from });
    const up = await watch.waitChild('ikev2-vpn-140', true, { from });
    const ms = up.at - down.at;
    assert.ok(ms < EVENT_BOUND_MS, `back after ${ms.toFixed(1)} ms`);
    const action = await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-140' && l.action === 'initiate' && l.reason === 'event');
    assert.ok(action);
    await allBack();
  });

  it('1b: peer deletes the IKE_SA: every child re-initiated, well under a second', async () => {
    const from = watch.events.length;
    await lab.peerDeleteIke();
    const downs = await Promise.all(lab.children.map((c) => watch.waitChild(c, false, { from })));
    const ups = await Promise.all(lab.children.map((c) => watch.waitChild(c, true, { from })));
    const ms = Math.max(...ups.map((u) => u.at)) - Math.min(...downs.map((d) => d.at));
    assert.ok(ms < EVENT_BOUND_MS, `all back after ${ms.toFixed(1)} ms`);
    await allBack();
  });

  it('2: an operator terminates the tunnel locally: restored', async () => {
    const from = watch.events.length;
    await lab.swanctl('left', ['--terminate', '--child', 'ikev2-vpn-141']);
    const down = await watch.waitChild('ikev2-vpn-141', false, { from });
    const up = await watch.waitChild('ikev2-vpn-141', true, { from });
    assert.ok(up.at - down.at < EVENT_BOUND_MS, `back after ${(up.at - down.at).toFixed(1)} ms`);
    await allBack();
  });

  it('2b: ...unless the tunnel is disabled (SIGHUP reload), then it stays down; re-enabled, it returns', async () => {
    const cfg = labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c, enabled: c !== 'ikev2-vpn-142' })) });
    let from = agent.logs.length;
    agent.writeConfig(cfg);
    agent.reload();
    await agent.waitForLog((l) => l.msg === 'configuration reloaded', { from });
    from = agent.logs.length;
    await lab.swanctl('left', ['--terminate', '--child', 'ikev2-vpn-142']);
    // The agent does reconcile it (the event arrives) and decides to leave it alone.
    await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-142' && l.msg === 'reconcile' && l['status'] === 'disabled', { from, what: 'reconcile of the disabled tunnel' });
    assert.equal(await installedCount(lab, 'ikev2-vpn-142'), 0);
    assert.deepEqual(agent.actions(from).filter((l) => l.tunnel === 'ikev2-vpn-142'), []);
    agent.writeConfig(labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }));
    agent.reload();
    await allBack();
  });

  it('9: rekeys and IKE reauthentication are not outages', async () => {
    const from = agent.logs.length;
    const ikeIdBefore = async () => (await watch.vici.listSas({ ike: lab.ikeName }))[0]?.uniqueid;
    const idBefore = await ikeIdBefore();
    const rekeys: string[] = [];
    const off = await watch.vici.onChildRekey((e) => rekeys.push(e.child));
    try {
      await lab.swanctl('left', ['--rekey', '--child', 'ikev2-vpn-140']);
      await waitFor(() => rekeys.includes('ikev2-vpn-140'), { what: 'child-rekey event' });
      // swanctl's rekey returns once charon queued it: a reauth asked for while the IKE_SA is still
      // rekeying finds no ESTABLISHED IKE_SA to act on. Each waits for the new IKE_SA to carry every child.
      const replaced = (notId: string | undefined, what: string) =>
        waitFor(async () => {
          const sas = await watch.vici.listSas({ ike: lab.ikeName });
          const children = Object.values(sas[0]?.['child-sas'] ?? {}).filter((c) => c.state === 'INSTALLED');
          return sas.length === 1 && sas[0]!.state === 'ESTABLISHED' && sas[0]!.uniqueid !== notId && children.length === lab.children.length && sas[0]!.uniqueid;
        }, { timeoutMs: 15_000, what });
      await lab.swanctl('left', ['--rekey', '--ike', lab.ikeName]);
      const rekeyed = await replaced(idBefore, 'rekeyed IKE_SA with every child');
      // Reauthentication (break-before-make on 5.9.8) replaces the IKE_SA again.
      await lab.swanctl('left', ['--rekey', '--ike', lab.ikeName, '--reauth']);
      await replaced(rekeyed, 'reauthenticated IKE_SA with every child');
    } finally {
      await off();
    }
    // The agent has looked at every tunnel after the reauth: a reconcile reported up for each.
    const after = agent.logs.length;
    await allBack();
    await Promise.all(lab.children.map((c) => agent.waitForLog((l) => l.tunnel === c && l.msg === 'reconcile' && l['status'] === 'up', { from: Math.min(after, from) })));
    const acted = agent.actions(from).filter((l) => l.action === 'initiate' || l.action === 'terminate-duplicate');
    assert.deepEqual(acted.map((l) => `${l.tunnel} ${l.action}`), [], 'no repair during rekey/reauth');
    assert.deepEqual(agent.logs.slice(from).filter((l) => / down: /.test(l.msg)).map((l) => l.msg), [], 'no outage reported');
  });

  it('3: charon restarts: reconnect, resync without start_action, no action on its shutdown down-events', async () => {
    const from = agent.logs.length;
    await lab.stopLocalCharon();
    await agent.waitForLog((l) => /VICI connection lost/.test(l.msg), { from });
    const lostAt = agent.logs.length;
    // Nothing may have been initiated between the shutdown and the loss of the socket.
    assert.deepEqual(agent.actions(from).map((l) => `${l.tunnel} ${l.action}`), [], 'no action on shutdown down-events');
    const t0 = performance.now();
    await lab.startLocalCharon();
    await agent.waitForLog((l) => /VICI connection restored/.test(l.msg), { from: lostAt });
    await allBack();
    const ms = performance.now() - t0;
    assert.ok(ms < 10_000, `all back ${ms.toFixed(0)} ms after charon started`);
    const resynced = agent.actions(lostAt).filter((l) => l.action === 'initiate' && l['result'] === 'ok');
    // At least one per tunnel (a loaded machine may see a tunnel drop again and be re-initiated);
    // allBack() above already proved exactly one CHILD_SA per tunnel in the end.
    assert.ok(resynced.length >= lab.children.length, `${resynced.length} initiates after resync`);
    assert.deepEqual([...new Set(resynced.map((l) => l.tunnel))].sort(), [...lab.children].sort(), 'every tunnel initiated after resync');
    assert.ok(resynced.every((l) => l.reason === 'resync' || l.reason === 'retry'));
  });
});
