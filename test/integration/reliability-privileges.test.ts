// The agent as the dedicated, unprivileged user the systemd unit runs it as: access to charon's VICI
// socket through the socket's group, CAP_NET_RAW for ICMP and nothing else. On the lab, with setpriv:
// `status` works with the group and fails in one line naming the socket without it; `run` keeps
// retrying a socket it may not open (mode 000) and connects once it may; ICMP probes work with
// CAP_NET_RAW and, without it, say so without costing the tunnel anything. The metrics endpoint binds
// loopback by default and serves /, /metrics and /healthz only. The unprivileged runs use the installed
// package's tree (lab/product.ts), as systemd would run it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { labConfig, startAgent, watchLeft, childNamesOf, type RunningAgent, type Watcher } from './agent-harness.js';
import { startTappedAgent } from '../soak/agent-proc.js';
import { VICI_RECONNECT_CAP_MS } from '../soak/bounds.js';
import { runCli, type CliRun } from '../../lab/cli-run.js';
import { installedProduct, type InstalledProduct } from '../../lab/product.js';

const NOBODY = 65534;
/** A group no one else uses, standing for the socket's group (ipsec-vici in the README). */
const VICI_GID = 64_321;
const AS_AGENT_USER = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, `--groups=${VICI_GID}`];
const WITH_NET_RAW = ['--inh-caps=+net_raw', '--ambient-caps=+net_raw'];
const AS_STRANGER = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

/** The installed package's tree: the agent's user cannot read a checkout under /root. */
let product: InstalledProduct;

function cli(prefix: string[], args: string[]): Promise<CliRun> {
  return runCli(args, { prefix: [...prefix, '--'], entry: product.entry });
}

function statusOf(pid: number): { uid: string; capEff: string } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: /^Uid:\s+(\d+)/m.exec(s)![1]!, capEff: /^CapEff:\s+(\w+)/m.exec(s)![1]! };
}

describe('privileges: the agent as an unprivileged user', () => {
  let lab: Lab;
  let watch: Watcher;
  const agents: RunningAgent[] = [];

  before(async () => {
    product = await installedProduct();
    lab = await startLab({ initiate: true });
    watch = await watchLeft(lab);
    // The lab keeps its directories root-only; the agent's user may pass through to the socket (and
    // read the config files startAgent writes there), nothing more.
    chmodSync(lab.dir, 0o711);
    chmodSync(lab.left.dir, 0o711);
    chownSync(lab.left.viciPath, 0, VICI_GID);
    chmodSync(lab.left.viciPath, 0o660);
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await watch?.close();
    await lab?.close();
    product?.remove();
  });

  it("status as the agent's user: works through the socket's group", async () => {
    const r = await cli(AS_AGENT_USER, ['status', '--socket', lab.left.viciUri]);
    assert.equal(r.code, 0, r.stderr);
    for (const c of lab.children) assert.match(r.stdout, new RegExp(`^${c} +up `, 'm'));
    const json = await cli(AS_AGENT_USER, ['status', '--json', '--socket', lab.left.viciUri]);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { tunnels: unknown[] }).tunnels.length, lab.children.length);
    assert.ok(!json.stdout.includes(lab.psk) && !r.stdout.includes(lab.psk));
  });

  it('status without the group: exit 69, one line naming the socket', async () => {
    const r = await cli(AS_STRANGER, ['status', '--socket', lab.left.viciUri]);
    assert.equal(r.code, 69);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `ipsec-keepalive: cannot connect to charon at ${lab.left.viciUri}: permission denied: this user is not in the group of charon's socket (README, "Troubleshooting")\n`);
  });

  it('run as the agent user with CAP_NET_RAW only: TCP and ICMP probes pass through the tunnel, repairs work', async () => {
    const { running } = startTappedAgent(lab, labConfig(lab), 'priv', [...AS_AGENT_USER, ...WITH_NET_RAW, '--'], product.entry);
    const agent = await running;
    agents.push(agent);
    const st = statusOf(agent.proc.pid!);
    assert.equal(st.uid, String(NOBODY));
    assert.equal(st.capEff, '0000000000002000', 'CAP_NET_RAW and nothing else');
    for (const c of lab.children) await agent.waitForLog((l) => l.tunnel === c && l.msg === 'probe round' && l.health === 'healthy', { what: `${c} healthy (tcp + icmp)` });
    const from = watch.events.length;
    await lab.peerDeleteChild('ikev2-vpn-140');
    await waitFor(() => watch.events.slice(from).some((x) => x.e.up && childNamesOf(x.e).includes('ikev2-vpn-140')), { timeoutMs: 5000, what: 'repaired by the unprivileged agent' });
    assert.equal(await agent.stop(), 0);
  });

  it('without CAP_NET_RAW: ICMP probes say so in one line and cost the tunnel nothing; TCP probes still judge', async () => {
    const [a, b] = lab.children as [string, string];
    const host = (c: string) => lab.targets.find((t) => t.child === c)!.host;
    const cfg = labConfig(lab, {
      tunnels: [
        { child: a, source: lab.leftInsideAddr, probes: [{ icmp: host(a) }] },
        { child: b, source: lab.leftInsideAddr, probes: [{ tcp: `${host(b)}:9802` }] },
      ],
    });
    const { running } = startTappedAgent(lab, cfg, 'noraw', [...AS_AGENT_USER, '--'], product.entry);
    const agent = await running;
    agents.push(agent);
    assert.equal(statusOf(agent.proc.pid!).capEff, '0000000000000000');
    const from = watch.events.length;
    const line = await agent.waitForLog((l) => l.tunnel === a && l.msg === `tunnel ${a}: probes unknown`, { what: `${a}'s ICMP round reported` });
    const [res] = line['results'] as Array<{ ok: boolean; error: string }>;
    assert.equal(res!.ok, false);
    assert.match(res!.error, /^ICMP probes need CAP_NET_RAW: /);
    assert.ok(!res!.error.includes('\n'));
    await agent.waitForLog((l) => l.tunnel === b && l.msg === 'probe round' && l.health === 'healthy', { what: `${b} healthy over TCP` });
    // Two more rounds of the ICMP-only tunnel: still no action, nothing went down.
    await waitFor(() => agent.logs.filter((l) => l.tunnel === a && l.msg === `tunnel ${a}: probes unknown`).length >= 3, { timeoutMs: 10_000, what: 'three rounds' });
    assert.deepEqual(agent.actions().map((l) => `${l.tunnel} ${l.action}`), []);
    assert.deepEqual(watch.events.slice(from).filter((x) => !x.e.up), []);
    assert.equal(await agent.stop(), 0);
  });

  it('socket mode 000: one line naming the socket, the agent keeps retrying and connects once it may', async () => {
    chmodSync(lab.left.viciPath, 0o000);
    const { tap, running } = startTappedAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }), 'mode000', [...AS_AGENT_USER, '--'], product.entry);
    try {
      const wait = await tap.waitFor((l) => /is not reachable/.test(l.msg), 'the waiting line');
      assert.equal(wait.msg, `charon's VICI socket ${lab.left.viciUri} is not reachable: permission denied: this user is not in the group of charon's socket (README, "Troubleshooting"); waiting for it`);
      assert.equal(wait.level, 40);
    } finally {
      chmodSync(lab.left.viciPath, 0o660);
    }
    const t0 = Date.now();
    const agent = await running;
    agents.push(agent);
    assert.ok(Date.now() - t0 < VICI_RECONNECT_CAP_MS + 3000, `connected ${Date.now() - t0} ms after the fix`);
    assert.equal(tap.lines().filter((l) => /is not reachable/.test(l.msg)).length, 1, 'said once, not per retry');
    assert.equal(await agent.stop(), 0);
  });

  it('metrics: by default on 127.0.0.1:9842 only, serving /, /metrics and /healthz and nothing else', async () => {
    const agent = await startAgent(lab, labConfig(lab, { metrics: { enabled: true } }), 'metrics');
    agents.push(agent);
    try {
      const listening = (await lab.exec('left', ['ss', '-ltnH'])).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]);
      assert.deepEqual(listening, ['127.0.0.1:9842'], 'one listener, on loopback');
      const curl = async (url: string, ...args: string[]) => (await lab.exec('left', ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', ...args, url], { allowFail: true })).stdout;
      assert.equal(await curl('http://127.0.0.1:9842/metrics'), '200');
      assert.equal(await curl('http://127.0.0.1:9842/healthz'), '200');
      assert.equal(await curl('http://127.0.0.1:9842/'), '200');
      for (const path of ['/metrics/', '/debug/pprof', '/api/v1/query', '/healthz/../metrics', '/%2e%2e/etc/passwd']) {
        assert.equal(await curl(`http://127.0.0.1:9842${path}`, '--path-as-is'), '404', path);
      }
      assert.equal(await curl('http://127.0.0.1:9842/metrics', '-X', 'POST'), '405');
      assert.equal(await curl('http://127.0.0.1:9842/metrics', '-X', 'DELETE'), '405');
      // From the gateway's own outside address: nothing listens there.
      assert.equal(await curl(`http://${lab.left.outerAddr}:9842/metrics`), '000');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
