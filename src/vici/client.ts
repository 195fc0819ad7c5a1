// ViciClient: the typed face of the VICI client, composed of the layers that do the work:
//
//   connection.ts  one socket and its reader, one exchange in flight
//   exchange.ts    an exchange read as the protocol defines it, and its deadline
//   session.ts     the main connection: reconnect state machine and the FIFO command queue
//   pool.ts        extra connections for the blocking commands (initiate, terminate)
//   events.ts      subscriptions and their delivery, one loop
//   stream.ts      streamed commands (list-sas, list-conns)
//
// This class decides which layer a call goes to, turns typed arguments into messages and messages into
// typed results, and reports every command (a debug line and a 'command' event) in one place, so metrics
// see blocking, queued and streamed commands alike.
import { EventEmitter } from 'eventemitter3';
import { Events, typedHandler } from './events.js';
import { ViciConnectionError, ViciTimeoutError } from './errors.js';
import type { Connection } from './connection.js';
import { commandOn, validateEventName } from './exchange.js';
import { asStrings, decodeMessagePlain, type PlainSection, type ViciSection } from './message.js';
import type { CallOptions, ClientEvents, CommandInfo, EventHandler, Unsubscribe, ViciClientOptions, ViciLogger } from './options.js';
import { encodeCommand } from './packet.js';
import { BlockingPool } from './pool.js';
import { Session } from './session.js';
import { streamIterator, streamOn, type StreamPush } from './stream.js';
import {
  alertFrom,
  childRekeyFrom,
  childUpdownFrom,
  connsFromListConn,
  ikeRekeyFrom,
  ikeSasFromListSa,
  ikeUpdateFrom,
  ikeUpdownFrom,
  logFrom,
  statsFrom,
  versionFrom,
  type Alert,
  type CharonLog,
  type ChildRekey,
  type ChildUpdown,
  type Conn,
  type IkeRekey,
  type IkeSa,
  type IkeUpdate,
  type IkeUpdown,
  type Stats,
  type Version,
} from './types.js';
import { DEFAULT_URI, parseViciUri, type ViciTarget } from './uri.js';

export type { CallOptions, ClientEvents, CommandInfo, EventHandler, Unsubscribe, ViciClientOptions, ViciLogger } from './options.js';

/** Commands that block a charon worker until the SA is up or down: they run on pool connections. */
const BLOCKING = new Set(['initiate', 'terminate']);
/** Their arguments carry secrets: logged by name only (nothing's arguments are logged, but errmsg neither). */
const SECRET = new Set(['load-shared', 'load-key', 'load-token', 'unload-shared']);
/** Margin over a blocking command's own VICI timeout before the client gives up on charon. */
const BLOCKING_MARGIN_MS = 5000;

export class ViciClient extends EventEmitter<ClientEvents> {
  private readonly target: ViciTarget;
  private commandTimeoutMs: number;
  private readonly log: ViciLogger | undefined;
  private readonly session: Session;
  private readonly pool: BlockingPool;
  private readonly events: Events;
  private lastDisconnect: Error | undefined;

  constructor(opts: ViciClientOptions = {}) {
    super();
    this.target = parseViciUri(opts.uri ?? DEFAULT_URI);
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.log = opts.logger;
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    const backoff = opts.reconnect === false ? false : { baseMs: opts.reconnect?.baseMs ?? 100, capMs: opts.reconnect?.capMs ?? 5000 };
    this.session = new Session(
      this.target,
      connectTimeoutMs,
      backoff,
      {
        setUp: (conn) => this.events.registerAll(conn),
        onEvent: (name, payload, off) => this.events.onEvent(name, payload, off),
        connected: (again) => {
          this.lastDisconnect = undefined;
          this.emit('connect');
          if (again) this.emit('resync');
        },
        disconnected: (err) => {
          this.lastDisconnect = err;
          this.emit('disconnect', err);
        },
      },
      this.log,
    );
    this.pool = new BlockingPool(this.target, connectTimeoutMs, opts.maxConcurrentInitiates ?? 4, () => this.session.admissionError());
    this.events = new Events(
      this.session,
      {
        emitEvent: (name, msg) => this.emit('event', name, msg),
        resync: () => this.emit('resync'),
        commandTimeoutMs: () => this.commandTimeoutMs,
      },
      opts.eventQueueLimit ?? 10_000,
      this.log,
    );
  }

  /** The socket this client talks to, as a URI. */
  get uri(): string {
    return this.target.uri;
  }

  /** Connected, with every subscription registered. */
  get connected(): boolean {
    return this.session.connected;
  }

  /** Successful reconnects since construction (the first connect does not count). */
  get reconnects(): number {
    return this.session.reconnects;
  }

  /** Why the last connection was lost or the last attempt failed; undefined once connected again. */
  get lastError(): Error | undefined {
    return this.lastDisconnect;
  }

  /** Subscribed events dropped because handlers fell behind (or because they did not decode). */
  get droppedEvents(): number {
    return this.events.dropped;
  }

  // -------------------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Resolves once connected. With reconnect enabled and charon absent it keeps trying (with backoff) until
   * the socket appears; `signal` or close() stops that and rejects. With reconnect: false one failed attempt
   * rejects with a ViciConnectionError naming the socket.
   */
  connect(opts: { signal?: AbortSignal } = {}): Promise<void> {
    return this.session.connect(opts.signal);
  }

  /** A reload's new limits, taken at once (a new socket needs a new client). */
  setLimits(o: { commandTimeoutMs: number; maxConcurrentInitiates: number }): void {
    this.commandTimeoutMs = o.commandTimeoutMs;
    this.pool.setLimit(o.maxConcurrentInitiates);
  }

  /** Stops reconnecting, fails whatever is queued or in flight, closes every socket. */
  async close(): Promise<void> {
    if (this.session.kind === 'closed') return;
    const err = new ViciConnectionError(this.uri, 'client closed');
    const session = this.session.close(err);
    this.events.stop();
    await Promise.all([session, this.pool.close(err)]);
  }

  // -------------------------------------------------------------------------------------------------------
  // Raw API

  /** Sends a command and returns charon's answer. `success = no` rejects with ViciCommandError. */
  request(cmd: string, msg: Record<string, unknown> = {}, opts: CallOptions = {}): Promise<ViciSection> {
    return this.timed(cmd, () => {
      const frame = encodeCommand(cmd, msg);
      const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
      const run = (c: Connection) => commandOn(c, cmd, frame);
      // With timeout -1 charon only queues the work and answers at once: no worker of its waits, so no pool slot either.
      const blocks = BLOCKING.has(cmd) && !(typeof msg['timeout'] === 'number' && msg['timeout'] < 0);
      return blocks ? this.pool.run(cmd, timeoutMs, run) : this.session.enqueue(cmd, timeoutMs, run);
    });
  }

  /**
   * A streamed command: registers `event` (once per connection: it stays registered, see stream.ts), sends
   * `cmd` and yields each event until charon's reply (also when the loop is left early, the command itself
   * cannot be cancelled and runs to its end, its remaining events discarded). A reply with `success = no` is
   * thrown after the events. The timeout covers the whole exchange. While it runs, `event` events go to the
   * stream, not to subscribers.
   */
  stream(cmd: string, event: string, msg: Record<string, unknown> = {}, opts: CallOptions = {}): AsyncIterable<ViciSection> {
    return {
      [Symbol.asyncIterator]: () => streamIterator((push) => this.streamCollect(cmd, event, msg, opts, push)),
    };
  }

  /** The streamed exchange, queued on the main connection: `push` gets each stream event's raw payload. */
  private streamCollect(cmd: string, event: string, msg: Record<string, unknown>, opts: CallOptions, push: StreamPush): Promise<ViciSection> {
    return this.timed(cmd, () => {
      const frame = encodeCommand(cmd, msg);
      validateEventName(event);
      return this.session.enqueue(cmd, opts.timeoutMs ?? this.commandTimeoutMs, (conn) => streamOn(conn, cmd, frame, event, push));
    });
  }

  /** Runs a command-shaped call, reporting it to the logger and as a 'command' event. */
  private async timed<T>(cmd: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let result: CommandInfo['result'] = 'ok';
    let err: unknown;
    try {
      return await fn();
    } catch (e) {
      err = e;
      result = e instanceof ViciTimeoutError ? 'timeout' : 'error';
      throw e;
    } finally {
      const ms = performance.now() - t0;
      const info: { cmd: string; ms: number; result: string; err?: string } = { cmd, ms: Math.round(ms * 10) / 10, result };
      if (err !== undefined && !SECRET.has(cmd)) info.err = (err as Error).message;
      this.log?.debug(info, 'vici command');
      this.emit('command', { name: cmd, ms, result });
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Subscriptions

  /**
   * Registers `handler` for `event`. Resolves once charon confirmed (ViciUnknownEventError if it has no such
   * event). The subscription survives reconnects: it is registered again before 'connect' is emitted. While
   * disconnected (with reconnect enabled) it is recorded and registered on the next connect. Handlers run
   * from a bounded queue, never from the socket reader; one returning a promise is awaited before the next
   * event is delivered. The returned function unsubscribes (unregistering when the last handler goes).
   */
  subscribe(event: string, handler: EventHandler): Promise<Unsubscribe> {
    return this.events.subscribe(event, handler);
  }

  /** A typed subscription: events that do not have the expected shape are logged and skipped. */
  private typed<T>(event: string, parse: (m: ViciSection) => T, h: (e: T) => void): Promise<Unsubscribe> {
    return this.subscribe(event, typedHandler(event, parse, h, this.log));
  }

  onIkeUpdown(h: (e: IkeUpdown) => void): Promise<Unsubscribe> {
    return this.typed('ike-updown', ikeUpdownFrom, h);
  }
  onChildUpdown(h: (e: ChildUpdown) => void): Promise<Unsubscribe> {
    return this.typed('child-updown', childUpdownFrom, h);
  }
  onIkeRekey(h: (e: IkeRekey) => void): Promise<Unsubscribe> {
    return this.typed('ike-rekey', ikeRekeyFrom, h);
  }
  onChildRekey(h: (e: ChildRekey) => void): Promise<Unsubscribe> {
    return this.typed('child-rekey', childRekeyFrom, h);
  }
  onIkeUpdate(h: (e: IkeUpdate) => void): Promise<Unsubscribe> {
    return this.typed('ike-update', ikeUpdateFrom, h);
  }
  /** charon's log at levels 0-1. */
  onLog(h: (e: CharonLog) => void): Promise<Unsubscribe> {
    return this.typed('log', logFrom, h);
  }
  /** strongSwan 6.0.3+; older charons reject the registration with ViciUnknownEventError. */
  onAlert(h: (e: Alert) => void): Promise<Unsubscribe> {
    return this.typed('alert', alertFrom, h);
  }

  // -------------------------------------------------------------------------------------------------------
  // Typed commands

  async version(opts?: CallOptions): Promise<Version> {
    return versionFrom(await this.request('version', {}, opts));
  }

  async stats(opts?: CallOptions): Promise<Stats> {
    return statsFrom(await this.request('stats', {}, opts));
  }

  /** IKE_SAs with their CHILD_SAs. Filters are charon's (child filters since 5.9.6); noblock skips busy SAs. */
  async listSas(
    filter: { ike?: string; ikeId?: number; child?: string; childId?: number; noblock?: boolean } = {},
    opts?: CallOptions,
  ): Promise<IkeSa[]> {
    const msg = { ike: filter.ike, 'ike-id': filter.ikeId, child: filter.child, 'child-id': filter.childId, noblock: filter.noblock ? 'yes' : undefined };
    const events: PlainSection[] = [];
    await this.streamCollect('list-sas', 'list-sa', msg, opts ?? {}, (p, off) => events.push(decodeMessagePlain(p, off)));
    return events.flatMap(ikeSasFromListSa);
  }

  /** Every loaded connection, whichever backend loaded it (ipsec.conf ones included). */
  async listConns(filter: { ike?: string } = {}, opts?: CallOptions): Promise<Conn[]> {
    const events: PlainSection[] = [];
    await this.streamCollect('list-conns', 'list-conn', { ike: filter.ike }, opts ?? {}, (p, off) => events.push(decodeMessagePlain(p, off)));
    return events.flatMap(connsFromListConn);
  }

  /** Names of connections loaded over VICI only. */
  async getConns(opts?: CallOptions): Promise<string[]> {
    return asStrings((await this.request('get-conns', {}, opts)).conns) ?? [];
  }

  /**
   * Initiates a CHILD_SA (or IKE_SA). `timeoutMs` is charon's own timeout: default 10000 here (charon's 0
   * would wait forever and is refused), -1 returns at once. The client waits that long plus a margin.
   */
  async initiate(a: { child?: string; ike?: string; timeoutMs?: number; initLimits?: boolean }): Promise<void> {
    const timeout = blockingTimeout('initiate', a.timeoutMs);
    await this.blocking('initiate', timeout, { child: a.child, ike: a.ike, timeout, 'init-limits': a.initLimits });
  }

  /** Terminates SAs by name or unique id; `timeoutMs` as for initiate (default 10000, -1 = do not wait). */
  async terminate(a: { child?: string; ike?: string; childId?: number; ikeId?: number; force?: boolean; timeoutMs?: number }): Promise<void> {
    const timeout = blockingTimeout('terminate', a.timeoutMs);
    await this.blocking('terminate', timeout, {
      child: a.child,
      ike: a.ike,
      'child-id': a.childId,
      'ike-id': a.ikeId,
      force: a.force,
      timeout,
    });
  }

  private blocking(cmd: string, viciTimeout: number, msg: Record<string, unknown>): Promise<ViciSection> {
    const timeoutMs = viciTimeout > 0 ? Math.max(this.commandTimeoutMs, viciTimeout + BLOCKING_MARGIN_MS) : this.commandTimeoutMs;
    return this.request(cmd, msg, { timeoutMs });
  }

  /** Starts a rekey (or reauthentication) and returns at once: charon does not wait for it. */
  async rekey(a: { child?: string; ike?: string; childId?: number; ikeId?: number; reauth?: boolean }): Promise<void> {
    await this.request('rekey', { child: a.child, ike: a.ike, 'child-id': a.childId, 'ike-id': a.ikeId, reauth: a.reauth });
  }

  /** Installs the trap/drop/bypass policy of a CHILD_SA config. */
  async install(a: { child: string; ike?: string }): Promise<void> {
    await this.request('install', { child: a.child, ike: a.ike });
  }

  async uninstall(a: { child: string; ike?: string }): Promise<void> {
    await this.request('uninstall', { child: a.child, ike: a.ike });
  }

  /** Loads (or replaces) connection `name`; `conn` is the swanctl.conf section as an object. */
  async loadConn(name: string, conn: Record<string, unknown>): Promise<void> {
    await this.request('load-conn', { [name]: conn });
  }

  async unloadConn(name: string): Promise<void> {
    await this.request('unload-conn', { name });
  }

  /** Loads a shared secret. Nothing of it is logged, and errors never quote it. */
  async loadShared(a: { id?: string; type: 'IKE' | 'EAP' | 'XAUTH' | 'NTLM' | 'PPK'; data: string | Uint8Array; owners?: string[] }): Promise<void> {
    await this.request('load-shared', { id: a.id, type: a.type, data: a.data, owners: a.owners });
  }

  async unloadShared(id: string): Promise<void> {
    await this.request('unload-shared', { id });
  }

  /** Reloads strongswan.conf and the plugins that support it. */
  async reloadSettings(): Promise<void> {
    await this.request('reload-settings');
  }
}

function blockingTimeout(cmd: string, t: number | undefined): number {
  const v = t ?? 10_000;
  if (v === 0) throw new RangeError(`${cmd}: timeoutMs 0 would make charon wait forever; use a positive value, or -1 not to wait`);
  if (!Number.isInteger(v) || v < -1) throw new RangeError(`${cmd}: timeoutMs must be a positive integer or -1, not ${v}`);
  return v;
}
