// The operator's view: one document for the agent's view and charon's, its text form, the name
// filter and the exit code. Charon's sections are shaped as 5.9.8 lists them (seen in the lab).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { observeTunnel } from '../../src/agent/controller/observe.js';
import { newRuntime } from '../../src/agent/controller/reconcile.js';
import { statusDocument, tunnelStatus, type TunnelInput } from '../../src/agent/observability/status.js';
import { formatStatusText, human } from '../../src/cli/status-format.js';
import { selectTunnels, statusExitCode, UnknownTunnelError } from '../../src/cli/status.js';
import type { IkeSa } from '../../src/vici/index.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');

function sa(children: Array<[string, number, string?]>): IkeSa {
  const childSas: Record<string, unknown> = {};
  for (const [name, id, state] of children) {
    childSas[`${name}-${id}`] = {
      name, uniqueid: String(id), reqid: String(id + 100), state: state ?? 'INSTALLED', mode: 'TUNNEL', protocol: 'ESP', encap: 'yes',
      'spi-in': 'c1a2b3c4', 'spi-out': 'c5d6e7f8', 'encr-alg': 'AES_CBC', 'encr-keysize': '256', 'integ-alg': 'HMAC_SHA2_256_128', 'dh-group': 'MODP_2048',
      'bytes-in': '1200', 'packets-in': '10', 'bytes-out': '2400', 'packets-out': '20', 'rekey-time': '3000', 'life-time': '3400', 'install-time': '60',
      'local-ts': ['10.1.0.1/32'], 'remote-ts': ['198.51.100.140/32'],
    };
  }
  return {
    name: 'ikev2-vpn', uniqueid: '1', version: '2', state: 'ESTABLISHED', 'local-host': '192.0.2.1', 'remote-host': '192.0.2.2', 'local-id': '192.0.2.1', 'remote-id': '192.0.2.2',
    'encr-alg': 'AES_CBC', 'encr-keysize': '256', 'integ-alg': 'HMAC_SHA2_256_128', 'prf-alg': 'PRF_HMAC_SHA2_256', 'dh-group': 'MODP_2048', established: '600', 'rekey-time': '13000',
    'child-sas': childSas,
  } as unknown as IkeSa;
}

function input(name: string, sas: IkeSa[], over: Partial<TunnelInput> = {}): TunnelInput {
  return { name, child: name, ike: 'ikev2-vpn', discovered: false, enabled: true, obs: observeTunnel(sas, name, 'ikev2-vpn'), observedAt: NOW - 2000, configLoaded: true, ...over };
}

describe('status document', () => {
  it("charon's view: the SAs with swanctl's detail, snake_case, times carried to now; no agent-only fields", () => {
    const t = tunnelStatus(input('ikev2-vpn-140', [sa([['ikev2-vpn-140', 7]])]), NOW);
    assert.equal(t.status, 'up');
    assert.equal(t.since, new Date(NOW - 62_000).toISOString());
    assert.deepEqual(t.child_sas[0], {
      id: 7, name: 'ikev2-vpn-140', reqid: 107, state: 'INSTALLED', mode: 'TUNNEL', protocol: 'ESP', encap: true, spi_in: 'c1a2b3c4', spi_out: 'c5d6e7f8',
      encryption: 'AES_CBC-256', integrity: 'HMAC_SHA2_256_128', dh_group: 'MODP_2048', local_ts: ['10.1.0.1/32'], remote_ts: ['198.51.100.140/32'],
      bytes_in: 1200, bytes_out: 2400, packets_in: 10, packets_out: 20, installed_seconds_ago: 62, rekey_in_seconds: 2998, expires_in_seconds: 3398,
    });
    assert.deepEqual([t.ike_sa?.id, t.ike_sa?.remote_host, t.ike_sa?.version, t.ike_sa?.prf], [1, '192.0.2.2', 2, 'PRF_HMAC_SHA2_256']);
    assert.deepEqual([t.healthy, t.health, t.backoff_until, t.last_action, t.damped], [null, null, null, null, null]);
  });

  const CHARON_ROWS: Array<[string, TunnelInput, string, RegExp]> = [
    ['no CHILD_SA', input('b', []), 'down', /no CHILD_SA installed/],
    ['a missing answer', input('b', [], { obs: undefined, unreadable: "charon's answer did not arrive (timeout)" }), 'unknown', /did not arrive/],
    ['no such config', input('ikev2-vpn-999', [], { configLoaded: false }), 'not-loaded', /no CHILD_SA config named "ikev2-vpn-999"/],
    ['negotiating', input('b', [{ ...sa([]), state: 'CONNECTING' } as IkeSa]), 'connecting', /IKE_SA 1 CONNECTING/],
    ['disabled', input('b', [], { enabled: false }), 'disabled', /disabled/],
  ];
  for (const [what, inp, status, why] of CHARON_ROWS) {
    it(`charon's view, ${what}: ${status}`, () => {
      const t = tunnelStatus(inp, NOW);
      assert.equal(t.status, status);
      assert.match(t.why ?? '', why);
    });
  }

  it("the agent's view: its status, probes, backoff, damping and the last failed action with charon's reason", () => {
    const runtime = {
      ...newRuntime(), status: 'backoff' as const, downSince: NOW - 30_000, nextAttemptAt: NOW + 4000, damped: true, flaps: 3,
      lastAction: { kind: 'initiate' as const, result: 'error' as const, at: NOW - 1000, ms: 1020, reason: { class: 'auth' as const, ikeLevel: true, detail: 'received AUTHENTICATION_FAILED notify error' } },
    };
    const t = tunnelStatus(input('a', [], { runtime, why: 'damped: repairs do not hold', probed: true, viciConnected: true, probes: { at: NOW - 500, results: [{ kind: 'tcp', target: '198.51.100.140:9802', success: false, durationMs: 1000.4, error: 'timeout after 1000 ms', phases: {} }] }, nextProbeAt: NOW + 1500 }), NOW);
    assert.equal(t.status, 'backoff');
    assert.equal(t.since, new Date(NOW - 30_000).toISOString());
    assert.equal(t.backoff_until, new Date(NOW + 4000).toISOString());
    assert.deepEqual(t.last_action, { kind: 'initiate', result: 'error', at: new Date(NOW - 1000).toISOString(), ms: 1020, failure: 'auth', detail: 'received AUTHENTICATION_FAILED notify error' });
    assert.deepEqual(t.probes, [{ kind: 'tcp', target: '198.51.100.140:9802', ok: false, latency_ms: 1000.4, error: 'timeout after 1000 ms' }]);
    assert.equal(t.healthy, false);
    const text = formatStatusText(statusDocument('agent', [input('a', [], { runtime, why: 'damped: repairs do not hold', probed: true })], NOW, { agent: { version: '0.1.0', pid: 42, started_at: new Date(NOW - 3_600_000).toISOString(), config: '/etc/ipsec-keepalive/config.yaml', vici_socket: 'unix:///var/run/charon.vici', vici_connected: true }, charon: null }), { now: NOW });
    assert.match(text, /^agent view \(pid 42, running 1h00m, \/etc\/ipsec-keepalive\/config\.yaml\); charon connected at unix:\/\/\/var\/run\/charon\.vici; 1 tunnel: 1 backoff$/m);
    assert.match(text, /^a +backoff +30s .*damped: repairs do not hold; next attempt in 4s; last initiate failed: auth \(received AUTHENTICATION_FAILED notify error\)/m);
  });

  it('passing probes of a tunnel without a CHILD_SA read as unproven, also between a round and its judgement', () => {
    const inp = input('ikev2-vpn-999', [], { runtime: { ...newRuntime(), status: 'not-loaded', health: 'unknown' }, why: 'charon has no CHILD_SA config named "ikev2-vpn-999"', probed: true, viciConnected: true, configLoaded: false, probes: { at: NOW - 500, results: [{ kind: 'tcp', target: '198.51.100.140:9802', success: true, durationMs: 2.7, phases: {} }] } });
    const text = formatStatusText(statusDocument('agent', [inp], NOW, { agent: { version: '0.1.0', pid: 42, started_at: new Date(NOW).toISOString(), config: 'c.yaml', vici_socket: 'unix:///v', vici_connected: true }, charon: null }), { now: NOW });
    assert.match(text, /^ikev2-vpn-999 +not-loaded +- +- +- +1\/1 ok 2\.7ms \(unproven\) +charon has no CHILD_SA config/m);
  });

  it('a tunnel with no CHILD_SA of its own whose probes pass is not healthy', () => {
    const t = tunnelStatus(input('ikev2-vpn-999', [], { runtime: { ...newRuntime(), status: 'not-loaded', health: 'unproven' }, probed: true, viciConnected: true, configLoaded: false }), NOW);
    assert.deepEqual([t.status, t.healthy, t.health, t.config_loaded], ['not-loaded', false, 'unproven', false]);
  });
});

describe('status text', () => {
  const doc = statusDocument('charon', [input('ikev2-vpn-140', [sa([['ikev2-vpn-140', 7]])]), input('ikev2-vpn-142', [])], NOW, { agent: null, charon: { vici_socket: 'unix:///var/run/charon.vici', notes: ['no agent answers at /run/ipsec-keepalive/status.sock'] } });

  it("says whose view it is, one line per tunnel, and -v gives swanctl's detail", () => {
    const text = formatStatusText(doc, { now: NOW });
    assert.match(text, /^charon view \(unix:\/\/\/var\/run\/charon\.vici\): no probes, backoff or repair history; 2 tunnels: 1 up, 1 down$/m);
    assert.match(text, /^note: no agent answers at \/run\/ipsec-keepalive\/status\.sock$/m);
    assert.match(text, /^TUNNEL +STATUS +SINCE +IKE_SA +CHILD_SA +NOTE$/m);
    assert.match(text, /^ikev2-vpn-140 +up +1m02s +ikev2-vpn#1 +#7 reqid 107$/m);
    assert.match(text, /^ikev2-vpn-142 +down +- +- +- +no CHILD_SA installed$/m);
    const v = formatStatusText(doc, { now: NOW, verbose: true });
    assert.match(v, /^ {2}CHILD_SA ikev2-vpn-140 #7 reqid 107 INSTALLED TUNNEL-in-UDP ESP SPIs c1a2b3c4_i c5d6e7f8_o$/m);
    assert.match(v, /^ {4}AES_CBC-256\/HMAC_SHA2_256_128\/MODP_2048, 1200 bytes_i \(10 pkts\), 2400 bytes_o \(20 pkts\), installed 1m02s ago, rekeying in 49m58s, expires in 56m38s$/m);
    assert.match(v, /^ {4}10\.1\.0\.1\/32 === 198\.51\.100\.140\/32$/m);
    assert.match(v, /^ {2}IKE_SA ikev2-vpn #1 ESTABLISHED IKEv2, 192\.0\.2\.1\[192\.0\.2\.1\]\.\.\.192\.0\.2\.2\[192\.0\.2\.2\]$/m);
  });

  it('selects tunnels by tunnel or CHILD_SA name; an unknown name is a usage error with a suggestion', () => {
    assert.deepEqual(selectTunnels(doc, ['ikev2-vpn-142']).tunnels.map((t) => t.name), ['ikev2-vpn-142']);
    assert.deepEqual(selectTunnels(doc, ['ikev2-vpn-142']).counts, { down: 1 });
    assert.throws(() => selectTunnels(doc, ['ikev2-vpn-14']), (e: unknown) => e instanceof UnknownTunnelError && /no tunnel named "ikev2-vpn-14"; /.test(e.message));
    assert.throws(() => selectTunnels(doc, ['ikev2-vpm-140']), /did you mean "ikev2-vpn-140"\?/);
  });

  it('exit code: 0 only when every selected enabled tunnel is up', () => {
    assert.equal(statusExitCode(doc), 1);
    assert.equal(statusExitCode(selectTunnels(doc, ['ikev2-vpn-140'])), 0);
  });

  it('durations read like uptime', () => {
    assert.deepEqual([human(0), human(59_400), human(61_000), human(3_660_000), human(90_000_000)], ['0s', '59s', '1m01s', '1h01m', '1d01h']);
  });
});
