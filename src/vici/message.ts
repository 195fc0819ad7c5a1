// Message layer: the element stream (sections, key/values, lists) <-> a tree of null-prototype objects.
//
// Decoded values stay bytes (Buffer views into the frame, no copy): charon sends text, but nothing in the
// protocol says so and binary values (certificates, keys) must survive. `toPlain` and the `as*` helpers turn
// them into strings. Keys that look like array indices ("0", "17") would be reordered by JavaScript's own
// property order, so a section holding one carries its wire order under VICI_ORDER (see orderedKeys).
//
// The decoder is hand-written. binary-parser (on the design card) was tried for the element stream
// (bench/vici-binary-parser.ts) and kept out: on a 423 KiB list-sa event with 1000 CHILD_SAs, on the 2-core
// lab VM, it decoded at 13-18 MB/s against ~205 MB/s for this reader with Buffer values and ~270 MB/s with
// text values (decodeMessagePlain; ~110 MB/s when every CHILD_SA name is new), because it builds an object
// per element and decodes names through TextDecoder; it also cannot say where a bad element starts.
// `npm run bench:vici` re-measures.

// Imported, not the global: in Node 20 the global Buffer is a getter, called on every use.
import { Buffer, isAscii } from 'node:buffer';
import { ElementType, VICI_DEPTH_MAX, VICI_MESSAGE_SIZE_MAX, VICI_NAME_MAX, VICI_VALUE_MAX } from './constants.js';
import { ViciDecodeError, ViciEncodeError } from './errors.js';
import { internalise, isIndexKey, learn, predict, restartSequences, rootShape, SECTION_PROTOTYPE, SectionCtor, type Shape } from './sections.js';

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

export function newSection(): ViciSection {
  return new SectionCtor() as ViciSection;
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

// Keys off the predicted path, and short text values for toPlain, go through interning tables: a hash and a
// byte compare instead of a native string allocation. Keys come out internalised, as V8 wants property names:
// a new string used as a key costs two probes of V8's string table (the duplicate check, the store), ~0.5 us
// in all, and list-sa repeats its CHILD_SAs' names (the section keys) every time. Bounded: 4096 + 1024 slots
// of strings of at most 24 bytes.
const INTERN_MAX = 24;

/**
 * An interning table: 2-way set associative (a CHILD_SA name and a key that hash alike would otherwise evict
 * each other on every list-sa), the strings, and their bytes in a flat array so that lookups compare bytes.
 */
class Interned {
  readonly strings: (string | undefined)[];
  readonly lengths: Int16Array;
  readonly bytes: Uint8Array;
  /** Per pair of slots, the one to replace next: the one not hit last. */
  readonly victims: Uint8Array;
  constructor(
    readonly slots: number,
    readonly keys: boolean,
  ) {
    this.strings = new Array<string | undefined>(slots).fill(undefined);
    this.lengths = new Int16Array(slots).fill(-1);
    this.bytes = new Uint8Array(slots * INTERN_MAX);
    this.victims = new Uint8Array(slots >> 1);
  }
}
const names = new Interned(4096, true);
const texts = new Interned(1024, false);

/** Whether `slot` of `t` holds the `len` bytes at `start`. */
function holds(t: Interned, slot: number, buf: Uint8Array, start: number, len: number): boolean {
  if (t.lengths[slot] !== len) return false;
  const bytes = t.bytes;
  const at = slot * INTERN_MAX;
  for (let k = 0; k < len; k++) if (bytes[at + k] !== buf[start + k]) return false;
  return true;
}

/** `len` must be at most INTERN_MAX. */
function intern(t: Interned, buf: Uint8Array, start: number, len: number): string {
  const end = start + len;
  let h = len;
  for (let k = start; k < end; k++) {
    const c = buf[k]!;
    if (c >= 0x80) return Buffer.from(buf.buffer, buf.byteOffset + start, len).toString('utf8');
    h = (Math.imul(h, 31) + c) | 0;
  }
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  const pair = (h ^ (h >>> 12)) & ((t.slots >> 1) - 1);
  for (let way = 0; way < 2; way++) {
    const slot = 2 * pair + way;
    if (holds(t, slot, buf, start, len)) {
      t.victims[pair] = 1 - way;
      return t.strings[slot]!;
    }
  }
  const slot = 2 * pair + t.victims[pair]!;
  t.victims[pair] = 1 - t.victims[pair]!;
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, len).toString('latin1');
  const s = t.keys ? internalise(text) : text;
  t.strings[slot] = s;
  t.lengths[slot] = len;
  t.bytes.set(buf.subarray(start, end), slot * INTERN_MAX);
  return s;
}

/** A key off the predicted path. */
function readName(buf: Buffer, start: number, len: number): string {
  return len <= INTERN_MAX ? intern(names, buf, start, len) : buf.toString('utf8', start, start + len);
}

/**
 * Decodes a message (the bytes after a packet's type and name). `base` is added to error offsets, so that
 * they point into the frame. Never throws anything but ViciDecodeError; work and memory are linear in the
 * input (each element consumes at least one byte and produces a bounded object).
 */
export function decodeMessage(buf: Buffer, base = 0): ViciSection {
  return new Decoder(buf, base, new BufferValues(buf)).decode() as ViciSection;
}

/**
 * Decodes a message straight into text values (what toPlain(decodeMessage(...)) gives, without making a
 * Buffer per value first): the typed calls use it. Same checks and errors as decodeMessage.
 */
export function decodeMessagePlain(buf: Buffer, base = 0): PlainSection {
  // When the whole message is ASCII (charon's always is, in practice), values are slices of its text;
  // otherwise each is decoded as utf8 on its own.
  return new Decoder(buf, base, isAscii(buf) ? new AsciiValues(buf) : new Utf8Values(buf)).decode() as PlainSection;
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

/**
 * Values of an all-ASCII message as slices of its latin1 text (V8 copies short slices, shares long ones),
 * made a window at a time: the text of a whole 423 KiB message is a large object for V8, fresh pages from
 * the kernel each time, and took ~0.35 ms to make against ~0.03 ms in 32 KiB windows.
 */
class AsciiValues implements ValueReader {
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

/** A section being decoded. */
class Open {
  /** Where it is in its depth's tree; undefined once it is built key by key. */
  shape: Shape | undefined;
  /** While it follows the tree: where its values start on the value stack. */
  readonly start: number;
  /** Once it is built key by key: the section. */
  section: AnySection | undefined = undefined;
  /** Its wire order, kept once it holds an index-like key (see attachOrder). */
  order: string[] | undefined = undefined;
  constructor(
    shape: Shape | undefined,
    start: number,
    /** Where it goes in its parent: a slot on the value stack, or (-1) the key `name`. */
    readonly slot: number,
    readonly name: string,
  ) {
    this.shape = shape;
    this.start = start;
    // Too deep for a tree: built key by key from the start.
    if (shape === undefined) this.section = new SectionCtor() as AnySection;
  }
}

/**
 * One message being decoded. Values wait on a stack until what holds them ends: a list (then its items
 * become one array, in one copy), or a section that follows its tree (then sections.ts builds it in one go).
 * A section built key by key gets its key/values at once, and its lists and sections when they end.
 */
class Decoder {
  private readonly view: DataView;
  private readonly stack: unknown[] = [];
  private top = 0;
  private readonly opens: Open[] = [];
  private open = new Open(rootShape(0), 0, -1, '');
  /** Where the items of the open list start on the stack; -1: no list open. */
  private listStart = -1;
  /** Where the open list goes: a slot on the stack, or (-1) the key `listName` of a section built key by key. */
  private listSlot = -1;
  private listName = '';
  /** Section keys of sections built key by key, by depth: remembered ones, and how many this message had. */
  private readonly sequences = restartSequences();
  private readonly positions = this.sequences.map(() => 0);

  constructor(
    private readonly buf: Buffer,
    private readonly base: number,
    private readonly values: ValueReader,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  decode(): AnySection {
    const { buf, values } = this;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      const at = i;
      const type = buf[i++]!;
      if (this.listStart >= 0) {
        if (type === LIST_ITEM) {
          if (i + 2 > n) throw this.error('truncated LIST_ITEM length', at);
          const vlen = (buf[i]! << 8) | buf[i + 1]!;
          i += 2;
          if (i + vlen > n) throw this.error(`LIST_ITEM value of ${vlen} bytes runs past the message end`, at);
          this.push(values.read(i, vlen));
          i += vlen;
        } else if (type === LIST_END) {
          this.endList();
        } else {
          throw this.error(`${ELEMENT_NAMES[type] ?? `element type ${type}`} inside a list`, at);
        }
        continue;
      }
      if (type === SECTION_END) {
        this.endSection(at);
        continue;
      }
      if (type !== KEY_VALUE && type !== SECTION_START && type !== LIST_START) {
        if (type === LIST_ITEM || type === LIST_END) throw this.error(`${ELEMENT_NAMES[type]} outside of a list`, at);
        throw this.error(`unknown element type ${type}`, at);
      }
      if (i >= n) throw this.error(`truncated ${ELEMENT_NAMES[type]} name length`, at);
      const nlen = buf[i++]!;
      if (i + nlen > n) throw this.error(`${ELEMENT_NAMES[type]} name of ${nlen} bytes runs past the message end`, at);
      const name = this.key(type, i, nlen, at);
      i += nlen;
      if (type === KEY_VALUE) {
        if (i + 2 > n) throw this.error('truncated KEY_VALUE length', at);
        const vlen = (buf[i]! << 8) | buf[i + 1]!;
        i += 2;
        if (i + vlen > n) throw this.error(`KEY_VALUE value of ${vlen} bytes runs past the message end`, at);
        const value = values.read(i, vlen);
        i += vlen;
        if (this.open.shape !== undefined) this.push(value);
        else this.set(name, value);
      } else if (type === LIST_START) {
        this.startList(name);
      } else {
        if (this.opens.length >= VICI_DEPTH_MAX) throw this.error(`sections nested deeper than ${VICI_DEPTH_MAX}`, at);
        this.startSection(name);
      }
    }
    if (this.listStart >= 0) throw this.error('list not closed at the message end', n);
    if (this.opens.length > 0) throw this.error(`${this.opens.length} section(s) not closed at the message end`, n);
    return this.finish(this.open);
  }

  private push(value: unknown): void {
    this.stack[this.top++] = value;
  }

  /**
   * The key of `len` bytes at `start`: predicted by the open section's tree (then it cannot be a duplicate,
   * and the name is not needed: '' is returned), or decoded and checked.
   */
  private key(type: number, start: number, len: number, at: number): string {
    const open = this.open;
    const shape = open.shape;
    if (shape === undefined) return this.keyOffTree(type, open, start, len, at);
    const known = predict(shape, this.view, start, len);
    if (known !== undefined) {
      open.shape = known;
      return '';
    }
    const name = readName(this.buf, start, len);
    if (shape.has(name)) throw this.error(`duplicate key '${name}'`, at);
    const next = learn(shape, name, type === SECTION_START, this.view, start, len);
    if (next !== undefined) {
      open.shape = next;
    } else {
      this.leaveTree(open);
      const depth = this.opens.length;
      if (type === SECTION_START) this.sequences[depth]?.remember(this.nextPosition(depth), name, this.view, start, len);
    }
    return name;
  }

  /**
   * The key of a section built key by key; a section key recalled from the last message if it can be (see
   * Sequence in sections.ts), else read.
   */
  private keyOffTree(type: number, open: Open, start: number, len: number, at: number): string {
    const depth = this.opens.length;
    const sequence = type === SECTION_START ? this.sequences[depth] : undefined;
    let name: string | undefined;
    if (sequence !== undefined) {
      const position = this.nextPosition(depth);
      name = sequence.recall(position, this.view, start, len);
      if (name === undefined) {
        name = readName(this.buf, start, len);
        sequence.remember(position, name, this.view, start, len);
      }
    } else {
      name = readName(this.buf, start, len);
    }
    if (open.section![name] !== undefined) throw this.error(`duplicate key '${name}'`, at);
    return name;
  }

  private nextPosition(depth: number): number {
    const position = this.positions[depth]!;
    this.positions[depth] = position + 1;
    return position;
  }

  /** Stops following the tree: builds what `open` holds so far, to go on key by key. */
  private leaveTree(open: Open): void {
    open.section = open.shape!.build(this.stack, open.start, false) as AnySection;
    open.shape = undefined;
    this.top = open.start;
  }

  /** The section `open` made, complete. */
  private finish(open: Open): AnySection {
    if (open.shape === undefined) return open.section!;
    const section = open.shape.build(this.stack, open.start, true) as AnySection;
    this.top = open.start;
    return section;
  }

  /** Sets `name` on the open section, built key by key. */
  private set(name: string, value: ViciValue | PlainValue): void {
    this.reserve(name);
    this.open.section![name] = value;
  }

  /** Records `name` in the wire order of the open section (built key by key), where it keeps one. */
  private reserve(name: string): void {
    const open = this.open;
    if (open.order !== undefined) open.order.push(name);
    else if (isIndexKey(name)) open.order = attachOrder(open.section!, name);
  }

  /** A list or section holds its place until it ends: a slot on the stack, or its key in the wire order. */
  private place(name: string): number {
    if (this.open.shape === undefined) {
      this.reserve(name);
      return -1;
    }
    this.push(undefined);
    return this.top - 1;
  }

  private startList(name: string): void {
    this.listSlot = this.place(name);
    this.listName = name;
    this.listStart = this.top;
  }

  private endList(): void {
    const list = this.stack.slice(this.listStart, this.top) as Buffer[] | string[];
    this.top = this.listStart;
    this.listStart = -1;
    if (this.listSlot >= 0) this.stack[this.listSlot] = list;
    else this.open.section![this.listName] = list;
  }

  private startSection(name: string): void {
    const slot = this.place(name);
    this.opens.push(this.open);
    this.open = new Open(rootShape(this.opens.length), this.top, slot, name);
  }

  private endSection(at: number): void {
    const parent = this.opens.pop();
    if (parent === undefined) throw this.error('SECTION_END outside of a section', at);
    const open = this.open;
    const section = this.finish(open);
    if (open.slot >= 0) this.stack[open.slot] = section;
    else parent.section![open.name] = section as PlainSection;
    this.open = parent;
  }

  private error(message: string, at: number): ViciDecodeError {
    return new ViciDecodeError(message, this.base + at);
  }
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
  return proto === null || proto === Object.prototype || proto === SECTION_PROTOTYPE;
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
