// The client's public option, event and handler types. They live apart from client.ts so that the modules
// the client is built from can share them without importing it; client.ts re-exports them.
import type { ViciSection } from './message.js';

export interface ViciLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ViciClientOptions {
  /** Default 'unix:///var/run/charon.vici'; also any 'unix:///path', a bare absolute path, and 'tcp://host:port'. */
  uri?: string;
  /** Default 30000; per-call override via `opts.timeoutMs`. */
  commandTimeoutMs?: number;
  /** Default 5000: the socket connect plus re-registering subscriptions. */
  connectTimeoutMs?: number;
  /** Default { baseMs: 100, capMs: 5000 }, exponential with jitter. false: no reconnect after a loss. */
  reconnect?: false | { baseMs?: number; capMs?: number };
  /** Default 4: blocking initiate/terminate calls beyond this many wait their turn (strongSwan #2776). */
  maxConcurrentInitiates?: number;
  /** Default 10000: subscribed events held for slow handlers before the oldest are dropped (then 'resync'). */
  eventQueueLimit?: number;
  /** pino-compatible. Commands are logged by name, duration and result; message contents never are. */
  logger?: ViciLogger;
}

export interface CommandInfo {
  name: string;
  ms: number;
  result: 'ok' | 'error' | 'timeout';
}

export type ClientEvents = {
  /** Every successful (re)connect, after subscriptions are registered again. */
  connect: [];
  /** The socket was lost, or a connect attempt failed while (re)connecting. */
  disconnect: [err: Error];
  /** After a reconnect, or after subscribed events were dropped: events may have been missed, re-read state. */
  resync: [];
  /** Every subscribed event, raw, in arrival order. */
  event: [name: string, msg: ViciSection];
  /** Every command (streamed ones included) once it completed: for metrics. `ms` counts from the call. */
  command: [info: CommandInfo];
};

/** May return a promise: it is awaited before the next event is delivered (backpressure without blocking replies). */
export type EventHandler = (msg: ViciSection) => void;
export type Unsubscribe = () => Promise<void>;

export interface CallOptions {
  timeoutMs?: number;
}
