// The one-shot commands against a real charon: status, check, doctor, their exit codes; and
// `run` with `discover: true` (every CHILD_SA charon has loaded, no tunnel list).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startLab, type Lab } from '../../lab/lab.js';
import { everyTunnelOnce, labConfig, startAgent, watchLeft } from './agent-harness.js';
import { inNetns, runCli, type CliRun } from '../../lab/cli-run.js';


/** Runs the CLI inside the lab's left namespace (where probes take the tunnel). */
function cli(lab: Lab, args: string[]): Promise<CliRun> {
  return runCli(args, { prefix: inNetns(lab.left.ns) });
}

describe('CLI against the lab', () => {
  let lab: Lab;
  let cfgPath: string;

  before(async () => {
    lab = await startLab({ initiate: true, hardened: true, frontEnd: 'ipsec.conf' });
    cfgPath = join(lab.dir, 'cli.yaml');
    // No agent runs: its status socket (in the lab) is absent, so `status` reads charon itself.
    writeFileSync(cfgPath, stringify({ ...labConfig(lab), status: { socket: join(lab.dir, 'none.sock') } }));
  });
  after(async () => {
    await lab?.close();
  });

  it("status with no agent running: charon's view, every tunnel up with its SAs; --json in snake_case; exit 0", async () => {
    const text = await cli(lab, ['status', '--config', cfgPath]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^charon view \(unix:\/\/.*\): no probes, backoff or repair history; 3 tunnels: 3 up$/m);
    assert.match(text.stdout, new RegExp(`^note: no agent answers at ${lab.dir}/none\\.sock$`, 'm'));
    for (const c of lab.children) assert.match(text.stdout, new RegExp(`^${c} +up +\\d+s +${lab.ikeName}#\\d+ +#\\d+ reqid \\d+$`, 'm'));
    const json = await cli(lab, ['status', '--config', cfgPath, '--json']);
    const doc = JSON.parse(json.stdout) as { view: string; tunnels: Array<{ name: string; status: string; child_sas: Array<{ spi_in: string }> }> };
    assert.equal(doc.view, 'charon');
    assert.deepEqual(doc.tunnels.map((r) => [r.name, r.status, r.child_sas.length]), lab.children.map((c) => [c, 'up', 1]));
    assert.match(doc.tunnels[0]!.child_sas[0]!.spi_in, /^[0-9a-f]{8}$/);
    assert.deepEqual(json.stdout.match(/"[a-z]+[A-Z]\w*":/g), null, 'no camelCase keys');
    assert.ok(!json.stdout.includes(lab.psk) && !text.stdout.includes(lab.psk), 'no secret in status output');
  });

  it('status without a config lists what charon has loaded; exit 1 when a tunnel is down', async () => {
    await lab.swanctl('left', ['--terminate', '--child', 'ikev2-vpn-142']);
    const r = await cli(lab, ['status', '--socket', lab.left.viciUri]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^ikev2-vpn-142 +down +- +${lab.ikeName}#\\d+ +- +no CHILD_SA installed$`, 'm'), 'its connection\'s IKE_SA is shown: only the CHILD_SA is missing');
    assert.match(r.stdout, /^ikev2-vpn-140 +up /m);
    const one = await cli(lab, ['status', '--socket', lab.left.viciUri, 'ikev2-vpn-140']);
    assert.equal(one.code, 0, 'only the named tunnel decides the exit code');
    await lab.swanctl('left', ['--initiate', '--child', 'ikev2-vpn-142']);
  });

  it('check: probes every target through the tunnel; exit 1 naming the failing target', async () => {
    const ok = await cli(lab, ['check', '--config', cfgPath]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').filter((l) => l.startsWith('ok  ')).length, lab.targets.length * 2);
    await lab.stopTarget();
    try {
      const bad = await cli(lab, ['check', '--config', cfgPath]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /^FAIL {2}ikev2-vpn-140 {2}tcp 198\.51\.100\.140:9802 .*ECONNREFUSED/m);
      assert.match(bad.stdout, /^ok {4}ikev2-vpn-140 {2}icmp 198\.51\.100\.140 /m);
    } finally {
      await lab.startTarget();
    }
  });

  it('doctor: reads the ipsec.conf connections over VICI and reports the hardening', async () => {
    const r = await cli(lab, ['doctor', '--config', cfgPath]);
    assert.match(r.stdout, new RegExp(`${lab.ikeName}/ikev2-vpn-140 {2}close_action: start: charon re-initiates after a peer DELETE`));
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    const json = await cli(lab, ['doctor', '--config', cfgPath, '--json']);
    assert.equal(json.code, r.code, 'the same exit code as the text');
    const doc = JSON.parse(json.stdout) as { findings: Array<Record<string, unknown>>; warnings: number };
    const closeAction = doc.findings.find((f) => f['child'] === 'ikev2-vpn-140' && f['key'] === 'close_action');
    assert.equal(closeAction?.['conn'], lab.ikeName);
    assert.match(String(closeAction?.['message']), /^start: charon re-initiates after a peer DELETE/);
    assert.equal(doc.warnings, doc.findings.filter((f) => f['severity'] === 'warn').length);
    assert.equal(doc.warnings > 0 ? 1 : 0, json.code);
  });

  it('exit codes: 69 when the socket cannot be reached, 78 for a bad config, 64 for usage', async () => {
    const missing = await cli(lab, ['status', '--socket', `unix://${lab.dir}/nope.vici`]);
    assert.equal(missing.code, 69);
    assert.match(missing.stderr, new RegExp(`nope\\.vici`));
    assert.equal(missing.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal(missing.stderr, `ipsec-keepalive: cannot connect to charon at unix://${lab.dir}/nope.vici: no socket there: charon is not running, or its VICI socket is elsewhere (set vici.socket or --socket)\n`);
    const badUri = await cli(lab, ['status', '--socket', 'http://x']);
    assert.equal(badUri.code, 64);
    assert.equal(badUri.stderr, 'ipsec-keepalive status: --socket "http://x": expected unix:///path or tcp://host:port, e.g. unix:///var/run/charon.vici\n');
    const runJson = await cli(lab, ['run', '--json', '--config', cfgPath]);
    assert.equal(runJson.code, 64);
    const validJson = await cli(lab, ['validate', '--json', '--config', cfgPath]);
    assert.equal(validJson.code, 0, validJson.stderr);
    assert.deepEqual(JSON.parse(validJson.stdout), { path: cfgPath, valid: true, tunnels: lab.children.length, discover: false });
    const badPath = join(lab.dir, 'bad.yaml');
    writeFileSync(badPath, 'tunnels:\n  - child: x\n    probes: [{ tcp: "1.2.3.4" }]\n');
    const bad = await cli(lab, ['run', '--config', badPath]);
    assert.equal(bad.code, 78);
    assert.equal(bad.stderr.trim(), `ipsec-keepalive: ${badPath}: tunnels[0].probes[0].tcp: expected host:port with a port 1-65535, got "1.2.3.4"`);
    const usage = await cli(lab, ['frobnicate']);
    assert.equal(usage.code, 64);
    const version = await cli(lab, ['status', '--version']);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const help = await cli(lab, ['check', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: ipsec-keepalive check/);
  });
});

describe('run with discover: true', () => {
  let lab: Lab;
  after(async () => {
    await lab?.close();
  });

  it('manages every CHILD_SA charon has loaded, including ones not in the file', async () => {
    lab = await startLab({ initiate: false });
    const agent = await startAgent(lab, labConfig(lab, { discover: true, tunnels: [] }), 'discover');
    const watch = await watchLeft(lab);
    try {
      await everyTunnelOnce(lab, 'every loaded child initiated');
      const from = watch.events.length;
      await lab.peerDeleteChild('ikev2-vpn-142');
      const down = await watch.waitChild('ikev2-vpn-142', false, { from });
      const up = await watch.waitChild('ikev2-vpn-142', true, { from });
      assert.ok(up.at - down.at < 1000, `back after ${(up.at - down.at).toFixed(1)} ms`);
    } finally {
      await watch.close();
      await agent.stop();
    }
  });
});
