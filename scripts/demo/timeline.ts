// The demo's output, without I/O: one time-ordered timeline of the agent's log lines and the demo's
// own marks, which agent lines are worth showing and how, and the per-fault table at the end of a tour.
import type { LogLine } from '../../lab/json-lines.js';

/** An entry the timeline let go: `late` when it arrived after something stamped later was already printed. */
export interface Released<T> {
  at: number;
  item: T;
  late: boolean;
}

/**
 * Holds entries until they are `watermarkMs` old, then releases them in time order (ties in the order
 * they were added). Agent lines reach the demo through a pipe and a poll, some milliseconds after their
 * own timestamp; holding everything for longer than that lets a demo mark stamped in between land
 * between them. An entry that arrives later still cannot be put before what was printed: it comes out
 * at the next release, flagged late, rather than being dropped or silently misplaced.
 */
export class Timeline<T> {
  private readonly held: Array<{ at: number; seq: number; item: T }> = [];
  private seq = 0;
  private releasedUpTo = -Infinity;

  constructor(readonly watermarkMs: number) {}

  add(at: number, item: T): void {
    const e = { at, seq: this.seq++, item };
    // Mostly in order: look for the place from the end.
    let i = this.held.length;
    while (i > 0 && (this.held[i - 1] as { at: number }).at > at) i--;
    this.held.splice(i, 0, e);
  }

  /** Entries stamped at or before `now - watermarkMs`, in time order. */
  release(now: number): Array<Released<T>> {
    return this.take(now - this.watermarkMs);
  }

  /** Everything still held, in time order (at the end, or once nothing more can arrive). */
  drain(): Array<Released<T>> {
    return this.take(Infinity);
  }

  get size(): number {
    return this.held.length;
  }

  private take(upTo: number): Array<Released<T>> {
    let n = 0;
    while (n < this.held.length && (this.held[n] as { at: number }).at <= upTo) n++;
    const out = this.held.splice(0, n).map((e) => ({ at: e.at, item: e.item, late: e.at < this.releasedUpTo }));
    for (const e of out) this.releasedUpTo = Math.max(this.releasedUpTo, e.at);
    return out;
  }
}

/** When the agent wrote the line: pino's `time` (ISO text from our logger, epoch ms from pino's default), or `fallback` for a line without one. */
export function logTime(l: LogLine, fallback: number): number {
  const t: unknown = l.time;
  if (typeof t === 'number' && Number.isFinite(t)) return t;
  if (typeof t === 'string' && t !== '') {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  return fallback;
}

/** Routine debug lines, several per second: they say nothing about a fault or its repair. */
const NOISE = new Set(['probe round', 'reconcile', 'vici command']);

/** Whether the demo shows an agent line: everything but the routine noise, so damping, back-off, escalation and charon's own doings explain a repair's timing. */
export function isShown(l: LogLine): boolean {
  return !NOISE.has(l.msg);
}

const LEVELS: Record<number, string> = { 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** One agent line for a person: the message, plus the fields that say why (an action's reason and outcome, charon's answer, failing probes). */
export function formatAgentLine(l: LogLine): string {
  const level = LEVELS[l.level] ?? '     ';
  const extra: string[] = [];
  if (typeof l.tunnel === 'string' && !l.msg.includes(l.tunnel)) extra.push(`tunnel ${l.tunnel}`);
  if (typeof l.action === 'string') {
    extra.push(`reason ${String(l.reason)}`);
    if (typeof l.ms === 'number') extra.push(`${l.ms} ms`);
    if (l.result === 'error' && typeof l.err === 'string' && !l.msg.includes(l.err)) extra.push(`err: ${l.err}`);
    if (typeof l['why'] === 'string') extra.push(`why: ${l['why']}`);
  } else {
    if (l['charonRecovers'] === true) extra.push("charon's close_action restores it: waiting for charon first");
    if (Array.isArray(l['results']) && l.health !== 'healthy') {
      const failed = (l['results'] as Array<Record<string, unknown>>).filter((r) => r['ok'] === false).map((r) => `${String(r['kind'])} ${String(r['target'])}: ${String(r['error'] ?? 'failed')}`);
      if (failed.length > 0) extra.push(failed.join(', '));
    }
    if (typeof l['attempts'] === 'number' && l.health === 'failing') extra.push(`${l['attempts']} attempts`);
    if (typeof l.err === 'string' && !l.msg.includes(l.err)) extra.push(`err: ${l.err}`);
    if (typeof l['downMs'] === 'number' && !l.msg.includes('repaired')) extra.push(`down ${l['downMs']} ms`);
  }
  return `agent ${level} ${l.msg}${extra.length > 0 ? `  [${extra.join('; ')}]` : ''}`;
}

/** `+  12.345s` since `t0`. */
export function relStamp(at: number, t0: number): string {
  return `+${((at - t0) / 1000).toFixed(3).padStart(8)}s`;
}

/** A fault as the demo injected it: the window runs to the next fault's injection (or the tour's end). */
export interface FaultWindow {
  title: string;
  /** the tunnel the demo waits on */
  tunnel: string;
  injectedAt: number;
  endAt: number;
}

export interface FaultRow {
  fault: string;
  tunnel: string;
  /** ms from injection to the first line about the tunnel's loss ('down', or probes failing) */
  detectedMs?: number;
  /** ms from injection to the first 'repaired' line after that */
  repairedMs?: number;
  /** what repaired it: the reason and kind of the agent's last successful action in the episode, or "charon" when there was none */
  by?: string;
  /** 'down' lines in the window beyond the first (repairs that did not hold) */
  downsAgain: number;
}

const isDown = (l: LogLine, tunnel: string) => l.msg.startsWith(`tunnel ${tunnel} down:`);
const isFailing = (l: LogLine, tunnel: string) => l.msg === `tunnel ${tunnel}: probes failing`;
const isRepaired = (l: LogLine, tunnel: string) => l.msg.startsWith(`tunnel ${tunnel} repaired`);

/**
 * One row per fault for its tunnel, and one for every other tunnel that went down in the same window
 * (a deleted IKE_SA takes all its children). `lines` are the agent's lines with their times.
 */
export function faultTable(faults: readonly FaultWindow[], lines: ReadonlyArray<{ at: number; line: LogLine }>): FaultRow[] {
  const rows: FaultRow[] = [];
  for (const f of faults) {
    const inWindow = lines.filter((x) => x.at >= f.injectedAt && x.at < f.endAt);
    const others = new Set<string>();
    for (const x of inWindow) {
      const t = x.line.tunnel;
      if (t !== undefined && t !== f.tunnel && (isDown(x.line, t) || isFailing(x.line, t))) others.add(t);
    }
    for (const tunnel of [f.tunnel, ...[...others].sort()]) rows.push(rowFor(f, tunnel, inWindow));
  }
  return rows;
}

function rowFor(f: FaultWindow, tunnel: string, inWindow: ReadonlyArray<{ at: number; line: LogLine }>): FaultRow {
  const mine = inWindow.filter((x) => x.line.tunnel === tunnel);
  const row: FaultRow = { fault: f.title, tunnel, downsAgain: Math.max(0, mine.filter((x) => isDown(x.line, tunnel)).length - 1) };
  const detected = mine.findIndex((x) => isDown(x.line, tunnel) || isFailing(x.line, tunnel));
  if (detected < 0) return row;
  row.detectedMs = (mine[detected] as { at: number }).at - f.injectedAt;
  const repaired = mine.findIndex((x, i) => i > detected && isRepaired(x.line, tunnel));
  if (repaired < 0) return row;
  row.repairedMs = (mine[repaired] as { at: number }).at - f.injectedAt;
  // The episode the repair ended began at its 'down' line (or at detection, if probes failed first).
  let start = detected;
  for (let i = repaired - 1; i > detected; i--) {
    if (isDown((mine[i] as { line: LogLine }).line, tunnel)) {
      start = i;
      break;
    }
  }
  const ok = mine.slice(start, repaired).filter((x) => typeof x.line.action === 'string' && x.line.result === 'ok');
  const last = ok.at(-1)?.line;
  row.by = last ? `${String(last.reason)} (${String(last.action)})` : 'charon';
  return row;
}

/** The rows as a fixed-width table. */
export function formatTable(rows: readonly FaultRow[]): string[] {
  const secs = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(3)} s`);
  const cells = rows.map((r) => [
    r.fault,
    r.tunnel,
    secs(r.detectedMs),
    r.detectedMs === undefined ? 'not seen' : r.repairedMs === undefined ? 'NOT repaired' : secs(r.repairedMs),
    (r.by ?? '-') + (r.downsAgain > 0 ? `; down ${r.downsAgain}x more` : ''),
  ]);
  const head = ['fault', 'tunnel', 'detected after', 'repaired after', 'by'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const fmt = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i] as number))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)];
}

/** Whether every one of `tunnels` is up as its log says: repaired since its last loss, or never lost and probed healthy. */
export function allUp(lines: readonly LogLine[], tunnels: readonly string[]): boolean {
  return tunnels.every((t) => {
    let state: 'unseen' | 'up' | 'down' = 'unseen';
    for (const l of lines) {
      if (l.tunnel !== t) continue;
      if (isDown(l, t) || isFailing(l, t)) state = 'down';
      else if (isRepaired(l, t)) state = 'up';
      else if (state === 'unseen' && l.msg === 'probe round' && l.health === 'healthy') state = 'up';
    }
    return state === 'up';
  });
}

/** Index of the first 'repaired' line for `tunnel` that ends a loss seen at or after `from`, or -1. */
export function repairAfter(lines: readonly LogLine[], tunnel: string, from: number): number {
  let lost = false;
  for (let i = from; i < lines.length; i++) {
    const l = lines[i] as LogLine;
    if (l.tunnel !== tunnel) continue;
    if (isDown(l, tunnel) || isFailing(l, tunnel)) lost = true;
    else if (lost && isRepaired(l, tunnel)) return i;
  }
  return -1;
}

/** When the agent last logged a repair of any tunnel (-Infinity if it never did). */
export function lastRepairAt(lines: ReadonlyArray<{ at: number; line: LogLine }>): number {
  let last = -Infinity;
  for (const x of lines) if (x.line.tunnel !== undefined && isRepaired(x.line, x.line.tunnel)) last = Math.max(last, x.at);
  return last;
}
