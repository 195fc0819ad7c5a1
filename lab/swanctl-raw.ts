// Parses `swanctl --list-sas --raw` / `--list-conns --raw`: one line per VICI message,
// `<name> <kind> {key=value section {..} list=[a b]}`. Values here never hold spaces (ids are addresses).

export type RawValue = string | string[] | RawSection;
export interface RawSection {
  [key: string]: RawValue;
}

function tokenize(s: string): string[] {
  return s.match(/[{}[\]]|[^\s{}[\]]+/g) ?? [];
}

function parseSection(tokens: string[], pos: { i: number }): RawSection {
  const out: RawSection = {};
  while (pos.i < tokens.length) {
    const t = tokens[pos.i++]!;
    if (t === '}') return out;
    const eq = t.indexOf('=');
    if (eq === t.length - 1 && tokens[pos.i] === '[') {
      // lists print as key=[a b]
      pos.i++;
      const items: string[] = [];
      while (pos.i < tokens.length && tokens[pos.i] !== ']') items.push(tokens[pos.i++]!);
      pos.i++;
      out[t.slice(0, eq)] = items;
      continue;
    }
    if (eq >= 0) {
      out[t.slice(0, eq)] = t.slice(eq + 1);
      continue;
    }
    if (tokens[pos.i] === '{') {
      pos.i++;
      out[t] = parseSection(tokens, pos);
    }
  }
  return out;
}

/** The message bodies of every line whose prefix is `<kind>` (e.g. 'list-sa event'). */
export function parseRawMessages(output: string, kind: string): RawSection[] {
  const out: RawSection[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith(kind + ' ')) continue;
    const tokens = tokenize(line.slice(kind.length));
    if (tokens[0] !== '{') continue;
    out.push(parseSection(tokens, { i: 1 }));
  }
  return out;
}

export interface RawChildSa {
  ike: string;
  name: string;
  state: string;
  uniqueid: string;
}
export interface RawIkeSa {
  name: string;
  state: string;
  uniqueid: string;
  spiI: string;
  spiR: string;
  children: RawChildSa[];
}

export function parseListSas(output: string): RawIkeSa[] {
  const out: RawIkeSa[] = [];
  for (const msg of parseRawMessages(output, 'list-sa event')) {
    for (const [ike, v] of Object.entries(msg)) {
      if (typeof v !== 'object' || Array.isArray(v)) continue;
      const children: RawChildSa[] = [];
      const cs = v['child-sas'];
      if (cs && typeof cs === 'object' && !Array.isArray(cs)) {
        for (const c of Object.values(cs)) {
          if (typeof c !== 'object' || Array.isArray(c)) continue;
          children.push({ ike, name: String(c.name), state: String(c.state), uniqueid: String(c.uniqueid) });
        }
      }
      out.push({
        name: ike,
        state: String(v.state),
        uniqueid: String(v.uniqueid),
        spiI: String(v['initiator-spi']),
        spiR: String(v['responder-spi']),
        children,
      });
    }
  }
  return out;
}

/** list-conns: IKE config name -> its CHILD config names. */
export function parseListConns(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const msg of parseRawMessages(output, 'list-conn event')) {
    for (const [ike, v] of Object.entries(msg)) {
      if (typeof v !== 'object' || Array.isArray(v)) continue;
      const cs = v.children;
      out.set(ike, cs && typeof cs === 'object' && !Array.isArray(cs) ? Object.keys(cs) : []);
    }
  }
  return out;
}
