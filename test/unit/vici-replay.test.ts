// The recorded fixtures (fixtures/vici, from the lab: see its README): every frame decodes, split at every
// offset; and the client, replaying each scenario against its recording, sends exactly what it sent to charon.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { FrameDecoder } from '../../src/vici/frame.js';
import { decodePacket, encodeMessage, PacketType, ViciClient } from '../../src/vici/index.js';
import { parseFixture, type FixtureLine } from '../../src/vici/recorder.js';
import { ReplayServer, scriptsOf } from '../support/vici-replay.js';
import { SCENARIO_CLIENT_OPTIONS, SCENARIOS, type World } from '../support/fixture-scenarios.js';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'vici');
const files = readdirSync(DIR).filter((f) => f.endsWith('.jsonl')).sort();
const load = (f: string): FixtureLine[] => parseFixture(readFileSync(path.join(DIR, f), 'utf8'));

const noWorld: World = {
  replay: true,
  swanctl: async () => {},
  stopLocalCharon: async () => {},
  startLocalCharon: async () => {},
  peerDeleteChild: async () => {},
  addSecondIkeSa: async () => {},
};

describe('vici fixtures', () => {
  it('cover every scenario, and every scenario has a fixture', () => {
    assert.deepEqual(files, SCENARIOS.map((s) => `${s.name}.jsonl`).sort());
  });

  for (const f of files) {
    it(`${f}: every frame decodes, whole and split at every offset (alone and between neighbours)`, () => {
      const lines = load(f);
      const frames = lines.filter((l) => l.hex !== undefined).map((l) => ({ dir: l.dir!, bytes: Buffer.from(l.hex!, 'hex') }));
      assert.ok(frames.length > 0);
      const types = new Set<number>();
      for (const [i, { dir, bytes }] of frames.entries()) {
        const body = bytes.subarray(4);
        assert.equal(bytes.readUInt32BE(0), body.length);
        const p = decodePacket(body);
        types.add(p.type);
        if (p.message) {
          // re-encoding gives the same bytes: nothing lost or reordered
          const nameLen = p.name === undefined ? 0 : 1 + p.name.length;
          assert.deepEqual(encodeMessage(p.message), body.subarray(1 + nameLen), `${f} frame ${i}`);
        }
        assert.equal(dir === 'c2s', [PacketType.CMD_REQUEST, PacketType.EVENT_REGISTER, PacketType.EVENT_UNREGISTER].includes(p.type as 0 | 3 | 4));
        const prev = frames[i - 1]?.bytes ?? Buffer.alloc(0);
        const next = frames[i + 1]?.bytes ?? Buffer.alloc(0);
        const stream = Buffer.concat([prev, bytes, next]);
        const want = [prev, bytes, next].filter((b) => b.length).map((b) => b.subarray(4).toString('hex'));
        for (let k = prev.length; k <= prev.length + bytes.length; k++) {
          const d = new FrameDecoder();
          const got: string[] = [];
          d.push(stream.subarray(0, k), (fr) => got.push(fr.toString('hex')));
          d.push(stream.subarray(k), (fr) => got.push(fr.toString('hex')));
          assert.deepEqual(got, want, `${f}: frame ${i} split at ${k - prev.length}`);
        }
      }
      assert.ok(types.has(PacketType.CMD_REQUEST) || types.has(PacketType.EVENT_REGISTER));
    });
  }

  it('the shutdown fixture ends its first connection from the server side, after the down events', () => {
    const scripts = scriptsOf(load('shutdown.jsonl'));
    assert.ok(scripts.length >= 2);
    const first = scripts[0]!.steps;
    assert.deepEqual(first.at(-1), { ...first.at(-1)!, kind: 'close', by: 'server' });
    const events = first.filter((s) => s.kind === 'send').map((s) => decodePacket(Buffer.from((s as { hex: string }).hex, 'hex').subarray(4)));
    assert.ok(events.filter((e) => e.type === PacketType.EVENT).length >= 4);
  });
});

describe('vici client against replayed fixtures', () => {
  const servers: ReplayServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  for (const scenario of SCENARIOS) {
    it(`${scenario.name}: ${scenario.description}`, async () => {
      const replay = await ReplayServer.start(load(`${scenario.name}.jsonl`));
      servers.push(replay);
      const client = new ViciClient({ ...SCENARIO_CLIENT_OPTIONS, uri: replay.uri });
      try {
        await client.connect();
        await scenario.run(client, noWorld);
      } finally {
        await client.close();
      }
      await replay.done();
      assert.deepEqual(replay.mismatches, []);
    });
  }

  it('reports a client that strays from the recording', async () => {
    const replay = await ReplayServer.start(load('version.jsonl'));
    servers.push(replay);
    const client = new ViciClient({ uri: replay.uri, reconnect: false, commandTimeoutMs: 300 });
    await client.connect();
    await client.stats().catch(() => undefined); // the recording answers version's reply: schema error
    await client.close();
    await replay.done();
    assert.equal(replay.mismatches.length, 1);
    assert.match(replay.mismatches[0]!, /expected CMD_REQUEST version \(13 bytes\), got CMD_REQUEST stats/);
  });
});
