// What a decoded section is, shared by the decoder (decode.ts), the encoder (encode.ts) and message.ts:
// the value types, the null-prototype objects sections are made of, and the wire order of keys that
// JavaScript would reorder.

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

/**
 * Sections are instances of a constructor whose prototype is a frozen empty object with a null prototype:
 * nothing is inherited (no `__proto__` accessor, no `toString`, no `constructor`), so any key is an ordinary
 * own property, exactly as with Object.create(null). Unlike Object.create(null), whose objects V8 keeps in
 * slow dictionary mode from the start, these begin on shared hidden classes, as ordinary objects do.
 * The prototype is frozen, so sharing it between all sections shares nothing that can change.
 */
export const SectionCtor = function ViciSection() {} as unknown as new () => Record<string, unknown>;
SectionCtor.prototype = Object.freeze(Object.create(null) as object);
export const SECTION_PROTOTYPE: object = SectionCtor.prototype as object;

export function newSection(): ViciSection {
  return new SectionCtor() as ViciSection;
}

/** True for keys that JavaScript orders numerically ahead of all others ("0".."4294967294"). */
export function isIndexKey(key: string): boolean {
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

/** The wire order recorded on `section`, if any. */
export function wireOrder(section: object): string[] | undefined {
  return (section as Ordered)[VICI_ORDER];
}

/**
 * Starts recording wire order on `section`, whose next key `key` is index-like, and returns the record for
 * the caller to append to. Not enumerable, so Object.keys, JSON and deepEqual see only the keys.
 */
export function attachOrder(section: object, key: string): string[] {
  // Up to now no key was index-like, so JavaScript's order is the wire order.
  const keys = Object.keys(section);
  keys.push(key);
  Object.defineProperty(section, VICI_ORDER, { value: keys, enumerable: false });
  return keys;
}

/** The keys of a decoded (or hand-built) section in wire order. */
export function orderedKeys(section: object): string[] {
  const order = wireOrder(section);
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
