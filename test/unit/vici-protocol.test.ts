// The pure protocol layer: golden bytes from the spec, round trips, every limit, every split point.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ElementType, PacketType, VICI_DEPTH_MAX, VICI_MESSAGE_SIZE_MAX } from '../../src/vici/constants.js';
import { ViciDecodeError, ViciEncodeError, ViciFrameTooLargeError } from '../../src/vici/errors.js';
import { FrameDecoder } from '../../src/vici/frame.js';
import {
  asBool,
  asNumber,
  asString,
  asStrings,
  decodeMessage,
  decodeMessagePlain,
  encodeMessage,
  newSection,
  orderedKeys,
  toPlain,
  type ViciSection,
} from '../../src/vici/message.js';
import { decodePacket, encodeCommand, encodePacket, parsePacket } from '../../src/vici/packet.js';
import { listSaFrame } from '../../bench/vici-data.js';

const b = (s: string) => Buffer.from(s);
const bytes = (...parts: (number | string)[]) => Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'latin1'))));

// strongSwan's src/libcharon/plugins/vici/README.md, "Encoding example", byte for byte.
const README_EXAMPLE = bytes(
  // key1 = value1: KEY_VALUE, name length 4, "key1", value length 0,6, "value1"
  3, 4, 'key1', 0, 6, 'value1',
  // section1: SECTION_START, name length 8, "section1"
  1, 8, 'section1',
  // sub-section: SECTION_START, name length 11, "sub-section"
  1, 11, 'sub-section',
  // key2 = value2: KEY_VALUE, 4, "key2", 0,6, "value2"
  3, 4, 'key2', 0, 6, 'value2',
  // sub-section end: SECTION_END
  2,
  // list1: LIST_START, name length 5, "list1"
  4, 5, 'list1',
  // item1: LIST_ITEM, value length 0,5, "item1"
  5, 0, 5, 'item1',
  // item2: LIST_ITEM, 0,5, "item2"
  5, 0, 5, 'item2',
  // list1 end: LIST_END
  6,
  // section1 end: SECTION_END
  2,
);

/** Builds a decoded-shape section from a plain description (strings -> Buffers). */
function sec(o: Record<string, unknown>): ViciSection {
  const s = newSection();
  for (const [k, v] of Object.entries(o)) {
    s[k] = typeof v === 'string' ? b(v) : Array.isArray(v) ? v.map((x: string) => b(x)) : sec(v as Record<string, unknown>);
  }
  return s;
}

function assertDecodeError(fn: () => unknown, re: RegExp, offset?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ViciDecodeError, `expected ViciDecodeError, got ${String(err)}`);
    assert.match(err.message, re);
    if (offset !== undefined) assert.equal(err.offset, offset);
    return true;
  });
}

function assertEncodeError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ViciEncodeError, `expected ViciEncodeError, got ${String(err)}`);
    assert.match(err.message, re);
    return true;
  });
}

describe('vici message encoding', () => {
  it('encodes the README example to its golden bytes', () => {
    const enc = encodeMessage({ key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } });
    assert.deepEqual(enc, README_EXAMPLE);
  });

  it('decodes the README example', () => {
    const m = decodeMessage(README_EXAMPLE);
    assert.deepEqual(toPlain(m), toPlain(sec({ key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } })));
    assert.deepEqual(Object.keys(m.section1 as ViciSection), ['sub-section', 'list1']);
    assert.ok(Buffer.isBuffer(m.key1));
  });

  it('encodes numbers, bigints, booleans, bytes and leaves undefined out', () => {
    const enc = encodeMessage({ a: 12, b: true, c: false, d: Buffer.from([0, 255]), e: undefined, f: 10n ** 20n, g: -0 });
    const p = decodeMessage(enc);
    assert.deepEqual(Object.keys(p), ['a', 'b', 'c', 'd', 'f', 'g']);
    assert.equal(asString(p.a), '12');
    assert.equal(asNumber(p.a), 12);
    assert.equal(asString(p.b), 'yes');
    assert.equal(asBool(p.b), true);
    assert.equal(asBool(p.c), false);
    assert.deepEqual(p.d, Buffer.from([0, 255]));
    assert.equal(asString(p.f), '100000000000000000000');
    assert.equal(asString(p.g), '0');
    assert.equal(asStrings(p.a), undefined);
    assert.equal(asString(p.nope), undefined);
  });

  it('decodes straight to text, ASCII or not', () => {
    const ascii = decodeMessagePlain(README_EXAMPLE);
    assert.deepEqual(JSON.parse(JSON.stringify(ascii)), { key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } });
    const utf8 = decodeMessagePlain(encodeMessage({ name: 'Zürich–Genève', list: ['ü', 'plain'], s: { k: 'ß' } }));
    assert.deepEqual(JSON.parse(JSON.stringify(utf8)), { name: 'Zürich–Genève', list: ['ü', 'plain'], s: { k: 'ß' } });
    assertDecodeError(() => decodeMessagePlain(bytes(3, 1, 'k', 0, 9, 'abc')), /value of 9 bytes runs past/, 0);
  });

  it("tells charon's own key names from look-alikes", () => {
    // src/vici/keys.ts finds a known key by its length and first, middle and last bytes, then compares:
    // these agree with 'uniqueid' on all four (the last is not ASCII: 'un', U+00E9, 'ueid').
    const wire = bytes(3, 8, 'unXqueid', 0, 1, 'x', 3, 8, 'uniqueid', 0, 1, '1', 3, 8, 'un', 0xc3, 0xa9, 'ueid', 0, 1, 'y');
    const keys = ['unXqueid', 'uniqueid', 'un\u00e9ueid'];
    assert.deepEqual(Object.keys(decodeMessage(wire)), keys);
    assert.deepEqual(Object.entries(decodeMessagePlain(wire)), [[keys[0], 'x'], [keys[1], '1'], [keys[2], 'y']]);
    assertDecodeError(() => decodeMessage(bytes(3, 8, 'uniqueid', 0, 0, 1, 8, 'uniqueid', 2)), /duplicate key 'uniqueid'/, 12);
  });

  it('keeps binary values intact both ways', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const m = decodeMessage(encodeMessage({ blob: all, list: [all, Buffer.alloc(0)] }));
    assert.deepEqual(m.blob, all);
    assert.deepEqual(m.list, [all, Buffer.alloc(0)]);
  });

  it('keeps __proto__ and other prototype names as ordinary keys', () => {
    const input = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": "c", "toString": "t", "hasOwnProperty": ["h"]}') as Record<string, unknown>;
    const m = decodeMessage(encodeMessage(input));
    assert.deepEqual(Object.keys(m), ['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    assert.equal(asString((m.__proto__ as ViciSection).polluted), 'yes');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(m)), null, 'nothing inherited');
    assert.equal('toString' in newSection(), false);
    const plain = toPlain(m);
    assert.equal((plain.__proto__ as Record<string, string>).polluted, 'yes');
  });

  it('keeps wire order for index-like keys and re-encodes identically', () => {
    const wire = bytes(3, 1, 'b', 0, 1, 'x', 3, 2, '10', 0, 1, 'y', 3, 1, '2', 0, 1, 'z', 1, 1, 's', 3, 1, '1', 0, 0, 3, 1, '0', 0, 0, 2);
    const m = decodeMessage(wire);
    assert.deepEqual(Object.keys(m), ['2', '10', 'b', 's'], 'JavaScript reorders');
    assert.deepEqual(orderedKeys(m), ['b', '10', '2', 's'], 'wire order kept');
    assert.deepEqual(orderedKeys(m.s as ViciSection), ['1', '0']);
    assert.deepEqual(encodeMessage(m), wire);
    assert.deepEqual(orderedKeys(toPlain(m)), ['b', '10', '2', 's']);
    // edited after decoding: recorded order for what is left, new keys after it
    delete m.b;
    m.c = b('c');
    assert.deepEqual(orderedKeys(m), ['10', '2', 's', 'c']);
  });

  it('round-trips arbitrary messages (property)', () => {
    const name = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_. /'.split('')), minLength: 0, maxLength: 20 });
    const value = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
    const tree = fc.letrec<{ section: ViciSection }>((tie) => ({
      section: fc
        .array(fc.tuple(name, fc.oneof({ depthSize: 'small' }, value, fc.array(value, { maxLength: 5 }), tie('section'))), { maxLength: 6 })
        .map((entries) => {
          const s = newSection();
          for (const [k, v] of entries) s[k] = v as ViciSection[string];
          return s;
        }),
    })).section;
    fc.assert(
      fc.property(tree, (s) => {
        const enc = encodeMessage(s);
        const dec = decodeMessage(enc);
        assert.deepEqual(toPlain(dec), toPlain(s));
        assert.deepEqual(encodeMessage(dec), enc, 'decode -> encode is the identity on bytes');
        assert.deepEqual(decodeMessagePlain(enc), toPlain(dec), 'the text decoder agrees with toPlain');
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a 1000-CHILD_SA list-sa event', () => {
    const frame = listSaFrame(1000);
    const p = decodePacket(frame.subarray(4));
    assert.equal(p.type, PacketType.EVENT);
    assert.equal(p.name, 'list-sa');
    const ike = p.message!['ikev2-vpn'] as ViciSection;
    assert.equal(Object.keys(ike['child-sas'] as ViciSection).length, 1000);
    assert.ok(frame.length > 400_000 && frame.length < VICI_MESSAGE_SIZE_MAX);
  });
});

describe('vici limits', () => {
  it('encoder: key over 255 bytes', () => assertEncodeError(() => encodeMessage({ ['k'.repeat(256)]: 'v' }), /over the 255 byte limit/));
  it('encoder: name of 255 bytes is fine', () => assert.ok(encodeMessage({ ['k'.repeat(255)]: 'v' })));
  it('encoder: value over 65535 bytes', () => assertEncodeError(() => encodeMessage({ k: 'v'.repeat(65536) }), /over the 65535 byte limit/));
  it('encoder: list item over 65535 bytes', () => assertEncodeError(() => encodeMessage({ k: [Buffer.alloc(65536)] }), /k\[0\]: value is 65536 bytes/));
  it('encoder: nested list', () => assertEncodeError(() => encodeMessage({ l: ['a', ['b']] as unknown as string[] }), /l\[1\]: .*no nested lists/));
  it('encoder: section in a list', () => assertEncodeError(() => encodeMessage({ l: [{ a: 'b' }] as unknown as string[] }), /l\[0\]: list items must be/));
  it('encoder: total over 512 KiB', () => {
    const big: Record<string, string> = {};
    for (let i = 0; i < 9; i++) big[`k${i}`] = 'v'.repeat(65000);
    assertEncodeError(() => encodeMessage(big), /exceeds the 524288 byte limit/);
    assertEncodeError(() => encodeCommand('load-conn', big), /exceeds the 524288 byte limit/);
  });
  it('encoder: the largest frame that fits', () => {
    // 8 values of 65535 plus element overhead is just over; fill to exactly the limit instead.
    const msg: Record<string, Buffer> = {};
    let room = VICI_MESSAGE_SIZE_MAX - 1 - 1 - 'x'.length; // packet type, name length, name
    for (let i = 0; room > 0; i++) {
      const key = `k${i}`;
      const overhead = 1 + 1 + key.length + 2;
      const len = Math.min(65535, room - overhead);
      msg[key] = Buffer.alloc(len);
      room -= overhead + len;
    }
    const frame = encodeCommand('x', msg);
    assert.equal(frame.length, VICI_MESSAGE_SIZE_MAX + 4);
    msg.extra = Buffer.alloc(0);
    assertEncodeError(() => encodeCommand('x', msg), /exceeds/);
  });
  it('encoder: non-printable or non-ASCII names', () => {
    assertEncodeError(() => encodeMessage({ 'k\n': 'v' }), /not printable ASCII/);
    assertEncodeError(() => encodeMessage({ 'schlüssel': 'v' }), /not printable ASCII/);
    assertEncodeError(() => encodeCommand('ver\u0000sion'), /name "ver\\u0000sion" is not printable ASCII/);
  });
  it('encoder: sections nested too deep, and cycles', () => {
    let deep: Record<string, unknown> = {};
    const top = deep;
    for (let i = 0; i < VICI_DEPTH_MAX + 1; i++) deep = (deep.s = {}) as Record<string, unknown>;
    assertEncodeError(() => encodeMessage(top), /nested deeper than 64/);
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    assertEncodeError(() => encodeMessage(cyc), /nested deeper/);
  });
  it('encoder: unsupported values', () => {
    assertEncodeError(() => encodeMessage({ a: null }), /a: cannot encode a value of type null/);
    assertEncodeError(() => encodeMessage({ a: new Date() }), /type Date/);
    assertEncodeError(() => encodeMessage({ a: NaN }), /NaN cannot be encoded/);
    assertEncodeError(() => encodeMessage({ a: () => 1 }), /type function/);
    assertEncodeError(() => encodeMessage({ l: [undefined] as unknown as string[] }), /l\[0\]/);
  });
  it('encoder: packet shapes', () => {
    assertEncodeError(() => encodePacket(PacketType.CMD_REQUEST, ''), /needs a name/);
    assertEncodeError(() => encodePacket(PacketType.CMD_RESPONSE, 'x'), /carries no name/);
    assertEncodeError(() => encodePacket(PacketType.EVENT_REGISTER, 'x', {}), /carries no message/);
    assertEncodeError(() => encodePacket(9 as PacketType), /unknown packet type/);
    assertEncodeError(() => encodeCommand('c'.repeat(256)), /over the 255 byte limit/);
  });

  it('decoder: frame over 512 KiB is refused before buffering', () => {
    const d = new FrameDecoder();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(VICI_MESSAGE_SIZE_MAX + 1);
    assert.throws(() => d.push(head, () => assert.fail('no frame')), ViciFrameTooLargeError);
    assert.equal(d.buffered, 0, 'nothing buffered');
    assert.throws(() => d.push(Buffer.from([1]), () => {}), ViciFrameTooLargeError, 'stays failed');
    // header split over chunks, huge announced length
    const d2 = new FrameDecoder();
    d2.push(Buffer.from([0xff, 0xff]), () => {});
    assert.throws(() => d2.push(Buffer.from([0xff, 0xff]), () => {}), (e: unknown) => e instanceof ViciFrameTooLargeError && e.length === 0xffffffff);
  });
  it('decoder: exactly 512 KiB is accepted', () => {
    const d = new FrameDecoder();
    const head = Buffer.alloc(4);
    head.writeUInt32BE(VICI_MESSAGE_SIZE_MAX);
    const got: Buffer[] = [];
    d.push(head, (f) => got.push(f));
    d.push(Buffer.alloc(VICI_MESSAGE_SIZE_MAX), (f) => got.push(f));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.length, VICI_MESSAGE_SIZE_MAX);
  });

  const S = ElementType;
  const cases: [string, Buffer, RegExp, number][] = [
    ['SECTION_END at the root', bytes(S.SECTION_END), /SECTION_END outside of a section/, 0],
    ['unclosed section', bytes(S.SECTION_START, 1, 's'), /1 section\(s\) not closed/, 3],
    ['unclosed list', bytes(S.LIST_START, 1, 'l', S.LIST_ITEM, 0, 1, 'x'), /list not closed/, 7],
    ['LIST_ITEM outside a list', bytes(S.LIST_ITEM, 0, 0), /LIST_ITEM outside of a list/, 0],
    ['LIST_END outside a list', bytes(3, 1, 'k', 0, 0, S.LIST_END), /LIST_END outside of a list/, 5],
    ['KEY_VALUE inside a list', bytes(S.LIST_START, 1, 'l', S.KEY_VALUE, 1, 'k', 0, 0), /KEY_VALUE inside a list/, 3],
    ['SECTION_START inside a list (nested)', bytes(S.LIST_START, 1, 'l', S.SECTION_START, 1, 's'), /SECTION_START inside a list/, 3],
    ['LIST_START inside a list', bytes(S.LIST_START, 1, 'l', S.LIST_START, 1, 'm'), /LIST_START inside a list/, 3],
    ['unknown element type', bytes(9), /unknown element type 9/, 0],
    ['element type 0', bytes(3, 1, 'k', 0, 0, 0), /unknown element type 0/, 5],
    ['truncated name length', bytes(S.KEY_VALUE), /truncated KEY_VALUE name length/, 0],
    ['truncated name', bytes(S.SECTION_START, 5, 'ab'), /name of 5 bytes runs past/, 0],
    ['truncated value length', bytes(S.KEY_VALUE, 1, 'k', 0), /truncated KEY_VALUE length/, 0],
    ['truncated value', bytes(S.KEY_VALUE, 1, 'k', 0, 9, 'abc'), /value of 9 bytes runs past/, 0],
    ['truncated list item', bytes(S.LIST_START, 1, 'l', S.LIST_ITEM, 1, 0), /LIST_ITEM value of 256 bytes/, 3],
    ['duplicate key', bytes(3, 1, 'k', 0, 0, 1, 1, 'k', 2), /duplicate key 'k'/, 5],
    ['sections too deep', Buffer.concat([...Array.from({ length: VICI_DEPTH_MAX + 1 }, () => bytes(1, 1, 's')), Buffer.alloc(VICI_DEPTH_MAX + 1, 2)]), /nested deeper than 64/, 3 * VICI_DEPTH_MAX],
  ];
  for (const [what, wire, re, offset] of cases) {
    it(`decoder: ${what}`, () => assertDecodeError(() => decodeMessage(wire), re, offset));
  }
  it('decoder: sections exactly 64 deep are fine', () => {
    const wire = Buffer.concat([...Array.from({ length: VICI_DEPTH_MAX }, () => bytes(1, 1, 's')), Buffer.alloc(VICI_DEPTH_MAX, 2)]);
    assert.ok(decodeMessage(wire).s);
  });
  it('decoder: error offsets point into the frame', () => {
    assertDecodeError(() => decodePacket(bytes(PacketType.EVENT, 3, 'abc', 9)), /unknown element type 9/, 5);
  });

  const packets: [string, Buffer, RegExp][] = [
    ['empty packet', Buffer.alloc(0), /empty packet/],
    ['unknown packet type', bytes(8), /unknown packet type 8/],
    ['packet type 255', bytes(255, 0), /unknown packet type 255/],
    ['named packet without name', bytes(PacketType.CMD_REQUEST), /CMD_REQUEST without a name/],
    ['name past the end', bytes(PacketType.EVENT, 9, 'abc'), /name of 9 bytes runs past/],
    ['non-printable name', bytes(PacketType.EVENT_REGISTER, 2, 'a\n'), /not printable ASCII/],
    ['bytes after CMD_UNKNOWN', bytes(PacketType.CMD_UNKNOWN, 1), /1 unexpected bytes after CMD_UNKNOWN/],
    ['bytes after EVENT_CONFIRM', bytes(PacketType.EVENT_CONFIRM, 0, 0), /2 unexpected bytes after EVENT_CONFIRM/],
    ['message after EVENT_REGISTER', bytes(PacketType.EVENT_REGISTER, 1, 'x', 3), /unexpected bytes after EVENT_REGISTER/],
  ];
  for (const [what, wire, re] of packets) {
    it(`packet: ${what}`, () => assertDecodeError(() => decodePacket(wire), re));
  }

  it('packet: all eight types decode', () => {
    const msg = { k: 'v' };
    const seen = [
      decodePacket(encodePacket(PacketType.CMD_REQUEST, 'version', msg).subarray(4)),
      decodePacket(encodePacket(PacketType.CMD_RESPONSE, undefined, msg).subarray(4)),
      decodePacket(encodePacket(PacketType.CMD_UNKNOWN).subarray(4)),
      decodePacket(encodePacket(PacketType.EVENT_REGISTER, 'log').subarray(4)),
      decodePacket(encodePacket(PacketType.EVENT_UNREGISTER, 'log').subarray(4)),
      decodePacket(encodePacket(PacketType.EVENT_CONFIRM).subarray(4)),
      decodePacket(encodePacket(PacketType.EVENT_UNKNOWN).subarray(4)),
      decodePacket(encodePacket(PacketType.EVENT, 'log', msg).subarray(4)),
    ];
    assert.deepEqual(seen.map((p) => p.type), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(seen.map((p) => p.name), ['version', undefined, undefined, 'log', 'log', undefined, undefined, 'log']);
    assert.deepEqual(seen.map((p) => (p.message ? asString(p.message.k) : undefined)), ['v', 'v', undefined, undefined, undefined, undefined, undefined, 'v']);
    assert.deepEqual(encodePacket(PacketType.EVENT_CONFIRM), Buffer.from([0, 0, 0, 1, 5]));
    assert.deepEqual(encodeCommand('version'), bytes(0, 0, 0, 9, 0, 7, 'version'));
    const raw = parsePacket(encodePacket(PacketType.EVENT, 'log', msg).subarray(4));
    assert.equal(raw.payloadOffset, 5);
  });
});

describe('vici framing', () => {
  const f1 = encodePacket(PacketType.CMD_RESPONSE, undefined, { key1: 'value1', section1: { 'sub-section': { key2: 'value2' }, list1: ['item1', 'item2'] } });
  const f2 = encodePacket(PacketType.EVENT, 'ike-updown', { up: 'yes', conn: { uniqueid: '7', 'child-sas': {} } });
  const f3 = encodePacket(PacketType.EVENT_CONFIRM);
  const all = Buffer.concat([f1, f2, f3]);
  const expected = [f1, f2, f3].map((f) => f.subarray(4));

  const collect = (chunks: Buffer[]) => {
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    for (const c of chunks) d.push(c, (f) => out.push(Buffer.from(f)));
    assert.equal(d.buffered, 0);
    return out;
  };

  it('splits one frame at every offset', () => {
    for (let k = 0; k <= f1.length; k++) {
      assert.deepEqual(collect([f1.subarray(0, k), f1.subarray(k)]), [f1.subarray(4)], `split at ${k}`);
    }
  });

  it('splits three frames at every pair of offsets', () => {
    for (let i = 0; i <= all.length; i++) {
      for (let j = i; j <= all.length; j += 3) {
        assert.deepEqual(collect([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]), expected, `split at ${i}, ${j}`);
      }
    }
  });

  it('takes one byte at a time', () => {
    const chunks = [...all].map((x) => Buffer.from([x]));
    assert.deepEqual(collect(chunks), expected);
    const d = new FrameDecoder();
    let max = 0;
    for (const c of chunks) {
      d.push(c, () => {});
      max = Math.max(max, d.buffered);
    }
    assert.ok(max <= f1.length, 'never holds more than one frame');
  });

  it('hands over a whole frame inside a chunk without copying', () => {
    const d = new FrameDecoder();
    let got: Buffer | undefined;
    d.push(f1, (f) => (got = f));
    assert.equal(got!.buffer, f1.buffer);
  });

  it('decodes a zero-length frame as an error at the packet layer, not the framing', () => {
    const got: Buffer[] = [];
    new FrameDecoder().push(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 5]), (f) => got.push(f));
    assert.deepEqual(got.map((g) => g.length), [0, 1]);
    assertDecodeError(() => parsePacket(got[0]!), /empty packet/);
  });

  it('splits a 400 KB list-sa frame across socket-sized chunks', () => {
    const frame = listSaFrame(1000);
    for (const size of [1, 7, 1024, 65536]) {
      const chunks: Buffer[] = [];
      for (let k = 0; k < frame.length; k += size) chunks.push(frame.subarray(k, k + size));
      const out = size === 1 ? collect(chunks.slice(0, 0)).concat(collectOneByOne(frame)) : collect(chunks);
      assert.equal(out.length, 1);
      assert.deepEqual(out[0], frame.subarray(4));
    }
  });

  function collectOneByOne(frame: Buffer): Buffer[] {
    const d = new FrameDecoder();
    const out: Buffer[] = [];
    const one = Buffer.alloc(1);
    for (let k = 0; k < frame.length; k++) {
      one[0] = frame[k]!;
      d.push(one, (f) => out.push(Buffer.from(f)));
    }
    return out;
  }
});
