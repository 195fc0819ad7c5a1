// The controller's judgement against real charon, in the situations an operator's week brings:
// repeated charon restarts never damp a repair that works; a repair loop is damped and says so;
// a wrong PSK costs the peer one IKE_SA attempt stream per connection (not one per CHILD_SA) and
// the log names the authentication failure; a CHILD_SA whose traffic selectors the peer refuses
// backs off alone while its siblings stay up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { everyTunnelOnce, installedCount, labConfig, startAgent, type LogLine, type RunningAgent } from './agent-harness.js';

/** Event-driven repairs must be back within this, however many came before. */
const EVENT_BOUND_MS = 1000;

const repairedFromEvent = (child: string) => (l: LogLine) => l.tunnel === child && l.action === 'initiate' && l.result === 'ok' && l.reason === 'event';

describe('controller: damping only what does not hold', () => {
  let lab: Lab;
  let agent: RunningAgent;

  before(async () => {
    lab = await startLab({ initiate: false });
    agent = await startAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }));
    await everyTunnelOnce(lab, 'all children up after agent start');
  });
  after(async () => {
    await agent?.stop();
    await lab?.close();
  });

  it('after 8 local charon restarts, a peer CHILD_SA delete is still repaired from the event within a second, every time', async () => {
    for (let round = 1; round <= 8; round++) {
      await lab.stopLocalCharon();
      await lab.startLocalCharon();
      await everyTunnelOnce(lab, `round ${round}: every tunnel back after the charon restart`);
      const from = agent.logs.length;
      const t0 = performance.now();
      await lab.peerDeleteChild('ikev2-vpn-141');
      await agent.waitForLog(repairedFromEvent('ikev2-vpn-141'), { from, timeoutMs: 10_000, what: `round ${round}: 141 re-initiated from the event` });
      const ms = performance.now() - t0;
      assert.ok(ms < EVENT_BOUND_MS, `round ${round}: back after ${ms.toFixed(0)} ms`);
      assert.equal(await installedCount(lab, 'ikev2-vpn-141'), 1, `round ${round}`);
    }
    assert.deepEqual(agent.logs.filter((l) => /damping/.test(String(l.msg))).map((l) => l.msg), [], 'nothing was damped');
  });

  it('a repair loop (the peer deletes every new CHILD_SA at once) is damped, and says so', async () => {
    const from = agent.logs.length;
    // The peer deletes each CHILD_SA the agent brings back, as soon as it sees it.
    for (let k = 0; k < 4; k++) {
      await waitFor(async () => (await installedCount(lab, 'ikev2-vpn-140')) === 1, { timeoutMs: 15_000, intervalMs: 20, what: `140 back (${k})` });
      await lab.peerDeleteChild('ikev2-vpn-140');
    }
    const damped = await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-140' && /repairs in a row were lost before they carried traffic; damping/.test(String(l.msg)), { from, timeoutMs: 15_000, what: 'the damping line' });
    assert.ok(Number(damped['delayMs']) > 0);
    // Damped, not abandoned: it comes back after the delay, and the siblings were never touched.
    await waitFor(async () => (await installedCount(lab, 'ikev2-vpn-140')) === 1, { timeoutMs: 30_000, what: '140 back after the damping delay' });
    assert.deepEqual(agent.actions(from).filter((l) => l.tunnel !== 'ikev2-vpn-140'), []);
  });
});

describe('controller: failures with charon\'s reasons, per IKE_SA and per CHILD_SA', () => {
  let lab: Lab;
  let agent: RunningAgent;

  before(async () => {
    lab = await startLab({ initiate: false });
  });
  after(async () => {
    await agent?.stop();
    await lab?.close();
  });

  it('a wrong PSK on the peer: one attempt stream for the connection (at most 10 IKE_SA_INIT in 90 s), and the log says authentication failed', async () => {
    // The peer's secret no longer matches ours; then the agent starts and brings the tunnels up.
    const conf = readFileSync(join(lab.right.dir, 'swanctl.conf'), 'utf8');
    const wrong = join(lab.right.dir, 'swanctl-wrong-psk.conf');
    writeFileSync(wrong, conf.replace(lab.psk, `${lab.psk}-wrong`), { mode: 0o600 });
    await lab.swanctl('right', ['--load-creds', '--clear', '--file', wrong]);
    const initsBefore = ikeSaInitsAtPeer(lab);
    // Production backoff (1 s doubling to 5 min): what an operator's agent would do.
    agent = await startAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })), defaults: { backoff_base: '1s', backoff_cap: '5m' } }), 'wrong-psk');
    const t0 = performance.now();
    const auth = await agent.waitForLog((l) => l.result === 'error' && l['failure'] === 'auth', { timeoutMs: 15_000, what: 'an initiate failure classified as auth' });
    assert.match(String(auth.msg), /initiate failed \(auth: .*AUTHENTICATION_FAILED/);
    // A measurement window, not a wait for something: the stream's attempts over 90 s are counted.
    await new Promise((r) => setTimeout(r, Math.max(0, 90_000 - (performance.now() - t0))));
    const inits = ikeSaInitsAtPeer(lab) - initsBefore;
    const initiates = agent.actions().filter((l) => l.action === 'initiate').length;
    assert.ok(inits <= 10, `${inits} IKE_SA_INIT reached the peer in 90 s (${initiates} initiates by the agent)`);
    assert.ok(inits >= 3, `the stream kept trying: ${inits} IKE_SA_INIT`);
    const shared = agent.logs.filter((l) => l['shared'] === true && /backing off/.test(String(l.msg)));
    assert.ok(shared.length > 0, 'the backoff is the IKE_SA\'s');
    assert.match(String(shared[0]!.msg), /^IKE_SA ikev2-vpn: backing off \d+ ms after 1 failed attempts \(auth: /);
    await agent.stop();
  });

  it('a CHILD_SA whose traffic selectors the peer refuses backs off alone; its siblings come up', async () => {
    // The right's own PSK back, and a child whose TS the right no longer accepts.
    await lab.swanctl('right', ['--load-creds', '--clear', '--file', join(lab.right.dir, 'swanctl.conf')]);
    const conf = readFileSync(join(lab.right.dir, 'swanctl.conf'), 'utf8');
    const narrowed = join(lab.right.dir, 'swanctl-ts.conf');
    writeFileSync(narrowed, conf.replace('local_ts = 198.51.100.142/32', 'local_ts = 198.51.100.199/32'), { mode: 0o600 });
    assert.notEqual(readFileSync(narrowed, 'utf8'), conf, 'the 142 child has its own local_ts line');
    await lab.swanctl('right', ['--load-conns', '--file', narrowed]);
    agent = await startAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }), 'ts');
    await waitFor(async () => (await installedCount(lab, 'ikev2-vpn-140')) === 1 && (await installedCount(lab, 'ikev2-vpn-141')) === 1, { timeoutMs: 20_000, what: '140 and 141 up' });
    const ts = await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-142' && l['failure'] === 'traffic-selectors', { timeoutMs: 15_000, what: "142's initiate failing with traffic-selectors" });
    assert.match(String(ts.msg), /TS_UNACCEPTABLE/);
    await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-142' && l['shared'] === false && /^tunnel ikev2-vpn-142: backing off/.test(String(l.msg)), { what: '142 backs off alone' });
    assert.deepEqual(agent.logs.filter((l) => l['shared'] === true).map((l) => l.msg), [], 'no IKE-level backoff');
    assert.equal(await installedCount(lab, 'ikev2-vpn-142'), 0);
  });
});

/** IKE_SA_INIT requests the peer's charon parsed so far (its log, IKE level 2). */
function ikeSaInitsAtPeer(lab: Lab): number {
  return readFileSync(lab.right.logPath, 'utf8').split('\n').filter((l) => /parsed IKE_SA_INIT request/.test(l)).length;
}
