// Decoding: the element stream of one message -> a tree of null-prototype sections (sections.ts).
//
// A plain reader: one pass over the bytes, each element checked and stored as it comes. Nothing outlives a
// call: no table of names seen before, no learned shapes, no code made at run time (the one table, keys.ts,
// is a constant list of charon's key names). The decoder runs in the agent, which holds privileges, on bytes
// from charon's socket; state carried from one message to the next would let one message change how the
// next is decoded, and would have to be bounded and tested on its own. The reader is fast enough without it:
// decoding is a small part of a list-sas next to charon's own time to produce it (`npm run bench:vici`
// measures both).
//
// Decoded values stay bytes (Buffer views into the frame, no copy): charon sends text, but nothing in the
// protocol says so and binary values (certificates, keys) must survive. decodeMessagePlain makes text
// values instead, for the typed calls, without a Buffer per value first.

// Imported, not the global: in Node 20 the global Buffer is a getter, called on every use.
import { Buffer, isAscii } from 'node:buffer';
import { ElementType, VICI_DEPTH_MAX } from './constants.js';
import { ViciDecodeError } from './errors.js';
import { knownKey } from './keys.js';
import { attachOrder, isIndexKey, SectionCtor, type PlainSection, type PlainValue, type ViciSection, type ViciValue } from './sections.js';

const { SECTION_START, SECTION_END, KEY_VALUE, LIST_START, LIST_ITEM, LIST_END } = ElementType;
const ELEMENT_NAMES: readonly string[] = Object.freeze(['', 'SECTION_START', 'SECTION_END', 'KEY_VALUE', 'LIST_START', 'LIST_ITEM', 'LIST_END']);

type AnySection = Record<string, ViciValue | PlainValue>;

/**
 * Decodes a message (the bytes after a packet's type and name). `base` is added to error offsets, so that
 * they point into the frame. Never throws anything but ViciDecodeError; work and memory are linear in the
 * input (each element consumes at least one byte and produces a bounded object).
 */
export function decodeMessage(buf: Buffer, base = 0): ViciSection {
  return decode(buf, base, undefined, new BufferValues(buf)) as ViciSection;
}

/**
 * Decodes a message straight into text values (what toPlain(decodeMessage(...)) gives, without making a
 * Buffer per value first): the typed calls use it. Same checks and errors as decodeMessage.
 */
export function decodeMessagePlain(buf: Buffer, base = 0): PlainSection {
  // When the whole message is ASCII (charon's always is, in practice), latin1 and utf8 agree on every byte
  // and values are slices of the message's text; otherwise each is decoded as utf8 on its own.
  if (!isAscii(buf)) return decode(buf, base, undefined, new Utf8Values(buf)) as PlainSection;
  const text = new Latin1Text(buf);
  return decode(buf, base, text, text) as PlainSection;
}

// How values are made, one class per kind. The decoding loop is shared; with the kind as a flag inside it,
// V8 specialises the loop for one kind and deoptimises it when the other comes along (the client uses both).
interface ValueReader {
  read(i: number, len: number): Buffer | string;
}

class BufferValues implements ValueReader {
  private readonly ab: ArrayBufferLike;
  private readonly off: number;
  constructor(buf: Buffer) {
    this.ab = buf.buffer;
    this.off = buf.byteOffset;
  }
  /** A view into the frame; Buffer.from(arrayBuffer, ...) makes one with less work than subarray(). */
  read(i: number, len: number): Buffer {
    return Buffer.from(this.ab, this.off + i, len);
  }
}

/**
 * The text of an all-ASCII message, as latin1 slices, made a window at a time: slicing a JavaScript string
 * stays inside V8, where a Buffer.toString per key or value is a call into C++ each. Windows, not the whole
 * message in one string: a string of a few hundred KiB is a large object for V8, placed on fresh pages every
 * time, where a window that size fits the young generation. Each decode has its own, dropped at the end.
 */
class Latin1Text implements ValueReader {
  private text = '';
  /** Where `text` starts in the message. */
  private from = 0;
  constructor(private readonly buf: Buffer) {}
  read(i: number, len: number): string {
    let at = i - this.from;
    if (at < 0 || at + len > this.text.length) {
      this.from = i;
      this.text = this.buf.toString('latin1', i, Math.min(this.buf.length, i + Math.max(TEXT_WINDOW, len)));
      at = 0;
    }
    return this.text.slice(at, at + len);
  }
}
const TEXT_WINDOW = 32 * 1024;

class Utf8Values implements ValueReader {
  constructor(private readonly buf: Buffer) {}
  read(i: number, len: number): string {
    return this.buf.toString('utf8', i, i + len);
  }
}

/**
 * The element loop. Keys in keys.ts come from there; other keys are sliced from `text`, the message's text,
 * when decodeMessagePlain made it (an all-ASCII message), and are otherwise decoded as utf8 one by one.
 */
function decode(buf: Buffer, base: number, text: Latin1Text | undefined, values: ValueReader): AnySection {
  const n = buf.length;
  const root = new SectionCtor() as AnySection;
  let cur = root;
  // Wire order of `cur`, kept only once it holds an index-like key (see attachOrder in sections.ts).
  let order: string[] | undefined;
  // The sections enclosing `cur` and their wire orders, innermost last.
  const parents: AnySection[] = [];
  const orders: (string[] | undefined)[] = [];
  // The open list, if any: lists hold only LIST_ITEMs, so no other state is needed while one is open.
  let list: (Buffer | string)[] | undefined;
  let i = 0;
  const fail = (message: string, at: number) => new ViciDecodeError(message, base + at);
  while (i < n) {
    const at = i;
    const type = buf[i++]!;
    if (list !== undefined) {
      if (type === LIST_ITEM) {
        if (i + 2 > n) throw fail('truncated LIST_ITEM length', at);
        const vlen = (buf[i]! << 8) | buf[i + 1]!;
        i += 2;
        if (i + vlen > n) throw fail(`LIST_ITEM value of ${vlen} bytes runs past the message end`, at);
        list.push(values.read(i, vlen));
        i += vlen;
      } else if (type === LIST_END) {
        list = undefined;
      } else {
        throw fail(`${ELEMENT_NAMES[type] ?? `element type ${type}`} inside a list`, at);
      }
      continue;
    }
    if (type === SECTION_END) {
      const parent = parents.pop();
      if (parent === undefined) throw fail('SECTION_END outside of a section', at);
      cur = parent;
      order = orders.pop();
      continue;
    }
    if (type !== KEY_VALUE && type !== SECTION_START && type !== LIST_START) {
      if (type === LIST_ITEM || type === LIST_END) throw fail(`${ELEMENT_NAMES[type]} outside of a list`, at);
      throw fail(`unknown element type ${type}`, at);
    }
    if (i >= n) throw fail(`truncated ${ELEMENT_NAMES[type]} name length`, at);
    const nlen = buf[i++]!;
    if (i + nlen > n) throw fail(`${ELEMENT_NAMES[type]} name of ${nlen} bytes runs past the message end`, at);
    const name = knownKey(buf, i, nlen) ?? (text !== undefined ? text.read(i, nlen) : buf.toString('utf8', i, i + nlen));
    i += nlen;
    // Values are never undefined, so this is "already has the key"; sections inherit nothing to confuse it.
    if (cur[name] !== undefined) throw fail(`duplicate key '${name}'`, at);
    if (order !== undefined) order.push(name);
    else if (isIndexKey(name)) order = attachOrder(cur, name);
    if (type === KEY_VALUE) {
      if (i + 2 > n) throw fail('truncated KEY_VALUE length', at);
      const vlen = (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
      if (i + vlen > n) throw fail(`KEY_VALUE value of ${vlen} bytes runs past the message end`, at);
      cur[name] = values.read(i, vlen);
      i += vlen;
    } else if (type === LIST_START) {
      cur[name] = list = [] as Buffer[] | string[];
    } else {
      if (parents.length >= VICI_DEPTH_MAX) throw fail(`sections nested deeper than ${VICI_DEPTH_MAX}`, at);
      const section = new SectionCtor() as AnySection;
      cur[name] = section as ViciSection;
      parents.push(cur);
      orders.push(order);
      cur = section;
      order = undefined;
    }
  }
  if (list !== undefined) throw fail('list not closed at the message end', n);
  if (parents.length > 0) throw fail(`${parents.length} section(s) not closed at the message end`, n);
  return root;
}
