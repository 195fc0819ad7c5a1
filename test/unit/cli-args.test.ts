// Usage errors (exit 64) before anything is read or connected, and --json honoured or refused by
// every verb: through main() itself, with what it prints captured.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommandArgs, socketUriProblem, UsageError } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { findingsJson, type Finding } from '../../src/cli/doctor.js';

async function run(t: TestContext, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  t.mock.method(console, 'log', (s: unknown) => (out += `${String(s)}\n`));
  t.mock.method(console, 'error', (s: unknown) => (err += `${String(s)}\n`));
  try {
    return { code: await main(argv), out, err };
  } finally {
    t.mock.restoreAll();
  }
}

describe('--socket is checked when the arguments are parsed', () => {
  const cases: Array<[string, boolean]> = [
    ['unix:///var/run/charon.vici', true],
    ['tcp://127.0.0.1:4502', true],
    ['tcp://[::1]:4502', true],
    ['http://x', false],
    ['/var/run/charon.vici', false],
    ['unix://', false],
    ['unix://relative.vici', false],
    ['tcp://host', false],
    ['tcp://host:0', false],
    ['tcp://host:70000', false],
    ['', false],
  ];
  for (const [uri, ok] of cases) {
    it(`${JSON.stringify(uri)}: ${ok ? 'accepted' : 'refused'}`, () => {
      const problem = socketUriProblem(uri);
      if (ok) assert.equal(problem, undefined);
      else assert.equal(problem, `--socket ${JSON.stringify(uri)}: expected unix:///path or tcp://host:port, e.g. unix:///var/run/charon.vici`);
    });
  }

  for (const command of ['run', 'status', 'doctor']) {
    it(`${command} --socket http://x exits 64 with one line, before it reads a config`, async (t) => {
      const r = await run(t, [command, '--config', '/nonexistent/config.yaml', '--socket', 'http://x']);
      assert.equal(r.code, 64);
      assert.equal(r.out, '');
      assert.equal(r.err, `ipsec-keepalive ${command}: --socket "http://x": expected unix:///path or tcp://host:port, e.g. unix:///var/run/charon.vici\n`);
    });
  }
});

describe('which verb takes what', () => {
  const refused: Array<[string, string[], RegExp]> = [
    ['run', ['--json'], /^--json does not apply to run \(run logs JSON lines already\); it takes -c\/--config, --socket$/],
    ['check', ['--socket', 'unix:///x.vici'], /^--socket does not apply to check/],
    ['validate', ['--socket', 'unix:///x.vici'], /^--socket does not apply to validate/],
    ['doctor', ['-v'], /^-v\/--verbose does not apply to doctor/],
    ['run', ['tunnel-a'], /Unexpected argument 'tunnel-a'/],
    ['doctor', ['tunnel-a'], /Unexpected argument 'tunnel-a'/],
    ['check', ['tunnel-a'], /Unexpected argument 'tunnel-a'/],
    ['validate', ['tunnel-a'], /Unexpected argument 'tunnel-a'/],
    ['status', ['--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [command, args, message] of refused) {
    it(`${command} ${args.join(' ')}: usage error`, () => {
      assert.throws(() => parseCommandArgs(command, args), (e: unknown) => e instanceof UsageError && message.test(e.message));
    });
  }

  it('status takes tunnel names, -v/--verbose and --json', () => {
    assert.deepEqual(parseCommandArgs('status', ['a', '-v', 'b', '--json', '-c', 'x.yaml']), { config: 'x.yaml', json: true, verbose: true, names: ['a', 'b'] });
    assert.deepEqual(parseCommandArgs('status', ['--verbose']), { verbose: true, names: [] });
  });

  for (const command of ['status', 'check', 'doctor', 'validate']) {
    it(`${command} takes --json`, () => {
      assert.equal(parseCommandArgs(command, ['--json']).json, true);
    });
  }

  it('run --json exits 64 through main()', async (t) => {
    const r = await run(t, ['run', '--json']);
    assert.equal(r.code, 64);
    assert.match(r.err, /^ipsec-keepalive run: --json does not apply to run/);
    assert.equal(r.err.trim().split('\n').length, 1);
  });
});

describe('validate --json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ik-validate-'));
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, 'tunnels: [{ child: a }, { child: b }]\n');
  writeFileSync(bad, 'tunnels: [{ child: a, probes: [{ tcp: "1.2.3.4" }] }]\n');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

  it('valid: one object, exit 0', async (t) => {
    const r = await run(t, ['validate', '--json', '--config', good]);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), { path: good, valid: true, tunnels: 2, discover: false });
  });

  it('invalid: the error as one object, exit 78', async (t) => {
    const r = await run(t, ['validate', '--json', '--config', bad]);
    assert.equal(r.code, 78);
    assert.deepEqual(JSON.parse(r.out), { path: bad, valid: false, error: `${bad}: tunnels[0].probes[0].tcp: expected host:port with a port 1-65535, got "1.2.3.4"` });
  });

  it('a missing file is a config error too', async (t) => {
    const r = await run(t, ['validate', '--json', '--config', join(dir, 'none.yaml')]);
    assert.equal(r.code, 78);
    assert.equal((JSON.parse(r.out) as { valid: boolean }).valid, false);
  });

  it('without --json: the text line, as before', async (t) => {
    const r = await run(t, ['validate', '--config', good]);
    assert.equal(r.code, 0);
    assert.equal(r.out, `${good}: valid (2 tunnels)\n`);
  });
});

describe('doctor --json', () => {
  it('snake_case keys, child null for connection findings, the warning count', () => {
    const findings: Finding[] = [
      { severity: 'warn', conn: 'c', key: 'dpd_delay', message: 'DPD is off' },
      { severity: 'info', conn: 'c', child: 'k', key: 'start_action', message: 'none' },
    ];
    assert.deepEqual(JSON.parse(findingsJson(findings)), {
      findings: [
        { severity: 'warn', conn: 'c', child: null, key: 'dpd_delay', message: 'DPD is off' },
        { severity: 'info', conn: 'c', child: 'k', key: 'start_action', message: 'none' },
      ],
      warnings: 1,
    });
  });
});

describe('an unreachable socket: exit 69, one line with what to do', () => {
  it('no socket at the path: names the socket and the fix', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ik-nosock-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const uri = `unix://${dir}/absent.vici`;
    const r = await run(t, ['status', '--socket', uri]);
    assert.equal(r.code, 69);
    assert.equal(r.err, `ipsec-keepalive: cannot connect to charon at ${uri}: no socket there: charon is not running, or its VICI socket is elsewhere (set vici.socket or --socket)\n`);
  });
});
