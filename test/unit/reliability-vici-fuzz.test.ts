// Hostile input for src/vici, beyond the decoder fuzz in vici-fuzz.test.ts (synthetic frames, decoders only):
// - the frames charon really sent (fixtures/vici, recorded on the lab), mutated, through framing, packet,
//   message AND the typed layer (list-sa, list-conn, updown, rekey, log, alert, version, stats) and the
//   agent's observeTunnel: a typed ViciError or a result, never a TypeError;
// - structural extremes built on purpose: deep nesting, huge lists, invalid names, oversize lengths,
//   truncation: typed errors, in bounded time and memory;
// - the client against a hostile fake charon on a unix socket (garbage, mutated replies, oversize and
//   truncated frames, wrong packet types, undecodable and ill-shaped events, silence, slowloris, resets),
//   then a good server: every call settles with a ViciError within its timeout, nothing is left unhandled,
//   and the client reconnects cleanly (subscriptions re-registered, commands answered). A flood of big
//   events does not pile up memory.
// RELIABILITY_FUZZ_RUNS / RELIABILITY_FUZZ_CLIENT_RUNS set the case counts (CI: a few seconds); `npm run fuzz`
// runs the long version with vici-fuzz.test.ts. RELIABILITY_FUZZ_SEED replays a seed fast-check printed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import fc from 'fast-check';
import { observeTunnel } from '../../src/agent/controller/observe.js';
import { PacketType, VICI_DEPTH_MAX, VICI_MESSAGE_SIZE_MAX } from '../../src/vici/constants.js';
import { ViciError, ViciFrameTooLargeError } from '../../src/vici/errors.js';
import { FrameDecoder } from '../../src/vici/frame.js';
import { ViciClient } from '../../src/vici/client.js';
import { decodeMessage, decodeMessagePlain } from '../../src/vici/message.js';
import { encodePacket, parsePacket } from '../../src/vici/packet.js';
import { FakeCharon } from '../support/fake-charon.js';
import {
  alertFrom,
  childRekeyFrom,
  childUpdownFrom,
  connsFromListConn,
  ikeRekeyFrom,
  ikeSasFromListSa,
  ikeUpdateFrom,
  ikeUpdownFrom,
  logFrom,
  statsFrom,
  versionFrom,
} from '../../src/vici/types.js';

const RUNS = Number(process.env.RELIABILITY_FUZZ_RUNS ?? 2000);
const CLIENT_RUNS = Number(process.env.RELIABILITY_FUZZ_CLIENT_RUNS ?? 60);
const SEED = process.env.RELIABILITY_FUZZ_SEED === undefined ? undefined : Number(process.env.RELIABILITY_FUZZ_SEED);
const params = (numRuns: number) => ({ numRuns, ...(SEED === undefined ? {} : { seed: SEED }) });

// ---- the corpus: every frame of every recorded conversation ------------------------------------------

const FIXTURES = new URL('../../fixtures/vici/', import.meta.url);
const recorded: { frame: Buffer; dir: 'c2s' | 's2c'; file: string }[] = [];
for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.jsonl'))) {
  for (const line of readFileSync(new URL(file, FIXTURES), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as { dir?: 'c2s' | 's2c'; hex?: string };
    if (r.hex && r.dir) recorded.push({ frame: Buffer.from(r.hex, 'hex'), dir: r.dir, file });
  }
}
const fromCharon = recorded.filter((r) => r.dir === 's2c').map((r) => r.frame);

const counts = { cases: 0, decoded: 0, typedOk: 0, typedErrors: 0, clientCases: 0, clientCalls: 0, clientCallErrors: 0, reconnects: 0 };

/** CPU milliseconds this process spent since `since`: what a case costs, whatever else the machine runs. */
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}

/** Printed as `label` in a counterexample, instead of half a megabyte of bytes. */
function labelled<T extends object>(x: T, label: string): T {
  return Object.assign(x, { [fc.toStringMethod]: () => label });
}

/** Only ViciError (any subclass) may escape the VICI layer. */
function typedOnly(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ViciError)) throw err;
    counts.typedErrors++;
  }
}

// ---- mutations --------------------------------------------------------------------------------------

const mutation = fc.oneof(
  fc.tuple(fc.constant('flip' as const), fc.nat(), fc.integer({ min: 0, max: 7 })),
  fc.tuple(fc.constant('byte' as const), fc.nat(), fc.integer({ min: 0, max: 255 })),
  fc.tuple(fc.constant('insert' as const), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })),
  fc.tuple(fc.constant('cut' as const), fc.nat(), fc.integer({ min: 1, max: 64 })),
  fc.tuple(fc.constant('truncate' as const), fc.nat()),
  fc.tuple(fc.constant('repeat' as const), fc.nat(), fc.integer({ min: 1, max: 200 })),
  // A u16 value or name length made to lie about what follows.
  fc.tuple(fc.constant('length' as const), fc.nat(), fc.integer({ min: 0, max: 0xffff })),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Buffer, ms: readonly Mutation[], keepFraming: boolean): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    const at = b.length ? m[1] % b.length : 0;
    switch (m[0]) {
      case 'flip':
        if (b.length) b[at] = b[at]! ^ (1 << m[2]);
        break;
      case 'byte':
        if (b.length) b[at] = m[2];
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m[2], b.subarray(at)]);
        break;
      case 'cut':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m[2])]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'repeat':
        b = Buffer.concat([b.subarray(0, at + m[2]), b.subarray(at)]);
        break;
      case 'length':
        if (b.length >= at + 2) b.writeUInt16BE(m[2], at);
        break;
    }
  }
  if (keepFraming && b.length >= 4) b.writeUInt32BE(b.length - 4, 0);
  return b;
}

/** Everything the client does with a frame from charon, the typed views and the agent's observation included. */
function throughEveryLayer(frame: Buffer): void {
  typedOnly(() => {
    const pkt = parsePacket(frame);
    if (pkt.type !== PacketType.EVENT && pkt.type !== PacketType.CMD_RESPONSE) return;
    const msg = decodeMessage(pkt.payload, pkt.payloadOffset);
    const plain = decodeMessagePlain(pkt.payload, pkt.payloadOffset);
    counts.decoded++;
    const typed: Array<() => unknown> = [];
    switch (pkt.name) {
      case 'list-sa':
        typed.push(() => {
          const sas = ikeSasFromListSa(plain);
          for (const sa of sas) for (const c of Object.values(sa['child-sas'])) observeTunnel(sas, c.name, sa.name, 1);
        });
        break;
      case 'list-conn':
        typed.push(() => connsFromListConn(plain));
        break;
      case 'child-updown':
        typed.push(() => childUpdownFrom(msg));
        break;
      case 'ike-updown':
        typed.push(() => ikeUpdownFrom(msg));
        break;
      case 'child-rekey':
        typed.push(() => childRekeyFrom(msg));
        break;
      case 'ike-rekey':
        typed.push(() => ikeRekeyFrom(msg));
        break;
      case 'ike-update':
        typed.push(() => ikeUpdateFrom(msg));
        break;
      case 'log':
        typed.push(() => logFrom(msg));
        break;
      case 'alert':
        typed.push(() => alertFrom(msg));
        break;
      default:
        // Command replies: whichever typed call could have asked.
        typed.push(() => versionFrom(msg), () => statsFrom(msg));
    }
    for (const t of typed) {
      typedOnly(() => {
        t();
        counts.typedOk++;
      });
    }
  });
}

/** A byte stream through the incremental framer in the given cuts, each frame through every layer. */
function feed(stream: Buffer, cuts: readonly number[]): void {
  const d = new FrameDecoder();
  const cpu0 = process.cpuUsage();
  let at = 0;
  const points = [...cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b), stream.length];
  typedOnly(() => {
    for (const p of points) {
      if (p < at) continue;
      d.push(stream.subarray(at, p), throughEveryLayer);
      assert.ok(d.buffered <= VICI_MESSAGE_SIZE_MAX + 4, 'never more than one frame buffered');
      at = p;
    }
  });
  assert.ok(cpuMsSince(cpu0) < 1000, 'no case takes a second of CPU');
  counts.cases++;
}

// ---- structural extremes ----------------------------------------------------------------------------

function frameOf(body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

function eventPacket(name: string, message: Buffer): Buffer {
  return frameOf(Buffer.concat([Buffer.from([PacketType.EVENT, name.length]), Buffer.from(name, 'latin1'), message]));
}

/** `depth` nested sections, each named `s`, with one key/value at the bottom. */
function nested(depth: number): Buffer {
  const open = Buffer.from(Array.from({ length: depth }, () => [1, 1, 0x73]).flat());
  return Buffer.concat([open, Buffer.from([3, 1, 0x6b, 0, 1, 0x76]), Buffer.alloc(depth, 2)]);
}

/** A length prefix announcing more than 512 KiB, and a few bytes of what would follow. */
function oversizeHeader(extra: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(VICI_MESSAGE_SIZE_MAX + 1 + extra);
  return h;
}

/** One list of `items` values of `itemLen` bytes, clipped to fit one frame. */
function hugeList(items: number, itemLen: number): Buffer {
  const per = 3 + itemLen;
  const n = Math.min(items, Math.floor((VICI_MESSAGE_SIZE_MAX - 64) / per));
  const b = Buffer.alloc(3 + n * per + 1);
  b.set([4, 1, 0x6c]);
  let i = 3;
  for (let k = 0; k < n; k++) {
    b[i] = 5;
    b.writeUInt16BE(itemLen, i + 1);
    b.fill(0x61 + (k % 26), i + 3, i + 3 + itemLen);
    i += per;
  }
  b[i] = 6;
  return b;
}

const extremeCase = fc.oneof(
  fc.integer({ min: 1, max: 300 }).map((depth) => ({ what: `sections nested ${depth} deep`, frame: eventPacket('list-sa', nested(depth)), ok: depth <= VICI_DEPTH_MAX })),
  fc.record({ items: fc.integer({ min: 1000, max: 200_000 }), len: fc.integer({ min: 0, max: 8 }) }).map(({ items, len }) => ({ what: `list of ${items} x ${len} bytes`, frame: eventPacket('list-sa', hugeList(items, len)), ok: true })),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).filter((u) => u.some((c) => c < 0x20 || c > 0x7e)).map((u) => ({ what: 'unprintable packet name', frame: frameOf(Buffer.concat([Buffer.from([PacketType.EVENT, u.length]), u])), ok: false })),
  fc.integer({ min: 2, max: 255 }).map((len) => ({ what: `packet name length ${len} past the end`, frame: frameOf(Buffer.from([PacketType.EVENT, len, 0x61])), ok: false })),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((u) => ({ what: 'element with any name bytes', frame: eventPacket('log', Buffer.concat([Buffer.from([3, u.length]), u, Buffer.from([0, 1, 0x76])])), ok: undefined })),
  fc.integer({ min: 2, max: 0xffff }).map((len) => ({ what: `value length ${len} past the end`, frame: eventPacket('log', Buffer.from([3, 1, 0x6b, len >> 8, len & 255, 0x76])), ok: false })),
  fc.nat({ max: 0xffffffff - VICI_MESSAGE_SIZE_MAX - 1 }).map((x) => ({ what: `frame length ${VICI_MESSAGE_SIZE_MAX + 1 + x}`, frame: oversizeHeader(x), ok: false, tooLarge: true })),
  fc.record({ i: fc.nat(), cut: fc.nat() }).map(({ i, cut }) => {
    const f = fromCharon[i % fromCharon.length]!;
    return { what: 'recorded frame truncated', frame: f.subarray(0, cut % f.length), ok: undefined, truncated: true };
  }),
);
const extreme = extremeCase.map((x) => labelled(x, x.what));

describe('vici: recorded frames, mutated, through every layer', () => {
  it('the corpus holds what charon really sends', () => {
    assert.ok(recorded.length > 100, `${recorded.length} frames`);
    const names = new Set(fromCharon.filter((f) => f[4] === PacketType.EVENT).map((f) => parsePacket(f.subarray(4)).name));
    for (const n of ['list-sa', 'list-conn', 'child-updown', 'ike-updown', 'child-rekey', 'ike-rekey']) assert.ok(names.has(n), n);
  });

  it(`mutated frames (${RUNS} cases), alone, concatenated, in random chunks`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ i: fc.nat(), ms: fc.array(mutation, { maxLength: 6 }), keep: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (picks, cuts) => {
          const stream = Buffer.concat(picks.map((p) => mutate(recorded[p.i % recorded.length]!.frame, p.ms, p.keep)));
          feed(stream, cuts);
        },
      ),
      params(RUNS),
    );
  });

  it(`structural extremes (${Math.max(200, Math.floor(RUNS / 20))} cases): typed errors, linear time, one frame of memory`, () => {
    fc.assert(
      fc.property(extreme, fc.array(fc.nat(), { maxLength: 3 }), (x, cuts) => {
        const d = new FrameDecoder();
        const cpu0 = process.cpuUsage();
        let frames = 0;
        let error: unknown;
        try {
          d.push(x.frame, (f) => {
            frames++;
            const p = parsePacket(f);
            decodeMessage(p.payload, p.payloadOffset);
            decodeMessagePlain(p.payload, p.payloadOffset);
          });
        } catch (err) {
          error = err;
        }
        if (error !== undefined && !(error instanceof ViciError)) throw error;
        if (x.ok === true) assert.equal(error, undefined, `${x.what}: ${String(error)}`);
        if (x.ok === false) assert.ok(error instanceof ViciError, `${x.what} must be refused`);
        if ('tooLarge' in x) {
          assert.ok(error instanceof ViciFrameTooLargeError);
          assert.ok(d.buffered <= 4, 'refused before buffering');
        }
        if ('truncated' in x) assert.equal(frames, 0, 'a truncated frame is never handed on');
        const cpuMs = cpuMsSince(cpu0);
        assert.ok(cpuMs < 1000, `${x.what} took ${cpuMs.toFixed(0)} ms of CPU`);
        feed(x.frame, cuts);
      }),
      params(Math.max(200, Math.floor(RUNS / 20))),
    );
  });
});

// ---- the client against a hostile charon --------------------------------------------------------------

/** What a hostile server sends: bytes, and whether it then hangs up. */
const CHILD_UPDOWN_OK = { up: 'yes', gw: { uniqueid: '1', state: 'ESTABLISHED', 'child-sas': { 'net-1': { name: 'net', uniqueid: '1', state: 'INSTALLED' } } } };
const junk = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((u) => Buffer.from(u)) },
  { weight: 4, arbitrary: fc.record({ i: fc.nat(), ms: fc.array(mutation, { minLength: 1, maxLength: 4 }), keep: fc.boolean() }).map((p) => labelled(mutate(fromCharon[p.i % fromCharon.length]!, p.ms, p.keep), `recorded frame #${p.i % fromCharon.length} mutated ${JSON.stringify(p.ms)}${p.keep ? ', length fixed' : ''}`)) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffff }).map(oversizeHeader) },
  { weight: 2, arbitrary: fc.record({ i: fc.nat(), cut: fc.nat() }).map(({ i, cut }) => { const f = fromCharon[i % fromCharon.length]!; return f.subarray(0, 1 + (cut % (f.length - 1))); }) },
  { weight: 1, arbitrary: fc.constantFrom(encodePacket(PacketType.CMD_REQUEST, 'version', {}), encodePacket(PacketType.EVENT_REGISTER, 'log'), encodePacket(PacketType.EVENT_UNREGISTER, 'log')) },
  { weight: 2, arbitrary: fc.constantFrom(encodePacket(PacketType.CMD_RESPONSE, undefined, {}), encodePacket(PacketType.CMD_RESPONSE, undefined, { success: 'no', errmsg: 'x' }), encodePacket(PacketType.CMD_UNKNOWN), encodePacket(PacketType.EVENT_CONFIRM), encodePacket(PacketType.EVENT_UNKNOWN)) },
  { weight: 2, arbitrary: fc.constantFrom('child-updown', 'ike-updown', 'log', 'list-sa', 'list-conn').chain((name) => fc.oneof(fc.constant(encodePacket(PacketType.EVENT, name, { x: 'y' })), fc.uint8Array({ maxLength: 40 }).map((u) => eventPacket(name, Buffer.from(u))), fc.integer({ min: VICI_DEPTH_MAX + 1, max: 200 }).map((d) => eventPacket(name, nested(d))))) },
  { weight: 1, arbitrary: fc.constant(encodePacket(PacketType.EVENT, 'child-updown', CHILD_UPDOWN_OK)) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 150_000 }).map((n) => labelled(eventPacket('list-sa', hugeList(n, 1)), `list-sa event with a list of ${n} items`)) },
);

/** Per inbound packet: answer it properly, ignore it, or send junk instead (and maybe hang up). */
const reaction = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'answer' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'ignore' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('junk' as const), bytes: fc.array(junk, { minLength: 1, maxLength: 3 }), hangUp: fc.boolean() }) },
);
const connPlan = fc.record({
  greeting: fc.array(junk, { maxLength: 2 }),
  reactions: fc.array(reaction, { minLength: 1, maxLength: 6 }),
  /** After the scripted reactions: hang up, or answer nothing ever again (the client must time out). */
  then: fc.constantFrom('close' as const, 'silent' as const),
  /** Write byte by byte with pauses (slowloris) instead of at once. */
  trickle: fc.boolean(),
});
const callKinds = ['version', 'stats', 'listSas', 'listConns', 'initiate', 'terminate', 'raw'] as const;
const clientCase = fc.record({
  plans: fc.array(connPlan, { minLength: 1, maxLength: 4 }),
  subscribe: fc.boolean(),
  calls: fc.array(fc.record({ kind: fc.constantFrom(...callKinds), afterMs: fc.integer({ min: 0, max: 60 }) }), { minLength: 1, maxLength: 5 }),
});
type ClientCase = typeof clientCase extends fc.Arbitrary<infer T> ? T : never;

function properAnswer(type: number, name: string | undefined): Buffer[] {
  if (type === PacketType.EVENT_REGISTER || type === PacketType.EVENT_UNREGISTER) return [encodePacket(PacketType.EVENT_CONFIRM)];
  if (type !== PacketType.CMD_REQUEST) return [];
  if (name === 'version') return [encodePacket(PacketType.CMD_RESPONSE, undefined, { daemon: 'charon', version: '5.9.8', sysname: 'Linux', release: '6', machine: 'x86_64' })];
  return [encodePacket(PacketType.CMD_RESPONSE, undefined, name === 'initiate' || name === 'terminate' ? { success: 'yes' } : {})];
}

/** A hostile charon: each accepted connection follows the next plan of the case (the last one repeats). */
class HostileCharon {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private accepted = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly path: string,
    private readonly plans: ClientCase['plans'],
  ) {}

  listen(): Promise<void> {
    rmSync(this.path, { force: true });
    const server = net.createServer((s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }

  private accept(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    const plan = this.plans[Math.min(this.accepted++, this.plans.length - 1)]!;
    let chain = Promise.resolve();
    const send = (bufs: Buffer[]): void => {
      chain = chain.then(async () => {
        for (const b of bufs) {
          if (s.destroyed) return;
          if (!plan.trickle || b.length > 64) {
            s.write(b);
            continue;
          }
          for (const byte of b) {
            if (s.destroyed) return;
            s.write(Buffer.from([byte]));
            await new Promise<void>((r) => {
              const t = setTimeout(() => {
                this.timers.delete(t);
                r();
              }, 1);
              this.timers.add(t);
            });
          }
        }
      });
    };
    send(plan.greeting);
    const decoder = new FrameDecoder();
    let n = 0;
    s.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => {
          const r = plan.reactions[n++];
          const p = parsePacket(frame);
          if (r === undefined) {
            if (plan.then === 'close') chain = chain.then(() => void s.destroy());
            return;
          }
          if (r.kind === 'answer') send(properAnswer(p.type, p.name));
          else if (r.kind === 'junk') {
            send(r.bytes);
            if (r.hangUp) chain = chain.then(() => void s.end());
          }
        });
      } catch {
        s.destroy();
      }
    });
  }
}

describe('vici client: a hostile charon, then a good one', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);

  before(() => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
  });
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  });

  async function goodCharon(): Promise<FakeCharon> {
    const good = await FakeCharon.start();
    good.on('version', ({ conn }) => conn.respond({ daemon: 'charon', version: '5.9.8', sysname: 'Linux', release: '6', machine: 'x86_64' }));
    return good;
  }

  async function runCase(c: ClientCase): Promise<void> {
    const TIMEOUT = 80;
    // The good charon's socket path, held by the hostile one first.
    const good = await goodCharon();
    await good.stop();
    const hostile = new HostileCharon(good.path, c.plans);
    await hostile.listen();
    const client = new ViciClient({ uri: good.uri, commandTimeoutMs: TIMEOUT, connectTimeoutMs: TIMEOUT, reconnect: { baseMs: 1, capMs: 20 }, eventQueueLimit: 50 });
    const got: unknown[] = [];
    try {
      // A subscription may be refused by the hostile charon (EVENT_UNKNOWN, a timeout): then it is gone.
      const subscribed = c.subscribe ? client.onChildUpdown((e) => void got.push(e)).then(() => true, (err: unknown) => err instanceof ViciError ? false : Promise.reject(err)) : Promise.resolve(false);
      const connected = client.connect().catch((err: unknown) => err);
      // Every call must settle, as a result or a ViciError, within what its timeouts allow.
      const settled = await Promise.all(
        c.calls.map(async ({ kind, afterMs }) => {
          await new Promise((r) => setTimeout(r, afterMs));
          const t0 = performance.now();
          const call = (): Promise<unknown> => {
            switch (kind) {
              case 'version':
                return client.version();
              case 'stats':
                return client.stats();
              case 'listSas':
                return client.listSas({ child: 'net' });
              case 'listConns':
                return client.listConns();
              case 'initiate':
                return client.initiate({ child: 'net', timeoutMs: -1 });
              case 'terminate':
                return client.terminate({ ike: 'gw', timeoutMs: -1 });
              case 'raw':
                return client.request('get-conns');
            }
          };
          counts.clientCalls++;
          try {
            await call();
            return { kind, ms: performance.now() - t0 };
          } catch (err) {
            counts.clientCallErrors++;
            assert.ok(err instanceof ViciError, `${kind}: not a ViciError: ${err instanceof Error ? err.stack : String(err)}`);
            return { kind, ms: performance.now() - t0 };
          }
        }),
      );
      // Queued behind calls that time out one after another, on connections reopened one after another.
      const ceiling = c.calls.length * (2 * TIMEOUT + 50) + 500;
      for (const s of settled) assert.ok(s.ms < ceiling, `${s.kind} took ${s.ms.toFixed(0)} ms (ceiling ${ceiling})`);
      await hostile.close();

      // The good charon comes back on the same socket path: the client must reconnect by itself.
      const reconnectsBefore = client.reconnects;
      await good.listen();
      // (It may not have seen the hostile socket close yet: a call then fails with a ViciError, the next works.)
      const deadline = Date.now() + 3000;
      for (;;) {
        const v = client.connected ? await client.version().catch((err: unknown) => assert.ok(err instanceof ViciError, String(err))) : undefined;
        if (v?.version === '5.9.8') break;
        assert.ok(Date.now() < deadline, 'client reconnected to the good charon and answers');
        await new Promise((r) => setTimeout(r, 2));
      }
      await connected;
      if (client.reconnects > reconnectsBefore) counts.reconnects++;
      if (await subscribed) {
        // Registered again before 'connect' was emitted: events flow at once.
        good.emit('child-updown', CHILD_UPDOWN_OK);
        while (got.length === 0) {
          assert.ok(Date.now() < deadline + 3000, 'the subscription works again after the reconnect');
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    } finally {
      await client.close();
      await hostile.close();
      await good.close();
    }
    assert.deepEqual(unhandled, [], 'nothing unhandled');
    counts.clientCases++;
  }

  it(`${CLIENT_RUNS} hostile sessions: typed errors, bounded waits, a clean reconnect to the good charon each time`, async () => {
    const rss0 = process.memoryUsage().rss;
    await fc.assert(fc.asyncProperty(clientCase, runCase), { ...params(CLIENT_RUNS), endOnFailure: true });
    // Memory: after all those sessions (each with frames up to 512 KiB) nothing is left holding them.
    globalThis.gc?.();
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(grown < 256 * 1024 * 1024, `RSS grew ${(grown / 1048576).toFixed(0)} MiB over the hostile sessions`);
  });

  it('a flood of big events for a subscribed event does not pile up memory, and the client stays usable', async (t) => {
    const good = await goodCharon();
    const client = new ViciClient({ uri: good.uri, commandTimeoutMs: 5000, reconnect: { baseMs: 1, capMs: 20 } });
    try {
      let seen = 0;
      await client.connect();
      await client.onChildUpdown(() => void seen++);
      const conn = good.open.find((x) => x.registered.has('child-updown'))!;
      // ~400 KiB per event: a child-updown padded with one big list, as a hostile charon could send.
      const pad = Array.from({ length: 6 }, (_, k) => 'x'.repeat(65_000 - k));
      const big = encodePacket(PacketType.EVENT, 'child-updown', { ...CHILD_UPDOWN_OK, pad });
      assert.ok(big.length > 380_000);
      const rss0 = process.memoryUsage().rss;
      let peak = rss0;
      const N = 1500; // ~600 MB through the socket
      // With the server side's backpressure honoured, whatever piles up is the client's.
      for (let k = 0; k < N; k++) {
        if (!conn.socket.write(big)) await new Promise((r) => conn.socket.once('drain', r));
        if (k % 20 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
      const deadline = Date.now() + 60_000;
      while (seen + client.droppedEvents < N) {
        assert.ok(Date.now() < deadline, `${seen} delivered, ${client.droppedEvents} dropped of ${N}`);
        peak = Math.max(peak, process.memoryUsage().rss);
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.equal((await client.version()).version, '5.9.8');
      const grown = peak - rss0;
      t.diagnostic(`flood: ${N} events of ${(big.length / 1024).toFixed(0)} KiB, ${seen} delivered, ${client.droppedEvents} dropped; peak RSS +${(grown / 1048576).toFixed(0)} MiB`);
      assert.ok(grown < 300 * 1024 * 1024, `peak RSS grew ${(grown / 1048576).toFixed(0)} MiB during a ${((N * big.length) / 1048576).toFixed(0)} MiB flood`);
    } finally {
      await client.close();
      await good.close();
    }
  });

  it('reports what it saw', (t) => {
    t.diagnostic(`cases: ${counts.cases} framed streams, ${counts.decoded} messages decoded, ${counts.typedOk} typed views built, ${counts.typedErrors} typed errors`);
    t.diagnostic(`client: ${counts.clientCases} hostile sessions, ${counts.clientCalls} calls (${counts.clientCallErrors} rejected with a ViciError), ${counts.reconnects} sessions ended in a counted reconnect`);
    assert.ok(counts.decoded > 0 && counts.typedOk > 0 && counts.typedErrors > 0);
    assert.equal(counts.clientCases, CLIENT_RUNS);
    assert.ok(counts.clientCallErrors > 0);
  });
});
