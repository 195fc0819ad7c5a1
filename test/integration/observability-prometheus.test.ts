// End to end: the real agent (CLI process) on the lab's left gateway, a real Prometheus scraping it
// every second from inside the same network namespace, and a webhook receiver there too. A fault
// (the link to the peer cut, then restored) must show in Prometheus as tunnel_up 1 -> 0 -> 1 with the
// recovery counters up, and arrive as a down and a repaired alert.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { startLab, type Lab } from '../../lab/lab.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../lab/webhook-receiver.js';
import { waitFor } from '../../lab/wait.js';
import { labConfig, startAgent, type RunningAgent } from './agent-harness.js';

const T = 'ikev2-vpn-140';
const SEL = `{tunnel="${T}"}`;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Free TCP ports inside the namespace, all held at once so they differ. */
async function freePorts(lab: Lab, n: number): Promise<number[]> {
  const js = `const net=require('net');const s=[];let k=${n};for(let i=0;i<${n};i++){const x=net.createServer();s.push(x);x.listen(0,'127.0.0.1',()=>{if(--k===0){console.log(s.map(y=>y.address().port).join(' '));s.forEach(y=>y.close())}})}`;
  const r = await lab.exec('left', [process.execPath, '-e', js]);
  return r.stdout.trim().split(' ').map(Number);
}

/** Stops a process we started: SIGTERM, then SIGKILL if it does not go within the deadline. */
async function stopProc(p: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

describe('observability end to end: Prometheus scrapes the agent through a tunnel outage', () => {
  let lab: Lab;
  let agent: RunningAgent | undefined;
  let prometheus: ChildProcess | undefined;
  let receiver: WebhookReceiver | undefined;
  let tmp: string;
  let promPort: number;
  let metricsPort: number;
  let alertsFile: string;

  async function promQuery(q: string): Promise<Sample[]> {
    const r = await lab.exec('left', ['curl', '-sS', '--fail', '--max-time', '5', '--get', '--data-urlencode', `query=${q}`, `http://127.0.0.1:${promPort}/api/v1/query`]);
    const body = JSON.parse(r.stdout) as { status: string; data: { result: Sample[] } };
    assert.equal(body.status, 'success');
    return body.data.result;
  }

  /** The expression of one rule in contrib/prometheus/alert-rules.yml, the file the package ships. */
  function shippedAlertExpr(alert: string): string {
    const doc = parseYaml(readFileSync(new URL('../../contrib/prometheus/alert-rules.yml', import.meta.url), 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; expr: string }> }> };
    const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === alert);
    assert.ok(rule, `no rule ${alert}`);
    return rule.expr;
  }

  async function scalar(q: string): Promise<number | undefined> {
    const [s] = await promQuery(q);
    return s ? Number(s.value[1]) : undefined;
  }

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ik-prom-'));
    alertsFile = join(tmp, 'alerts.jsonl');
    lab = await startLab({ initiate: true });
    [metricsPort, promPort] = (await freePorts(lab, 2)) as [number, number];
    receiver = await startWebhookReceiver(lab, alertsFile);

    agent = await startAgent(
      lab,
      labConfig(lab, {
        tunnels: [{ child: T, source: lab.leftInsideAddr, probes: [{ tcp: '198.51.100.140:9802' }] }],
        defaults: { probe_interval: '2s', backoff_base: '500ms', backoff_cap: '2s', initiate_timeout: '2s' },
        metrics: { enabled: true, listen: `127.0.0.1:${metricsPort}` },
        alerts: { webhook: { url: receiver.url('/hook/e2e-secret-token') }, retries: 3 },
      }),
      'agent-prom',
    );

    const promConfig = join(tmp, 'prometheus.yml');
    writeFileSync(
      promConfig,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        'scrape_configs:',
        '  - job_name: ipsec-keepalive',
        `    static_configs: [{ targets: ["127.0.0.1:${metricsPort}"] }]`,
        '',
      ].join('\n'),
    );
    prometheus = lab.spawnIn('left', [
      '/usr/bin/prometheus',
      `--config.file=${promConfig}`,
      `--storage.tsdb.path=${join(tmp, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ]);
    await waitFor(async () => (await lab.exec('left', ['curl', '-sS', '--fail', '--max-time', '2', `http://127.0.0.1:${promPort}/-/ready`], { allowFail: true })).code === 0, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'Prometheus ready',
    });
  });

  after(async () => {
    await stopProc(prometheus);
    await agent?.stop();
    await receiver?.stop();
    await lab?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('tunnel_up goes 1 -> 0 -> 1 in Prometheus, recovery counters rise, alerts arrive', async (t) => {
    await waitFor(async () => (await scalar('up{job="ipsec-keepalive"}')) === 1, { timeoutMs: 20_000, intervalMs: 500, what: 'Prometheus scraping the agent' });
    await waitFor(async () => (await scalar(`ipsec_keepalive_tunnel_healthy${SEL}`)) === 1, { timeoutMs: 30_000, intervalMs: 500, what: 'tunnel healthy in Prometheus' });
    const actionsBefore = (await scalar(`sum(ipsec_keepalive_recovery_actions_total${SEL})`)) ?? NaN;
    const downsBefore = (await scalar(`ipsec_keepalive_tunnel_down_total${SEL}`)) ?? NaN;
    const recoveriesBefore = (await scalar(`ipsec_keepalive_tunnel_recovery_seconds_count${SEL}`)) ?? NaN;
    assert.ok(Number.isFinite(actionsBefore) && Number.isFinite(downsBefore) && Number.isFinite(recoveriesBefore), 'counters exist before the fault');

    const faultAt = Date.now();
    await lab.cutLink();
    try {
      await waitFor(async () => (await scalar(`ipsec_keepalive_tunnel_up${SEL}`)) === 0, { timeoutMs: 40_000, intervalMs: 500, what: 'tunnel_up 0 in Prometheus' });
    } finally {
      await lab.restoreLink();
    }
    await waitFor(async () => (await scalar(`ipsec_keepalive_tunnel_up${SEL}`)) === 1 && (await scalar(`ipsec_keepalive_tunnel_healthy${SEL}`)) === 1, {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: 'tunnel_up and tunnel_healthy back to 1 in Prometheus',
    });
    await waitFor(async () => ((await scalar(`ipsec_keepalive_tunnel_recovery_seconds_count${SEL}`)) ?? 0) > recoveriesBefore, {
      timeoutMs: 10_000,
      intervalMs: 500,
      what: 'a recovery observed in Prometheus',
    });

    // The stored samples since the fault: 1 before, then 0, then 1 again.
    const seconds = Math.ceil((Date.now() - faultAt) / 1000) + 5;
    const [range] = (await promQuery(`ipsec_keepalive_tunnel_up${SEL}[${seconds}s]`)) as unknown as Array<{ values: Array<[number, string]> }>;
    const values = (range?.values ?? []).map(([, v]) => v);
    const transitions = values.filter((v, i) => i === 0 || v !== values[i - 1]);
    t.diagnostic(`tunnel_up samples since the fault (1/s): ${values.join('')}`);
    assert.deepEqual(transitions.slice(-3), ['1', '0', '1'], `tunnel_up samples: ${values.join('')}`);

    const actionsAfter = (await scalar(`sum(ipsec_keepalive_recovery_actions_total${SEL})`)) ?? NaN;
    assert.ok(actionsAfter > actionsBefore, `recovery_actions_total ${actionsBefore} -> ${actionsAfter}`);
    assert.ok(((await scalar(`ipsec_keepalive_tunnel_down_total${SEL}`)) ?? NaN) > downsBefore, 'tunnel_down_total rose');
    assert.equal(await scalar(`ipsec_keepalive_probe_success${SEL}`), 1);
    assert.equal(await scalar('ipsec_keepalive_vici_up'), 1);
    // Counters never went backwards in between (Prometheus would count a reset).
    assert.equal(await scalar(`resets(ipsec_keepalive_tunnel_bytes_out_total${SEL}[${seconds}s])`), 0);
    assert.equal(await scalar(`resets(ipsec_keepalive_recovery_actions_total{tunnel="${T}",kind="restart-child"}[${seconds}s])`), 0);

    // The webhook got one down and one repaired for the outage.
    await waitFor(() => existsSync(alertsFile) && /tunnel-repaired/.test(readFileSync(alertsFile, 'utf8')), { timeoutMs: 15_000, what: 'the repaired alert' });
    const alerts = readFileSync(alertsFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { body: Record<string, unknown> }).body);
    t.diagnostic(`alerts: ${alerts.map((a) => a['message']).join(' | ')}`);
    t.diagnostic(`actions: ${agent!.actions().map((l) => `${l.action}/${l.reason}/${String(l['result'])}`).join(', ')}`);
    const mine = alerts.filter((a) => a['tunnel'] === T).map((a) => a['event']);
    assert.equal(mine.filter((e) => e === 'tunnel-down').length, 1, `alerts: ${mine.join(', ')}`);
    assert.equal(mine.filter((e) => e === 'tunnel-repaired').length, 1, `alerts: ${mine.join(', ')}`);
    assert.ok(mine.indexOf('tunnel-down') < mine.indexOf('tunnel-repaired'));
    assert.ok(!agent!.output().includes('e2e-secret-token'), 'the webhook token was logged');
  });

  it('charon stopped and started: vici_up 1 -> 0 -> 1, the reconnect counted, lost and restored alerts', async (t) => {
    await waitFor(async () => (await scalar(`ipsec_keepalive_tunnel_healthy${SEL}`)) === 1, { timeoutMs: 30_000, intervalMs: 500, what: 'tunnel healthy before the stop' });
    const reconnectsBefore = (await scalar('ipsec_keepalive_vici_reconnects_total')) ?? NaN;
    await lab.stopLocalCharon();
    try {
      await waitFor(async () => (await scalar('ipsec_keepalive_vici_up')) === 0, { timeoutMs: 20_000, intervalMs: 500, what: 'vici_up 0 in Prometheus' });
      // Unknown is not up: the tunnel reads down, its status vici-down.
      assert.equal(await scalar(`ipsec_keepalive_tunnel_up${SEL}`), 0);
      assert.equal(await scalar(`ipsec_keepalive_tunnel_status{tunnel="${T}",status="vici-down"}`), 1);
      assert.equal(await scalar('up{job="ipsec-keepalive"}'), 1);
      // Why: charon is stopped, so its socket is gone or refuses; exactly one reason is 1.
      await waitFor(async () => (await scalar('sum(ipsec_keepalive_vici_down_reason{reason=~"missing|refused"})')) === 1, { timeoutMs: 20_000, intervalMs: 500, what: 'vici_down_reason missing or refused in Prometheus' });
      assert.equal(await scalar('sum(ipsec_keepalive_vici_down_reason)'), 1);
      // The shipped alert's expression, as Prometheus evaluates it: one series, carrying that reason.
      const expr = shippedAlertExpr('IPsecKeepaliveViciDown');
      const firing = await promQuery(expr);
      assert.equal(firing.length, 1, `${expr}: ${JSON.stringify(firing)}`);
      assert.match(String(firing[0]!.metric['reason']), /^(missing|refused)$/);
    } finally {
      await lab.startLocalCharon();
    }
    await waitFor(async () => (await scalar('ipsec_keepalive_vici_up')) === 1 && ((await scalar('ipsec_keepalive_vici_reconnects_total')) ?? 0) > reconnectsBefore, {
      timeoutMs: 30_000,
      intervalMs: 500,
      what: 'vici_up 1 and a reconnect counted in Prometheus',
    });
    await waitFor(async () => (await scalar(`ipsec_keepalive_tunnel_healthy${SEL}`)) === 1, { timeoutMs: 40_000, intervalMs: 500, what: 'tunnel healthy after charon restarted' });
    await waitFor(() => /"vici-restored"/.test(readFileSync(alertsFile, 'utf8')), { timeoutMs: 15_000, what: 'the vici-restored alert' });
    const events = readFileSync(alertsFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { body: Record<string, unknown> }).body['event']);
    t.diagnostic(`alert events so far: ${events.join(', ')}`);
    assert.equal(events.filter((e) => e === 'vici-lost').length, 1);
    assert.equal(events.filter((e) => e === 'vici-restored').length, 1);
    assert.ok(events.lastIndexOf('vici-lost') < events.lastIndexOf('vici-restored'));
  });

  it("the agent's real /metrics output passes promtool check metrics", async () => {
    const r = await lab.exec('left', ['curl', '-sS', '--fail', '--max-time', '5', `http://127.0.0.1:${metricsPort}/metrics`]);
    const lint = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const p = spawn('/usr/bin/promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.once('error', reject);
      p.once('close', (code) => resolve({ code, out }));
      p.stdin.end(r.stdout);
    });
    assert.equal(lint.code, 0, lint.out);
    assert.equal(lint.out.trim(), '');
    assert.match(r.stdout, /^ipsec_keepalive_vici_up 1$/m);
    assert.match(r.stdout, /^ipsec_keepalive_vici_commands_total\{command="list-sas",result="ok"\} [1-9]/m);
  });
});
