// Traffic health per tunnel: a timer per tunnel runs its probes; a failed round is re-probed a
// few times seconds apart before the tunnel is called stale, so a stale tunnel is repaired
// within one interval plus the re-probe window, not after several full intervals.
//
// A failure that still proves the tunnel carries traffic (an ICMP reply, or a TCP RST from the
// target) is "target-down": the service is down, the tunnel is not, and restarting it would
// only hurt.
import type { ProbeErrorCode, ProbeResult, ProbeTarget } from '../../probes/types.js';
import type { TunnelConfig } from '../config/load.js';

export type RunProbe = (target: ProbeTarget, opts: { timeoutMs: number; sourceAddr?: string }) => Promise<ProbeResult>;

export interface HealthReport {
  tunnel: string;
  health: Health;
  results: ProbeResult[];
  /** Runtime generation when the round started; stale rounds are ignored by the agent. */
  generation: number;
  /** How many rounds of this episode failed (re-probes included). */
  attempts: number;
  /** When the round's last probes were sent (ms). */
  startedAt: number;
  /** When its first attempt's results were in (before the re-probes): since then, for a failing round, the probes fail. */
  firstDoneAt: number;
  /** The tunnel's packets-in just before those probes: their replies must show there. */
  inBefore?: InboundMark;
  /** Asked for by the tunnel's own counters (out rising, nothing in): no re-probes, they already agree. */
  suspected: boolean;
}

/** A tunnel's packets-in at one moment, summed over the CHILD_SAs named in `sas`. */
/**
 * The last probe round's verdict. `unproven`: the probes passed but charon had no CHILD_SA of the
 * tunnel, so they went out through another SA or none: they prove nothing about this tunnel.
 */
export type Health = 'unknown' | 'healthy' | 'failing' | 'target-down' | 'unproven';

export interface InboundMark {
  sas: string;
  packetsIn: number;
}

export interface HealthCallbacks {
  /** Current generation of the tunnel (bumped on every repair action). */
  generation(tunnel: string): number;
  report(r: HealthReport): void;
  /** Every single probe, for metrics. */
  probed?(tunnel: string, r: ProbeResult): void;
  /** The tunnel's packets-in now, as last read from charon. */
  inbound?(tunnel: string): InboundMark | undefined;
}

/**
 * Failures that sent nothing through the tunnel: a name that does not resolve, ICMP without
 * CAP_NET_RAW. They say nothing about the tunnel, and restarting it (then its IKE_SA, with every
 * other tunnel on it) on their account would repair nothing.
 */
const NOTHING_SENT: ReadonlySet<ProbeErrorCode | undefined> = new Set(['resolve', 'permission']);

/** Classifies one round of results. */
export function classify(results: readonly ProbeResult[]): Health {
  if (results.length === 0) return 'unknown';
  if (results.every((r) => r.success)) return 'healthy';
  const trafficPasses = results.some((r) => r.success || r.errorCode === 'refused');
  if (trafficPasses) return 'target-down';
  return results.some((r) => !NOTHING_SENT.has(r.errorCode)) ? 'failing' : 'unknown';
}

interface Slot {
  cfg: TunnelConfig;
  timer?: NodeJS.Timeout;
  /** When the timer fires (ms). */
  dueAt?: number;
  running: boolean;
  /** A verify was asked for while a round ran: run again right after. */
  again: boolean;
  /** The next round was asked for by the tunnel's counters. */
  suspected: boolean;
}

export class HealthChecker {
  private readonly slots = new Map<string, Slot>();
  private stopped = false;

  constructor(
    private readonly runProbe: RunProbe,
    private readonly cb: HealthCallbacks,
  ) {}

  /** Starts, updates or stops the timers to match the given tunnels (those with probes and enabled). */
  set(tunnels: readonly TunnelConfig[]): void {
    const wanted = new Map(tunnels.filter((t) => t.enabled && t.probes.length > 0).map((t) => [t.name, t]));
    for (const [name, slot] of this.slots) {
      if (!wanted.has(name)) {
        if (slot.timer) clearTimeout(slot.timer);
        this.slots.delete(name);
      }
    }
    let i = 0;
    for (const [name, cfg] of wanted) {
      const slot = this.slots.get(name);
      if (slot) {
        const intervalChanged = slot.cfg.probeIntervalMs !== cfg.probeIntervalMs;
        slot.cfg = cfg;
        if (intervalChanged && !slot.running) this.schedule(slot, cfg.probeIntervalMs);
      } else {
        const s: Slot = { cfg, running: false, again: false, suspected: false };
        this.slots.set(name, s);
        // Spread the first rounds over the interval so 1000 tunnels do not probe in one burst,
        // but start soon: the first round is the start-up health check.
        const spread = Math.min(cfg.probeIntervalMs, 1000);
        this.schedule(s, Math.floor((spread * i) / Math.max(1, wanted.size)));
      }
      i++;
    }
  }

  /** Probe `tunnel` after `delayMs` (to verify a repair), instead of waiting for its interval. */
  verify(tunnel: string, delayMs = 0, opts: { suspected?: boolean } = {}): void {
    const slot = this.slots.get(tunnel);
    if (!slot || this.stopped) return;
    if (opts.suspected) slot.suspected = true;
    if (slot.running) {
      slot.again = true;
      return;
    }
    this.schedule(slot, delayMs);
  }

  /** When the tunnel's next round starts (ms), if one is scheduled (not while a round runs). */
  nextRoundAt(tunnel: string): number | undefined {
    const slot = this.slots.get(tunnel);
    return slot && !slot.running ? slot.dueAt : undefined;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.slots.values()) if (s.timer) clearTimeout(s.timer);
    this.slots.clear();
  }

  private schedule(slot: Slot, ms: number): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.dueAt = Date.now() + ms;
    slot.timer = setTimeout(() => void this.round(slot), ms);
  }

  private async probeOnce(cfg: TunnelConfig): Promise<ProbeResult[]> {
    const opts: { timeoutMs: number; sourceAddr?: string } = { timeoutMs: cfg.probeTimeoutMs };
    if (cfg.source) opts.sourceAddr = cfg.source;
    const results = await Promise.all(cfg.probes.map((p) => this.runProbe(p, opts)));
    for (const r of results) this.cb.probed?.(cfg.name, r);
    return results;
  }

  private async round(slot: Slot): Promise<void> {
    if (this.stopped || this.slots.get(slot.cfg.name) !== slot) return;
    slot.running = true;
    slot.again = false;
    const suspected = slot.suspected;
    slot.suspected = false;
    const name = slot.cfg.name;
    const generation = this.cb.generation(name);
    let attempts = 1;
    let startedAt = Date.now();
    let inBefore = this.cb.inbound?.(name);
    // Re-probe before calling it stale: one lost SYN is not an outage. Unless the tunnel's own counters
    // already said it sends without hearing back: then one failed round is the second witness.
    const reprobes = suspected ? 0 : slot.cfg.reprobeAttempts;
    try {
      let results = await this.probeOnce(slot.cfg);
      const firstDoneAt = Date.now();
      let health = classify(results);
      while (health === 'failing' && attempts <= reprobes && !this.stopped && this.cb.generation(name) === generation) {
        await new Promise((r) => setTimeout(r, slot.cfg.reprobeIntervalMs));
        attempts++;
        startedAt = Date.now();
        inBefore = this.cb.inbound?.(name);
        results = await this.probeOnce(slot.cfg);
        health = classify(results);
      }
      if (!this.stopped) this.cb.report({ tunnel: name, health, results, generation, attempts, startedAt, firstDoneAt, suspected, ...(inBefore ? { inBefore } : {}) });
    } finally {
      slot.running = false;
      if (!this.stopped && this.slots.get(name) === slot) {
        this.schedule(slot, slot.again ? 0 : slot.cfg.probeIntervalMs);
      }
    }
  }
}
