// Passive stale detection: a tunnel's own packet counters, read every few seconds, say when it sends
// without hearing back. Packets out rising while packets in stay flat, for a whole window, makes the
// tunnel suspect, and it is probed at once instead of at its next interval. The counters never repair
// anything by themselves: one-way traffic (a backup stream nobody answers) is normal, so only the
// probe decides. Pure: the agent feeds samples and the clock.

/** One reading of a CHILD_SA's counters, as list-sas gives them. */
export interface CounterSample {
  childId: number;
  packetsIn: number;
  packetsOut: number;
  at: number;
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
  // No CHILD_SA, or a new one (rekey, repair): nothing to compare with yet.
  if (!s) return { watch: { quietUntil: w.quietUntil } };
  const last = w.last;
  if (!last || last.childId !== s.childId || s.packetsIn < last.packetsIn || s.packetsOut < last.packetsOut) {
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
