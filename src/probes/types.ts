// The probe contract shared by every probe kind, and the label a result carries for its target.
// Nothing here knows about VICI or tunnels.
import { isIP } from 'node:net';

export type ProbeKind = 'tcp' | 'icmp';

export interface ProbeTarget {
  kind: ProbeKind;
  /** IP literal or DNS name. */
  host: string;
  /** TCP only. */
  port?: number;
}

export interface ProbeOptions {
  /** Whole-probe budget (resolve + connect / echo), set by the caller. */
  timeoutMs: number;
  /** Local address the probe's packets must leave from (e.g. the tunnel's inner address). */
  sourceAddr?: string;
  signal?: AbortSignal;
}

/** A TCP target as results name it: 'host:port', IPv6 as '[host]:port'. */
export function tcpLabel(t: ProbeTarget): string {
  return isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

/** The label a ProbeResult carries for this target (its `target`): tcpLabel for tcp, the host for icmp. */
export function probeTargetLabel(t: ProbeTarget): string {
  return t.kind === 'tcp' ? tcpLabel(t) : t.host;
}

export type ProbeErrorCode = 'timeout' | 'refused' | 'unreachable' | 'resolve' | 'permission' | 'other';

export interface ProbeResult {
  kind: ProbeKind;
  /** 'host:port' (tcp, IPv6 as '[host]:port') or 'host' (icmp), as given by the caller. */
  target: string;
  success: boolean;
  durationMs: number;
  /** Milliseconds per phase: tcp `resolve`, `connect`; icmp `resolve`, `rtt`. Only phases that ran. */
  phases: Record<string, number>;
  /** One line, e.g. 'connect ECONNREFUSED 198.51.100.140:9802', 'timeout after 2000 ms'. */
  error?: string;
  errorCode?: ProbeErrorCode;
}

/** Never rejects: every failure is a result. */
export type Prober = (target: ProbeTarget, opts: ProbeOptions) => Promise<ProbeResult>;
