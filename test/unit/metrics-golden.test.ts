// The whole /metrics output for a known agent state, against a committed copy
// (fixtures/metrics/golden.prom; UPDATE_GOLDEN=1 rewrites it), and promtool's lint of it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AgentMetrics } from '../../src/agent/observability/metrics/index.js';
import { startMetricsServer } from '../../src/agent/observability/metrics/server.js';
import { FakeAgent, FakeVici, child, labConfig, observation } from './metrics-fake-agent.js';
import { ViciConnectionError } from '../../src/vici/errors.js';

const GOLDEN = fileURLToPath(new URL('../../fixtures/metrics/golden.prom', import.meta.url));
const T0 = 1_700_000_000_000;

/** A fixed scene: one tunnel healthy, one down and backing off, one with a duplicate, one disabled. */
export function scene(): { agent: FakeAgent; vici: FakeVici; metrics: AgentMetrics; advance(ms: number): void } {
  let now = T0;
  const agent = new FakeAgent(labConfig()).start();
  const vici = new FakeVici();
  vici.reconnects = 1;
  const metrics = new AgentMetrics({ agent, vici, tunnels: agent.config.tunnels, version: '0.1.0', now: () => now });
  metrics.initAlertChannels(['webhook', 'email']);

  const a = agent.get('branch-a');
  a.runtime.status = 'up';
  a.runtime.health = 'healthy';
  a.obs = observation([child({ childId: 7, installAgeSec: 120, bytesIn: 1500, bytesOut: 2500, packetsIn: 10, packetsOut: 20 })]);
  agent.emit('reconcile', { tunnel: 'branch-a', result: 'ok', ms: 3.2, reasons: ['start'] });
  agent.emit('probe', 'branch-a', { kind: 'tcp', target: '198.51.100.140:9802', success: true, durationMs: 4.2, phases: { connect: 4 } });
  agent.emit('probe', 'branch-a', { kind: 'icmp', target: '198.51.100.140', success: true, durationMs: 0.8, phases: { rtt: 0.7 } });
  agent.emit('tunnel-down', { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140', why: 'no CHILD_SA installed', at: now - 5000 });
  agent.emit('action', { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140', kind: 'initiate', reason: 'event', result: 'ok', ms: 40 });
  agent.emit('tunnel-repaired', { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140', downMs: 850, at: now - 4150 });

  const b = agent.get('branch-b');
  b.conn = { ike: 'ikev2-vpn', initiable: true, remoteAddrs: ['192.0.2.2'], startAction: 'none' };
  b.runtime.status = 'backoff';
  b.runtime.nextAttemptAt = now + 4000;
  b.obs = observation([]);
  agent.emit('reconcile', { tunnel: 'branch-b', result: 'requeue', ms: 1.1, reasons: ['retry'] });
  agent.emit('tunnel-down', { tunnel: 'branch-b', ike: 'ikev2-vpn', child: 'ikev2-vpn-141', why: 'no CHILD_SA installed', at: now - 2000 });
  agent.emit('action', { tunnel: 'branch-b', ike: 'ikev2-vpn', child: 'ikev2-vpn-141', kind: 'initiate', reason: 'event', result: 'error', ms: 5000, error: 'timeout', failure: 'timeout' });
  agent.emit('probe', 'branch-b', { kind: 'tcp', target: '198.51.100.141:9802', success: false, durationMs: 1000, phases: {}, error: 'timeout after 1000 ms', errorCode: 'timeout' });

  const c = agent.get('branch-c');
  c.runtime.status = 'up';
  c.obs = observation([child({ childId: 11, installAgeSec: 30, bytesIn: 100 }), child({ childId: 12, installAgeSec: 2, bytesIn: 7 })]);
  agent.emit('reconcile', { tunnel: 'branch-c', result: 'ok', ms: 0.9, reasons: ['event'] });
  agent.emit('action', { tunnel: 'branch-c', ike: 'ikev2-vpn', child: 'ikev2-vpn-142', kind: 'terminate-duplicate', reason: 'duplicate', result: 'ok', ms: 12 });

  agent.get('legacy').runtime.status = 'disabled';

  for (const e of ['child-updown', 'child-updown', 'ike-updown']) metrics.recordViciEvent(e);
  metrics.recordViciCommand({ name: 'list-sas', ms: 2.5, result: 'ok' });
  metrics.recordViciCommand({ name: 'initiate', ms: 5000, result: 'timeout' });
  metrics.sent('webhook', 'tunnel-down');
  metrics.failed('email');
  metrics.dropped('email', 'retries-exhausted');
  return { agent, vici, metrics, advance: (ms) => (now += ms) };
}

/** Values that depend on the machine, not on the scene. */
function normalise(text: string): string {
  return text.replace(/nodejs="[^"]*"/, 'nodejs="<node>"');
}

function promtool(input: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
    p.stdin.end(input);
  });
}

describe('metrics: the whole /metrics output', () => {
  it('matches the golden copy', async () => {
    const { metrics } = scene();
    const text = normalise(await metrics.registry.metrics());
    if (process.env['UPDATE_GOLDEN']) writeFileSync(GOLDEN, text);
    assert.equal(text, readFileSync(GOLDEN, 'utf8'));
  });

  it('says what the scene says', async () => {
    const { metrics } = scene();
    const text = await metrics.registry.metrics();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      assert.ok(line, `no series ${series}`);
      return Number(line.slice(series.length + 1));
    };
    const a = 'tunnel="branch-a",ike="ikev2-vpn",child="ikev2-vpn-140"';
    const b = 'tunnel="branch-b",ike="ikev2-vpn",child="ikev2-vpn-141"';
    const c = 'tunnel="branch-c",ike="ikev2-vpn",child="ikev2-vpn-142"';
    const legacy = 'tunnel="legacy",ike="",child="old-child"';
    assert.equal(value('ipsec_keepalive_vici_up'), 1);
    assert.equal(value('ipsec_keepalive_vici_reconnects_total'), 1);
    assert.equal(value(`ipsec_keepalive_tunnel_up{${a}}`), 1);
    assert.equal(value(`ipsec_keepalive_tunnel_healthy{${a}}`), 1);
    // Down, and still there: a configured tunnel never disappears from the output.
    assert.equal(value(`ipsec_keepalive_tunnel_up{${b}}`), 0);
    assert.equal(value(`ipsec_keepalive_tunnel_configured{${legacy}}`), 1);
    assert.equal(value(`ipsec_keepalive_tunnel_enabled{${legacy}}`), 0);
    assert.equal(value(`ipsec_keepalive_tunnel_status{${b},status="backoff"}`), 1);
    assert.equal(value(`ipsec_keepalive_tunnel_status{${b},status="up"}`), 0);
    assert.equal(value(`ipsec_keepalive_tunnel_backoff_seconds{${b}}`), 4);
    assert.equal(value(`ipsec_keepalive_tunnel_child_sas{${c}}`), 2);
    assert.equal(value(`ipsec_keepalive_tunnel_child_sa_installed_timestamp_seconds{${a}}`), T0 / 1000 - 120);
    // The duplicate's newest SA gives the install time.
    assert.equal(value(`ipsec_keepalive_tunnel_child_sa_installed_timestamp_seconds{${c}}`), T0 / 1000 - 2);
    assert.equal(value(`ipsec_keepalive_tunnel_bytes_in_total{${a}}`), 1500);
    assert.equal(value(`ipsec_keepalive_tunnel_bytes_in_total{${c}}`), 107);
    assert.equal(value('ipsec_keepalive_recovery_actions_total{tunnel="branch-b",kind="initiate",reason="event"}'), 1);
    assert.equal(value('ipsec_keepalive_recovery_failures_total{tunnel="branch-b",kind="initiate",reason="timeout"}'), 1);
    assert.equal(value('ipsec_keepalive_tunnel_down_total{tunnel="branch-b"}'), 1);
    assert.equal(value('ipsec_keepalive_tunnel_recovery_seconds_sum{tunnel="branch-a"}'), 0.85);
    assert.equal(value('ipsec_keepalive_probe_success{tunnel="branch-b",kind="tcp",target="198.51.100.141:9802"}'), 0);
    assert.equal(value('ipsec_keepalive_probe_last_success_timestamp_seconds{tunnel="branch-a",kind="icmp",target="198.51.100.140"}'), T0 / 1000);
    assert.equal(value('ipsec_keepalive_vici_commands_total{command="initiate",result="timeout"}'), 1);
    assert.equal(value('ipsec_keepalive_reconcile_total{result="requeue"}'), 1);
    // No series of the disabled tunnel's probe: it is not probed.
    assert.ok(!text.includes('192.0.2.99'));
  });

  it('while VICI is down, no tunnel claims to be up and every status reads vici-down', async () => {
    const { metrics, vici } = scene();
    vici.connected = false;
    const text = await metrics.registry.metrics();
    assert.match(text, /^ipsec_keepalive_vici_up 0$/m);
    assert.doesNotMatch(text, /^ipsec_keepalive_tunnel_up\{.*\} 1$/m);
    assert.equal((text.match(/^ipsec_keepalive_tunnel_status\{.*status="vici-down"\} 1$/gm) ?? []).length, 4);
  });

  it('vici_down_reason: 1 for the current reason while down, all 0 while connected', async () => {
    const { metrics, vici } = scene();
    const reasons = async (): Promise<string> => {
      const text = await metrics.registry.metrics();
      return [...text.matchAll(/^ipsec_keepalive_vici_down_reason\{reason="([a-z]+)"\} (\d)$/gm)].map((m) => `${m[1]}=${m[2]}`).join(' ');
    };
    assert.equal(await reasons(), 'permission=0 missing=0 refused=0 other=0');
    vici.connected = false;
    assert.equal(await reasons(), 'permission=0 missing=0 refused=0 other=1', 'down before any attempt failed: other');
    const errno = (code: string): Error => new ViciConnectionError('unix:///run/test.vici', `cannot connect: ${code}`, { cause: Object.assign(new Error(code), { code }) });
    vici.lastError = errno('EACCES');
    assert.equal(await reasons(), 'permission=1 missing=0 refused=0 other=0');
    vici.lastError = errno('ENOENT');
    assert.equal(await reasons(), 'permission=0 missing=1 refused=0 other=0');
    vici.lastError = errno('ECONNREFUSED');
    assert.equal(await reasons(), 'permission=0 missing=0 refused=1 other=0');
    vici.connected = true;
    assert.equal(await reasons(), 'permission=0 missing=0 refused=0 other=0');
  });

  it('is clean under promtool check metrics, as served over HTTP', async () => {
    const { metrics } = scene();
    const server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, health: () => ({}) });
    try {
      const res = await fetch(`http://${server.address}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const body = await res.text();
      const lint = await promtool(body);
      assert.equal(lint.code, 0, lint.out);
      assert.equal(lint.out.trim(), '', `promtool said: ${lint.out}`);
    } finally {
      await server.close();
    }
  });
});
