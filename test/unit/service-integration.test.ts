// What `run` gives systemd and journald: each log line's syslog priority as the `<N>` prefix journald
// reads (only when stdout is the journal), and `validate`, which ExecReload runs before it signals the
// agent: exit 0 for a good file, 78 with one line naming the field for a broken one.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stdoutIsJournal, syslogPriority, withSyslogPriority } from '../../src/agent/observability/logger.js';
import { serviceNotifier } from '../../src/cli/systemd.js';
import { runCli } from '../../lab/cli-run.js';
import { loadConfig } from '../../src/agent/config/load.js';
import { viciSettingsChanged } from '../../src/cli/run.js';

describe('journald priorities', () => {
  for (const [level, prio] of [
    [10, 7],
    [20, 7],
    [30, 6],
    [40, 4],
    [50, 3],
    [60, 2],
  ] as const) {
    it(`pino level ${level} is syslog priority ${prio}`, () => {
      assert.equal(syslogPriority(level), prio);
      assert.equal(withSyslogPriority(`{"level":${level},"msg":"x"}\n`), `<${prio}>{"level":${level},"msg":"x"}\n`);
    });
  }

  it('leaves a line without a leading level alone', () => {
    assert.equal(withSyslogPriority('{"msg":"x"}\n'), '{"msg":"x"}\n');
  });

  it('prefixes only when JOURNAL_STREAM names stdout', () => {
    assert.equal(stdoutIsJournal({}), false);
    assert.equal(stdoutIsJournal({ JOURNAL_STREAM: '1:2' }), false);
    const st = fstatSync(1);
    assert.equal(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }), true);
  });

  it('outside systemd (no NOTIFY_SOCKET) the notifier does nothing and loads nothing', () => {
    const n = serviceNotifier({});
    n.ready('1/1 tunnels up');
    n.reloading();
    n.status('x');
    n.stopping();
    n.close();
    assert.deepEqual(Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('sd-notify')), [], 'sd-notify was not loaded');
  });
});

describe('ipsec-keepalive validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ik-validate-'));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  after(() => rmSync(dir, { recursive: true, force: true }));
  const good = 'vici:\n  socket: unix:///var/run/charon.vici\ntunnels:\n  - child: ikev2-vpn-140\n    probes:\n      - tcp: 198.51.100.140:9802\n';

  it('a good file: exit 0 and one line', async () => {
    const p = file('good.yaml', good);
    const r = await runCli(['validate', '--config', p]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${p}: valid (1 tunnels)\n`);
  });

  it('a broken file: exit 78 and one line naming the field', async () => {
    const p = file('bad.yaml', `${good}defaults:\n  probe_interval: -5s\n`);
    const r = await runCli(['validate', '--config', p]);
    assert.equal(r.code, 78);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ipsec-keepalive: .*bad\.yaml: defaults\.probe_interval: .*\n$/);
  });

  it('a missing file: exit 78', async () => {
    const r = await runCli(['validate', '--config', join(dir, 'none.yaml')]);
    assert.equal(r.code, 78);
  });

  it('a reload names the settings that wait for a restart (the socket), and only those', async () => {
    const a = await loadConfig(file('a.yaml', good));
    const b = await loadConfig(file('b.yaml', good.replace('charon.vici', 'other.vici') + 'defaults:\n  probe_interval: 5s\n'));
    const c = await loadConfig(file('c.yaml', good.replace('vici:\n', 'vici:\n  command_timeout: 9s\n  max_concurrent_initiates: 2\n')));
    assert.deepEqual(viciSettingsChanged(a, a), []);
    assert.deepEqual(viciSettingsChanged(a, b), ['vici.socket']);
    assert.deepEqual(viciSettingsChanged(a, c), [], 'timeouts and limits apply at once');
  });

  it('--json: one object; --socket: a usage error', async () => {
    const path = file('g2.yaml', good);
    const r = await runCli(['validate', '--json', '--config', path]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { valid: boolean }).valid, true);
    const s = await runCli(['validate', '--socket', 'unix:///run/x.vici', '--config', path]);
    assert.equal(s.code, 64);
  });
});
