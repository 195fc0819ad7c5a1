// The pool of connections for blocking commands (initiate, terminate).
//
// A blocking command holds a charon worker thread and its connection until the SA is up or down: on the main
// connection it would stall every list-sas and subscription behind it, and many at once can wedge charon
// (strongSwan issue #2776). So each runs alone on a pool connection, at most `limit` at a time; calls beyond
// that wait their turn. A command that times out destroys its own pool connection only (exchange.ts); the
// next one opens a fresh one. Idle connections are kept a while for the next command, then closed.
import { Connection } from './connection.js';
import { ViciConnectionError, ViciError, ViciUnknownEventError } from './errors.js';
import { registerOn, withDeadline } from './exchange.js';
import { asString, decodeMessage } from './message.js';
import type { ViciTarget } from './uri.js';

const POOL_IDLE_MS = 30_000;

export class BlockingPool {
  private limit: number;
  private closed = false;
  private inUse = 0;
  private readonly waiters: (() => void)[] = [];
  private readonly idle: { conn: Connection; timer: NodeJS.Timeout }[] = [];
  private readonly conns = new Set<Connection>();
  /** Pool connection -> charon's control-log lines for the command it runs now. */
  private readonly controlLogs = new Map<Connection, string[]>();

  constructor(
    private readonly target: ViciTarget,
    private readonly connectTimeoutMs: number,
    limit: number,
    /** Why a call cannot run now (the client's state), if it cannot. */
    private readonly admissionError: () => Error | undefined,
  ) {
    this.limit = Math.max(1, limit);
  }

  /** A new limit, taken at once: a higher one lets waiting commands go now. */
  setLimit(limit: number): void {
    this.limit = Math.max(1, limit);
    for (let free = this.limit - this.inUse; free > 0 && this.waiters.length > 0; free--) this.waiters.shift()!();
  }

  /** Runs `fn` alone on a pool connection, destroying that connection past `timeoutMs`. */
  async run<T>(what: string, timeoutMs: number, fn: (c: Connection) => Promise<T>): Promise<T> {
    const refused = this.admissionError();
    if (refused) throw refused;
    // Checked again after every wake-up: a reload may have lowered the limit meanwhile (a woken
    // command that must wait again keeps its place at the front).
    for (let first = true; this.inUse >= this.limit; first = false) {
      await new Promise<void>((resolve) => (first ? this.waiters.push(resolve) : this.waiters.unshift(resolve)));
      if (this.closed) throw this.closedError();
    }
    this.inUse++;
    try {
      const conn = await this.take();
      const log: string[] = [];
      this.controlLogs.set(conn, log);
      try {
        return await withDeadline(conn, what, timeoutMs, fn);
      } catch (err) {
        if (err instanceof ViciError) err.charonLog = log;
        throw err;
      } finally {
        this.controlLogs.delete(conn);
        this.putBack(conn);
      }
    } finally {
      this.inUse--;
      this.waiters.shift()?.();
    }
  }

  /** Closes every pool connection; waiting calls fail with 'client closed'. */
  close(err: Error): Promise<void> {
    this.closed = true;
    const conns = [...this.conns];
    for (const p of this.idle.splice(0)) clearTimeout(p.timer);
    for (const c of conns) c.destroy(err);
    for (const w of this.waiters.splice(0)) w();
    return Promise.all(conns.map((c) => c.whenClosed())).then(() => undefined);
  }

  private closedError(): ViciConnectionError {
    return new ViciConnectionError(this.target.uri, 'client closed');
  }

  /** An idle connection, or a new one that hears charon's control-log. */
  private async take(): Promise<Connection> {
    const idle = this.idle.pop();
    if (idle) {
      clearTimeout(idle.timer);
      return idle.conn;
    }
    const conn: Connection = await Connection.open(this.target, this.connectTimeoutMs, {
      // control-log goes only to the connection running the command: all of it belongs to this one.
      onEvent: (name, payload, off) => {
        if (name === 'control-log') this.controlLogs.get(conn)?.push(asString(decodeMessage(payload, off).msg) ?? '');
      },
      onClose: () => {
        this.conns.delete(conn);
        const k = this.idle.findIndex((p) => p.conn === conn);
        if (k >= 0) clearTimeout(this.idle.splice(k, 1)[0]!.timer);
      },
    });
    this.conns.add(conn);
    if (this.closed) conn.destroy(this.closedError());
    // Why a command failed is in charon's log for it, not in its errmsg: hear it (charons before
    // control-log existed answer EVENT_UNKNOWN, and commands still work without it).
    await withDeadline(conn, 'register control-log', this.connectTimeoutMs, (c) => registerOn(c, 'control-log', true)).catch((err: unknown) => {
      if (!(err instanceof ViciUnknownEventError)) throw err;
    });
    return conn;
  }

  private putBack(conn: Connection): void {
    if (conn.closed || this.closed) return;
    const timer = setTimeout(() => conn.destroy(new ViciConnectionError(this.target.uri, 'idle pool connection closed')), POOL_IDLE_MS);
    timer.unref();
    this.idle.push({ conn, timer });
  }
}
