// The recording proxy and `ipsec-keepalive record`: what goes through is recorded frame by frame, the
// recording replays, and the CLI fails cleanly on bad arguments or an absent charon.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runRecord } from '../../src/cli/record.js';
import { decodePacket, PacketType, ViciClient } from '../../src/vici/index.js';
import { parseFixture, startRecorder } from '../../src/vici/recorder.js';
import { ReplayServer } from '../support/vici-replay.js';
import { FakeCharon } from '../support/fake-charon.js';

describe('vici recorder', () => {
  let fake: FakeCharon;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'vici-rec-'));
    fake = await FakeCharon.start();
    fake.on('version', ({ conn }) => {
      conn.event('log', { group: 'CFG', level: '1', msg: 'hello' });
      conn.respond({ daemon: 'charon', version: '5.9.8', sysname: 'Linux', release: 'x', machine: 'y' });
    });
  });
  after(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records both directions frame by frame, with opens and closes, and the recording replays', async () => {
    const out = path.join(dir, 'f.jsonl');
    const listen = path.join(dir, 'proxy.vici');
    const rec = await startRecorder({ listen, upstream: fake.uri, out });
    const run = async (uri: string) => {
      const c = new ViciClient({ uri, reconnect: false });
      await c.connect();
      const logs: string[] = [];
      await c.onLog((e) => void logs.push(e.msg));
      assert.equal((await c.version()).version, '5.9.8');
      await new Promise((r) => setTimeout(r, 20));
      await c.close();
      return logs;
    };
    assert.deepEqual(await run(`unix://${listen}`), ['hello']);
    await rec.close();
    const lines = parseFixture(readFileSync(out, 'utf8'));
    const summary = lines.map((l) => (l.hex ? `${l.dir} ${decodePacket(Buffer.from(l.hex, 'hex').subarray(4)).type}` : `${l.event} ${l.by ?? ''}`.trim()));
    assert.deepEqual(summary, [
      'open',
      `c2s ${PacketType.EVENT_REGISTER}`,
      `s2c ${PacketType.EVENT_CONFIRM}`,
      `c2s ${PacketType.CMD_REQUEST}`,
      `s2c ${PacketType.EVENT}`,
      `s2c ${PacketType.CMD_RESPONSE}`,
      'close client',
    ]);
    assert.ok(lines.every((l, i) => i === 0 || l.t_ms >= lines[i - 1]!.t_ms));
    const replay = await ReplayServer.start(lines);
    try {
      assert.deepEqual(await run(replay.uri), ['hello']);
      await replay.done();
      assert.deepEqual(replay.mismatches, []);
    } finally {
      await replay.close();
    }
  });

  it('a client of an absent charon is accepted and closed by the proxy, recorded as such', async () => {
    const out = path.join(dir, 'g.jsonl');
    const listen = path.join(dir, 'proxy2.vici');
    const rec = await startRecorder({ listen, upstream: `unix://${path.join(dir, 'nothing.vici')}`, out });
    const c = new ViciClient({ uri: `unix://${listen}`, reconnect: false, connectTimeoutMs: 500 });
    await c.connect().catch(() => undefined);
    await c.close();
    await rec.close();
    const lines = parseFixture(readFileSync(out, 'utf8'));
    assert.deepEqual(lines.map((l) => `${l.event} ${l.by}`), ['open undefined', 'close server']);
  });

  it('record CLI: usage errors exit 64, an unreachable upstream 69', async () => {
    const err = console.error;
    const said: string[] = [];
    console.error = (m: string) => void said.push(m);
    try {
      assert.equal(await runRecord([]), 64);
      assert.equal(await runRecord(['--listen', 'x', '--upstream', 'http://x', '--out', 'y']), 64);
      assert.equal(await runRecord(['--bogus']), 64);
      assert.equal(await runRecord(['--listen', path.join(dir, 'l.vici'), '--upstream', `unix://${path.join(dir, 'absent.vici')}`, '--out', path.join(dir, 'o.jsonl')]), 69);
    } finally {
      console.error = err;
    }
    assert.match(said.at(-1)!, /absent\.vici: cannot connect: ENOENT/);
  });
});
