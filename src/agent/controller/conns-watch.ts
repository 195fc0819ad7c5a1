// The config source's schedule. charon has no event for a config loaded or unloaded (`swanctl
// --load-*`, strongswan.service's ExecStartPost after charon's socket appears), so the desired set is
// watched the way an informer relists: list-conns is read at every (re)connect and reload, again every
// SETTLE_POLL_MS until its answer has stayed the same for SETTLE_MS, then every `intervalMs`. Any change
// starts the settling again: configs arrive one by one. Pure: the Agent reads, this says when next and
// whether the answer may be trusted to forget what it lacks.
import type { ChildConnInfo } from './conns.js';

/** While settling, list-conns is read this often. */
export const SETTLE_POLL_MS = 500;
/** An answer unchanged this long is charon's loaded set, not a moment of its start. */
export const SETTLE_MS = 3000;

export interface ConnsWatch {
  /** The last answer's key (connsKey), or undefined before one came. */
  key?: string;
  /** When the answer last changed, or the settling (re)started. */
  changedAt: number;
  settling: boolean;
}

/** A (re)connect or a reload: charon's configs may be arriving now. */
export function settleConns(w: ConnsWatch | undefined, now: number): ConnsWatch {
  return { ...(w?.key !== undefined ? { key: w.key } : {}), changedAt: now, settling: true };
}

export interface ConnsStep {
  watch: ConnsWatch;
  /** The answer differs from the last one. */
  changed: boolean;
  /** The answer is charon's settled set: what it lacks may be forgotten. */
  settled: boolean;
  /** Read again after this long; undefined: not on a timer (interval 0 and settled). */
  delayMs?: number;
}

/** One read of list-conns: `key` is its answer's connsKey, undefined when the read failed. */
export function connsStep(w: ConnsWatch, key: string | undefined, now: number, intervalMs: number): ConnsStep {
  const changed = key !== undefined && key !== w.key;
  const next: ConnsWatch = { ...w };
  if (key !== undefined) next.key = key;
  if (changed) {
    next.changedAt = now;
    next.settling = true;
  } else if (key !== undefined && next.settling && now - next.changedAt >= SETTLE_MS) {
    next.settling = false;
  }
  const step: ConnsStep = { watch: next, changed, settled: !next.settling };
  if (next.settling) step.delayMs = SETTLE_POLL_MS;
  else if (intervalMs > 0) step.delayMs = intervalMs;
  return step;
}

/** What of a list-conns answer matters to the agent, as one string: a cheap comparison of two reads. */
export function connsKey(conns: ReadonlyMap<string, ChildConnInfo>): string {
  const rows: string[] = [];
  for (const [child, c] of conns) rows.push([c.ike, child, c.initiable ? 'i' : 'r', c.closeAction ?? '', c.dpdAction ?? '', c.startAction ?? ''].join('\0'));
  return rows.sort().join('\n');
}
