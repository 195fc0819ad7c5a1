// Passive stale detection and probe proof against real charons: a tunnel that carries traffic and goes
// stale is caught from its own counters and repaired long before its next probe round; one-way
// traffic alone repairs nothing; a probe that leaves through a sibling's SA proves nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { startLab, type Lab } from '../../lab/lab.js';
import { labConfig, startAgent, type RunningAgent } from './agent-harness.js';
import { run } from '../../lab/proc.js';
import { waitFor } from '../../lab/wait.js';
import { inNetns, runCli } from '../../lab/cli-run.js';

/** The operators' probe interval: a stale tunnel found only by probes waits up to a minute. */
const INTERVAL = '60s';

/** A steady stream from the left's inside address through the tunnel: what a real tunnel carries. */
function traffic(lab: Lab, argv: string[]): ChildProcess {
  return lab.spawnIn('left', argv);
}

describe('passive stale detection', () => {
  let lab: Lab;
  let agent: RunningAgent;
  const streams: ChildProcess[] = [];

  before(async () => {
    lab = await startLab({ initiate: false });
    const tunnels = lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }] }));
    agent = await startAgent(lab, labConfig(lab, { tunnels, defaults: { probe_interval: INTERVAL }, metrics: { enabled: true, listen: '127.0.0.1:9842' } }), 'passive');
    for (const t of lab.targets) await agent.waitForLog((l) => l.tunnel === t.child && /repaired/.test(l.msg), { timeoutMs: 20_000, what: `${t.child} up` });
  });
  after(async () => {
    for (const s of streams) s.kill('SIGKILL');
    await agent?.stop();
    await lab?.close();
  });

  it('a stale CHILD_SA that carries traffic is repaired within 10 s at a 60 s probe interval', async () => {
    const [t140] = lab.targets;
    streams.push(traffic(lab, ['ping', '-q', '-i', '0.2', '-I', lab.leftInsideAddr, t140!.host]));
    // Wait until the stream shows in the agent's reading, then drop that one SA's ESP at the peer: the
    // IKE_SA and DPD stay fine, a new CHILD_SA (new SPIs) is the repair.
    await agent.waitForLog((l) => l.tunnel === t140!.child && l.msg === 'reconcile', { timeoutMs: 5000 });
    const from = agent.logs.length;
    const t0 = Date.now();
    await lab.blackholeEsp(await lab.spiOut(t140!.child));
    try {
      const suspect = await agent.waitForLog((l) => l.tunnel === t140!.child && /packets out and none in for .*; probing now/.test(l.msg), { from, timeoutMs: 10_000, what: 'the counters to make it suspect' });
      const repaired = await agent.waitForLog((l) => l.tunnel === t140!.child && /repaired after/.test(l.msg), { from, timeoutMs: 15_000, what: 'the repair' });
      const action = agent.actions(from).find((l) => l.tunnel === t140!.child && l.result === 'ok');
      assert.equal(action?.action, 'restart-child', 'a new CHILD_SA, found by the probe the counters asked for');
      const ms = Date.parse(repaired.time) - t0;
      console.log(`# suspect after ${Date.parse(suspect.time) - t0} ms, repaired after ${ms} ms (probe interval ${INTERVAL})`);
      assert.ok(ms <= 10_000, `repaired ${ms} ms after the fault`);
      const metrics = (await run(['ip', 'netns', 'exec', lab.left.ns, 'curl', '-sf', 'http://127.0.0.1:9842/metrics'])).stdout;
      assert.match(metrics, new RegExp(`^ipsec_keepalive_tunnel_suspect_total\\{tunnel="${t140!.child}"\\} [1-9]`, 'm'));
    } finally {
      await lab.healEsp();
    }
  });

  it('a reload applies traffic_watch: switched off, then on again, the counters are read again', async () => {
    const [, , t142] = lab.targets as [unknown, unknown, (typeof lab.targets)[0]];
    const tunnels = lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }] }));
    const base = labConfig(lab, { tunnels, defaults: { probe_interval: INTERVAL }, metrics: { enabled: true, listen: '127.0.0.1:9842' } }) as Record<string, unknown>;
    for (const interval of ['0', '1s']) {
      const from = agent.logs.length;
      agent.writeConfig({ ...base, traffic_watch: { interval } });
      agent.reload();
      await agent.waitForLog((l) => l.msg === 'configuration reloaded', { from });
    }
    streams.push(traffic(lab, ['ping', '-q', '-i', '0.2', '-I', lab.leftInsideAddr, t142.host]));
    await agent.waitForLog((l) => l.tunnel === t142.child && l.msg === 'reconcile', { timeoutMs: 5000 });
    const from = agent.logs.length;
    await lab.blackholeEsp(await lab.spiOut(t142.child));
    try {
      await agent.waitForLog((l) => l.tunnel === t142.child && /packets out and none in for .*; probing now/.test(l.msg), { from, timeoutMs: 10_000, what: 'a suspicion: the counter timer runs again' });
      await agent.waitForLog((l) => l.tunnel === t142.child && /repaired after/.test(l.msg), { from, timeoutMs: 15_000 });
    } finally {
      await lab.healEsp();
    }
  });

  it('one-way traffic (nothing answers) makes the tunnel suspect, but the probe passes and nothing is repaired', async () => {
    const t141 = lab.targets[1]!;
    // The peer's firewall drops this stream silently: packets out, none in, the tunnel itself fine.
    await run(['ip', 'netns', 'exec', lab.right.ns, 'nft', '-f', '-'], {
      input: 'table inet ik_oneway {\n chain in {\n  type filter hook input priority 0; policy accept;\n  udp dport 9999 drop\n }\n}\n',
    });
    const from = agent.logs.length;
    streams.push(traffic(lab, [process.execPath, '-e', `const s = require('dgram').createSocket('udp4'); setInterval(() => s.send('backup', 9999, ${JSON.stringify(t141.host)}), 100);`]));
    await agent.waitForLog((l) => l.tunnel === t141.child && /packets out and none in .*; probing now/.test(l.msg), { from, timeoutMs: 15_000, what: 'the suspicion' });
    // The probe it asked for passes; a repair could only be decided by a reconcile after it, and that
    // one (there is one only when the round needs a read) decides nothing.
    const passed = await agent.waitForLog((l) => l.tunnel === t141.child && l.msg === 'probe round' && l['health'] === 'healthy', { from, timeoutMs: 10_000, what: 'the probe round' });
    if (passed['read'] === true) {
      const round = agent.logs.indexOf(passed);
      const decided = await agent.waitForLog((l) => l.tunnel === t141.child && l.msg === 'reconcile', { from: round + 1, timeoutMs: 10_000, what: 'the reconcile after the round' });
      assert.equal(decided['decision'], 'none');
    }
    assert.deepEqual(agent.actions(from).filter((l) => l.tunnel === t141.child).map((l) => l.action), [], 'no repair for one-way traffic');
    assert.equal(agent.logs.slice(from).some((l) => l.tunnel === t141.child && /down:/.test(l.msg)), false);
  });
});

describe('a probe proves only its own CHILD_SA', () => {
  let lab: Lab;
  let agent: RunningAgent;
  after(async () => {
    await agent?.stop();
    await lab?.close();
  });

  it("a probe whose target sits behind a sibling's SA does not make the tunnel healthy", async () => {
    lab = await startLab({ initiate: false });
    const [t140, t141] = lab.targets as [(typeof lab.targets)[0], (typeof lab.targets)[0]];
    // ikev2-vpn-141 probes 140's target: the packets take 140's CHILD_SA, 141's counters do not move.
    const tunnels = [
      { child: t140.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t140.host}:${t140.port}` }] },
      { child: t141.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t140.host}:${t140.port}` }] },
    ];
    agent = await startAgent(lab, labConfig(lab, { tunnels }), 'proof');
    const warn = await agent.waitForLog((l) => l.tunnel === t141.child && /probes pass but do not count: its CHILD_SA received nothing during the round: the probes went through another SA/.test(l.msg), { timeoutMs: 20_000 });
    assert.equal(warn.level, 40);
    await agent.waitForLog((l) => l.tunnel === t140.child && /repaired after/.test(l.msg), { timeoutMs: 10_000, what: 'its sibling, probed through its own SA, is healthy' });
    assert.equal(agent.logs.some((l) => l.tunnel === t140.child && /do not count/.test(l.msg)), false);
    // What status shows between rounds (a round's own verdict lasts until its reconcile judges it).
    const row = await waitFor(async () => {
      const doc = JSON.parse((await runCli(['status', '--json', '-c', agent.configPath], { prefix: inNetns(lab.left.ns) })).stdout) as { tunnels: Array<{ name: string; status: string; healthy: boolean; health: string }> };
      const r = doc.tunnels.find((t) => t.name === t141.child);
      return r?.health === 'unproven' && r;
    }, { timeoutMs: 10_000, what: 'status to show it unproven' });
    assert.deepEqual([row.status, row.healthy], ['up', false]);
  });
});
