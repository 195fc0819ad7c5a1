// The operator's view of a running agent against real charons: `status` (text, -v, --json, names),
// /status on the metrics listener, the fallback to charon's own view, a misspelled CHILD_SA name,
// and a gateway whose one IKE_SA carries more CHILD_SAs than charon's 512 KiB message limit can list.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startLab, type Lab } from '../../lab/lab.js';
import { labConfig, startAgent, type RunningAgent } from './agent-harness.js';
import { inNetns, runCli, type CliRun } from '../../lab/cli-run.js';
import { run } from '../../lab/proc.js';
import { waitFor } from '../../lab/wait.js';

/** The built CLI (scripts/setup.sh builds it), as an operator runs it: no TypeScript compile on each call. */
const BUILT = [process.execPath, fileURLToPath(new URL('../../bin/ipsec-keepalive.js', import.meta.url))];
const METRICS = '127.0.0.1:9842';

interface Doc {
  view: string;
  counts: Record<string, number>;
  agent: { pid: number } | null;
  charon: { notes: string[] } | null;
  tunnels: Array<{ name: string; status: string; healthy: boolean | null; health: string | null; config_loaded: boolean | null; child_sas: Array<{ reqid: number; local_ts: string[]; remote_ts: string[] }>; probes: Array<{ ok: boolean }>; last_action: { kind: string; result: string } | null }>;
}

function cli(lab: Lab, args: string[]): Promise<CliRun> {
  return runCli(args, { prefix: inNetns(lab.left.ns), entry: BUILT });
}

async function timed(f: () => Promise<CliRun>): Promise<CliRun & { ms: number }> {
  const t0 = performance.now();
  const r = await f();
  return { ...r, ms: performance.now() - t0 };
}

/** GET /status from the agent's metrics listener, inside the lab's namespace. */
async function httpStatus(lab: Lab, path = '/status'): Promise<{ body: string; ms: number }> {
  const t0 = performance.now();
  const r = await run([...inNetns(lab.left.ns), 'curl', '-sf', '--max-time', '10', `http://${METRICS}${path}`]);
  return { body: r.stdout, ms: performance.now() - t0 };
}

describe('status from the running agent', () => {
  let lab: Lab;
  let agent: RunningAgent;

  before(async () => {
    lab = await startLab({ initiate: false });
    const tunnels = [
      ...lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }] })),
      // A misspelled CHILD_SA name whose probe target sits behind a sibling: the probe passes through
      // the sibling's SA, and must not make this tunnel healthy.
      { child: 'ikev2-vpn-999', source: lab.leftInsideAddr, probes: [{ tcp: `${lab.targets[0]!.host}:${lab.targets[0]!.port}` }] },
    ];
    agent = await startAgent(lab, labConfig(lab, { tunnels, metrics: { enabled: true, listen: METRICS } }), 'status-agent');
    for (const t of lab.targets) await agent.waitForLog((l) => l.tunnel === t.child && /repaired/.test(l.msg), { timeoutMs: 20_000, what: `${t.child} up` });
  });
  after(async () => {
    await agent?.stop();
    await lab?.close();
  });

  it('names the missing CHILD_SA config at start, and never calls that tunnel healthy although its probes pass', async () => {
    const named = await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-999' && /charon has no CHILD_SA config named "ikev2-vpn-999"/.test(l.msg));
    assert.equal(named.level, 40, 'a warning');
    await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-999' && /probes pass but do not count: charon has no CHILD_SA of the tunnel/.test(l.msg), { timeoutMs: 20_000 });
    assert.equal(agent.logs.some((l) => l.tunnel === 'ikev2-vpn-999' && /probes healthy/.test(l.msg)), false);
    const metrics = (await httpStatus(lab, '/metrics')).body;
    assert.match(metrics, /^ipsec_keepalive_tunnel_healthy\{tunnel="ikev2-vpn-999",[^}]*\} 0$/m);
    assert.match(metrics, /^ipsec_keepalive_tunnel_status\{tunnel="ikev2-vpn-999",[^}]*status="not-loaded"\} 1$/m);
    const r = await cli(lab, ['status', '-c', agent.configPath, 'ikev2-vpn-999']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^ikev2-vpn-999 +not-loaded +\S+ +- +- +1\/1 ok \S+ \(unproven\) +charon has no CHILD_SA config named "ikev2-vpn-999"/m);
  });

  it("status: the agent's view, one line per tunnel; NAME selects; -v adds the SAs and the probes", async () => {
    const all = await cli(lab, ['status', '-c', agent.configPath]);
    assert.equal(all.code, 1, 'ikev2-vpn-999 is not up');
    assert.match(all.stdout, /^agent view \(pid \d+, running \S+, .*status-agent\.yaml\); charon connected at unix:\/\/.*; 4 tunnels: 3 up, 1 not-loaded$/m);
    for (const t of lab.targets) assert.match(all.stdout, new RegExp(`^${t.child} +up +\\S+ +ikev2-vpn#\\d+ +#\\d+ reqid \\d+ +1/1 ok \\S+ms$`, 'm'));
    const one = await cli(lab, ['status', '-c', agent.configPath, 'ikev2-vpn-141', '-v']);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(one.stdout.split('\n').filter((l) => /^ikev2-vpn-\d+ /.test(l)).length, 1);
    assert.match(one.stdout, /^ {2}CHILD_SA ikev2-vpn-141 #\d+ reqid \d+ INSTALLED TUNNEL-in-UDP ESP SPIs [0-9a-f]{8}_i [0-9a-f]{8}_o$/m);
    assert.match(one.stdout, /^ {4}10\.1\.0\.1\/32 === 198\.51\.100\.141\/32$/m);
    assert.match(one.stdout, /^ {2}probe tcp 198\.51\.100\.141:9802 ok [\d.]+ ms/m);
    const typo = await cli(lab, ['status', '-c', agent.configPath, 'ikev2-vpn-1411']);
    assert.equal(typo.code, 64);
    assert.equal(typo.stderr.trim(), 'ipsec-keepalive status: no tunnel named "ikev2-vpn-1411" (did you mean "ikev2-vpn-141"?); `ipsec-keepalive status` lists them all');
  });

  it('status --json is the document /status serves, in snake_case', async () => {
    const r = await cli(lab, ['status', '-c', agent.configPath, '--json']);
    const doc = JSON.parse(r.stdout) as Doc;
    const served = JSON.parse((await httpStatus(lab)).body) as Doc;
    assert.equal(doc.view, 'agent');
    assert.deepEqual(doc.counts, { up: 3, 'not-loaded': 1 });
    assert.deepEqual(served.tunnels.map((t) => [t.name, t.status, t.healthy]), doc.tunnels.map((t) => [t.name, t.status, t.healthy]));
    assert.deepEqual(r.stdout.match(/"[a-z]+[A-Z]\w*":/g), null, 'no camelCase keys');
    const t140 = doc.tunnels.find((t) => t.name === 'ikev2-vpn-140')!;
    assert.deepEqual([t140.healthy, t140.health, t140.config_loaded, t140.child_sas[0]!.remote_ts], [true, 'healthy', true, ['198.51.100.140/32']]);
    assert.ok(!r.stdout.includes(lab.psk), 'no secret in status');
  });

  it('a repair shows as the last action, and with the agent stopped status reads charon and says so', async () => {
    const from = agent.logs.length;
    await lab.peerDeleteChild('ikev2-vpn-142');
    await agent.waitForLog((l) => l.tunnel === 'ikev2-vpn-142' && /repaired/.test(l.msg), { from, timeoutMs: 20_000 });
    const doc = JSON.parse((await cli(lab, ['status', '-c', agent.configPath, '--json', 'ikev2-vpn-142'])).stdout) as Doc;
    assert.deepEqual(doc.tunnels[0]!.last_action && [doc.tunnels[0]!.last_action.kind, doc.tunnels[0]!.last_action.result], ['initiate', 'ok']);
    await agent.stop();
    const r = await cli(lab, ['status', '-c', agent.configPath]);
    assert.match(r.stdout, /^charon view \(unix:\/\/.*\): no probes, backoff or repair history; 4 tunnels: 3 up, 1 not-loaded$/m);
    assert.match(r.stdout, /^note: no agent answers at .*status-agent\.status\.sock$/m);
  });
});

describe('status at scale: 1400 CHILD_SAs under one IKE_SA', () => {
  const N = 1400;
  let lab: Lab;
  let agent: RunningAgent | undefined;
  after(async () => {
    await agent?.stop();
    await lab?.close();
  });

  before(async () => {
    lab = await startLab({ children: [], scaleChildren: N, initiate: false });
    // Every CHILD_SA charon has loaded, each with its own /32 behind the peer; the agent brings them up.
    agent = await startAgent(lab, labConfig(lab, { discover: true, tunnels: [], metrics: { enabled: true, listen: METRICS } }), 'scale-agent');
    await waitFor(async () => (await lab.routedChildren('left')) >= N, { timeoutMs: 180_000, intervalMs: 1000, what: `${N} CHILD_SAs installed (routes in table 220)` });
    await waitFor(async () => (JSON.parse((await httpStatus(lab)).body) as Doc).counts['up'] === N, { timeoutMs: 60_000, intervalMs: 1000, what: `the agent to see all ${N} up` });
  });

  it("charon cannot list that IKE_SA whole: its full list-sas answer is over 512 KiB", async () => {
    const out = (await run(['swanctl', '--list-sas', '--raw', '--uri', lab.left.viciUri], { env: { ...process.env, STRONGSWAN_CONF: `${lab.dir}/swanctl-client.conf` } })).stdout;
    assert.equal(out.includes('scale-0001'), false, 'the dump is discarded: this is the case under test');
  });

  it(`status, status --json and /status report all ${N} up, each in under 2 s`, async () => {
    const served = await httpStatus(lab);
    const viaHttp = JSON.parse(served.body) as Doc;
    assert.equal(viaHttp.tunnels.length, N);
    assert.ok(viaHttp.tunnels.every((t) => t.status === 'up' && t.child_sas.length === 1), 'every tunnel up with one CHILD_SA');
    assert.ok(served.ms < 2000, `/status took ${Math.round(served.ms)} ms`);

    const text = await timed(() => cli(lab, ['status', '-c', agent!.configPath]));
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^agent view .*; ${N} tunnels: ${N} up$`, 'm'));
    assert.equal(text.stdout.split('\n').filter((l) => /^scale-\d{4} +up /.test(l)).length, N);
    assert.ok(text.ms < 2000, `status took ${Math.round(text.ms)} ms`);

    const json = await timed(() => cli(lab, ['status', '-c', agent!.configPath, '--json']));
    const doc = JSON.parse(json.stdout) as Doc;
    assert.equal(doc.tunnels.filter((t) => t.status === 'up').length, N);
    assert.ok(json.ms < 2000, `status --json took ${Math.round(json.ms)} ms`);
    console.log(`# ${N} CHILD_SAs: /status ${Math.round(served.ms)} ms, status ${Math.round(text.ms)} ms, status --json ${Math.round(json.ms)} ms`);
  });

  it("without the agent, status reads each CHILD_SA charon's full answer left out, and still reports all up", async () => {
    const charon = await timed(() => cli(lab, ['status', '-c', agent!.configPath, '--charon', '--json']));
    const doc = JSON.parse(charon.stdout) as Doc;
    assert.equal(doc.view, 'charon');
    assert.equal(doc.tunnels.filter((t) => t.status === 'up').length, N);
    assert.match(doc.charon!.notes.join('\n'), new RegExp(`^${N} tunnels were missing from charon's full list-sas`, 'm'));
    assert.ok(charon.ms < 5000, `status --charon took ${Math.round(charon.ms)} ms`);
    console.log(`# ${N} CHILD_SAs, charon's view: ${Math.round(charon.ms)} ms`);
  });
});
