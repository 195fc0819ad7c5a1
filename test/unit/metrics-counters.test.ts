// Traffic counters that survive SA replacement, and label sets initialised to zero (and kept in
// step with the configuration).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TrafficAccumulator } from '../../src/agent/observability/metrics/traffic.js';
import { AgentMetrics } from '../../src/agent/observability/metrics/index.js';
import { discoveredTunnel } from '../../src/agent/config/load.js';
import { newRuntime } from '../../src/agent/controller/reconcile.js';
import { FakeAgent, FakeVici, LAB_YAML, child, labConfig, observation } from './metrics-fake-agent.js';

const T0 = 1_700_000_000_000;

function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe('metrics: monotonic traffic counters', () => {
  it('adds deltas of one SA, and a new SA from zero across a rekey', () => {
    const acc = new TrafficAccumulator();
    acc.observe([child({ childId: 1, installAgeSec: 10, bytesIn: 100, packetsIn: 1 })], T0);
    assert.equal(acc.total.bytesIn, 100);
    acc.observe([child({ childId: 1, installAgeSec: 20, bytesIn: 250, packetsIn: 3 })], T0 + 10_000);
    assert.equal(acc.total.bytesIn, 250);
    assert.equal(acc.total.packetsIn, 3);
    // Rekey: the old SA (REKEYED) still counts, the new one starts with what it already carried.
    acc.observe([child({ childId: 1, state: 'REKEYED', installAgeSec: 30, bytesIn: 300, packetsIn: 4 }), child({ childId: 2, installAgeSec: 0, bytesIn: 10 })], T0 + 20_000);
    assert.equal(acc.total.bytesIn, 310);
    // The old SA is gone: nothing is subtracted.
    acc.observe([child({ childId: 2, installAgeSec: 5, bytesIn: 60 })], T0 + 25_000);
    assert.equal(acc.total.bytesIn, 360);
    assert.equal(acc.installedAt, (T0 + 20_000) / 1000);
  });

  it('a counter that went backwards is a new SA: its whole value is added', () => {
    const acc = new TrafficAccumulator();
    acc.observe([child({ childId: 5, installAgeSec: 100, bytesOut: 5000 })], T0);
    acc.observe([child({ childId: 5, installAgeSec: 101, bytesOut: 40 })], T0 + 1000);
    assert.equal(acc.total.bytesOut, 5040);
  });

  it('the same unique id installed at another time (charon restarted) is a new SA', () => {
    const acc = new TrafficAccumulator();
    acc.observe([child({ childId: 1, installAgeSec: 600, bytesIn: 1000 })], T0);
    // 60 s later, id 1 again, but installed 5 s ago and already past the old value.
    acc.observe([child({ childId: 1, installAgeSec: 5, bytesIn: 1200 })], T0 + 60_000);
    assert.equal(acc.total.bytesIn, 2200);
    assert.equal(acc.installedAt, (T0 + 55_000) / 1000);
  });

  it('the exported counter never decreases when the agent replaces the SA', async () => {
    let now = T0;
    const agent = new FakeAgent(labConfig()).start();
    const metrics = new AgentMetrics({ agent, vici: new FakeVici(), tunnels: agent.config.tunnels, version: 'test', now: () => now });
    const v = agent.get('branch-a');
    const key = 'ipsec_keepalive_tunnel_bytes_in_total{tunnel="branch-a",ike="ikev2-vpn",child="ikev2-vpn-140"}';
    const seen: number[] = [];
    const step = async (children: ReturnType<typeof child>[]): Promise<void> => {
      now += 2000;
      v.obs = observation(children);
      agent.emit('reconcile', { tunnel: 'branch-a', result: 'ok', ms: 1, reasons: ['event'] });
      seen.push(series(await metrics.registry.metrics(), 'ipsec_keepalive_tunnel_bytes_in_total').get(key) ?? NaN);
    };
    await step([child({ childId: 1, installAgeSec: 0, bytesIn: 400 })]);
    await step([child({ childId: 1, installAgeSec: 2, bytesIn: 900 })]);
    await step([]); // peer deleted it
    await step([child({ childId: 2, installAgeSec: 0, bytesIn: 30 })]); // the agent re-initiated
    await step([child({ childId: 2, installAgeSec: 2, bytesIn: 80 })]);
    assert.deepEqual(seen, [400, 900, 900, 930, 980]);
    // A scrape between reconciles does not count the same observation twice.
    seen.push(series(await metrics.registry.metrics(), 'ipsec_keepalive_tunnel_bytes_in_total').get(key) ?? NaN);
    assert.equal(seen.at(-1), 980);
  });
});

describe('metrics: label values initialised to zero', () => {
  it('before the agent has started, every configured tunnel has its series', async () => {
    const agent = new FakeAgent(labConfig()); // not started: view() is empty
    const metrics = new AgentMetrics({ agent, vici: { connected: false, reconnects: 0 }, tunnels: agent.config.tunnels, version: 'test' });
    const text = await metrics.registry.metrics();
    const up = series(text, 'ipsec_keepalive_tunnel_up');
    assert.deepEqual([...up.values()], [0, 0, 0, 0]);
    assert.equal(series(text, 'ipsec_keepalive_tunnel_configured').size, 4);
    const actions = series(text, 'ipsec_keepalive_recovery_actions_total');
    assert.equal(actions.size, 4 * 7);
    assert.ok([...actions.values()].every((n) => n === 0));
    assert.equal(series(text, "ipsec_keepalive_recovery_failures_total").size, 4 * 7, "initiate by each of charon's reasons");
    assert.equal(series(text, 'ipsec_keepalive_tunnel_down_total').size, 4);
    assert.equal(series(text, 'ipsec_keepalive_tunnel_recovery_seconds_count').size, 4);
    assert.equal(series(text, 'ipsec_keepalive_reconcile_total').size, 4);
    // Probes of enabled tunnels only (the disabled one is not probed).
    assert.deepEqual(
      [...series(text, 'ipsec_keepalive_probe_success').keys()],
      [
        'ipsec_keepalive_probe_success{tunnel="branch-a",kind="tcp",target="198.51.100.140:9802"}',
        'ipsec_keepalive_probe_success{tunnel="branch-a",kind="icmp",target="198.51.100.140"}',
        'ipsec_keepalive_probe_success{tunnel="branch-b",kind="tcp",target="198.51.100.141:9802"}',
      ],
    );
    assert.equal(series(text, 'ipsec_keepalive_probe_duration_seconds_count').size, 3);
    assert.equal(series(text, 'ipsec_keepalive_vici_events_total').size, 6);
    assert.equal(series(text, 'ipsec_keepalive_vici_commands_total').size, 4 * 3);
    // No alert channel configured: no alert series; once configured, all of them.
    assert.equal(series(text, 'ipsec_keepalive_alerts_sent_total').size, 0);
    metrics.initAlertChannels(['slack']);
    const after = await metrics.registry.metrics();
    assert.equal(series(after, 'ipsec_keepalive_alerts_sent_total').size, 8);
    assert.equal(series(after, 'ipsec_keepalive_alerts_dropped_total').size, 5);
    assert.equal(series(after, 'ipsec_keepalive_alerts_failed_total').get('ipsec_keepalive_alerts_failed_total{channel="slack"}'), 0);
  });

  it('a reload drops removed tunnels and probes, zeroes new ones, keeps the counts of the rest', async () => {
    const agent = new FakeAgent(labConfig()).start();
    const metrics = new AgentMetrics({ agent, vici: new FakeVici(), tunnels: agent.config.tunnels, version: 'test' });
    agent.emit('tunnel-down', { tunnel: 'branch-a', child: 'ikev2-vpn-140', why: 'x', at: T0 });
    agent.emit('probe', 'branch-a', { kind: 'icmp', target: '198.51.100.140', success: true, durationMs: 1, phases: {} });

    // branch-b removed, branch-a loses its TCP probe, branch-d added.
    const next = labConfig(
      LAB_YAML.replace(/ {2}- name: branch-b\n( {4}.*\n)+?(?= {2}- name)/, '')
        .replace('probes: [{ tcp: "198.51.100.140:9802" }, { icmp: 198.51.100.140 }]', 'probes: [{ icmp: 198.51.100.140 }]')
        .concat('  - name: branch-d\n    child: ikev2-vpn-150\n    probes: [{ tcp: "198.51.100.150:22" }]\n'),
    );
    // What Agent.reload does to the view, then what observability's reload does.
    agent.tunnels.delete('branch-b');
    agent.tunnels.set('branch-d', { config: next.tunnels.find((t) => t.name === 'branch-d')!, runtime: newRuntime() });
    agent.get('branch-a').config = next.tunnels.find((t) => t.name === 'branch-a')!;
    metrics.setConfigured(next.tunnels);
    // A reconcile of the removed tunnel that was already running reports late: no series come back.
    agent.emit('action', { tunnel: 'branch-b', child: 'ikev2-vpn-141', kind: 'initiate', reason: 'retry', result: 'error', ms: 5, error: 'x' });
    agent.emit('probe', 'branch-b', { kind: 'tcp', target: '198.51.100.141:9802', success: false, durationMs: 1, phases: {} });

    const text = await metrics.registry.metrics();
    assert.ok(!text.includes('branch-b'), 'branch-b series remain');
    assert.ok(!text.includes('198.51.100.140:9802'), 'the removed probe remains');
    assert.equal(series(text, 'ipsec_keepalive_tunnel_down_total').get('ipsec_keepalive_tunnel_down_total{tunnel="branch-a"}'), 1);
    assert.equal(series(text, 'ipsec_keepalive_probe_success').get('ipsec_keepalive_probe_success{tunnel="branch-a",kind="icmp",target="198.51.100.140"}'), 1);
    assert.equal(series(text, 'ipsec_keepalive_tunnel_down_total').get('ipsec_keepalive_tunnel_down_total{tunnel="branch-d"}'), 0);
    assert.equal(series(text, 'ipsec_keepalive_probe_success').get('ipsec_keepalive_probe_success{tunnel="branch-d",kind="tcp",target="198.51.100.150:22"}'), 0);
    assert.equal(series(text, 'ipsec_keepalive_tunnel_configured').size, 4);
  });

  it('a tunnel found by discover gets its series when it appears in the view', async () => {
    const agent = new FakeAgent(labConfig()).start();
    const metrics = new AgentMetrics({ agent, vici: new FakeVici(), tunnels: agent.config.tunnels, version: 'test' });
    agent.tunnels.set('found-child', { config: discoveredTunnel(agent.config, 'found-child', 'peer-x'), runtime: newRuntime() });
    const text = await metrics.registry.metrics();
    assert.equal(series(text, 'ipsec_keepalive_tunnel_configured').get('ipsec_keepalive_tunnel_configured{tunnel="found-child",ike="peer-x",child="found-child"}'), 1);
    assert.equal(series(text, 'ipsec_keepalive_tunnel_down_total').get('ipsec_keepalive_tunnel_down_total{tunnel="found-child"}'), 0);
  });
});
