// What the controller keeps per tunnel beside its state record: the config, the last observation and
// what metrics, status and the next reconcile read of it. One place, so the executor, metrics and status
// can name it without importing the Agent.
import type { EventEmitter } from 'eventemitter3';
import type { IkeSa } from '../../vici/index.js';
import type { TunnelConfig } from '../config/load.js';
import type { ProbeResult } from '../../probes/types.js';
import type { ChildConnInfo } from './conns.js';
import type { TunnelObservation } from './observe.js';
import type { TunnelRuntime } from './reconcile.js';
import type { Watch } from './traffic-watch.js';
import type { AgentEvents } from './events.js';

export interface TunnelView {
  config: TunnelConfig;
  runtime: TunnelRuntime;
  /** Last observation, for metrics and status. */
  obs?: TunnelObservation;
  /** When `obs` was read (ms). */
  observedAt?: number;
  conn?: ChildConnInfo;
  /** The last probe round, for status. */
  probes?: { at: number; results: ProbeResult[] };
  /** What the last reconcile's decision rested on, for status. */
  why?: string;
  /** Passive stale detection: the last counter reading and what it made of it. */
  watch?: Watch;
  /** Why the probes were last said not to count: said again only for another reason, or after they proved the tunnel. */
  unprovenSaid?: string;
  /** When an event from charon last concerned the tunnel (ms). */
  eventAt?: number;
  /** The CHILD_SA set (unique ids) a probe round has proved to carry the probes. */
  provenSas?: string;
  /** The last down event for the tunnel, with charon's dump of the IKE_SA: the repair may start from it. */
  downEvent?: { at: number; alone: boolean; ike: IkeSa };
  /** When the counter timer last refreshed the counters of `obs` (ms). */
  countersAt?: number;
}

/** The agent as metrics and alerts see it: its view and its events (the real Agent, or a test double). */
export interface AgentSource {
  view(): ReadonlyMap<string, TunnelView>;
  on<E extends keyof AgentEvents>(event: E, fn: EventEmitter.EventListener<AgentEvents, E>): unknown;
  off<E extends keyof AgentEvents>(event: E, fn: EventEmitter.EventListener<AgentEvents, E>): unknown;
}
