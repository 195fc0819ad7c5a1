// Typed views of charon's answers and events. They keep charon's own keys (kebab-case) and string values,
// and every key charon sends, known or not: the objects are the null-prototype trees from toPlain(), checked
// with zod schemas (.loose(): unknown keys allowed). zod's parsed copy is not used because it silently drops
// keys such as `__proto__`; a failed check is a ViciSchemaError.
import { z } from 'zod';
import { ViciSchemaError } from './errors.js';
import { toPlain, type PlainSection, type PlainValue, type ViciSection } from './message.js';

export interface ChildSa {
  name: string;
  uniqueid: string;
  reqid?: string;
  state: string;
  'install-time'?: string;
  'bytes-in'?: string;
  'bytes-out'?: string;
  'packets-in'?: string;
  'packets-out'?: string;
  'local-ts'?: string[];
  'remote-ts'?: string[];
  [k: string]: unknown;
}

export interface IkeSa {
  /** The IKE_SA's config name: the section key charon lists it under. */
  name: string;
  uniqueid: string;
  state: string;
  'local-host'?: string;
  'remote-host'?: string;
  established?: string;
  /** Keyed `<child name>-<child uniqueid>`; empty where charon sends no child-sas section (ike-updown). */
  'child-sas': Record<string, ChildSa>;
  [k: string]: unknown;
}

export interface ConnChild {
  mode?: string;
  start_action?: string;
  dpd_action?: string;
  close_action?: string;
  'local-ts'?: string[];
  'remote-ts'?: string[];
  [k: string]: unknown;
}

export interface Conn {
  /** The connection (IKE config) name: the section key. */
  name: string;
  children: Record<string, ConnChild>;
  [k: string]: unknown;
}

export interface Version {
  daemon: string;
  version: string;
  sysname: string;
  release: string;
  machine: string;
  [k: string]: unknown;
}

export interface Stats {
  uptime?: { running?: string; since?: string; [k: string]: unknown };
  workers?: { total?: string; idle?: string; active?: Record<string, string>; [k: string]: unknown };
  queues?: Record<string, string>;
  scheduled?: string;
  ikesas?: { total?: string; 'half-open'?: string; [k: string]: unknown };
  plugins?: string[];
  [k: string]: unknown;
}

/** ike-updown. `up` is false for down events, including the ones charon sends for every SA when it shuts down. */
export interface IkeUpdown {
  up: boolean;
  ikeName: string;
  ike: IkeSa;
}

/** child-updown: `ike['child-sas']` holds the one affected CHILD_SA, keyed `<name>-<uniqueid>` (since 5.8.2). */
export interface ChildUpdown {
  up: boolean;
  ikeName: string;
  ike: IkeSa;
}

/** ike-rekey: the IKE_SA before and after (neither has CHILD_SAs listed). */
export interface IkeRekey {
  ikeName: string;
  old: IkeSa;
  new: IkeSa;
}

/**
 * child-rekey. charon sends `{<ike>: {<IKE_SA keys>, child-sas: {<child name>: {old: {...}, new: {...}}}}}`:
 * `child` is that plain child config name (no uniqueid suffix here), `old`/`new` the CHILD_SA before and after,
 * and `ike` the IKE_SA with an empty `child-sas`.
 */
export interface ChildRekey {
  ikeName: string;
  ike: IkeSa;
  child: string;
  old: ChildSa;
  new: ChildSa;
}

/** ike-update: the IKE_SA lists the old endpoints, the top-level keys the new ones. */
export interface IkeUpdate {
  ikeName: string;
  ike: IkeSa;
  'local-host'?: string;
  'local-port'?: string;
  'remote-host'?: string;
  'remote-port'?: string;
}

/** log (levels 0 and 1 only). The README says `ikesa-uniqued`; 5.9.8 sends `ikesa-uniqueid`. */
export interface CharonLog {
  group: string;
  level: string;
  thread?: string;
  msg: string;
  'ikesa-name'?: string;
  'ikesa-uniqueid'?: string;
  [k: string]: unknown;
}

/** alert (strongSwan 6.0.3 and later). */
export interface Alert {
  type: string;
  'ike-sa'?: Record<string, unknown>;
  [k: string]: unknown;
}

const str = z.string();
const strs = z.array(z.string());
const section = z.custom<PlainSection>((v) => typeof v === 'object' && v !== null && !Array.isArray(v));

const childSaSchema = z.object({
  name: str,
  uniqueid: str,
  reqid: str.optional(),
  state: str,
  'install-time': str.optional(),
  'bytes-in': str.optional(),
  'bytes-out': str.optional(),
  'packets-in': str.optional(),
  'packets-out': str.optional(),
  'local-ts': strs.optional(),
  'remote-ts': strs.optional(),
});
const ikeSaSchema = z.object({
  uniqueid: str,
  state: str,
  'local-host': str.optional(),
  'remote-host': str.optional(),
  established: str.optional(),
  'child-sas': section.optional(),
});
const connChildSchema = z.object({
  mode: str.optional(),
  start_action: str.optional(),
  dpd_action: str.optional(),
  close_action: str.optional(),
  'local-ts': strs.optional(),
  'remote-ts': strs.optional(),
});
const connSchema = z.object({ children: section.optional() });
const versionSchema = z.object({ daemon: str, version: str, sysname: str, release: str, machine: str });
const statsSchema = z.object({ scheduled: str.optional(), plugins: strs.optional() });
const logSchema = z.object({ group: str, level: str, thread: str.optional(), msg: str });
const alertSchema = z.object({ type: str, 'ike-sa': section.optional() });

function check<T>(schema: z.ZodType, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new ViciSchemaError(what, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  return value as T;
}

function isSection(v: PlainValue | undefined): v is PlainSection {
  return typeof v === 'object' && !Array.isArray(v);
}

function childSa(plain: PlainValue | undefined, what: string): ChildSa {
  if (!isSection(plain)) throw new ViciSchemaError(what, 'expected a section');
  return check<ChildSa>(childSaSchema, plain, what);
}

/** An IKE_SA from its (text) section, named after the section key; CHILD_SAs checked one by one. Adopts `s`. */
export function ikeSaFrom(name: string, s: PlainSection, what = `IKE_SA '${name}'`): IkeSa {
  const plain = s as PlainSection & { name?: string };
  check(ikeSaSchema, plain, what);
  const kids = plain['child-sas'] as PlainSection | undefined;
  if (kids === undefined) {
    plain['child-sas'] = Object.create(null) as PlainSection;
  } else {
    for (const k in kids) childSa(kids[k], `${what} CHILD_SA '${k}'`);
  }
  plain.name = name;
  return plain as unknown as IkeSa;
}

/** The IKE_SA sections of a list-sa event (one per event in practice). */
export function ikeSasFromListSa(msg: PlainSection): IkeSa[] {
  const out: IkeSa[] = [];
  for (const k in msg) {
    const v = msg[k]!;
    if (isSection(v)) out.push(ikeSaFrom(k, v, `list-sa IKE_SA '${k}'`));
  }
  return out;
}

export function connsFromListConn(msg: PlainSection): Conn[] {
  const out: Conn[] = [];
  for (const k in msg) {
    const plain = msg[k] as PlainSection & { name?: string };
    if (!isSection(plain)) continue;
    const what = `list-conn '${k}'`;
    check(connSchema, plain, what);
    const kids = plain.children as PlainSection | undefined;
    if (kids === undefined) plain.children = Object.create(null) as PlainSection;
    else for (const c in kids) check(connChildSchema, kids[c], `${what} child '${c}'`);
    plain.name = k;
    out.push(plain as unknown as Conn);
  }
  return out;
}

export const versionFrom = (msg: ViciSection): Version => check<Version>(versionSchema, toPlain(msg), 'version');
export const statsFrom = (msg: ViciSection): Stats => check<Stats>(statsSchema, toPlain(msg), 'stats');

/** The one IKE_SA section of an updown/rekey event: every key that is a section. */
function onlySection(msg: PlainSection, event: string): [string, PlainSection] {
  let found: [string, PlainSection] | undefined;
  for (const k in msg) {
    const v = msg[k]!;
    if (!isSection(v)) continue;
    if (found) throw new ViciSchemaError(event, `more than one IKE_SA section ('${found[0]}', '${k}')`);
    found = [k, v];
  }
  if (!found) throw new ViciSchemaError(event, 'no IKE_SA section');
  return found;
}

function updown(raw: ViciSection, event: string): IkeUpdown {
  const msg = toPlain(raw);
  const [ikeName, s] = onlySection(msg, event);
  return { up: msg.up === 'yes', ikeName, ike: ikeSaFrom(ikeName, s, `${event} IKE_SA '${ikeName}'`) };
}

export const ikeUpdownFrom = (msg: ViciSection): IkeUpdown => updown(msg, 'ike-updown');
export const childUpdownFrom = (msg: ViciSection): ChildUpdown => updown(msg, 'child-updown');

export function ikeRekeyFrom(raw: ViciSection): IkeRekey {
  const [ikeName, s] = onlySection(toPlain(raw), 'ike-rekey');
  const o = s.old;
  const n = s.new;
  if (!isSection(o) || !isSection(n)) throw new ViciSchemaError('ike-rekey', `'${ikeName}' lacks old/new sections`);
  return { ikeName, old: ikeSaFrom(ikeName, o, `ike-rekey '${ikeName}' old`), new: ikeSaFrom(ikeName, n, `ike-rekey '${ikeName}' new`) };
}

export function childRekeyFrom(raw: ViciSection): ChildRekey {
  const [ikeName, s] = onlySection(toPlain(raw), 'child-rekey');
  const kids = s['child-sas'];
  if (!isSection(kids)) throw new ViciSchemaError('child-rekey', `'${ikeName}' has no child-sas section`);
  const names = Object.keys(kids);
  if (names.length !== 1) throw new ViciSchemaError('child-rekey', `expected one CHILD_SA, found ${names.length}`);
  const child = names[0]!;
  const pair = kids[child];
  if (!isSection(pair) || !isSection(pair.old) || !isSection(pair.new)) throw new ViciSchemaError('child-rekey', `'${child}' lacks old/new sections`);
  delete s['child-sas'];
  const what = `child-rekey '${ikeName}' CHILD_SA '${child}'`;
  return {
    ikeName,
    ike: ikeSaFrom(ikeName, s, `child-rekey IKE_SA '${ikeName}'`),
    child,
    old: childSa(pair.old, `${what} old`),
    new: childSa(pair.new, `${what} new`),
  };
}

export function ikeUpdateFrom(raw: ViciSection): IkeUpdate {
  const msg = toPlain(raw);
  const [ikeName, s] = onlySection(msg, 'ike-update');
  const e: IkeUpdate = { ikeName, ike: ikeSaFrom(ikeName, s, `ike-update '${ikeName}'`) };
  for (const k of ['local-host', 'local-port', 'remote-host', 'remote-port'] as const) {
    const v = msg[k];
    if (typeof v === 'string') e[k] = v;
  }
  return e;
}

export const logFrom = (msg: ViciSection): CharonLog => check<CharonLog>(logSchema, toPlain(msg), 'log');
export const alertFrom = (msg: ViciSection): Alert => check<Alert>(alertSchema, toPlain(msg), 'alert');
