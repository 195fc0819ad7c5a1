// charon's loaded configs as the agent's desired set, against real charons and in the order an operator's
// host has it: `discover: true` with nothing configured; charon restarted the way strongswan.service does
// it (the socket first, `swanctl --load-all` in ExecStartPost after it); a road-warrior responder loaded
// beside the site-to-site connection; a connection unloaded and loaded again with `swanctl --load-conns`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../lab/lab.js';
import { inNetns, runCli } from '../../lab/cli-run.js';
import { waitFor } from '../../lab/wait.js';
import { everyTunnelOnce, installedCount, labConfig, startAgent, watchLeft, type RunningAgent, type Watcher } from './agent-harness.js';

/** The config source's interval in this lab: a config loaded later must be kept within it. */
const REFRESH_MS = 2000;
/** How long strongswan.service's ExecStartPost is modelled to take after charon's socket appears. */
const LOAD_GAP_MS = 1000;

describe("agent: charon's loaded configs are the desired set (discover: true)", () => {
  let lab: Lab;
  let agent: RunningAgent;
  let watch: Watcher;

  before(async () => {
    lab = await startLab({ initiate: false });
    const cfg = { ...labConfig(lab, { discover: true, tunnels: [] }), vici: { socket: lab.left.viciUri, conns_refresh: `${REFRESH_MS}ms` } };
    agent = await startAgent(lab, cfg, 'discover');
    watch = await watchLeft(lab);
    await everyTunnelOnce(lab, 'every discovered tunnel brought up by the agent');
  });

  after(async () => {
    await watch?.close();
    await agent?.stop();
    await lab?.close();
  });

  /** Resolves once the agent has read list-conns `n` more times from log index `from` on. */
  const connReads = (from: number, n: number) =>
    waitFor(() => agent.logs.slice(from).filter((l) => l.msg === 'vici command' && l['cmd'] === 'list-conns').length >= n, {
      timeoutMs: REFRESH_MS * n + 5000,
      what: `${n} list-conns reads`,
    });

  it('charon restarted, its configs loaded a second after its socket: every CHILD_SA back within 2 s of the load', async () => {
    const from = agent.logs.length;
    await lab.stopLocalCharon();
    await lab.startLocalCharon({ load: false });
    const restored = await agent.waitForLog((l) => /VICI connection restored/.test(l.msg), { from, timeoutMs: 15_000 });
    // The agent resynced against an empty list-conns; charon's configs come with ExecStartPost, a moment later.
    const at = agent.logs.indexOf(restored);
    await connReads(at, 1);
    await new Promise((r) => setTimeout(r, LOAD_GAP_MS));
    assert.equal((await lab.installedChildren('left')).size, 0, 'nothing up before the configs are loaded');
    const t0 = performance.now();
    await lab.loadLocalConfig();
    await everyTunnelOnce(lab, 'every CHILD_SA back after the load', 5000);
    const ms = performance.now() - t0;
    assert.ok(ms < 2000, `back ${ms.toFixed(0)} ms after the load`);
    const lines = agent.logs.slice(from).map((l) => l.msg);
    assert.deepEqual(lines.filter((m) => /did not hold|damping|backing off/.test(m)), [], 'no damping or back-off for a restart');
    for (const c of lab.children) assert.ok(lines.includes(`tunnel ${c}: charon loaded its config; reconciling now`), `${c} reconciled when its config appeared`);
  });

  it('a responder loaded beside the site-to-site connection: listed once and in status, never initiated', async () => {
    const from = agent.logs.length;
    await lab.loadLocalConns({ responder: true });
    await agent.waitForLog((l) => l.msg === 'connection rw only answers (remote %any): a responder, not kept alive', { from, timeoutMs: REFRESH_MS + 5000 });
    // The negative holds across later reads of the config source.
    await connReads(agent.logs.length, 2);
    const mine = agent.logs.slice(from);
    assert.deepEqual(mine.filter((l) => l.tunnel === 'rw-net' || /rw-net/.test(l.msg)).map((l) => l.msg), [], 'nothing about rw-net but the responder line');
    assert.equal(mine.filter((l) => /only answers/.test(l.msg)).length, 1, 'said once');
    const r = await runCli(['status', '-c', agent.configPath, '--json'], { prefix: inNetns(lab.left.ns) });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { tunnels: Array<{ name: string }>; responders: Array<{ ike: string; children: string[]; remote_addrs: string[] }> };
    assert.deepEqual(doc.responders, [{ ike: 'rw', children: ['rw-net'], remote_addrs: ['%any'] }]);
    assert.deepEqual(doc.tunnels.map((t) => t.name).sort(), [...lab.children].sort());
    const text = await runCli(['status', '-c', agent.configPath], { prefix: inNetns(lab.left.ns) });
    assert.match(text.stdout, /^rw-net +responder .*connection rw only answers \(remote %any\): not kept alive$/m);
  });

  it('a connection unloaded is forgotten (its peer delete repairs nothing); loaded again, it is kept within the refresh interval', async () => {
    const c = lab.children[2]!;
    let from = agent.logs.length;
    await lab.loadLocalConns({ without: [c] });
    await agent.waitForLog((l) => l.msg === `tunnel ${c}: charon unloaded its config; forgotten`, { from, timeoutMs: REFRESH_MS + 8000 });
    // charon keeps the CHILD_SA it has; the peer deletes it and the agent, which no longer keeps it, does nothing.
    if ((await installedCount(lab, c)) > 0) {
      const ev = watch.events.length;
      await lab.peerDeleteChild(c);
      await watch.waitChild(c, false, { from: ev });
    }
    await connReads(agent.logs.length, 2);
    assert.deepEqual(agent.actions(from).filter((l) => l.tunnel === c).map((l) => l.action), [], 'no action for a tunnel charon unloaded');
    assert.equal(await installedCount(lab, c), 0);
    from = agent.logs.length;
    const t0 = performance.now();
    await lab.loadLocalConns({});
    await agent.waitForLog((l) => l.msg === `tunnel ${c}: charon loaded its config; reconciling now`, { from, timeoutMs: REFRESH_MS + 3000 });
    await waitFor(async () => (await installedCount(lab, c)) === 1, { timeoutMs: 5000, what: `${c} installed again` });
    const ms = performance.now() - t0;
    assert.ok(ms < REFRESH_MS + 1000, `kept ${ms.toFixed(0)} ms after the load (refresh every ${REFRESH_MS} ms)`);
  });
});
