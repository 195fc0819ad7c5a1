// One table per benchmark: metric | agent | anchor | ratio | target | verdict. Every figure stands beside the
// anchor measured in the same run (this machine is shared and drifts), and the ratio is agent / anchor.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import path from 'node:path';
import { ROOT, sourceState } from './build.js';
import { isMain, parseBenchArgs, requireRoot, type BenchOptions } from './common.js';

export type Verdict = 'met' | 'MISSED' | 'info' | 'skipped';

export interface Row {
  metric: string;
  /** the agent's figure (number in `unit`), or text */
  agent: number | string | null;
  unit: string;
  /** the anchor's figure, same unit, or text */
  anchor: number | string | null;
  /** what the anchor is, in a few words */
  anchorLabel: string;
  /** agent / anchor where both are numbers */
  ratio: number | null;
  target: string;
  verdict: Verdict;
  note?: string;
}

export function row(r: Omit<Row, 'ratio'> & { ratio?: number | null }): Row {
  const ratio =
    r.ratio !== undefined
      ? r.ratio
      : typeof r.agent === 'number' && typeof r.anchor === 'number' && r.anchor !== 0 && Number.isFinite(r.anchor)
        ? r.agent / r.anchor
        : null;
  return { ...r, ratio };
}

export const verdict = (ok: boolean): Verdict => (ok ? 'met' : 'MISSED');

function fmtNum(v: number, unit: string): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return `${v.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

function cell(v: number | string | null, unit: string): string {
  if (v === null) return '—';
  return typeof v === 'number' ? fmtNum(v, unit) : v;
}

export function formatTable(title: string, rows: readonly Row[]): string {
  const head = ['metric', 'agent', 'anchor', 'ratio', 'target', 'verdict'];
  const body = rows.map((r) => [
    r.metric,
    cell(r.agent, r.unit),
    r.anchor === null ? '—' : `${cell(r.anchor, r.unit)}${r.anchorLabel ? ` (${r.anchorLabel})` : ''}`,
    r.ratio === null ? '—' : `${r.ratio >= 100 ? r.ratio.toFixed(0) : r.ratio >= 0.01 ? r.ratio.toFixed(2) : r.ratio.toPrecision(2)}x`,
    r.target || '—',
    r.verdict === 'info' ? '—' : r.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.metric}: ${r.note}`);
  return [`### ${title}`, '', line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line), ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export interface Machine {
  nproc: number;
  cpu: string;
  kernel: string;
  node: string;
  strongswan: string;
  memGiB: number;
  loadavg: number[];
  source: { commit: string; source: string; dirtySrc: string[] };
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  let strongswan = 'unknown';
  try {
    strongswan = execFileSync('/usr/lib/ipsec/charon', ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const out = (err as { stdout?: string }).stdout;
    if (out) strongswan = out.trim();
  }
  return {
    nproc: cpus().length,
    cpu,
    kernel: release(),
    node: process.version,
    strongswan: strongswan.split('\n')[0] ?? strongswan,
    memGiB: Math.round(totalmem() / 2 ** 30),
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
    source: sourceState(),
  };
}

export interface BenchResult {
  name: string;
  title: string;
  at: string;
  mode: 'full' | 'quick';
  durationS: number;
  machine: Machine;
  rows: Row[];
  /** method statements: what was measured and how */
  method: string[];
  /** raw samples and per-trial data */
  raw: Record<string, unknown>;
}

export function resultsDir(quick: boolean): string {
  return path.join(ROOT, 'bench/results', quick ? 'quick' : '');
}

export function writeResult(r: BenchResult): string {
  const dir = resultsDir(r.mode === 'quick');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${r.name}.json`);
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

export function printResult(r: BenchResult): void {
  console.log(`\n${formatTable(`${r.title} (${r.mode}, ${r.durationS.toFixed(0)} s)`, r.rows)}`);
  if (r.method.length) console.log(`\nmethod:\n${r.method.map((m) => `- ${m}`).join('\n')}`);
}

/** Stderr progress lines with the time since the process started. */
export function progress(msg: string): void {
  process.stderr.write(`[${(performance.now() / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}

/** A result with the head every benchmark shares: when, in which mode, how long, on what machine. */
export function benchResult(
  head: { name: string; title: string; o: BenchOptions; started: number },
  body: Pick<BenchResult, 'rows' | 'method' | 'raw'>,
): BenchResult {
  return {
    name: head.name,
    title: head.title,
    at: new Date().toISOString(),
    mode: head.o.quick ? 'quick' : 'full',
    durationS: (performance.now() - head.started) / 1000,
    machine: machine(),
    ...body,
  };
}

/** `node --import tsx bench/<x>.ts` runs one benchmark alone: the table printed, the JSON written. */
export function runWhenMain(metaUrl: string, what: string, fn: (o: BenchOptions) => Promise<BenchResult>): void {
  if (!isMain(metaUrl)) return;
  requireRoot(what);
  fn(parseBenchArgs()).then(
    (r) => {
      printResult(r);
      progress(`written ${writeResult(r)}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
