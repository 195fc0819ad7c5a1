import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseConfig } from '../../src/agent/config/load.js';

const LOAD_TS = fileURLToPath(new URL('../../src/agent/config/load.ts', import.meta.url));

const minimal = `
tunnels:
  - child: ikev2-vpn-140
    source: 10.1.0.1
    probes:
      - tcp: 198.51.100.140:9802
      - icmp: 198.51.100.140
`;

function errorOf(text: string): string {
  try {
    parseConfig(text, 'cfg.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('applies defaults to a minimal file', () => {
    const cfg = parseConfig(minimal);
    assert.equal(cfg.viciUri, 'unix:///var/run/charon.vici');
    assert.equal(cfg.tunnels.length, 1);
    const t = cfg.tunnels[0]!;
    assert.equal(t.name, 'ikev2-vpn-140');
    assert.equal(t.probeIntervalMs, 60_000);
    assert.deepEqual(t.probes, [
      { kind: 'tcp', host: '198.51.100.140', port: 9802 },
      { kind: 'icmp', host: '198.51.100.140' },
    ]);
    assert.deepEqual(cfg.metrics, { enabled: true, host: '127.0.0.1', port: 9842 });
  });

  it('parses durations in every unit and lets tunnels override defaults', () => {
    const cfg = parseConfig(`
defaults: { probe_interval: 2m, probe_timeout: 1500ms, backoff_cap: 1h, reprobe_interval: 0.5 }
tunnels:
  - child: a
    probe_interval: 10s
  - child: b
`);
    assert.equal(cfg.tunnels[0]!.probeIntervalMs, 10_000);
    assert.equal(cfg.tunnels[1]!.probeIntervalMs, 120_000);
    assert.equal(cfg.tunnels[1]!.probeTimeoutMs, 1500);
    assert.equal(cfg.tunnels[1]!.backoffCapMs, 3_600_000);
    assert.equal(cfg.tunnels[1]!.reprobeIntervalMs, 500);
  });

  it('loads the shipped example config', () => {
    const text = readFileSync(new URL('../../examples/config.yaml', import.meta.url), 'utf8');
    const cfg = parseConfig(text, 'examples/config.yaml');
    assert.equal(cfg.tunnels[0]!.child, 'ikev2-vpn-140');
    assert.deepEqual(cfg.tunnels[0]!.probes[0], { kind: 'tcp', host: '198.51.100.140', port: 9802 });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['wrong type', 'tunnels:\n  - child: 5\n', /^cfg\.yaml: tunnels\[0\]\.child: .*expected string/],
    ['unknown key', 'tunnels:\n  - child: a\n    colour: red\n', /^cfg\.yaml: tunnels\[0\]: unknown key "colour"$/],
    ['unknown top-level key', 'tunels: []\n', /^cfg\.yaml: unknown key "tunels" \(did you mean "tunnels"\?\)$/],
    ['bad port', 'tunnels:\n  - child: a\n    probes: [{ tcp: "1.2.3.4:70000" }]\n', /tunnels\[0\]\.probes\[0\]\.tcp: expected host:port/],
    ['bad probe kind', 'tunnels:\n  - child: a\n    probes: [{ udp: "1.2.3.4:53" }]\n', /tunnels\[0\]\.probes\[0\]: expected one of/],
    ['bad duration', 'defaults: { probe_interval: soon }\ntunnels: [{ child: a }]\n', /defaults\.probe_interval: "soon" is not a duration/],
    ['zero interval', 'defaults: { probe_interval: 0 }\ntunnels: [{ child: a }]\n', /defaults\.probe_interval: 0 is not a duration/],
    ['negative', 'defaults: { probe_timeout: -1 }\ntunnels: [{ child: a }]\n', /defaults\.probe_timeout: -1 is not a duration/],
    ['duplicate tunnel', 'tunnels:\n  - child: a\n  - child: a\n', /tunnels\[1\]\.child: duplicate tunnel name "a"/],
    ['bad source', 'tunnels:\n  - child: a\n    source: not-an-ip\n', /tunnels\[0\]\.source: expected an IP address/],
    ['bad socket', 'vici: { socket: /run/charon.vici }\ntunnels: [{ child: a }]\n', /vici\.socket: expected unix:\/\/\/path or tcp:\/\/host:port/],
    ['nothing to do', 'discover: false\n', /tunnels: no tunnels configured/],
    ['range', 'vici: { max_concurrent_initiates: 0 }\ntunnels: [{ child: a }]\n', /vici\.max_concurrent_initiates: .*>=1/],
    ['bad yaml', 'tunnels: [\n', /^cfg\.yaml:\d+:\d+: YAML: /],
    ['duplicate yaml key', 'discover: true\ndiscover: false\n', /^cfg\.yaml:\d+:\d+: YAML: .*[Mm]ap keys must be unique/],
    ['bad webhook url', 'alerts: { webhook: { url: "ftp://x" } }\ntunnels: [{ child: a }]\n', /alerts\.webhook\.url: /],
  ];
  for (const [what, text, re] of bad) {
    it(`rejects ${what} with one line naming the field`, () => {
      assert.match(errorOf(text), re);
    });
  }

  it('names the file when it cannot be read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ik-cfg-'));
    try {
      await assert.rejects(loadConfig(join(dir, 'missing.yaml')), (err: Error) => err instanceof ConfigError && err.message === `${join(dir, 'missing.yaml')}: cannot read config: no such file`);
      const p = join(dir, 'c.yaml');
      writeFileSync(p, minimal);
      assert.equal((await loadConfig(p)).path, p);
      chmodSync(p, 0);
      if (process.getuid?.() !== 0) {
        await assert.rejects(loadConfig(p), /permission denied/);
      } else {
        // root reads any file: the case runs without the capabilities that let it (as an unprivileged reader would be).
        const drop = '-dac_override,-dac_read_search';
        const code = `import(${JSON.stringify(LOAD_TS)}).then((m) => m.loadConfig(${JSON.stringify(p)})).then(() => console.log('read'), (e) => console.log(e.message))`;
        const r = spawnSync('setpriv', [`--inh-caps=${drop}`, `--bounding-set=${drop}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
        assert.equal(r.stdout.trim(), `${p}: cannot read config: permission denied`, r.stderr);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never echoes secrets in its errors', () => {
    const msg = errorOf('alerts:\n  email: { host: h, from: a@b.c, to: x@y.z, password: hunter2, port: "25" }\ntunnels: [{ child: a }]\n');
    assert.match(msg, /alerts\.email\.port/);
    assert.ok(!msg.includes('hunter2'));
  });
});
