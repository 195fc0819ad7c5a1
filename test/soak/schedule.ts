// The soak's fault schedule: a pure function of (seed, count, mode, tunnels). Kinds are drawn from
// shuffled "bags" holding every kind once, so any nine consecutive faults cover every kind and a
// 20-fault CI run sees each at least twice, while the order stays random. Every parameter (which
// tunnel, how long a fault lasts, the pause after it) comes from the same seeded stream, so a
// seed names one exact run of faults (the agent's own backoff jitter is not part of it).
import { createRng } from './prng.js';

export const FAULT_KINDS = [
  'peer-delete-child',
  'peer-delete-ike',
  'peer-kill',
  'esp-blackhole',
  'link-cut',
  'charon-restart',
  'target-down',
  'sighup-reload',
  'agent-restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** How the SIGHUP fault changes the config before putting it back. */
export type ReloadVariant = 'interval' | 'enabled' | 'invalid';
const RELOAD_VARIANTS: readonly ReloadVariant[] = ['interval', 'enabled', 'invalid'];

export type SoakMode = 'ci' | 'long';

export interface Fault {
  index: number;
  kind: FaultKind;
  /** The tunnel a one-tunnel fault (peer-delete-child, sighup-reload) aims at. */
  tunnel?: string;
  /**
   * How long the fault is held before it is healed (blackhole, link cut, target down, reload); for a charon
   * restart, how long its socket is there before its configs are loaded (as strongswan.service does it).
   */
  holdMs?: number;
  variant?: ReloadVariant;
  /** Pause after the fault's checks, before the next one. */
  gapMs: number;
}

/** Hold times per mode: the 45 s link cut for the long run, shorter in CI. */
export const HOLDS: Record<SoakMode, { blackhole: [number, number]; linkCut: number; targetDown: [number, number]; reload: [number, number]; configsLate: [number, number]; gap: [number, number] }> = {
  ci: { blackhole: [2000, 5000], linkCut: 8000, targetDown: [2000, 4000], reload: [1000, 2000], configsLate: [200, 1500], gap: [200, 1000] },
  long: { blackhole: [5000, 30_000], linkCut: 45_000, targetDown: [5000, 20_000], reload: [2000, 5000], configsLate: [200, 3000], gap: [500, 3000] },
};

export interface ScheduleOptions {
  seed: number;
  count: number;
  mode: SoakMode;
  /** Tunnel names (the lab's children). */
  tunnels: readonly string[];
  /** Restrict to these kinds (default: all). */
  kinds?: readonly FaultKind[];
}

export function buildSchedule(o: ScheduleOptions): Fault[] {
  if (!Number.isInteger(o.count) || o.count < 0) throw new RangeError(`fault count must be a non-negative integer, got ${o.count}`);
  if (o.tunnels.length === 0) throw new RangeError('no tunnels to aim faults at');
  const kinds = o.kinds ?? FAULT_KINDS;
  if (kinds.length === 0) throw new RangeError('no fault kinds');
  const rng = createRng(o.seed);
  const h = HOLDS[o.mode];
  const between = ([min, max]: [number, number]): number => rng.int(min, max);
  const out: Fault[] = [];
  let bag: FaultKind[] = [];
  for (let index = 0; index < o.count; index++) {
    if (bag.length === 0) bag = rng.shuffle(kinds);
    const kind = bag.shift()!;
    const f: Fault = { index, kind, gapMs: 0 };
    switch (kind) {
      case 'peer-delete-child':
        f.tunnel = rng.pick(o.tunnels);
        break;
      case 'esp-blackhole':
        f.holdMs = between(h.blackhole);
        break;
      case 'link-cut':
        f.holdMs = h.linkCut;
        break;
      case 'target-down':
        f.holdMs = between(h.targetDown);
        break;
      case 'charon-restart':
        f.holdMs = between(h.configsLate);
        break;
      case 'sighup-reload':
        f.tunnel = rng.pick(o.tunnels);
        f.variant = rng.pick(RELOAD_VARIANTS);
        f.holdMs = between(h.reload);
        break;
      default:
        break;
    }
    f.gapMs = between(h.gap);
    out.push(f);
  }
  return out;
}

export function describeFault(f: Fault): string {
  const parts: string[] = [f.kind];
  if (f.variant) parts.push(`(${f.variant})`);
  if (f.tunnel) parts.push(f.tunnel);
  if (f.holdMs !== undefined) parts.push(`hold ${(f.holdMs / 1000).toFixed(1)} s`);
  return parts.join(' ');
}
