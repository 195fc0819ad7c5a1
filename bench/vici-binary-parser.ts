// The element-stream decoder built with binary-parser, kept for the comparison in bench/vici.ts (the design
// card named the library; the hand-written reader in src/vici/message.ts won, see the figures there).
// binary-parser reads the flat element stream; folding it into sections applies the same rules as the
// hand-written decoder. It cannot say where a truncated element starts, so its errors carry offset -1.
// The package's ESM entry ships no types under a name TypeScript finds; its CommonJS build has both.
import { Parser } from 'binary-parser/dist/binary_parser.js';
import { ElementType, VICI_DEPTH_MAX } from '../src/vici/constants.js';
import { ViciDecodeError } from '../src/vici/errors.js';
import { newSection, type ViciSection, type ViciValue } from '../src/vici/message.js';

const name = new Parser().uint8('nlen').string('name', { length: 'nlen', encoding: 'latin1' });
const empty = new Parser().saveOffset('at');
const element = new Parser()
  .endianness('big')
  .uint8('type')
  .choice('body', {
    tag: 'type',
    choices: {
      [ElementType.SECTION_START]: name,
      [ElementType.SECTION_END]: empty,
      [ElementType.KEY_VALUE]: new Parser().endianness('big').uint8('nlen').string('name', { length: 'nlen', encoding: 'latin1' }).uint16('vlen').buffer('value', { length: 'vlen' }),
      [ElementType.LIST_START]: name,
      [ElementType.LIST_ITEM]: new Parser().endianness('big').uint16('vlen').buffer('value', { length: 'vlen' }),
      [ElementType.LIST_END]: empty,
    },
  });
const stream = new Parser().array('elements', { type: element, readUntil: 'eof' });

interface Element {
  type: number;
  body: { name?: string; value?: Buffer };
}

export function decodeMessageBinaryParser(buf: Buffer): ViciSection {
  let elements: Element[];
  try {
    elements = (stream.parse(buf) as { elements: Element[] }).elements;
  } catch (err) {
    throw new ViciDecodeError(`malformed element stream: ${(err as Error).message}`, -1);
  }
  const root = newSection();
  const parents: ViciSection[] = [];
  let cur = root;
  let list: Buffer[] | undefined;
  for (const e of elements) {
    const { type, body } = e;
    if (list !== undefined) {
      if (type === ElementType.LIST_ITEM) list.push(body.value!);
      else if (type === ElementType.LIST_END) list = undefined;
      else throw new ViciDecodeError(`element type ${type} inside a list`, -1);
      continue;
    }
    if (type === ElementType.SECTION_END) {
      const p = parents.pop();
      if (!p) throw new ViciDecodeError('SECTION_END outside of a section', -1);
      cur = p;
      continue;
    }
    if (type === ElementType.LIST_ITEM || type === ElementType.LIST_END) throw new ViciDecodeError('list element outside of a list', -1);
    const key = body.name!;
    if (cur[key] !== undefined) throw new ViciDecodeError(`duplicate key '${key}'`, -1);
    let v: ViciValue;
    if (type === ElementType.KEY_VALUE) v = body.value!;
    else if (type === ElementType.LIST_START) v = list = [];
    else {
      if (parents.length >= VICI_DEPTH_MAX) throw new ViciDecodeError('sections nested too deep', -1);
      v = newSection();
      cur[key] = v;
      parents.push(cur);
      cur = v;
      continue;
    }
    cur[key] = v;
  }
  if (list !== undefined || parents.length) throw new ViciDecodeError('unbalanced message', -1);
  return root;
}
