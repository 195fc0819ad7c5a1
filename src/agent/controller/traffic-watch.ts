// Passive stale detection: a tunnel's own packet counters, read every few seconds, say when it sends
// without hearing back. Packets out rising while packets in stay flat, for a whole window, makes the
// tunnel suspect, and it is probed at once instead of at its next interval. The counters never repair
// anything by themselves: one-way traffic (a backup stream nobody answers) is normal, so only the
// probe decides. Pure: the agent feeds samples and the clock.
import type { ChildRef } from './observe.js';

/** One reading of a tunnel's counters: summed over its CHILD_SAs (during a rekey, old and new). */
export interface CounterSample {
  /** Which CHILD_SAs were summed (their unique ids): another set is another reading. */
  sas: string;
  packetsIn: number;
  packetsOut: number;
  at: number;
}

/** The tunnel's counters from its CHILD_SAs that carry traffic, or undefined without one. */
export function tunnelCounters(up: readonly ChildRef[], at: number): CounterSample | undefined {
  if (up.length === 0) return undefined;
  let packetsIn = 0;
  let packetsOut = 0;
  for (const c of up) {
    packetsIn += c.packetsIn;
    packetsOut += c.packetsOut;
  }
  return { sas: up.map((c) => c.childId).sort((a, b) => a - b).join(','), packetsIn, packetsOut, at };
}

export interface Watch {
  last?: CounterSample;
  /** Since when packets went out and none came in (the sample before the first such one). */
  flatSince?: number;
  /** packets-out at flatSince. */
  outAtFlat?: number;
  /** No new suspicion before this (after one, the probe decides; a one-way stream must not probe non-stop). */
  quietUntil: number;
}

export interface WatchPolicy {
  /** Out rising, in flat for at least this long makes a tunnel suspect. */
  windowMs: number;
  /** ... with at least this many packets sent meanwhile (a lone keepalive says little). */
  minPackets: number;
  /** After a suspicion, the next one no sooner than this. */
  cooldownMs: number;
}

export function newWatch(): Watch {
  return { quietUntil: 0 };
}

export interface WatchStep {
  watch: Watch;
  /** Set when the tunnel just became suspect: why, for the log. */
  suspect?: string;
}

export function watchStep(w: Watch, s: CounterSample | undefined, policy: WatchPolicy): WatchStep {
  // No CHILD_SA, or another set of them (rekey, repair): nothing to compare with yet.
  if (!s) return { watch: { quietUntil: w.quietUntil } };
  const last = w.last;
  if (!last || last.sas !== s.sas || s.packetsIn < last.packetsIn || s.packetsOut < last.packetsOut) {
    return { watch: { last: s, quietUntil: w.quietUntil } };
  }
  const dIn = s.packetsIn - last.packetsIn;
  const dOut = s.packetsOut - last.packetsOut;
  if (dIn > 0 || dOut === 0) {
    // Answers arrive, or nothing is sent (an idle tunnel costs nothing): no suspicion.
    return { watch: { last: s, quietUntil: w.quietUntil } };
  }
  const flatSince = w.flatSince ?? last.at;
  const outAtFlat = w.outAtFlat ?? last.packetsOut;
  const next: Watch = { last: s, flatSince, outAtFlat, quietUntil: w.quietUntil };
  const sent = s.packetsOut - outAtFlat;
  if (s.at - flatSince >= policy.windowMs && sent >= policy.minPackets && s.at >= w.quietUntil) {
    return {
      watch: { last: s, quietUntil: s.at + policy.cooldownMs },
      suspect: `${sent} packets out and none in for ${Math.round((s.at - flatSince) / 100) / 10} s`,
    };
  }
  return { watch: next };
}

/**
 * When the peer was last heard on an IKE connection: the last inbound packet on any of its CHILD_SAs
 * (the tunnel's and its siblings', configured or not). A peer that lost its state, or a cut path, is
 * silent on all of them; a live peer with one stale CHILD_SA is usually still heard on the others.
 * charon's `use-in` (seconds since a CHILD_SA last received) dates it to the second; without it, a
 * reading that shows packets-in moved dates it to that reading (later than the packet: never too early).
 */
export interface PeerHearing {
  /** packets-in by CHILD_SA unique id, at the last reading. */
  packetsIn: ReadonlyMap<number, number>;
  readAt: number;
  /** The last inbound packet, at the latest (the first reading, when nothing is known: unknown counts as heard). */
  heardAt: number;
}

export function hearingStep(prev: PeerHearing | undefined, children: ReadonlyArray<{ id: number; packetsIn: number; useInSec?: number }>, at: number): PeerHearing {
  const packetsIn = new Map(children.map((c) => [c.id, c.packetsIn]));
  const uses = children.map((c) => c.useInSec).filter((u): u is number => u !== undefined && Number.isFinite(u));
  const lastIn = uses.length > 0 ? at - Math.min(...uses) * 1000 : undefined;
  if (!prev) return { packetsIn, readAt: at, heardAt: lastIn ?? at };
  // A CHILD_SA that moved, or a new one (a rekey, a repair) that has received something: heard.
  const moved = children.some((c) => c.packetsIn > (prev.packetsIn.get(c.id) ?? 0));
  const heardAt = lastIn ?? (moved ? at : prev.heardAt);
  return { packetsIn, readAt: at, heardAt: Math.max(prev.heardAt, heardAt) };
}

/** What a counter reading means for one tunnel's last read. */
export type CounterVerdict = 'refresh' | 'read' | 'none';

/**
 * A counter reading taken after the tunnel's last read: the same CHILD_SAs refresh that read's
 * counters ('refresh'); another set means something changed that no event told ('read' now). An
 * answer without a single IKE_SA says nothing ('none'): the connection may be down (its events say
 * so), or charon discarded an answer over its 512 KiB limit.
 */
export function counterVerdict(i: { lastSas?: string; sampleSas?: string; readAfterLast: boolean; answered: boolean }): CounterVerdict {
  if (!i.readAfterLast || !i.answered) return 'none';
  return i.sampleSas !== undefined && i.sampleSas === i.lastSas ? 'refresh' : 'read';
}
