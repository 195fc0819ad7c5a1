// What the agent tells the rest of the process (logging, metrics, alerts): typed events, and the
// agent's readers take from it (the agent as they see it is AgentSource, in tunnel-view.ts).
import type { ProbeResult } from '../../probes/types.js';
import type { Reason } from './workqueue.js';
import type { HealthReport } from './health.js';
import type { FailureClass } from './failure-reason.js';

export type ActionKind = 'initiate' | 'restart-child' | 'restart-ike' | 'terminate-duplicate';
/** Why an action was taken, as exported in metrics. */
export type ActionReason = 'event' | 'probe' | 'resync' | 'duplicate' | 'retry';

export interface ActionEvent {
  tunnel: string;
  ike?: string;
  child: string;
  kind: ActionKind;
  reason: ActionReason;
  result: 'ok' | 'error';
  ms: number;
  error?: string;
  /** charon's reason, for a failed action. */
  failure?: FailureClass;
}

export interface TunnelDownEvent {
  tunnel: string;
  ike?: string;
  child: string;
  why: string;
  at: number;
}

export interface TunnelRepairedEvent {
  tunnel: string;
  ike?: string;
  child: string;
  downMs: number;
  at: number;
}

export interface EscalatedEvent {
  tunnel: string;
  ike?: string;
  child: string;
  to: 'restart-ike' | 'backoff';
  failures: number;
  nextAttemptInMs: number;
  /** Why: charon's reason for the last failure, or that repairs do not hold. */
  why?: string;
  /** The backoff is the IKE connection's, shared by every tunnel on it. */
  shared?: boolean;
}

export interface ReconcileEvent {
  tunnel: string;
  result: 'ok' | 'error' | 'requeue' | 'skipped';
  ms: number;
  reasons: Reason[];
}

export type AgentEvents = {
  'tunnel-down': [e: TunnelDownEvent];
  'tunnel-repaired': [e: TunnelRepairedEvent];
  escalated: [e: EscalatedEvent];
  action: [e: ActionEvent];
  reconcile: [e: ReconcileEvent];
  probe: [tunnel: string, r: ProbeResult];
  health: [r: HealthReport];
  'vici-lost': [e: { error: string; at: number }];
  'vici-restored': [e: { downMs: number; at: number }];
  'vici-event': [name: string];
  'charon-alert': [e: { type: string; detail: Record<string, unknown> }];
  'duplicates': [e: { tunnel: string; count: number }];
  /** The tunnel's counters: packets out, none in, for a whole window; probed at once. */
  suspect: [e: { tunnel: string; why: string; at: number }];
};
