// Per-tunnel traffic counters that only ever grow, from CHILD_SA counters that do not: charon's
// bytes/packets belong to one CHILD_SA and start again at zero when a rekey, a repair or a
// charon restart replaces it. Each SA's increase since it was last seen is added to the tunnel's
// total; an SA seen for the first time (or whose counter went backwards, i.e. a new SA that
// reuses the id after a charon restart) contributes its whole value.
//
// What an SA carried between its last observation and its deletion is not seen by anyone but
// charon, so the totals are a lower bound: as fine as the observations are frequent.
import type { ChildRef } from '../../controller/observe.js';

export const TRAFFIC_KEYS = ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut'] as const;
export type TrafficKey = (typeof TRAFFIC_KEYS)[number];
export type Traffic = Record<TrafficKey, number>;

/** Install times computed from two observations of one SA differ by rounding and delay, not more. */
const INSTALL_TIME_SLACK_SEC = 3;

interface Seen {
  counters: Traffic;
  /** Unix seconds, computed when the SA was first seen (charon reports the age in whole seconds). */
  installedAt: number;
}

export function zeroTraffic(): Traffic {
  return { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 };
}

export class TrafficAccumulator {
  private seen = new Map<number, Seen>();
  private readonly totals: Traffic = zeroTraffic();
  private newestInstalledAt: number | undefined;

  /**
   * Feeds one observation: the CHILD_SAs of the tunnel that exist now, as charon listed them
   * at `atMs`. SAs missing from it are forgotten.
   */
  observe(children: readonly ChildRef[], atMs: number): void {
    const next = new Map<number, Seen>();
    let newest: number | undefined;
    for (const c of children) {
      const installedAt = Math.round(atMs / 1000 - c.installAgeSec);
      const prev = this.seen.get(c.childId);
      // Unique ids start again at 1 when charon restarts: the same id installed at another time is another SA.
      const same = prev !== undefined && Math.abs(prev.installedAt - installedAt) <= INSTALL_TIME_SLACK_SEC;
      const counters = zeroTraffic();
      let dropped = false;
      for (const k of TRAFFIC_KEYS) {
        counters[k] = c[k];
        if (same && c[k] < prev.counters[k]) dropped = true;
      }
      for (const k of TRAFFIC_KEYS) {
        this.totals[k] += same && !dropped ? counters[k] - prev.counters[k] : counters[k];
      }
      const entry: Seen = { counters, installedAt: same && !dropped ? prev.installedAt : installedAt };
      next.set(c.childId, entry);
      if (newest === undefined || entry.installedAt > newest) newest = entry.installedAt;
    }
    this.seen = next;
    this.newestInstalledAt = newest;
  }

  /** Monotonic totals over every CHILD_SA this tunnel has had while observed. */
  get total(): Readonly<Traffic> {
    return this.totals;
  }

  /** Install time (unix seconds) of the newest CHILD_SA in the last observation, if any. */
  get installedAt(): number | undefined {
    return this.newestInstalledAt;
  }
}
