// The main connection: its reconnect state machine and the FIFO queue of commands that run on it.
//
// Why it works this way (strongSwan's vici README, vici_socket.c):
// - No sequence numbers: one command at a time, FIFO; replies are matched by position.
// - A command that times out has lost its position, so its connection is destroyed (exchange.ts). The main
//   connection is then re-opened at once, without backoff and whatever `reconnect` says: charon is most
//   likely fine, and the commands queued behind the one that timed out were never sent, so they wait for the
//   new connection instead of failing.
// - Any other loss fails what is queued (it may have been sent) and reconnects with backoff (retry.ts).
// - Events may have been missed while the socket was down: the owner's `setUp` registers subscriptions
//   again before the connection is ready, then `connected(again)` lets it announce 'connect' and 'resync'.
//
// The state is one value (SessionState): what the session is doing, and only the data that belongs to it.
// A timer exists only while backing off, an attempt's abort only while connecting, the main connection only
// while ready; "is this a reconnect" and the failure count travel with the states that need them.
import { backoffDelay, type BackoffPolicy } from '../retry.js';
import { Connection } from './connection.js';
import { ViciConnectionError, ViciTimeoutError } from './errors.js';
import { withDeadline } from './exchange.js';
import type { ViciLogger } from './options.js';
import type { ViciTarget } from './uri.js';

/** One connect attempt: its abort, and its socket once open (being set up, not yet the main connection). */
interface Attempt {
  readonly abort: AbortController;
  conn: Connection | undefined;
}

// `again`: a connection existed before, so the next one is a reconnect (counted, followed by 'resync').
// `failures`: consecutive failed attempts, for the backoff delay.
export type SessionState =
  /** Not trying: before connect(), after a failed attempt with reconnect off, or once every connect() gave up. */
  | { readonly kind: 'idle'; readonly again: boolean; readonly failures: number }
  /** Opening a socket and setting it up, on connect() or after a backoff. Calls are refused meanwhile. */
  | { readonly kind: 'connecting'; readonly again: boolean; readonly failures: number; readonly attempt: Attempt }
  /** Re-opening at once after a command timed out. Calls queue meanwhile: their commands were never sent. */
  | { readonly kind: 'recovering'; readonly attempt: Attempt }
  /** Waiting before the next attempt. */
  | { readonly kind: 'backoff'; readonly again: boolean; readonly failures: number; readonly timer: NodeJS.Timeout }
  /** Connected and set up: queued commands run. */
  | { readonly kind: 'ready'; readonly conn: Connection }
  /** close() was called. Final. */
  | { readonly kind: 'closed' };

type Attempting = Extract<SessionState, { kind: 'connecting' | 'recovering' }>;

export interface SessionHooks {
  /** Runs on each new connection before it becomes ready, under the connect deadline. */
  setUp(conn: Connection): Promise<void>;
  /** An event on the main connection that no stream took. */
  onEvent(name: string, payload: Buffer, payloadOffset: number): void;
  /** Ready. `again`: a reconnect, so events may have been missed. */
  connected(again: boolean): void;
  /** The main connection was lost, or an attempt failed while reconnect is on (or while recovering). */
  disconnected(err: Error): void;
}

interface Job<T> {
  what: string;
  timeoutMs: number;
  run(conn: Connection): Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

const newAttempt = (): Attempt => ({ abort: new AbortController(), conn: undefined });

export class Session {
  private state: SessionState = { kind: 'idle', again: false, failures: 0 };
  private reconnectCount = 0;
  private waiters: Waiter[] = [];
  private readonly queue: Job<unknown>[] = [];
  private pumping = false;

  constructor(
    private readonly target: ViciTarget,
    private readonly connectTimeoutMs: number,
    private readonly backoff: BackoffPolicy | false,
    private readonly hooks: SessionHooks,
    private readonly log: ViciLogger | undefined,
  ) {}

  get kind(): SessionState['kind'] {
    return this.state.kind;
  }

  get connected(): boolean {
    return this.state.kind === 'ready';
  }

  /** Successful reconnects (the first connect does not count). */
  get reconnects(): number {
    return this.reconnectCount;
  }

  /** Whether something lost with a connection is set up again on a later one: reconnect is on, not closed. */
  get retries(): boolean {
    return this.backoff !== false && this.state.kind !== 'closed';
  }

  /** The connection subscriptions are registered on: the main one, or the one being set up to replace it. */
  get current(): Connection | undefined {
    const s = this.state;
    if (s.kind === 'ready') return s.conn;
    if (s.kind === 'connecting' || s.kind === 'recovering') return s.attempt.conn;
    return undefined;
  }

  /** Resolves once ready; see ViciClient.connect. */
  connect(signal?: AbortSignal): Promise<void> {
    if (this.state.kind === 'closed') return Promise.reject(new ViciConnectionError(this.target.uri, 'client closed'));
    if (this.state.kind === 'ready') return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        if (this.waiters.length === 0) this.stopFirstConnect();
        reject(signal!.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      const s = this.state;
      if (s.kind === 'idle') this.start({ kind: 'connecting', again: s.again, failures: s.failures, attempt: newAttempt() });
    });
  }

  /** Stops reconnecting, fails the waiters and the queue with `err`, closes the session's sockets. */
  close(err: Error): Promise<void> {
    const s = this.state;
    if (s.kind === 'closed') return Promise.resolve();
    this.state = { kind: 'closed' };
    const conns: Connection[] = [];
    if (s.kind === 'backoff') clearTimeout(s.timer);
    if (s.kind === 'connecting' || s.kind === 'recovering') {
      s.attempt.abort.abort();
      if (s.attempt.conn) conns.push(s.attempt.conn);
    }
    if (s.kind === 'ready') conns.push(s.conn);
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.failQueue(err);
    for (const c of conns) c.destroy(err);
    return Promise.all(conns.map((c) => c.whenClosed())).then(() => undefined);
  }

  /** Whether a call now can be queued: ready, or recovering right after a timeout. */
  admissionError(): ViciConnectionError | undefined {
    switch (this.state.kind) {
      case 'closed':
        return new ViciConnectionError(this.target.uri, 'client closed');
      case 'ready':
      case 'recovering':
        return undefined;
      default:
        return new ViciConnectionError(this.target.uri, 'not connected');
    }
  }

  /** Queues `run` for the main connection; it runs alone on it, destroying it past `timeoutMs`. */
  enqueue<T>(what: string, timeoutMs: number, run: (conn: Connection) => Promise<T>): Promise<T> {
    const refused = this.admissionError();
    if (refused) return Promise.reject(refused);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ what, timeoutMs, run, resolve, reject } as Job<unknown>);
      this.pump();
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Transitions

  /** Nobody waits for a first connection any more: stop trying. Once connected, reconnecting goes on until close(). */
  private stopFirstConnect(): void {
    const s = this.state;
    if ((s.kind !== 'connecting' && s.kind !== 'backoff') || s.again) return;
    if (s.kind === 'connecting') s.attempt.abort.abort();
    else clearTimeout(s.timer);
    this.state = { kind: 'idle', again: false, failures: s.failures };
  }

  private start(s: Attempting): void {
    this.state = s;
    void this.attempt(s);
  }

  private async attempt(s: Attempting): Promise<void> {
    const { abort } = s.attempt;
    let conn: Connection | undefined;
    try {
      conn = await Connection.open(
        this.target,
        this.connectTimeoutMs,
        {
          onEvent: (name, payload, off) => this.hooks.onEvent(name, payload, off),
          onClose: (err) => this.onClosed(conn!, err),
        },
        abort.signal,
      );
      if (abort.signal.aborted) throw new ViciConnectionError(this.target.uri, 'connect aborted');
      s.attempt.conn = conn;
      // Set up first (subscriptions): 'connect' promises the user that events flow.
      await withDeadline(conn, 'register', this.connectTimeoutMs, (c) => this.hooks.setUp(c));
      if (abort.signal.aborted || conn.closed) throw new ViciConnectionError(this.target.uri, 'connect aborted');
    } catch (err) {
      conn?.destroy(err as Error);
      // No longer the session's attempt (closed, or given up by every connect()): nothing to do.
      if (this.state === s) this.failed(s, err as Error);
      return;
    }
    this.ready(s, conn);
  }

  private ready(s: Attempting, conn: Connection): void {
    const again = s.kind === 'recovering' || s.again;
    this.state = { kind: 'ready', conn };
    if (again) this.reconnectCount++;
    this.log?.debug({ socket: this.target.uri, reconnect: again }, 'vici: connected');
    for (const w of this.waiters.splice(0)) w.resolve();
    this.hooks.connected(again);
    this.pump();
  }

  private failed(s: Attempting, err: Error): void {
    const again = s.kind === 'recovering' || s.again;
    const failures = s.kind === 'recovering' ? 0 : s.failures;
    // The queue waited for this connection; without it, nothing queued can run.
    if (s.kind === 'recovering') this.failQueue(err);
    if (!this.backoff) {
      this.state = { kind: 'idle', again, failures };
      for (const w of this.waiters.splice(0)) w.reject(err);
      if (s.kind === 'recovering') this.hooks.disconnected(err);
      return;
    }
    this.log?.debug({ socket: this.target.uri, err: err.message, attempt: failures }, 'vici: connect failed');
    this.backOff(again, failures);
    this.hooks.disconnected(err);
  }

  private backOff(again: boolean, failures: number): void {
    if (!this.backoff) return;
    const n = failures + 1;
    const next: SessionState = {
      kind: 'backoff',
      again,
      failures: n,
      timer: setTimeout(() => {
        if (this.state === next) this.start({ kind: 'connecting', again, failures: n, attempt: newAttempt() });
      }, backoffDelay(n, this.backoff)),
    };
    this.state = next;
  }

  /** A socket closed. Only the main connection's loss matters here: an attempt's own failure ends up in failed(). */
  private onClosed(conn: Connection, err: Error): void {
    const s = this.state;
    if (s.kind !== 'ready' || s.conn !== conn) return;
    const timedOut = err instanceof ViciTimeoutError;
    this.log?.warn({ socket: this.target.uri, err: err.message }, timedOut ? 'vici: command timed out; reconnecting' : 'vici: connection lost');
    if (timedOut) {
      const next: Attempting = { kind: 'recovering', attempt: newAttempt() };
      this.state = next;
      this.hooks.disconnected(err);
      if (this.state === next) void this.attempt(next); // unless a 'disconnect' listener closed the client
      return;
    }
    this.failQueue(err);
    if (this.backoff) this.backOff(true, 0);
    else this.state = { kind: 'idle', again: true, failures: 0 };
    this.hooks.disconnected(err);
  }

  // -------------------------------------------------------------------------------------------------------
  // The queue

  private failQueue(err: Error): void {
    for (const job of this.queue.splice(0)) job.reject(err);
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void (async () => {
      try {
        for (let s = this.state; this.queue.length > 0 && s.kind === 'ready'; s = this.state) {
          const job = this.queue.shift()!;
          try {
            job.resolve(await withDeadline(s.conn, job.what, job.timeoutMs, job.run));
          } catch (err) {
            job.reject(err as Error);
          }
        }
      } finally {
        this.pumping = false;
      }
    })();
  }
}
