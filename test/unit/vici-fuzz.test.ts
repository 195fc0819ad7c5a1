// Fuzzing the decoders: random and mutated frames must end in a decoded message or a ViciError, never in a
// TypeError/RangeError, a hang, or memory beyond one frame. CI runs a bounded number of cases (a few
// seconds); `npm run fuzz:vici` sets VICI_FUZZ_RUNS for a long run. Seeds are printed on failure by fast-check.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PacketType, VICI_MESSAGE_SIZE_MAX } from '../../src/vici/constants.js';
import { ViciError } from '../../src/vici/errors.js';
import { FrameDecoder } from '../../src/vici/frame.js';
import { decodeMessage, decodeMessagePlain, encodeMessage, type ViciSection } from '../../src/vici/message.js';
import { decodePacket, encodePacket } from '../../src/vici/packet.js';
import { ikeSa } from '../../bench/vici-data.js';

const RUNS = Number(process.env.VICI_FUZZ_RUNS ?? 3000);
const SEED = process.env.VICI_FUZZ_SEED === undefined ? undefined : Number(process.env.VICI_FUZZ_SEED);
const params = (runs: number) => ({ numRuns: runs, ...(SEED === undefined ? {} : { seed: SEED }) });

const corpus: Buffer[] = [
  encodePacket(PacketType.CMD_REQUEST, 'initiate', { child: 'net', ike: 'gw', timeout: 10000, 'init-limits': false }),
  encodePacket(PacketType.CMD_RESPONSE, undefined, { success: 'no', errmsg: 'establishing CHILD_SA failed' }),
  encodePacket(PacketType.CMD_UNKNOWN),
  encodePacket(PacketType.EVENT_REGISTER, 'child-updown'),
  encodePacket(PacketType.EVENT_UNREGISTER, 'list-sa'),
  encodePacket(PacketType.EVENT_CONFIRM),
  encodePacket(PacketType.EVENT_UNKNOWN),
  encodePacket(PacketType.EVENT, 'list-sa', ikeSa('gw', 3, 4)),
  encodePacket(PacketType.EVENT, 'child-rekey', { gw: { uniqueid: '1', 'child-sas': { net: { old: { a: '1' }, new: { a: '2' } } } } }),
  encodePacket(PacketType.CMD_RESPONSE, undefined, { key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } }),
];

let decodedOk = 0;
let typedErrors = 0;

function countElements(s: ViciSection): number {
  let n = 0;
  for (const k in s) {
    const v = s[k]!;
    n += 1 + (Array.isArray(v) ? v.length : Buffer.isBuffer(v) ? 0 : countElements(v));
  }
  return n;
}

/** Frame bytes (length prefix included) through the whole inbound path, in the given chunk sizes. */
function inbound(stream: Buffer, cuts: number[]): void {
  const d = new FrameDecoder();
  const t0 = performance.now();
  let at = 0;
  const points = [...cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b), stream.length];
  try {
    for (const p of points) {
      if (p < at) continue;
      d.push(stream.subarray(at, p), (frame) => {
        try {
          const pkt = decodePacket(frame);
          decodedOk++;
          if (pkt.message) decodeMessagePlain(frame.subarray(frame.length - encodeMessage(pkt.message).length));
          if (pkt.message) assert.ok(countElements(pkt.message) <= frame.length, 'output bounded by input');
        } catch (err) {
          if (!(err instanceof ViciError)) throw err;
          typedErrors++;
        }
      });
      assert.ok(d.buffered <= VICI_MESSAGE_SIZE_MAX + 4, 'never buffers more than one frame');
      at = p;
    }
  } catch (err) {
    if (!(err instanceof ViciError)) throw err;
    typedErrors++;
  }
  assert.ok(performance.now() - t0 < 1000, 'no case takes a second');
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Buffer, ms: Mutation[], fixLength: boolean): Buffer {
  let b = Buffer.from(src);
  for (const m of ms) {
    const at = b.length ? m.at % b.length : 0;
    switch (m.kind) {
      case 'flip':
        if (b.length) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (b.length) b[at] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + m.len), b.subarray(at)]);
        break;
    }
  }
  // Mostly keep the length prefix honest, so mutations reach the packet and message decoders.
  if (fixLength && b.length >= 4) b.writeUInt32BE(b.length - 4, 0);
  return b;
}

describe('vici decoder fuzz', () => {
  it(`random bytes (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 4 }), (u, cuts) => {
        const body = Buffer.from(u);
        inbound(body, cuts); // as a raw stream: mostly absurd lengths
        const framed = Buffer.concat([Buffer.alloc(4), body]);
        framed.writeUInt32BE(body.length, 0);
        inbound(framed, cuts); // as one honest frame
      }),
      params(RUNS),
    );
  });

  it(`mutated valid frames (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus.keys()),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 3 }),
        (idx, ms, fix, cuts) => {
          const m = mutate(corpus[idx]!, ms, fix);
          inbound(Buffer.concat([m, corpus[0]!]), cuts); // and a good frame after it
        },
      ),
      params(RUNS),
    );
  });

  it(`random element streams built from valid pieces (${RUNS} cases)`, () => {
    // Grammar-aware: sequences of well-formed elements in random order exercise the nesting rules.
    const el = fc.oneof(
      fc.constant(Buffer.from([1, 1, 0x73])), // SECTION_START "s"
      fc.constant(Buffer.from([2])), // SECTION_END
      fc.integer({ min: 0, max: 3 }).map((k) => Buffer.from([3, 1, 0x61 + k, 0, 1, 0x76])), // KEY_VALUE
      fc.integer({ min: 0, max: 3 }).map((k) => Buffer.from([4, 1, 0x6c + k])), // LIST_START
      fc.constant(Buffer.from([5, 0, 1, 0x69])), // LIST_ITEM
      fc.constant(Buffer.from([6])), // LIST_END
    );
    fc.assert(
      fc.property(fc.array(el, { maxLength: 60 }), (els) => {
        const msg = Buffer.concat(els);
        let plainOk = true;
        try {
          decodeMessagePlain(msg);
        } catch (err) {
          if (!(err instanceof ViciError)) throw err;
          plainOk = false;
        }
        try {
          const m = decodeMessage(msg);
          assert.ok(plainOk, 'both decoders accept the same messages');
          decodedOk++;
          // what decodes must re-encode to the same bytes (there is one encoding per tree)
          assert.deepEqual(encodeMessage(m), msg);
        } catch (err) {
          if (!(err instanceof ViciError)) throw err;
          typedErrors++;
        }
      }),
      params(RUNS),
    );
  });

  it('reports what it saw', () => {
    assert.ok(decodedOk > 0 && typedErrors > 0, `decoded ${decodedOk}, typed errors ${typedErrors}`);
  });
});
