// The start-up warning for vici.max_concurrent_initiates against charon's worker threads (#2776).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { warnIfInitiatesStarveCharon } from '../../src/cli/run.js';
import { FakeCharon } from '../support/fake-charon.js';
import { ViciClient } from '../../src/vici/index.js';

describe('max_concurrent_initiates against charon worker threads', () => {
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of closers.reverse()) await c();
  });

  async function linesFor(mci: number, threads: string | undefined): Promise<Array<Record<string, unknown>>> {
    const fake = await FakeCharon.start();
    closers.push(() => fake.close());
    fake.on('stats', ({ conn }) => conn.respond(threads === undefined ? {} : { workers: { total: threads, idle: threads } }));
    const vici = new ViciClient({ uri: fake.uri, reconnect: false });
    closers.push(() => vici.close());
    await vici.connect();
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) });
    await warnIfInitiatesStarveCharon(vici, mci, pino({ level: 'debug' }, sink));
    return lines;
  }

  it('warns, naming the setting and the thread count, above a quarter of the threads', async () => {
    const lines = await linesFor(16, '16');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['level'], 40);
    assert.equal(
      lines[0]!['msg'],
      "vici.max_concurrent_initiates 16 is more than a quarter of charon's 16 worker threads: blocking initiates can starve charon (strongSwan #2776); use at most 4 or raise charon.threads",
    );
  });

  it('stays quiet at the default, and when charon does not say', async () => {
    assert.deepEqual(await linesFor(4, '16'), []);
    const unknown = await linesFor(16, undefined);
    assert.ok(unknown.every((l) => l['level'] !== 40), 'no warning without a thread count');
  });
});
