// Every field of the configuration, wrong in every way the schema allows (types, ranges, formats, unknown
// keys, duplicates, wrong shapes): parseConfig answers with one ConfigError line that names the file and
// the field, never a stack trace and never a secret; and the CLI turns that into exactly one stderr line
// and exit 78 (a sample of every kind of mistake, spawned as `node --import tsx src/cli/main.ts run`).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, EX_CONFIG, parseConfig } from '../../src/agent/config/load.js';
import { runCli } from '../../lab/cli-run.js';

const SECRET_URL = 'https://hooks.example.net/services/T0/B0/very-secret-token?sig=also-secret';
const PASSWORD = 'hunter2-smtp-password';

/** A valid config using every section, so each field can be broken in place. */
function base(): Record<string, unknown> {
  return {
    vici: { socket: 'unix:///run/charon.vici', command_timeout: '30s', max_concurrent_initiates: 4 },
    defaults: { probe_interval: '60s', probe_timeout: '3s', reprobe_attempts: 3, reprobe_interval: '1s', failures_before_action: 1, backoff_base: '1s', backoff_cap: '5m', initiate_timeout: '10s', terminate_timeout: '3s', charon_grace: '1500ms' },
    discover: false,
    tunnels: [
      { name: 'site-a', child: 'ikev2-vpn-140', ike: 'ikev2-vpn', enabled: true, source: '10.1.0.1', probes: [{ tcp: '198.51.100.140:9802' }, { icmp: '198.51.100.140' }], probe_interval: '30s' },
      { child: 'ikev2-vpn-141' },
    ],
    metrics: { enabled: true, listen: '127.0.0.1:9842' },
    alerts: {
      webhook: { url: SECRET_URL, timeout: '5s' },
      slack: { url: SECRET_URL, timeout: '5s' },
      email: { host: 'smtp.example.net', port: 587, secure: false, starttls: true, user: 'alerts', password: PASSWORD, from: 'a@example.net', to: ['noc@example.net'], timeout: '10s' },
      rate_limit_per_minute: 20,
      retries: 5,
    },
    log: { level: 'info' },
  };
}

type Path = Array<string | number>;
function setIn(o: Record<string, unknown>, path: Path, value: unknown): void {
  let cur: Record<string | number, unknown> = o;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
}
const fmtPath = (p: Path): string => p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');

// Wrong values per kind of field (YAML can say .nan and .inf: they are numbers too).
const NOT_A_NUMBER = ['5', true, null, [], {}];
const DURATION_BAD = [true, null, [], {}, 'soon', '5 parsecs', '-1s', '1s2s', -1, Number.NaN, Number.POSITIVE_INFINITY];
const POSITIVE_DURATION_BAD = [...DURATION_BAD, 0, '0s', '0ms'];
const BOOL_BAD = ['yes', 'true', 1, 0, null, [], {}];
const STRING_BAD = [5, true, null, [], {}];
const int = (min: number, max: number) => [...NOT_A_NUMBER, 1.5, min - 1, max + 1, Number.NaN, Number.POSITIVE_INFINITY];

const TUNING: Array<[string, unknown[]]> = [
  ['probe_interval', POSITIVE_DURATION_BAD],
  ['probe_timeout', POSITIVE_DURATION_BAD],
  ['reprobe_attempts', int(0, 20)],
  ['reprobe_interval', POSITIVE_DURATION_BAD],
  ['failures_before_action', int(1, 100)],
  ['backoff_base', POSITIVE_DURATION_BAD],
  ['backoff_cap', POSITIVE_DURATION_BAD],
  ['initiate_timeout', POSITIVE_DURATION_BAD],
  ['terminate_timeout', POSITIVE_DURATION_BAD],
  ['charon_grace', DURATION_BAD],
];

/** [field, wrong values, where the error must point (default: the field)] */
const FIELDS: Array<[Path, unknown[], Path?]> = [
  [['vici'], [5, 'x', [], null]],
  [['vici', 'socket'], [...STRING_BAD, '', '/run/charon.vici', 'unix://', 'tcp://host', 'http://x:1']],
  [['vici', 'command_timeout'], POSITIVE_DURATION_BAD],
  [['vici', 'max_concurrent_initiates'], int(1, 64)],
  [['defaults'], [5, 'x', [], null]],
  ...TUNING.map(([k, v]): [Path, unknown[]] => [['defaults', k], v]),
  [['discover'], BOOL_BAD],
  [['tunnels'], [5, 'x', {}, null, Array.from({ length: 10_001 }, (_, i) => ({ child: `c${i}` }))]],
  [['tunnels', 0], [5, 'x', [], null]],
  [['tunnels', 0, 'name'], [...STRING_BAD, '', 'has space', 'tab\there', 'x'.repeat(129), 'ünïcode']],
  [['tunnels', 0, 'child'], [...STRING_BAD, '', 'x'.repeat(256), 'nul\u0000', 'ünïcode']],
  [['tunnels', 0, 'ike'], [...STRING_BAD, '', 'x'.repeat(256)]],
  [['tunnels', 0, 'enabled'], BOOL_BAD],
  [['tunnels', 0, 'source'], [...STRING_BAD, '', 'not-an-ip', '300.1.1.1', '10.0.0.0/8']],
  [['tunnels', 0, 'probes'], [5, 'x', {}, null, Array.from({ length: 33 }, () => ({ icmp: '192.0.2.1' }))]],
  [['tunnels', 0, 'probes', 0], [5, 'x', [], null, {}, { udp: '1.2.3.4:53' }, { tcp: '1.2.3.4:1', icmp: '1.2.3.4' }]],
  [['tunnels', 0, 'probes', 0, 'tcp'], [...STRING_BAD, '', '1.2.3.4', '1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:-1', ':80', '[::1]', 'bad host!:80', 'a..b:80', `${'x'.repeat(254)}:80`]],
  [['tunnels', 0, 'probes', 1, 'icmp'], [...STRING_BAD, '', 'bad host!', 'a..b', '-leading', 'x'.repeat(254)]],
  ...TUNING.map(([k, v]): [Path, unknown[]] => [['tunnels', 0, k], v]),
  [['metrics'], [5, 'x', [], null]],
  [['metrics', 'enabled'], BOOL_BAD],
  [['metrics', 'listen'], [...STRING_BAD, '', '9842', '127.0.0.1', '127.0.0.1:', '127.0.0.1:99999', ':9842', '::1:9842', '127.0.0.1:123456']],
  [['alerts'], [5, 'x', [], null]],
  [['alerts', 'webhook'], [5, 'x', [], null, {}]],
  [['alerts', 'webhook', 'url'], [...STRING_BAD, '', 'not a url', 'ftp://hooks.example.net/secret-ftp', 'hooks.example.net/x', 'javascript:alert(1)']],
  [['alerts', 'webhook', 'timeout'], POSITIVE_DURATION_BAD],
  [['alerts', 'slack'], [5, 'x', [], null, {}]],
  [['alerts', 'slack', 'url'], [...STRING_BAD, '', 'not a url', 'ftp://hooks.example.net/secret-ftp']],
  [['alerts', 'slack', 'timeout'], POSITIVE_DURATION_BAD],
  [['alerts', 'email'], [5, 'x', [], null, {}]],
  [['alerts', 'email', 'host'], [...STRING_BAD, '']],
  [['alerts', 'email', 'port'], int(1, 65535)],
  [['alerts', 'email', 'secure'], BOOL_BAD],
  [['alerts', 'email', 'starttls'], BOOL_BAD],
  [['alerts', 'email', 'user'], STRING_BAD.filter((v) => v !== null)],
  [['alerts', 'email', 'password'], STRING_BAD.filter((v) => v !== null)],
  [['alerts', 'email', 'from'], [...STRING_BAD, '', 'ab']],
  [['alerts', 'email', 'to'], [5, true, null, {}, '', 'ab', [], ['ab'], [5]]],
  [['alerts', 'email', 'timeout'], POSITIVE_DURATION_BAD],
  [['alerts', 'rate_limit_per_minute'], int(1, 600)],
  [['alerts', 'retries'], int(0, 20)],
  [['log'], [5, 'x', [], null]],
  [['log', 'level'], [...STRING_BAD, '', 'verbose', 'INFO', 'silent']],
];

/** Every object the schema is strict about gets an unknown key. */
const STRICT_OBJECTS: Path[] = [[], ['vici'], ['defaults'], ['tunnels', 0], ['tunnels', 0, 'probes', 0], ['metrics'], ['alerts'], ['alerts', 'webhook'], ['alerts', 'slack'], ['alerts', 'email'], ['log']];

interface Case {
  what: string;
  doc: Record<string, unknown>;
  /** The error line must name this field (or one inside it). */
  field: string;
  /** An unknown key: the line names the object it is in (field; none at the top level), then the key. */
  unknownKey?: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const [path, values, at] of FIELDS) {
    for (const v of values) {
      const doc = base();
      setIn(doc, path, v);
      const shown = Array.isArray(v) && v.length > 40 ? `[${v.length} items]` : JSON.stringify(v) ?? String(v);
      out.push({ what: `${fmtPath(path)} = ${shown}`, doc, field: fmtPath(at ?? path) });
    }
  }
  for (const path of STRICT_OBJECTS) {
    const doc = base();
    const target = path.length ? (path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], doc) as Record<string, unknown>) : doc;
    target['colour'] = 'red';
    out.push({ what: `unknown key in ${fmtPath(path) || 'the top level'}`, doc, field: fmtPath(path), unknownKey: 'colour' });
  }
  // Duplicate tunnel names: the same child twice, a name repeated, a name equal to another tunnel's child.
  const dup = (tunnels: object[], field: string, what: string): void => {
    out.push({ what, doc: { ...base(), tunnels }, field });
  };
  dup([{ child: 'a' }, { child: 'a' }], 'tunnels[1].child', 'the same child twice');
  dup([{ name: 'x', child: 'a' }, { name: 'x', child: 'b' }], 'tunnels[1].name', 'a name repeated');
  dup([{ child: 'a' }, { name: 'a', child: 'b' }], 'tunnels[1].name', "a name equal to another tunnel's child");
  out.push({ what: 'no tunnels and no discover', doc: { ...base(), tunnels: [] }, field: 'tunnels' });
  return out;
}

function errorOf(c: Case): string {
  try {
    parseConfig(stringify(c.doc), 'cfg.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `${c.what}: ${String(err)}`);
    return err.message;
  }
  assert.fail(`${c.what}: accepted`);
}

function checkLine(c: Case, line: string, prefix: string): void {
  assert.ok(!line.includes('\n'), `${c.what}: more than one line: ${line}`);
  assert.ok(!/\n\s+at |\bat .*\.[jt]s:\d+/.test(line), `${c.what}: a stack trace: ${line}`);
  // The field itself, or one inside it (an empty section names the first required key it lacks).
  const named = c.unknownKey
    ? line.startsWith(`${prefix}${c.field ? `${c.field}: ` : ''}unknown key ${JSON.stringify(c.unknownKey)}`)
    : line.startsWith(`${prefix}${c.field}: `) || line.startsWith(`${prefix}${c.field}.`) || line.startsWith(`${prefix}${c.field}[`);
  assert.ok(named, `${c.what}: should name ${c.field}: ${line}`);
  for (const secret of ['very-secret-token', 'also-secret', 'secret-ftp', PASSWORD]) assert.ok(!line.includes(secret), `${c.what}: echoes a secret: ${line}`);
  assert.ok(line.length < 400, `${c.what}: ${line.length} characters`);
}

describe('config: every field wrong in every way', () => {
  const all = cases();

  it(`the valid base parses (the ${all.length} cases below each break one thing in it)`, () => {
    const cfg = parseConfig(stringify(base()), 'cfg.yaml');
    assert.equal(cfg.tunnels.length, 2);
    assert.ok(all.length > 300, `${all.length} cases`);
  });

  for (const c of all) {
    it(`rejects ${c.what}: one line naming ${c.field}`, () => {
      checkLine(c, errorOf(c), 'cfg.yaml: ');
    });
  }

  it('YAML mistakes: one line with the file, line and column', () => {
    for (const text of ['tunnels: [\n', 'a: b: c\n', 'tunnels:\n  - child: a\n   bad-indent: 1\n', 'discover: true\ndiscover: false\n', '\t- tab\n', 'x: "unterminated\n', '{{}}\n', '- a\n- b\n']) {
      let msg = '';
      try {
        parseConfig(text, 'cfg.yaml');
        assert.fail(`accepted: ${JSON.stringify(text)}`);
      } catch (err) {
        assert.ok(err instanceof ConfigError, `${JSON.stringify(text)}: ${String(err)}`);
        msg = err.message;
      }
      assert.ok(!msg.includes('\n'), msg);
      assert.match(msg, /^cfg\.yaml(:\d+:\d+: YAML: |: )/, msg);
    }
  });
});

describe('config: the CLI says it in one line and exits 78', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ik-badcfg-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (args: string[]) => runCli(args);

  // One of each kind of mistake (a process each costs a second): type, range, format, unknown key,
  // duplicate, wrong shape, union, secret-bearing field, and YAML itself.
  const picks = cases().filter((c) =>
    [
      'tunnels[0].probe_interval = "soon"',
      'vici.max_concurrent_initiates = 65',
      'tunnels[0].probes[0].tcp = "1.2.3.4:65536"',
      'unknown key in tunnels[0]',
      'the same child twice',
      'metrics = 5',
      'tunnels[0].probes[0] = {"udp":"1.2.3.4:53"}',
      'alerts.webhook.url = "ftp://hooks.example.net/secret-ftp"',
      'alerts.email.password = 5',
      'log.level = "verbose"',
    ].includes(c.what),
  );

  const runs = [...picks, { what: 'a YAML syntax error', doc: {}, field: '' } as Case].map((c, i) => ({ c, path: join(dir, `bad-${i}.yaml`) }));
  const results = new Map<string, Promise<{ code: number | null; stdout: string; stderr: string }>>();
  before(() => {
    // Started together, three at a time: each is a node process compiling the CLI through tsx.
    const lanes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve(), Promise.resolve()];
    runs.forEach(({ c, path }, i) => {
      writeFileSync(path, c.field ? stringify(c.doc) : 'tunnels: [\n');
      const p = lanes[i % 3]!.then(() => run(['run', '--config', path]));
      lanes[i % 3] = p.catch(() => undefined);
      results.set(path, p);
    });
  });

  it('picked one case of each kind', () => assert.equal(picks.length, 10));

  for (const { c, path } of runs) {
    it(`run --config with ${c.what}: exit 78, one stderr line, nothing else`, async () => {
      const r = await results.get(path)!;
      assert.equal(r.code, EX_CONFIG, r.stderr);
      assert.equal(r.stdout, '', 'nothing on stdout (the logger has not started)');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      if (c.field) checkLine(c, lines[0]!, `ipsec-keepalive: ${path}: `);
      else assert.match(lines[0]!, new RegExp(`^ipsec-keepalive: ${path}:\\d+:\\d+: YAML: `));
    });
  }

  it('a missing or unreadable file: exit 78, one line naming it', async () => {
    const r = await run(['run', '--config', join(dir, 'nope.yaml')]);
    assert.equal(r.code, EX_CONFIG);
    assert.equal(r.stderr, `ipsec-keepalive: ${join(dir, 'nope.yaml')}: cannot read config: no such file\n`);
    const d = await run(['run', '--config', dir]);
    assert.equal(d.code, EX_CONFIG);
    assert.equal(d.stderr.trimEnd().split('\n').length, 1, d.stderr);
    assert.match(d.stderr, new RegExp(`^ipsec-keepalive: ${dir}: cannot read config: `));
  });
});
