// The Grafana dashboard for operators (contrib/grafana/ipsec-keepalive.json): importable (JSON, the
// DS_PROMETHEUS input, the datasource/instance/tunnel variables, a query in every panel) and honest:
// every metric, label and label value its queries use is one the agent exports, as the golden
// exposition (fixtures/metrics/golden.prom) shows, and promtool parses every query.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DASHBOARD = fileURLToPath(new URL('../../contrib/grafana/ipsec-keepalive.json', import.meta.url));
const GOLDEN = fileURLToPath(new URL('../../fixtures/metrics/golden.prom', import.meta.url));
const PROMTOOL = '/usr/bin/promtool';

/** Labels Prometheus adds (instance, job) or histograms have (le): allowed on every metric. */
const ALWAYS_ALLOWED = new Set(['le', 'instance', 'job']);
/** Variables Grafana defines itself. */
const BUILTIN_VARS = new Set(['__rate_interval', '__interval', '__interval_ms', '__range', '__range_s', '__range_ms']);
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);
const DS_UID = '${datasource}';

// ---- golden.prom -------------------------------------------------------------------------------

interface Family {
  type: string;
  /** Label name -> values seen in golden.prom (without le). */
  labels: Map<string, Set<string>>;
}

const MATCHER = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

/** `a="x", b=~"y"` as [label, op, value]; undefined when the text is not a valid matcher list. */
function parseMatchers(body: string): Array<[string, string, string]> | undefined {
  const out: Array<[string, string, string]> = [];
  MATCHER.lastIndex = 0;
  while (MATCHER.lastIndex < body.length) {
    if (body.slice(MATCHER.lastIndex).trim() === '') break;
    const m = MATCHER.exec(body);
    if (!m) return undefined;
    out.push([m[1]!, m[2]!, m[3]!]);
  }
  return out;
}

/** The family a series name belongs to: itself, or a histogram's _bucket/_sum/_count, a summary's _sum/_count. */
function familyOf(families: ReadonlyMap<string, Family>, name: string): string | undefined {
  if (families.has(name)) return name;
  const m = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (!m) return undefined;
  const type = families.get(m[1]!)?.type;
  if (type === 'histogram' || (type === 'summary' && m[2] !== 'bucket')) return m[1];
  return undefined;
}

function parseGolden(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1]!, { type: type[2]!, labels: new Map() });
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+$/.exec(line);
    assert.ok(sample, `golden.prom: cannot read ${JSON.stringify(line)}`);
    const family = familyOf(families, sample[1]!);
    assert.ok(family, `golden.prom: sample ${sample[1]} has no # TYPE`);
    const matchers = parseMatchers(sample[2] ?? '');
    assert.ok(matchers, `golden.prom: cannot read the labels of ${JSON.stringify(line)}`);
    const labels = families.get(family)!.labels;
    for (const [name, , value] of matchers) {
      if (name === 'le') continue;
      let values = labels.get(name);
      if (!values) labels.set(name, (values = new Set()));
      values.add(value);
    }
  }
  return families;
}

// ---- PromQL checks -----------------------------------------------------------------------------

/** The expression with every string literal emptied, so names and clauses are not looked for in label values. */
function withoutStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
}

function metricNames(expr: string): string[] {
  return [...withoutStrings(expr).matchAll(/\bipsec_keepalive_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
}

/** Index just past the parenthesis that closes the one at `open`. */
function closeParen(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return i + 1;
  }
  return s.length;
}

/** Index of the parenthesis that opens the one closing at `close` (s[close] === ')'). */
function openParen(s: string, close: number): number {
  let depth = 0;
  for (let i = close; i >= 0; i--) {
    if (s[i] === ')') depth++;
    else if (s[i] === '(' && --depth === 0) return i;
  }
  return 0;
}

/** The argument text of every call of the functions named (e.g. rate, histogram_quantile). */
function callArguments(expr: string, fns: RegExp): string[] {
  const s = withoutStrings(expr);
  const out: string[] = [];
  for (const m of s.matchAll(new RegExp(`\\b(?:${fns.source})\\s*\\(`, 'g'))) {
    const open = m.index + m[0].length - 1;
    out.push(s.slice(open, closeParen(s, open)));
  }
  return out;
}

/**
 * What is wrong with one query, as sentences (none: it only uses what golden.prom exports).
 * - every ipsec_keepalive_ name is a family of golden.prom or a histogram's/summary's series;
 * - every selector with braces selects an ipsec_keepalive_ metric;
 * - matcher labels exist on that metric (or are le, instance, job); an `=` with a literal value
 *   uses a value golden.prom has;
 * - by/without labels exist on every metric of the aggregated expression; on/ignoring/group_left/
 *   group_right labels on at least one metric of the query (which side is not worked out);
 * - rate/irate/increase only read counters (or histogram/summary series); histogram_quantile only
 *   _bucket series, keeping le when it aggregates;
 * - `$variables` are the dashboard's or Grafana's.
 */
function problems(expr: string, families: ReadonlyMap<string, Family>, variables: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const bare = withoutStrings(expr);
  const familiesOf = (text: string): string[] => [...new Set(metricNames(text).map((n) => familyOf(families, n)).filter((f): f is string => f !== undefined))];
  const has = (family: string, label: string): boolean => ALWAYS_ALLOWED.has(label) || (families.get(family)?.labels.has(label) ?? false);

  for (const name of metricNames(expr)) {
    if (!familyOf(families, name)) out.push(`${name} is not in golden.prom`);
  }
  for (const m of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{/g)) {
    if (!m[1]?.startsWith('ipsec_keepalive_')) out.push(`selector ${m[0]} does not select an ipsec_keepalive_ metric`);
  }
  for (const m of expr.matchAll(/(ipsec_keepalive_[a-zA-Z0-9_:]*)\s*\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}/g)) {
    const family = familyOf(families, m[1]!);
    if (!family) continue;
    const matchers = parseMatchers(m[2]!);
    if (!matchers) {
      out.push(`cannot read the matchers of ${m[0]}`);
      continue;
    }
    for (const [label, op, value] of matchers) {
      if (!has(family, label)) out.push(`${m[1]} has no label ${label}`);
      else if (op === '=' && !ALWAYS_ALLOWED.has(label) && !value.includes('$') && !families.get(family)!.labels.get(label)!.has(value)) {
        out.push(`${m[1]}{${label}="${value}"}: golden.prom has no such ${label}`);
      }
    }
  }
  for (const m of bare.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    const labels = m[2]!
      .split(',')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    if (m[1] === 'by' || m[1] === 'without') {
      // `sum by (x) (arg)` or `sum(arg) by (x)`.
      const before = bare.slice(0, m.index).trimEnd();
      const op = /([a-z_]+)$/.exec(before)?.[1];
      let arg: string;
      if (op !== undefined && AGGREGATIONS.has(op)) {
        const open = bare.indexOf('(', m.index + m[0].length);
        arg = open < 0 ? '' : bare.slice(open, closeParen(bare, open));
      } else if (before.endsWith(')')) {
        arg = bare.slice(openParen(before, before.length - 1), before.length);
      } else {
        out.push(`cannot tell what "${m[0]}" aggregates`);
        continue;
      }
      for (const family of familiesOf(arg)) {
        for (const l of labels) if (!has(family, l)) out.push(`${m[1]} (${labels.join(', ')}): ${family} has no label ${l}`);
      }
    } else {
      const all = familiesOf(expr);
      for (const l of labels) if (all.length > 0 && !all.some((f) => has(f, l))) out.push(`${m[1]} (${labels.join(', ')}): no metric of the query has a label ${l}`);
    }
  }
  for (const arg of callArguments(expr, /rate|irate|increase/)) {
    for (const name of metricNames(arg)) {
      const family = familyOf(families, name);
      if (family && name === family && families.get(family)!.type !== 'counter') out.push(`rate/increase of ${name}, a ${families.get(family)!.type}`);
    }
  }
  for (const arg of callArguments(expr, /histogram_quantile/)) {
    for (const name of metricNames(arg)) {
      const family = familyOf(families, name);
      if (family && (families.get(family)!.type !== 'histogram' || name !== `${family}_bucket`)) out.push(`histogram_quantile over ${name}, not a histogram's _bucket`);
    }
    const by = /\bby\s*\(([^)]*)\)/.exec(arg);
    if (by && !by[1]!.split(',').some((l) => l.trim() === 'le')) out.push(`histogram_quantile aggregates le away: ${by[0]}`);
  }
  for (const m of expr.matchAll(/\$\{?([a-zA-Z_][a-zA-Z0-9_]*)|\[\[([a-zA-Z_][a-zA-Z0-9_]*)\]\]/g)) {
    const v = m[1] ?? m[2]!;
    if (!variables.has(v) && !BUILTIN_VARS.has(v)) out.push(`unknown variable $${v}`);
  }
  return out;
}

// ---- the dashboard -----------------------------------------------------------------------------

interface DataSourceRef {
  type?: string;
  uid?: string;
}
interface Target {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: DataSourceRef;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: DataSourceRef;
  gridPos?: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  datasource?: DataSourceRef;
  multi?: boolean;
  includeAll?: boolean;
}
interface Dashboard {
  uid?: string;
  title?: string;
  tags?: string[];
  schemaVersion?: number;
  __inputs?: Array<{ name: string; type: string; pluginId: string }>;
  templating?: { list?: Variable[] };
  panels?: Panel[];
}

const text = readFileSync(DASHBOARD, 'utf8');
const families = parseGolden(readFileSync(GOLDEN, 'utf8'));

function load(): Dashboard {
  return JSON.parse(text) as Dashboard;
}

/** Every panel, the ones inside (collapsed) rows included; rows themselves left out. */
function allPanels(d: Dashboard): Panel[] {
  return (d.panels ?? []).flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
}

function variables(d: Dashboard): Map<string, Variable> {
  return new Map((d.templating?.list ?? []).map((v) => [v.name, v]));
}

function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : (v.query?.query ?? v.definition ?? '');
}

/** Every query of the dashboard with where it is, for messages. */
function queries(d: Dashboard): Array<{ where: string; expr: string; legend: string | undefined }> {
  return allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" query ${t.refId}`, expr: t.expr ?? '', legend: t.legendFormat })));
}

describe('Grafana dashboard contrib/grafana/ipsec-keepalive.json', () => {
  it('parses as JSON and is the ipsec-keepalive dashboard', () => {
    const d = load();
    assert.equal(d.uid, 'ipsec-keepalive');
    assert.equal(d.title, 'ipsec-keepalive');
    assert.deepEqual(d.tags, ['ipsec', 'strongswan']);
    assert.ok((d.schemaVersion ?? 0) >= 36, `schemaVersion ${d.schemaVersion} is older than Grafana 9`);
  });

  it('asks for a Prometheus data source on import and has the datasource, instance and tunnel variables', () => {
    const d = load();
    assert.deepEqual(
      d.__inputs?.map((i) => [i.name, i.type, i.pluginId]),
      [['DS_PROMETHEUS', 'datasource', 'prometheus']],
    );
    const vars = variables(d);
    const ds = vars.get('datasource');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    const instance = vars.get('instance');
    assert.equal(instance?.type, 'query');
    assert.equal(variableQuery(instance), 'label_values(ipsec_keepalive_vici_up, instance)');
    assert.equal(instance.datasource?.uid, DS_UID);
    const tunnel = vars.get('tunnel');
    assert.equal(tunnel?.type, 'query');
    assert.equal(variableQuery(tunnel), 'label_values(ipsec_keepalive_tunnel_configured{instance=~"$instance"}, tunnel)');
    assert.equal(tunnel.datasource?.uid, DS_UID);
    assert.equal(tunnel.multi, true);
    assert.equal(tunnel.includeAll, true);
  });

  it('gives every panel a title, a description, a unit, the datasource variable and queries with an expr', () => {
    const d = load();
    const panels = allPanels(d);
    assert.ok(panels.length >= 10, `only ${panels.length} panels`);
    const ids = (d.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `panel ids repeat: ${ids.join(', ')}`);
    for (const row of (d.panels ?? []).filter((p) => p.type === 'row')) assert.ok(row.title?.trim(), `row ${row.id} has no title`);
    for (const p of panels) {
      const name = `panel ${p.id} "${p.title}"`;
      assert.ok(p.title?.trim(), `panel ${p.id} has no title`);
      assert.ok(p.description?.trim(), `${name} has no description`);
      assert.ok(p.fieldConfig?.defaults?.unit, `${name} has no unit`);
      assert.equal(p.datasource?.uid, DS_UID, `${name} does not use the datasource variable`);
      const targets = p.targets ?? [];
      assert.ok(targets.length > 0, `${name} has no query`);
      assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length, `${name}: refIds repeat`);
      for (const t of targets) {
        assert.ok(typeof t.expr === 'string' && t.expr.trim() !== '', `${name} query ${t.refId} has no expr`);
        assert.equal(t.datasource?.uid, DS_UID, `${name} query ${t.refId} does not use the datasource variable`);
      }
    }
  });

  it('lays the panels out on the 24-column grid without overlaps', () => {
    const boxes = (load().panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]).map((p) => ({ p, g: p.gridPos }));
    for (const { p, g } of boxes) {
      assert.ok(g, `panel ${p.id} has no gridPos`);
      assert.ok(g.x >= 0 && g.w > 0 && g.h > 0 && g.x + g.w <= 24, `panel ${p.id} "${p.title}" is outside the grid: ${JSON.stringify(g)}`);
    }
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        const overlap = a.g!.x < b.g!.x + b.g!.w && b.g!.x < a.g!.x + a.g!.w && a.g!.y < b.g!.y + b.g!.h && b.g!.y < a.g!.y + a.g!.h;
        assert.ok(!overlap, `panels ${a.p.id} "${a.p.title}" and ${b.p.id} "${b.p.title}" overlap`);
      }
    }
  });

  it('queries only metrics that golden.prom has a # TYPE for', () => {
    const d = load();
    const used = new Set<string>();
    for (const q of queries(d)) {
      const names = metricNames(q.expr);
      assert.ok(names.length > 0, `${q.where} reads no ipsec_keepalive_ metric: ${q.expr}`);
      for (const n of names) {
        const family = familyOf(families, n);
        assert.ok(family, `${q.where}: ${n} is not in golden.prom`);
        used.add(family);
      }
    }
    // The operator's questions: state, probes, repairs, recovery, VICI, reconciles, alerts, traffic.
    for (const f of [
      'ipsec_keepalive_tunnel_up',
      'ipsec_keepalive_tunnel_configured',
      'ipsec_keepalive_tunnel_healthy',
      'ipsec_keepalive_tunnel_status',
      'ipsec_keepalive_vici_up',
      'ipsec_keepalive_probe_success',
      'ipsec_keepalive_probe_duration_seconds',
      'ipsec_keepalive_recovery_actions_total',
      'ipsec_keepalive_tunnel_recovery_seconds',
      'ipsec_keepalive_reconcile_total',
      'ipsec_keepalive_alerts_sent_total',
      'ipsec_keepalive_alerts_failed_total',
      'ipsec_keepalive_tunnel_bytes_in_total',
      'ipsec_keepalive_tunnel_bytes_out_total',
    ]) {
      assert.ok(used.has(f), `no panel shows ${f}`);
    }
  });

  it('uses only labels (and label values) those metrics have in golden.prom', () => {
    const d = load();
    const vars = new Set(variables(d).keys());
    const found = queries(d).flatMap((q) => problems(q.expr, families, vars).map((p) => `${q.where}: ${p}`));
    assert.deepEqual(found, []);
  });

  it('has legends that name labels of the queried metrics', () => {
    const found: string[] = [];
    for (const q of queries(load())) {
      const fams = [...new Set(metricNames(q.expr).map((n) => familyOf(families, n)))];
      for (const m of (q.legend ?? '').matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
        const l = m[1]!;
        if (!ALWAYS_ALLOWED.has(l) && !fams.some((f) => f !== undefined && families.get(f)!.labels.has(l))) found.push(`${q.where}: legend {{${l}}}`);
      }
    }
    assert.deepEqual(found, []);
  });

  it('has variable queries over exported metrics and labels', () => {
    for (const v of variables(load()).values()) {
      if (v.type !== 'query') continue;
      const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(variableQuery(v));
      assert.ok(m, `variable ${v.name}: ${variableQuery(v)} is not label_values(metric, label)`);
      const family = familyOf(families, m[1]!.replace(/\{.*$/, '').trim());
      assert.ok(family, `variable ${v.name}: ${m[1]} is not in golden.prom`);
      assert.ok(ALWAYS_ALLOWED.has(m[2]!) || families.get(family)!.labels.has(m[2]!), `variable ${v.name}: ${family} has no label ${m[2]}`);
      assert.deepEqual(problems(m[1]!, families, new Set(variables(load()).keys())), [], `variable ${v.name}`);
    }
  });

  it('has queries promtool parses', () => {
    // Grafana's variables as a query would see them, every query as a recording rule.
    const expand = (expr: string): string =>
      expr
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__interval', '1m')
        .replaceAll('$__range', '1h')
        .replace(/\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?/g, '.*');
    const rules = allPanels(load()).flatMap((p) => (p.targets ?? []).map((t) => ({ record: `grafana:panel_${p.id}:${t.refId}`, expr: expand(t.expr ?? '') })));
    const dir = mkdtempSync(join(tmpdir(), 'ik-grafana-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      writeFileSync(file, JSON.stringify({ groups: [{ name: 'grafana-dashboard', rules }] }, null, 2));
      const r = spawnSync(PROMTOOL, ['check', 'rules', file], { encoding: 'utf8' });
      assert.equal(r.error, undefined, String(r.error));
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has checks that catch what they should (unknown metric, label, label value; rate of a gauge; le lost)', () => {
    const vars = new Set(['instance', 'tunnel']);
    const bad = (expr: string): string[] => problems(expr, families, vars);
    assert.deepEqual(bad('sum by (tunnel) (rate(ipsec_keepalive_recovery_actions_total{instance=~"$instance"}[$__rate_interval]))'), []);
    assert.deepEqual(bad('ipsec_keepalive_tunnels_up'), ['ipsec_keepalive_tunnels_up is not in golden.prom']);
    assert.deepEqual(bad('ipsec_keepalive_tunnel_up_bucket'), ['ipsec_keepalive_tunnel_up_bucket is not in golden.prom']);
    assert.deepEqual(bad('ipsec_keepalive_vici_up{tunnel="a"}'), ['ipsec_keepalive_vici_up has no label tunnel']);
    assert.deepEqual(bad('ipsec_keepalive_reconcile_total{result="failed"}'), ['ipsec_keepalive_reconcile_total{result="failed"}: golden.prom has no such result']);
    assert.deepEqual(bad('sum by (result) (ipsec_keepalive_recovery_actions_total)'), ['by (result): ipsec_keepalive_recovery_actions_total has no label result']);
    assert.deepEqual(bad('sum(ipsec_keepalive_alerts_failed_total) by (event)'), ['by (event): ipsec_keepalive_alerts_failed_total has no label event']);
    assert.deepEqual(bad('rate(ipsec_keepalive_tunnel_up[5m])'), ['rate/increase of ipsec_keepalive_tunnel_up, a gauge']);
    assert.deepEqual(bad('histogram_quantile(0.9, sum by (tunnel) (rate(ipsec_keepalive_tunnel_recovery_seconds_bucket[5m])))'), ['histogram_quantile aggregates le away: by (tunnel)']);
    assert.deepEqual(bad('up{job="x"}'), ['selector up{ does not select an ipsec_keepalive_ metric']);
    assert.deepEqual(bad('ipsec_keepalive_vici_up{instance=~"$host"}'), ['unknown variable $host']);
  });
});
