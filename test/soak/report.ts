// What a soak run records and how it is summarised: recovery percentiles per fault kind, the RSS
// trend of the agent process, and the table the runner prints (and docs/reliability.md quotes).
import { FAULT_KINDS, type Fault, type FaultKind } from './schedule.js';

export interface Recovery {
  tunnel: string;
  ms: number;
  boundMs: number;
  /** The agent damped this tunnel as flapping during the fault (bound includes one damping delay). */
  damped: boolean;
}

export interface FaultRecord {
  fault: Fault;
  startedAt: number;
  /** When the fault was healed (or, for instant faults, when it had happened). */
  refAt?: number;
  recoveries: Recovery[];
  violations: string[];
  notes: string[];
  durationMs: number;
}

export interface RssSample {
  t: number;
  pid: number;
  kb: number;
  fault: number;
}

export interface RssSegment {
  pid: number;
  samples: number;
  spanMs: number;
  /** Medians of the first and last quartile of the samples (by time), after the warm-up. */
  firstKb: number;
  lastKb: number;
  growthKb: number;
  allowedKb: number;
  checked: boolean;
}

/** Nearest-rank percentile of an unsorted list; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Samples before this long into a process's life are warm-up (module loading, first JIT, V8 heap sizing). */
export const RSS_WARMUP_MS = 30_000;
/** A process life needs this many samples after warm-up to say anything about a trend. */
export const RSS_MIN_SAMPLES = 15;
/** Allowed growth from the first to the last quartile: 10 MiB or 25 %, whichever is more. */
export function rssAllowedKb(firstKb: number): number {
  return Math.max(10 * 1024, Math.round(firstKb * 0.25));
}

/** One segment per agent process (a scheduled restart starts a new one). */
export function rssSegments(samples: readonly RssSample[]): RssSegment[] {
  const byPid = new Map<number, RssSample[]>();
  for (const s of samples) {
    const list = byPid.get(s.pid) ?? [];
    list.push(s);
    byPid.set(s.pid, list);
  }
  return [...byPid.entries()].map(([pid, all]) => {
    const t0 = all[0]!.t;
    const list = all.filter((s) => s.t - t0 >= RSS_WARMUP_MS);
    const q = Math.max(1, Math.floor(list.length / 4));
    const firstKb = list.length ? median(list.slice(0, q).map((s) => s.kb)) : Number.NaN;
    const lastKb = list.length ? median(list.slice(-q).map((s) => s.kb)) : Number.NaN;
    return {
      pid,
      samples: list.length,
      spanMs: list.length ? list[list.length - 1]!.t - list[0]!.t : 0,
      firstKb,
      lastKb,
      growthKb: lastKb - firstKb,
      allowedKb: Number.isNaN(firstKb) ? 0 : rssAllowedKb(firstKb),
      checked: list.length >= RSS_MIN_SAMPLES,
    };
  });
}

export interface KindRow {
  kind: string;
  faults: number;
  recoveries: number;
  p50: number;
  p99: number;
  max: number;
  boundMs: number;
  violations: number;
}

/**
 * One row per fault kind, plus a "kind (damped)" row where the agent damped flapping tunnels: those
 * waited a damping delay by design, and mixing them in would hide the undamped latency.
 */
export function summarize(records: readonly FaultRecord[]): KindRow[] {
  const rows: KindRow[] = [];
  for (const kind of FAULT_KINDS) {
    const mine = records.filter((r) => r.fault.kind === kind);
    if (mine.length === 0) continue;
    const all = mine.flatMap((r) => r.recoveries);
    const split: Array<[string, Recovery[], number]> = [
      [kind, all.filter((x) => !x.damped), mine.length],
      [`${kind} (damped)`, all.filter((x) => x.damped), mine.filter((r) => r.recoveries.some((x) => x.damped)).length],
    ];
    for (const [label, recs, faults] of split) {
      if (label !== kind && recs.length === 0) continue;
      const ms = recs.map((x) => x.ms);
      rows.push({
        kind: label,
        faults,
        recoveries: recs.length,
        p50: percentile(ms, 50),
        p99: percentile(ms, 99),
        max: ms.length ? Math.max(...ms) : Number.NaN,
        boundMs: recs.length ? Math.max(...recs.map((x) => x.boundMs)) : Number.NaN,
        violations: label === kind ? mine.reduce((n, r) => n + r.violations.length, 0) : 0,
      });
    }
  }
  return rows;
}

const fmtMs = (ms: number): string => (Number.isNaN(ms) ? '-' : ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/** A Markdown table (it reads in a terminal too). */
export function formatTable(rows: readonly KindRow[]): string {
  const head = ['fault kind', 'faults', 'recoveries', 'p50', 'p99', 'max', 'bound', 'violations'];
  const body = rows.map((r) => [r.kind, String(r.faults), String(r.recoveries), fmtMs(r.p50), fmtMs(r.p99), fmtMs(r.max), fmtMs(r.boundMs), String(r.violations)]);
  const total = ['total', String(rows.filter((r) => !r.kind.endsWith('(damped)')).reduce((n, r) => n + r.faults, 0)), String(rows.reduce((n, r) => n + r.recoveries, 0)), '', '', '', '', String(rows.reduce((n, r) => n + r.violations, 0))];
  const table = [head, ...body, total];
  const widths = head.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), sep, ...body.map(line), line(total)].join('\n');
}

export function formatRss(segments: readonly RssSegment[]): string {
  const mb = (kb: number): string => (Number.isNaN(kb) ? '-' : `${(kb / 1024).toFixed(1)} MiB`);
  return segments
    .map(
      (s) =>
        `agent pid ${s.pid}: ${s.samples} samples over ${(s.spanMs / 60_000).toFixed(1)} min after warm-up; RSS ${mb(s.firstKb)} -> ${mb(s.lastKb)} (${s.growthKb >= 0 ? '+' : ''}${mb(s.growthKb)}, allowed +${mb(s.allowedKb)})${s.checked ? '' : ' [too short to judge]'}`,
    )
    .join('\n');
}

export function kindsCovered(records: readonly FaultRecord[]): FaultKind[] {
  return FAULT_KINDS.filter((k) => records.some((r) => r.fault.kind === k));
}
