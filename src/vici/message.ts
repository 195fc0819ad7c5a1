// Message layer: the element stream (sections, key/values, lists) <-> a tree of null-prototype objects.
//
// Decoded values stay bytes (Buffer views into the frame, no copy): charon sends text, but nothing in the
// protocol says so and binary values (certificates, keys) must survive. `toPlain` and the `as*` helpers turn
// them into strings. Keys that look like array indices ("0", "17") would be reordered by JavaScript's own
// property order, so a section holding one carries its wire order under VICI_ORDER (see orderedKeys).
//
// The decoder is hand-written. binary-parser (on the design card) was tried for the element stream
// (bench/vici-binary-parser.ts) and kept out: on a 433 KB list-sa event with 1000 CHILD_SAs, on the 2-core lab
// VM under tsx, it decoded at 10-13 MB/s against 42-70 MB/s for this reader with Buffer values and 74-79 MB/s
// with text values (decodeMessagePlain), 3-6x slower, because it builds an object per element and decodes
// names through TextDecoder; it also cannot say where a bad element starts. `npm run bench:vici` re-measures.

// Imported, not the global: in Node 20 the global Buffer is a getter, called on every use.
import { Buffer, isAscii } from 'node:buffer';
import { ElementType, VICI_DEPTH_MAX, VICI_MESSAGE_SIZE_MAX, VICI_NAME_MAX, VICI_VALUE_MAX } from './constants.js';
import { ViciDecodeError, ViciEncodeError } from './errors.js';

export type ViciValue = Buffer | Buffer[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

export type PlainValue = string | string[] | PlainSection;
export interface PlainSection {
  [key: string]: PlainValue;
}

/** What the encoder accepts: booleans become yes/no, numbers decimal strings, undefined is left out. */
export type ViciScalar = string | number | bigint | boolean | Uint8Array;
export type ViciInputValue = ViciScalar | readonly ViciScalar[] | ViciInput | undefined;
export interface ViciInput {
  [key: string]: ViciInputValue;
}

/** Wire order of a section's keys, present only when JavaScript's property order would differ from it. */
export const VICI_ORDER: unique symbol = Symbol.for('ipsec-keepalive.vici.order');

const { SECTION_START, SECTION_END, KEY_VALUE, LIST_START, LIST_ITEM, LIST_END } = ElementType;
const ELEMENT_NAMES = ['', 'SECTION_START', 'SECTION_END', 'KEY_VALUE', 'LIST_START', 'LIST_ITEM', 'LIST_END'];

/**
 * Sections are instances of a constructor whose prototype is a frozen empty object with a null prototype:
 * nothing is inherited (no `__proto__` accessor, no `toString`, no `constructor`), so any key is an ordinary
 * own property, exactly as with Object.create(null). Unlike Object.create(null), whose objects V8 keeps in
 * slow dictionary mode, these share hidden classes: decoding list-sa runs ~2.5x faster (see bench/vici.ts).
 */
const SectionCtor = function ViciSection() {} as unknown as new () => ViciSection;
SectionCtor.prototype = Object.freeze(Object.create(null) as object);

export function newSection(): ViciSection {
  return new SectionCtor();
}

/** True for keys that JavaScript orders numerically ahead of all others ("0".."4294967294"). */
function isIndexKey(key: string): boolean {
  const c = key.charCodeAt(0);
  if (c < 48 || c > 57) return false;
  if (key === '0') return true;
  if (c === 48 || key.length > 10) return false;
  for (let k = 1; k < key.length; k++) {
    const d = key.charCodeAt(k);
    if (d < 48 || d > 57) return false;
  }
  return Number(key) < 4294967295;
}

type Ordered = { [VICI_ORDER]?: string[] };

/** Starts recording wire order on `section`, whose next key `key` is index-like. */
function attachOrder(section: object, key: string): string[] {
  // Up to now no key was index-like, so JavaScript's order is the wire order.
  const keys = Object.keys(section);
  keys.push(key);
  Object.defineProperty(section, VICI_ORDER, { value: keys, enumerable: false });
  return keys;
}

/** The keys of a decoded (or hand-built) section in wire order. */
export function orderedKeys(section: object): string[] {
  const order = (section as Ordered)[VICI_ORDER];
  const keys = Object.keys(section);
  if (!order) return keys;
  // The section may have been edited since decoding: keep the recorded order for what is still there.
  const present = new Set(keys);
  const out = order.filter((k) => present.has(k));
  if (out.length === keys.length) return out;
  const seen = new Set(out);
  for (const k of keys) if (!seen.has(k)) out.push(k);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

// Keys repeat endlessly: charon writes every CHILD_SA with the same ~25 keys in the same order, every IKE_SA
// likewise. The decoder follows that: each section walks a tree of Shapes, one per key so far, and each
// Shape remembers the keys that followed it before (its decoded, internalised string), the last one first.
// A key that matches a prediction costs one compare of its bytes: no hashing, no new string, and no
// duplicate check (a path in the tree never holds the same key twice, so a section that followed it from its
// start cannot hold the predicted key yet). Any other key takes the general path (decode it, look it up for
// duplicates) and is added to the tree. Sections nested at the same depth share one tree: in list-sa that
// separates the IKE_SAs (depth 1), their child-sas (2) and the CHILD_SAs (3).
//
// Bounded: at most SHAPE_NEXT_MAX keys remembered after each Shape, SHAPE_NODES_MAX Shapes per tree (then
// the tree starts over), keys of at most SHAPE_NAME_MAX bytes, at most SHAPE_KEYS_MAX keys per section,
// sections at most SHAPE_DEPTH_MAX deep; past that a section decodes on the general path.
const SHAPE_NEXT_MAX = 16;
const SHAPE_KEYS_MAX = 256;
const SHAPE_NODES_MAX = 4096;
const SHAPE_NAME_MAX = 64;
const SHAPE_DEPTH_MAX = 8;

/** A key at one position in a section, and the keys that followed it in sections that got this far. */
class Shape {
  /** The successor that matched last, tried first. */
  next: Shape | undefined = undefined;
  readonly successors: Shape[] = [];
  constructor(
    readonly name: string,
    /** The key's length in bytes on the wire. */
    readonly length: number,
    /** Its bytes as big-endian 32-bit words (see keyWords). */
    readonly words: number[],
    /** Whether JavaScript would order this key ahead of the others (see attachOrder). */
    readonly indexLike: boolean,
    /** Keys in the section up to and including this one. */
    readonly count: number,
  ) {}
}

/**
 * `len` bytes at `start` as the words isKey compares: 4 bytes at a time, the last word ending at the last
 * byte (overlapping the one before it); under 4 bytes, the bytes one by one.
 */
function keyWords(view: DataView, start: number, len: number): number[] {
  const words: number[] = [];
  if (len < 4) {
    for (let k = 0; k < len; k++) words.push(view.getUint8(start + k));
    return words;
  }
  for (let k = 0; k < len - 4; k += 4) words.push(view.getInt32(start + k));
  words.push(view.getInt32(start + len - 4));
  return words;
}

/** The root of each depth's tree, and how many Shapes that tree holds. */
const shapeRoots: Shape[] = [];
const shapeCounts: number[] = [];
for (let d = 0; d < SHAPE_DEPTH_MAX; d++) {
  shapeRoots.push(new Shape('', 0, [], false, 0));
  shapeCounts.push(0);
}

/**
 * Whether the `len` bytes at `start` are `shape`'s key. Word by word: a byte loop costs a bounds and a
 * detached-buffer check per byte, and was the hottest part of decoding.
 */
function isKey(shape: Shape, view: DataView, start: number, len: number): boolean {
  if (shape.length !== len) return false;
  const words = shape.words;
  if (len < 4) {
    for (let k = 0; k < len; k++) if (view.getUint8(start + k) !== words[k]) return false;
    return true;
  }
  const last = words.length - 1;
  for (let w = 0; w < last; w++) if (view.getInt32(start + 4 * w) !== words[w]) return false;
  return view.getInt32(start + len - 4) === words[last];
}

/** The successor of `shape` whose key is at `start` in `buf`, other than the one just tried. */
function findSuccessor(shape: Shape, view: DataView, start: number, len: number): Shape | undefined {
  const tried = shape.next;
  for (const s of shape.successors) if (s !== tried && isKey(s, view, start, len)) return s;
  return undefined;
}

/**
 * Adds `name` (read from `buf` at `start`) as a successor of `shape`, in the tree of sections at `depth`;
 * undefined (decode the rest of the section on the general path) when a bound is reached.
 */
function addSuccessor(shape: Shape, depth: number, name: string, view: DataView, start: number, len: number): Shape | undefined {
  if (len > SHAPE_NAME_MAX || shape.count >= SHAPE_KEYS_MAX) return undefined;
  if (++shapeCounts[depth]! > SHAPE_NODES_MAX) {
    // Start this depth's tree over; sections being decoded keep their part of the old one.
    shapeRoots[depth] = new Shape('', 0, [], false, 0);
    shapeCounts[depth] = 0;
    return undefined;
  }
  // Object keys come back internalised: V8 then finds them in its property caches without hashing them.
  const internal = Object.keys({ [name]: 0 })[0] ?? name;
  const next = new Shape(internal, len, keyWords(view, start, len), isIndexKey(name), shape.count + 1);
  if (shape.successors.length < SHAPE_NEXT_MAX) shape.successors.push(next);
  else shape.successors[shapeCounts[depth]! % SHAPE_NEXT_MAX] = next;
  shape.next = next;
  return next;
}

// Keys off the predicted path: short ones go through an interning table (a hash and a byte compare
// instead of a native string allocation). Bounded: 1024 slots of strings of at most 24 bytes.
const SLOTS = 1024;
const INTERN_MAX = 24;

/** An interning table: the strings, and their bytes in a flat array so that lookups compare bytes only. */
class Interned {
  readonly strings: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);
  readonly lengths = new Int16Array(SLOTS).fill(-1);
  readonly bytes = new Uint8Array(SLOTS * INTERN_MAX);
}
const names = new Interned();
const texts = new Interned();

/** `len` must be at most INTERN_MAX. */
function intern(t: Interned, buf: Uint8Array, start: number, len: number): string {
  const end = start + len;
  let h = len;
  for (let k = start; k < end; k++) {
    const c = buf[k]!;
    if (c >= 0x80) return Buffer.from(buf.buffer, buf.byteOffset + start, len).toString('utf8');
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = (h ^ (h >>> 10)) & (SLOTS - 1);
  const at = slot * INTERN_MAX;
  const bytes = t.bytes;
  if (t.lengths[slot] === len) {
    let k = 0;
    while (k < len && bytes[at + k] === buf[start + k]) k++;
    if (k === len) return t.strings[slot]!;
  }
  const s = Buffer.from(buf.buffer, buf.byteOffset + start, len).toString('latin1');
  t.strings[slot] = s;
  t.lengths[slot] = len;
  bytes.set(buf.subarray(start, end), at);
  return s;
}

function readName(buf: Buffer, start: number, len: number): string {
  return len <= INTERN_MAX ? intern(names, buf, start, len) : buf.toString('utf8', start, start + len);
}

/**
 * Decodes a message (the bytes after a packet's type and name). `base` is added to error offsets, so that
 * they point into the frame. Never throws anything but ViciDecodeError; work and memory are linear in the
 * input (each element consumes at least one byte and produces a bounded object).
 */
export function decodeMessage(buf: Buffer, base = 0): ViciSection {
  return decode(buf, base, new BufferValues(buf)) as ViciSection;
}

/**
 * Decodes a message straight into text values (what toPlain(decodeMessage(...)) gives, without making a
 * Buffer per value first): the typed calls use it. Same checks and errors as decodeMessage.
 */
export function decodeMessagePlain(buf: Buffer, base = 0): PlainSection {
  // When the whole message is ASCII (charon's always is, in practice), one native call makes it a string and
  // each value is a slice of it (V8 copies short slices, shares long ones); otherwise utf8 per value.
  return decode(buf, base, isAscii(buf) ? new AsciiValues(buf.toString('latin1')) : new Utf8Values(buf)) as PlainSection;
}

type AnySection = Record<string, ViciValue | PlainValue>;

// How values are made, one class per kind. The decoding loop is shared; with the kind as a flag inside it,
// V8 kept deoptimizing it when both kinds were in use (as they are in the client): 2x slower.
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
  /** A view into the frame; Buffer.from(arrayBuffer, ...) makes one ~2.5x faster than subarray(). */
  read(i: number, len: number): Buffer {
    return Buffer.from(this.ab, this.off + i, len);
  }
}

class AsciiValues implements ValueReader {
  constructor(private readonly text: string) {}
  read(i: number, len: number): string {
    return this.text.slice(i, i + len);
  }
}

class Utf8Values implements ValueReader {
  constructor(private readonly buf: Buffer) {}
  read(i: number, len: number): string {
    return this.buf.toString('utf8', i, i + len);
  }
}

function decode(buf: Buffer, base: number, values: ValueReader): AnySection {
  const root = newSection() as AnySection;
  const parents: AnySection[] = [];
  let cur = root;
  // Wire order of `cur`, kept only once it holds an index-like key (see attachOrder); parallel to `parents`.
  let order: string[] | undefined;
  const orders: (string[] | undefined)[] = [];
  // Where `cur` is on its chain of keys (undefined: off the chain); parallel to `parents`.
  let shape: Shape | undefined = shapeRoots[0];
  const shapes: (Shape | undefined)[] = [];
  let list: (Buffer | string)[] | undefined;
  let i = 0;
  const n = buf.length;
  const view = new DataView(buf.buffer, buf.byteOffset, n);
  const fail = (msg: string, at: number): never => {
    throw new ViciDecodeError(msg, base + at);
  };
  while (i < n) {
    const at = i;
    const type = buf[i++]!;
    if (list !== undefined) {
      if (type === LIST_ITEM) {
        if (i + 2 > n) fail('truncated LIST_ITEM length', at);
        const vlen = (buf[i]! << 8) | buf[i + 1]!;
        i += 2;
        if (i + vlen > n) fail(`LIST_ITEM value of ${vlen} bytes runs past the message end`, at);
        list.push(values.read(i, vlen));
        i += vlen;
        continue;
      }
      if (type === LIST_END) {
        list = undefined;
        continue;
      }
      fail(`${ELEMENT_NAMES[type] ?? `element type ${type}`} inside a list`, at);
    }
    if (type === SECTION_END) {
      const parent = parents.pop();
      if (parent === undefined) fail('SECTION_END outside of a section', at);
      cur = parent!;
      order = orders.pop();
      shape = shapes.pop();
      continue;
    }
    if (type !== KEY_VALUE && type !== SECTION_START && type !== LIST_START) {
      if (type === LIST_ITEM || type === LIST_END) fail(`${ELEMENT_NAMES[type]} outside of a list`, at);
      fail(`unknown element type ${type}`, at);
    }
    if (i >= n) fail(`truncated ${ELEMENT_NAMES[type]} name length`, at);
    const nlen = buf[i++]!;
    if (i + nlen > n) fail(`${ELEMENT_NAMES[type]} name of ${nlen} bytes runs past the message end`, at);
    let name: string;
    let indexLike: boolean;
    let known: Shape | undefined;
    if (shape !== undefined) {
      known = shape.next;
      if (known === undefined || !isKey(known, view, i, nlen)) known = findSuccessor(shape, view, i, nlen);
    }
    if (known !== undefined) {
      name = known.name;
      indexLike = known.indexLike;
      shape!.next = known;
      shape = known;
    } else {
      name = type === SECTION_START ? buf.toString('utf8', i, i + nlen) : readName(buf, i, nlen);
      if (cur[name] !== undefined) fail(`duplicate key '${name}'`, at);
      indexLike = isIndexKey(name);
      // A new section key after a known position is most likely one of many (child-sas holds CHILD_SAs by
      // name): leave the tree alone and decode the rest of this section on the general path.
      if (shape !== undefined) {
        shape = type === SECTION_START && shape.next !== undefined ? undefined : addSuccessor(shape, parents.length, name, view, i, nlen);
      }
    }
    i += nlen;
    let value: ViciValue | PlainValue;
    if (type === KEY_VALUE) {
      if (i + 2 > n) fail('truncated KEY_VALUE length', at);
      const vlen = (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
      if (i + vlen > n) fail(`KEY_VALUE value of ${vlen} bytes runs past the message end`, at);
      value = values.read(i, vlen);
      i += vlen;
    } else if (type === SECTION_START) {
      if (parents.length >= VICI_DEPTH_MAX) fail(`sections nested deeper than ${VICI_DEPTH_MAX}`, at);
      value = newSection();
    } else {
      value = list = [] as Buffer[] | string[];
    }
    if (order !== undefined) order.push(name);
    else if (indexLike) order = attachOrder(cur, name);
    cur[name] = value;
    if (type === SECTION_START) {
      parents.push(cur);
      orders.push(order);
      shapes.push(shape);
      cur = value as AnySection;
      order = undefined;
      shape = shapeRoots[parents.length];
    }
  }
  if (list !== undefined) fail('list not closed at the message end', n);
  if (parents.length > 0) fail(`${parents.length} section(s) not closed at the message end`, n);
  return root;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** A growable output buffer that refuses to grow past `limit` bytes. */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(
    readonly limit = VICI_MESSAGE_SIZE_MAX + 4,
    initial = 512,
  ) {
    this.buf = Buffer.allocUnsafe(Math.min(initial, limit));
  }
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (need > this.limit) {
      throw new ViciEncodeError(`message exceeds the ${VICI_MESSAGE_SIZE_MAX} byte limit`);
    }
    const next = Buffer.allocUnsafe(Math.min(this.limit, Math.max(need, this.buf.length * 2)));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** The written bytes (a view: the writer must not be used afterwards). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function isPrintableAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * Writes an 8-bit-length name. charon rejects a message whose names are not printable ASCII without
 * answering it (vici_message.c, vici_stringify), so that is refused here, where the caller learns why.
 */
export function writeName(w: Writer, name: string, path: string, what = 'name'): void {
  if (!isPrintableAscii(name)) {
    throw new ViciEncodeError(`${what} ${JSON.stringify(name)} is not printable ASCII (charon drops such messages)`, path);
  }
  if (name.length > VICI_NAME_MAX) {
    throw new ViciEncodeError(`${what} is ${name.length} bytes, over the ${VICI_NAME_MAX} byte limit`, path);
  }
  w.ensure(1 + name.length);
  const b = w.buf;
  let p = w.pos;
  b[p++] = name.length;
  for (let k = 0; k < name.length; k++) b[p++] = name.charCodeAt(k);
  w.pos = p;
}

function isScalar(v: unknown): v is ViciScalar {
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'bigint' || t === 'boolean' || v instanceof Uint8Array;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object';
  return typeof v;
}

/** Writes a 16-bit-length value. */
function writeValue(w: Writer, v: ViciScalar, path: string): void {
  let bytes: Uint8Array | undefined;
  let text: string | undefined;
  switch (typeof v) {
    case 'string':
      text = v;
      break;
    case 'boolean':
      text = v ? 'yes' : 'no';
      break;
    case 'number':
      if (!Number.isFinite(v)) throw new ViciEncodeError(`number ${v} cannot be encoded`, path);
      text = Object.is(v, -0) ? '0' : String(v);
      break;
    case 'bigint':
      text = v.toString();
      break;
    default:
      bytes = v;
  }
  if (text !== undefined) {
    const len = Buffer.byteLength(text, 'utf8');
    if (len > VICI_VALUE_MAX) throw new ViciEncodeError(`value is ${len} bytes, over the ${VICI_VALUE_MAX} byte limit`, path);
    w.ensure(2 + len);
    w.buf[w.pos++] = len >> 8;
    w.buf[w.pos++] = len & 0xff;
    w.pos += w.buf.write(text, w.pos, 'utf8');
    return;
  }
  const len = bytes!.length;
  if (len > VICI_VALUE_MAX) throw new ViciEncodeError(`value is ${len} bytes, over the ${VICI_VALUE_MAX} byte limit`, path);
  w.ensure(2 + len);
  w.buf[w.pos++] = len >> 8;
  w.buf[w.pos++] = len & 0xff;
  w.bytes(bytes!);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype || proto === SectionCtor.prototype;
}

function writeSectionBody(w: Writer, obj: Record<string, unknown>, path: string, depth: number): void {
  for (const key of orderedKeys(obj)) {
    const v = obj[key];
    if (v === undefined) continue;
    const p = path ? `${path}.${key}` : key;
    if (isScalar(v)) {
      w.u8(KEY_VALUE);
      writeName(w, key, p, 'key');
      writeValue(w, v, p);
    } else if (Array.isArray(v)) {
      w.u8(LIST_START);
      writeName(w, key, p, 'key');
      for (let k = 0; k < v.length; k++) {
        const item: unknown = v[k];
        if (!isScalar(item)) {
          throw new ViciEncodeError(
            `list items must be strings, numbers, booleans or bytes, not ${describe(item)} (VICI has no nested lists or sections in lists)`,
            `${p}[${k}]`,
          );
        }
        w.u8(LIST_ITEM);
        writeValue(w, item, `${p}[${k}]`);
      }
      w.u8(LIST_END);
    } else if (isPlainObject(v)) {
      if (depth >= VICI_DEPTH_MAX) throw new ViciEncodeError(`sections nested deeper than ${VICI_DEPTH_MAX}`, p);
      w.u8(SECTION_START);
      writeName(w, key, p, 'key');
      writeSectionBody(w, v, p, depth + 1);
      w.u8(SECTION_END);
    } else {
      throw new ViciEncodeError(`cannot encode a value of type ${describe(v)}`, p);
    }
  }
}

/** Appends the element stream for `msg` to `w`. */
export function writeMessage(w: Writer, msg: Record<string, unknown>): void {
  if (!isPlainObject(msg)) throw new ViciEncodeError(`a message must be a plain object, not ${describe(msg)}`);
  writeSectionBody(w, msg, '', 0);
}

/**
 * Encodes a message on its own (no packet header). Accepts strings, numbers, bigints, booleans (yes/no),
 * Buffers/Uint8Arrays, arrays of those (lists) and plain objects (sections); undefined values are left out.
 */
export function encodeMessage(msg: Record<string, unknown>): Buffer {
  const w = new Writer(VICI_MESSAGE_SIZE_MAX);
  writeMessage(w, msg);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------
// Reading values

export function isSection(v: unknown): v is ViciSection {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A key/value as text (utf8); undefined when absent or not a key/value. */
export function asString(v: ViciValue | undefined): string | undefined {
  return v instanceof Uint8Array ? v.toString('utf8') : undefined;
}

/** A decimal value as a number; undefined when absent or not a decimal integer. */
export function asNumber(v: ViciValue | undefined): number | undefined {
  const s = asString(v);
  if (s === undefined || !/^-?\d+$/.test(s)) return undefined;
  return Number(s);
}

/** charon's booleans: yes/no (also true/false, 1/0, as its settings parser takes them). */
export function asBool(v: ViciValue | undefined): boolean | undefined {
  const s = asString(v);
  if (s === undefined) return undefined;
  if (s === 'yes' || s === 'true' || s === '1') return true;
  if (s === 'no' || s === 'false' || s === '0') return false;
  return undefined;
}

/** A list as text items; undefined when absent or not a list. */
export function asStrings(v: ViciValue | undefined): string[] | undefined {
  return Array.isArray(v) ? v.map((b) => b.toString('utf8')) : undefined;
}

/**
 * The same tree with every value decoded as utf8 text (lists become string arrays). Order is kept.
 * Binary values do not survive this: keep the Buffer form for those. Text already present passes through.
 */
export function toPlain(section: ViciSection | PlainSection): PlainSection {
  const out = newSection() as unknown as PlainSection;
  const order = (section as Ordered)[VICI_ORDER];
  if (order) Object.defineProperty(out, VICI_ORDER, { value: [...order], enumerable: false });
  for (const key in section) {
    const v = section[key]!;
    if (typeof v === 'string') out[key] = v;
    else if (v instanceof Uint8Array) out[key] = v.length <= INTERN_MAX ? intern(texts, v, 0, v.length) : v.toString('utf8');
    else if (Array.isArray(v)) out[key] = (v as (Buffer | string)[]).map((b) => (typeof b === 'string' ? b : b.toString('utf8')));
    else out[key] = toPlain(v);
  }
  return out;
}
