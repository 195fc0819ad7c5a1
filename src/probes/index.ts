// Entry point of the probes layer: one dispatcher over the probe kinds, plus the ICMP capability check.
import { icmpEngine } from './icmp-socket.js';
import { probeIcmp } from './icmp.js';
import { oneLine, ProbeFailure } from './outcome.js';
import { probeTcp } from './tcp.js';
import type { Prober, ProbeKind, ProbeOptions, ProbeResult, ProbeTarget } from './types.js';

export type { Prober, ProbeErrorCode, ProbeKind, ProbeOptions, ProbeResult, ProbeTarget } from './types.js';
export { probeTargetLabel, tcpLabel } from './types.js';
export { probeIcmp } from './icmp.js';
export { probeTcp } from './tcp.js';

const PROBERS: Record<ProbeKind, Prober> = { tcp: probeTcp, icmp: probeIcmp };

export function runProbe(target: ProbeTarget, opts: ProbeOptions): Promise<ProbeResult> {
  const prober = PROBERS[target.kind];
  if (!prober) {
    return Promise.resolve({
      kind: target.kind,
      target: target.host,
      success: false,
      durationMs: 0,
      phases: {},
      error: `unknown probe kind ${String(target.kind)}`,
      errorCode: 'other',
    });
  }
  return prober(target, opts);
}

/** Whether ICMP probes can run in this process; `reason` is one line for the operator. */
export function icmpAvailable(): { ok: true } | { ok: false; reason: string } {
  try {
    icmpEngine().check();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: oneLine(err instanceof ProbeFailure || err instanceof Error ? err.message : String(err)) };
  }
}
