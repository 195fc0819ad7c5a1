// Encoding: a tree of plain objects (or decoded sections) -> the element stream, with the protocol's limits
// checked where the caller can still learn which value broke them (ViciEncodeError names the path).

// Imported, not the global: in Node 20 the global Buffer is a getter, called on every use.
import { Buffer } from 'node:buffer';
import { ElementType, VICI_DEPTH_MAX, VICI_MESSAGE_SIZE_MAX, VICI_NAME_MAX, VICI_VALUE_MAX } from './constants.js';
import { ViciEncodeError } from './errors.js';
import { orderedKeys, SECTION_PROTOTYPE, type ViciScalar } from './sections.js';

const { SECTION_START, SECTION_END, KEY_VALUE, LIST_START, LIST_ITEM, LIST_END } = ElementType;

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
  // Printable ASCII was checked above: one byte per character.
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

/** The text a non-byte scalar is sent as. */
function scalarText(v: string | number | bigint | boolean, path: string): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'yes' : 'no';
    case 'number':
      if (!Number.isFinite(v)) throw new ViciEncodeError(`number ${v} cannot be encoded`, path);
      return Object.is(v, -0) ? '0' : String(v);
    default:
      return v.toString();
  }
}

/** Writes a 16-bit-length value. */
function writeValue(w: Writer, v: ViciScalar, path: string): void {
  if (v instanceof Uint8Array) {
    const len = v.length;
    if (len > VICI_VALUE_MAX) throw new ViciEncodeError(`value is ${len} bytes, over the ${VICI_VALUE_MAX} byte limit`, path);
    w.ensure(2 + len);
    w.buf[w.pos++] = len >> 8;
    w.buf[w.pos++] = len & 0xff;
    w.bytes(v);
    return;
  }
  const text = scalarText(v, path);
  const len = Buffer.byteLength(text, 'utf8');
  if (len > VICI_VALUE_MAX) throw new ViciEncodeError(`value is ${len} bytes, over the ${VICI_VALUE_MAX} byte limit`, path);
  w.ensure(2 + len);
  w.buf[w.pos++] = len >> 8;
  w.buf[w.pos++] = len & 0xff;
  w.pos += w.buf.write(text, w.pos, 'utf8');
}

/** Objects taken as sections: object literals, null-prototype objects and decoded sections. */
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
      // Also what stops a cycle: it nests without end.
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
