// How the decoder (message.ts) makes sections: null-prototype objects, built fast for the shapes charon repeats.
//
// charon writes every CHILD_SA with the same ~25 keys in the same order, every IKE_SA likewise. The decoder
// follows each section down a tree of Shapes, one per key so far; each Shape remembers the keys that followed
// it before, with their bytes and their decoded (internalised) strings. A key that matches a prediction costs
// a compare of its bytes: no hashing, no new string, and no duplicate check, because a path in the tree never
// holds the same key twice, so a section that followed it from its start cannot hold the predicted key yet.
// Any other key is decoded on the general path and added to the tree. Sections at the same depth share one
// tree: in list-sa that separates the IKE_SAs (depth 1), their child-sas (2) and the CHILD_SAs (3).
//
// While a section follows the tree its values wait on a stack, and the object is made when the section ends,
// in one go: once BUILD_AFTER sections have ended on the same Shape, by a constructor generated for that
// Shape's keys. Adding keys one by one through `section[key] = value` is a megamorphic keyed store in V8
// (a transition lookup per key, the property array re-grown every few keys): that was a quarter of decoding
// time; a generated constructor makes monomorphic stores into an object sized for its keys.
//
// Bounded: SHAPE_NEXT_MAX successors per Shape, SHAPE_NODES_MAX Shapes and BUILDERS_MAX constructors per
// tree (then the tree starts over), keys of at most SHAPE_NAME_MAX bytes, SHAPE_KEYS_MAX keys per section,
// sections at most SHAPE_DEPTH_MAX deep; beyond that, and for index-like keys (see isIndexKey), a section is
// built key by key.

const SHAPE_NEXT_MAX = 16;
const SHAPE_NODES_MAX = 1024;
const SHAPE_NAME_MAX = 64;
const SHAPE_KEYS_MAX = 64;
const SHAPE_DEPTH_MAX = 6;
const BUILD_AFTER = 8;
const BUILDERS_MAX = 32;

export type Section = Record<string, unknown>;

/**
 * Sections are instances of constructors whose prototype is a frozen empty object with a null prototype:
 * nothing is inherited (no `__proto__` accessor, no `toString`, no `constructor`), so any key is an ordinary
 * own property, exactly as with Object.create(null). Unlike Object.create(null), whose objects V8 keeps in
 * slow dictionary mode, these share hidden classes: decoding list-sa runs ~2.5x faster (see bench/vici.ts).
 */
export const SectionCtor = function ViciSection() {} as unknown as new () => Section;
SectionCtor.prototype = Object.freeze(Object.create(null) as object);
export const SECTION_PROTOTYPE: object = SectionCtor.prototype as object;

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

/** Where internalise puts keys: in dictionary mode (null prototype), so that no hidden class records them. */
const scratch = Object.create(null) as Record<string, number>;

/**
 * `s` as V8's internalised copy, the form property names take: stores and lookups with it skip hashing it
 * and probing V8's string table. Object keys come back internalised.
 */
export function internalise(s: string): string {
  scratch[s] = 0;
  const key = Object.keys(scratch)[0]!;
  delete scratch[key];
  return key;
}

type Builder = new (values: unknown[], start: number) => Section;

/** The Shapes of sections at one depth. */
class Tree {
  readonly root: Shape = new Shape(this, undefined, '', 0, [], false);
  shapes = 0;
  builders = 0;
}

/** A key: its decoded name and its wire bytes, for byte compares (see isKey). */
class Key {
  constructor(
    readonly name: string,
    /** Its length in bytes on the wire. */
    readonly length: number,
    /** Its bytes as big-endian 32-bit words (see keyWords). */
    readonly words: number[],
  ) {}
}

/** A key at one position in a section, and the keys that followed it in sections that got this far. */
export class Shape extends Key {
  /** The successor that matched last, tried first. */
  next: Shape | undefined = undefined;
  readonly successors: Shape[] = [];
  /** Keys in the section up to and including this one. */
  readonly count: number;
  /** Sections that ended here, counted up to BUILD_AFTER. */
  private ends = 0;
  private keys: string[] | undefined = undefined;
  private builder: Builder | undefined = undefined;
  constructor(
    readonly tree: Tree,
    private readonly parent: Shape | undefined,
    name: string,
    length: number,
    words: number[],
    /** Whether this key's value is a section. */
    readonly opensSection: boolean,
  ) {
    super(name, length, words);
    this.count = parent === undefined ? 0 : parent.count + 1;
  }

  /** Whether a section that got here holds `name`. */
  has(name: string): boolean {
    return this.parent !== undefined && (this.name === name || this.parent.has(name));
  }

  /** The keys from the root to here, in order. */
  path(): string[] {
    if (this.parent === undefined) return [];
    const keys = this.parent.path();
    keys.push(this.name);
    return keys;
  }

  /** The section whose keys are this path and whose values are `values[start..]`; `ended`: it is complete. */
  build(values: unknown[], start: number, ended: boolean): Section {
    if (this.builder !== undefined) return new this.builder(values, start);
    if (ended && ++this.ends === BUILD_AFTER) this.builder = makeBuilder(this.tree, (this.keys = this.path()));
    const keys = ended ? (this.keys ??= this.path()) : this.path();
    const section = new SectionCtor();
    for (let k = 0; k < keys.length; k++) section[keys[k]!] = values[start + k];
    return section;
  }
}

const trees: Tree[] = Array.from({ length: SHAPE_DEPTH_MAX }, () => new Tree());

/** Where sections at `depth` start, or undefined: too deep, built key by key. */
export function rootShape(depth: number): Shape | undefined {
  return trees[depth]?.root;
}

/**
 * The `len` bytes at `start` as the words isKey compares: 4 bytes at a time, the last word ending at the
 * last byte (overlapping the one before it); under 4 bytes, the bytes one by one.
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

/**
 * Whether the `len` bytes at `start` are `key`. Word by word: a byte loop costs a bounds and a
 * detached-buffer check per byte, and was the hottest part of decoding.
 */
function isKey(key: Key, view: DataView, start: number, len: number): boolean {
  if (key.length !== len) return false;
  const words = key.words;
  if (len < 4) {
    for (let k = 0; k < len; k++) if (view.getUint8(start + k) !== words[k]) return false;
    return true;
  }
  const last = words.length - 1;
  for (let w = 0; w < last; w++) if (view.getInt32(start + 4 * w) !== words[w]) return false;
  return view.getInt32(start + len - 4) === words[last];
}

/** The successor of `shape` whose key is the `len` bytes at `start`, if the tree knows it. */
export function predict(shape: Shape, view: DataView, start: number, len: number): Shape | undefined {
  const next = shape.next;
  if (next !== undefined && isKey(next, view, start, len)) return next;
  for (const s of shape.successors) {
    if (s !== next && isKey(s, view, start, len)) {
      shape.next = s;
      return s;
    }
  }
  return undefined;
}

/**
 * Adds `name`, whose bytes are the `len` at `start`, as a successor of `shape` (which does not hold it);
 * undefined when the section is to be built key by key instead: a bound is reached, the key is index-like
 * (such sections record their wire order, see message.ts), or it looks like one of many section keys
 * (CHILD_SAs by name in child-sas): a section key that is new after a key the tree knows, or that follows
 * another section key. Learning those would only churn the tree; Sequences recall them.
 */
export function learn(shape: Shape, name: string, opensSection: boolean, view: DataView, start: number, len: number): Shape | undefined {
  if (len > SHAPE_NAME_MAX || shape.count >= SHAPE_KEYS_MAX || isIndexKey(name)) return undefined;
  if (opensSection && (shape.next !== undefined || shape.opensSection)) return undefined;
  const tree = shape.tree;
  if (++tree.shapes > SHAPE_NODES_MAX) {
    // Start this depth's tree over; sections being decoded keep their part of the old one.
    trees[trees.indexOf(tree)] = new Tree();
    return undefined;
  }
  const next = new Shape(tree, shape, internalise(name), len, keyWords(view, start, len), opensSection);
  if (shape.successors.length < SHAPE_NEXT_MAX) shape.successors.push(next);
  else shape.successors[tree.shapes % SHAPE_NEXT_MAX] = next;
  shape.next = next;
  return next;
}

// Sections decoded key by key are mostly sections of sections keyed by name: list-sa's child-sas holds the
// CHILD_SAs by name-uniqueid, list-conn's root the conns. charon lists them in the same order every time, so
// each depth remembers the section keys of its key-by-key sections in the last message, by position (counted
// across the message), and a key is first compared with the one at its position last time. A rekey removes a
// CHILD_SA from the middle and appends its successor: a key that does not match is looked for up to
// RESYNC_MAX positions further, and a match there shifts the positions that follow. (An interning table
// would do without order, but with 1000 names its random reads miss the CPU caches, which the message just
// streamed through: ~0.3 us a key.) Bounded: SEQUENCE_MAX keys for each of the first SEQUENCE_DEPTH_MAX depths.
const SEQUENCE_MAX = 1024;
const SEQUENCE_DEPTH_MAX = 4;
const RESYNC_MAX = 4;

/** The section keys remembered at one depth, by position. */
export class Sequence {
  private readonly keys: (Key | undefined)[] = [];
  /** How far this message's positions are behind the last one's (keys it no longer has). */
  private shift = 0;

  /** Starts a message: its positions count from 0 again. */
  restart(): void {
    this.shift = 0;
  }

  /** The name of the key of `len` bytes at `start`, if it is the one remembered at `position` or just after. */
  recall(position: number, view: DataView, start: number, len: number): string | undefined {
    for (let skip = 0; skip <= RESYNC_MAX; skip++) {
      const key = this.keys[position + this.shift + skip];
      if (key !== undefined && isKey(key, view, start, len)) {
        // Positions before position + shift are this message's own keys already: nothing read again is lost.
        this.shift += skip;
        this.keys[position] = key;
        return key.name;
      }
    }
    return undefined;
  }

  /** Remembers `name`, whose bytes are the `len` at `start`, at `position`. */
  remember(position: number, name: string, view: DataView, start: number, len: number): void {
    if (position < SEQUENCE_MAX && len <= SHAPE_NAME_MAX) this.keys[position] = new Key(name, len, keyWords(view, start, len));
  }
}

const sequences: Sequence[] = Array.from({ length: SEQUENCE_DEPTH_MAX }, () => new Sequence());

/** The sequences of section keys by depth, restarted for a new message (deeper sections have none). */
export function restartSequences(): readonly Sequence[] {
  for (const sequence of sequences) sequence.restart();
  return sequences;
}

/**
 * A constructor that sets `keys` from `values[start..]`, in order, on a new section; undefined when code
 * generation is disallowed (node --disallow-code-generation-from-strings) or the tree has made enough.
 * The keys are embedded as JSON string literals, so no key can be anything but a string in the code.
 */
function makeBuilder(tree: Tree, keys: string[]): Builder | undefined {
  if (tree.builders >= BUILDERS_MAX || keys.includes('__proto__')) return undefined;
  tree.builders++;
  const body = keys.map((k, j) => `this[${JSON.stringify(k)}] = values[start + ${j}];`).join('\n');
  try {
    const builder = new Function('values', 'start', `'use strict';\n${body}`) as unknown as Builder;
    builder.prototype = SECTION_PROTOTYPE;
    return builder;
  } catch {
    return undefined;
  }
}
