// Message layer: the element stream (sections, key/values, lists) <-> a tree of null-prototype objects.
// The public face of decode.ts, encode.ts and sections.ts, and the helpers that read decoded values.
//
// Decoded values stay bytes (Buffer views into the frame, no copy): charon sends text, but nothing in the
// protocol says so and binary values (certificates, keys) must survive. `toPlain` and the `as*` helpers turn
// them into strings. Keys that look like array indices ("0", "17") would be reordered by JavaScript's own
// property order, so a section holding one carries its wire order under VICI_ORDER (see orderedKeys).
//
// The decoder is hand-written. binary-parser (on the design card) was tried for the element stream
// (bench/vici-binary-parser.ts, measured beside this reader by `npm run bench:vici`) and kept out: it builds
// an object per element and decodes names through TextDecoder, which made it several times slower, and it
// cannot say where a bad element starts.

import { Buffer } from 'node:buffer';
import { newSection, wireOrder, VICI_ORDER, type PlainSection, type ViciSection, type ViciValue } from './sections.js';

export { decodeMessage, decodeMessagePlain } from './decode.js';
export { encodeMessage, writeMessage, writeName, Writer } from './encode.js';
export { newSection, orderedKeys, VICI_ORDER } from './sections.js';
export type { PlainSection, PlainValue, ViciInput, ViciInputValue, ViciScalar, ViciSection, ViciValue } from './sections.js';

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

/** Bytes as utf8 text; a hand-built section may hold a plain Uint8Array, whose own toString lists numbers. */
function utf8(v: Uint8Array): string {
  return (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)).toString('utf8');
}

/**
 * The same tree with every value decoded as utf8 text (lists become string arrays). Order is kept.
 * Binary values do not survive this: keep the Buffer form for those. Text already present passes through.
 */
export function toPlain(section: ViciSection | PlainSection): PlainSection {
  const out = newSection() as unknown as PlainSection;
  const order = wireOrder(section);
  if (order) Object.defineProperty(out, VICI_ORDER, { value: [...order], enumerable: false });
  for (const key in section) {
    const v = section[key]!;
    if (typeof v === 'string') out[key] = v;
    else if (v instanceof Uint8Array) out[key] = utf8(v);
    else if (Array.isArray(v)) out[key] = (v as (Uint8Array | string)[]).map((b) => (typeof b === 'string' ? b : utf8(b)));
    else out[key] = toPlain(v);
  }
  return out;
}
