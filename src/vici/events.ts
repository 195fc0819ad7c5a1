// Subscriptions and their delivery: one loop hands every subscribed event to its handlers.
//
// - Events may arrive between any two packets. The reader hands them to `onEvent`, which only queues them
//   (delivery.ts): handlers never run on the socket reader, so a slow handler never delays a reply.
// - Subscriptions belong to the client, not to a socket: every subscribed event is registered again on each
//   new main connection (`registerAll`, the session's set-up) before 'connect' is emitted.
// - Registering and unregistering are exchanges on the main connection, queued like commands: VICI replies
//   are matched by position, so they cannot be sent beside a command in flight.
// - When charon shuts down it sends down events for its SAs just before closing the socket. They are
//   delivered like any other: nothing in them says "shutdown" (the agent debounces on the log line).
import type { Connection } from './connection.js';
import { DeliveryQueue, type Delivery } from './delivery.js';
import { ViciConnectionError, ViciUnknownEventError } from './errors.js';
import { registerOn, validateEventName } from './exchange.js';
import { decodeMessage, type ViciSection } from './message.js';
import type { EventHandler, Unsubscribe, ViciLogger } from './options.js';
import type { Session } from './session.js';

export interface EventsOwner {
  /** The raw 'event' for every delivered event (the client's emitter). */
  emitEvent(name: string, msg: ViciSection): void;
  /** Events were lost (dropped, or did not decode) and the queue has drained: state must be re-read. */
  resync(): void;
  /** The timeout for registrations, read when each is queued: a reload may change it. */
  commandTimeoutMs(): number;
}

export class Events {
  /** event name -> handlers; the keys are what gets registered on every (re)connect. */
  private readonly subs = new Map<string, Set<EventHandler>>();
  private readonly pendingRegistration = new Map<string, Promise<void>>();
  private readonly deliveries: DeliveryQueue;

  constructor(
    private readonly session: Session,
    private readonly owner: EventsOwner,
    queueLimit: number,
    private readonly log: ViciLogger | undefined,
  ) {
    this.deliveries = new DeliveryQueue(
      queueLimit,
      (d) => this.deliver(d),
      () => {
        this.log?.warn({ dropped: this.deliveries.dropped }, 'vici: subscribed events were dropped (consumer too slow); resync');
        this.owner.resync();
      },
    );
  }

  /** Subscribed events dropped because handlers fell behind (or because they did not decode). */
  get dropped(): number {
    return this.deliveries.dropped;
  }

  stop(): void {
    this.deliveries.stop();
  }

  /** See ViciClient.subscribe. */
  async subscribe(event: string, handler: EventHandler): Promise<Unsubscribe> {
    validateEventName(event);
    let set = this.subs.get(event);
    const fresh = set === undefined;
    if (!set) {
      set = new Set();
      this.subs.set(event, set);
    }
    set.add(handler);
    const unsubscribe = this.unsubscriber(event, handler);
    try {
      if (fresh) {
        const refused = this.session.admissionError();
        if (refused) {
          if (!this.session.retries) throw refused;
          return unsubscribe; // registered on the next connect
        }
        const p = this.session.enqueue(`register ${event}`, this.owner.commandTimeoutMs(), async (conn) => {
          if (conn.subscribed.has(event) || !this.subs.has(event)) return;
          if (!conn.streamEvents.has(event)) await registerOn(conn, event, true);
          conn.subscribed.add(event);
        });
        this.pendingRegistration.set(event, p);
        try {
          await p;
        } finally {
          if (this.pendingRegistration.get(event) === p) this.pendingRegistration.delete(event);
        }
      } else {
        await this.pendingRegistration.get(event);
      }
    } catch (err) {
      // Lost connections are not the subscription's fault: with reconnect on it is registered again later.
      if (err instanceof ViciConnectionError && this.session.retries) return unsubscribe;
      set.delete(handler);
      if (set.size === 0 && this.subs.get(event) === set) this.subs.delete(event);
      throw err;
    }
    return unsubscribe;
  }

  /** The session's set-up for a new main connection: registers every subscribed event on it. */
  async registerAll(conn: Connection): Promise<void> {
    // Until none is missing: subscribe() may add events while this runs.
    const unknown = new Set<string>();
    for (;;) {
      const event = [...this.subs.keys()].find((e) => !conn.subscribed.has(e) && !unknown.has(e));
      if (event === undefined) break;
      try {
        await registerOn(conn, event, true);
        conn.subscribed.add(event);
      } catch (err) {
        if (!(err instanceof ViciUnknownEventError)) throw err;
        unknown.add(event);
        this.log?.warn({ event }, `vici: charon no longer knows event '${event}'; its handlers will not be called`);
      }
    }
  }

  /** An event from the main connection's reader: queued for delivery, never handled on the reader. */
  onEvent(name: string, payload: Buffer, payloadOffset: number): void {
    if (!this.subs.has(name)) return; // unsubscribed, unregister still on its way
    this.deliveries.push({ name, payload, payloadOffset });
  }

  private unsubscriber(event: string, handler: EventHandler): Unsubscribe {
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const set = this.subs.get(event);
      if (!set?.delete(handler) || set.size > 0) return;
      this.subs.delete(event);
      if (!this.session.current?.subscribed.has(event) || this.session.admissionError()) return;
      await this.session
        .enqueue(`unregister ${event}`, this.owner.commandTimeoutMs(), async (conn) => {
          if (this.subs.has(event) || !conn.subscribed.has(event)) return; // subscribed again meanwhile
          conn.subscribed.delete(event);
          if (conn.streamEvents.has(event)) return; // a stream of this connection still needs it
          await registerOn(conn, event, false).catch((err: Error) => {
            if (!(err instanceof ViciUnknownEventError)) throw err;
          });
        })
        .catch((err: Error) => {
          // The registration dies with the connection anyway.
          if (!(err instanceof ViciConnectionError)) throw err;
        });
    };
  }

  private deliver(d: Delivery): void | Promise<void> {
    const handlers = this.subs.get(d.name);
    if (!handlers) return;
    let msg: ViciSection;
    try {
      msg = decodeMessage(d.payload, d.payloadOffset);
    } catch (err) {
      this.log?.warn({ event: d.name, err: (err as Error).message }, 'vici: event did not decode; dropped');
      this.deliveries.markLost();
      return;
    }
    let pending: Promise<void>[] | undefined;
    try {
      this.owner.emitEvent(d.name, msg);
    } catch (err) {
      this.log?.warn({ event: d.name, err: (err as Error).message }, "vici: an 'event' listener threw");
    }
    for (const h of [...handlers]) {
      try {
        const r = h(msg) as unknown;
        if (r instanceof Promise || (typeof r === 'object' && r !== null && typeof (r as Promise<void>).then === 'function')) {
          (pending ??= []).push(
            (r as Promise<void>).catch((err: unknown) => this.log?.warn({ event: d.name, err: String(err) }, 'vici: event handler failed')),
          );
        }
      } catch (err) {
        this.log?.warn({ event: d.name, err: (err as Error).message }, 'vici: event handler threw');
      }
    }
    if (pending) return Promise.all(pending).then(() => undefined);
  }
}

/** A handler that parses each event first: events without the expected shape are logged and skipped. */
export function typedHandler<T>(event: string, parse: (m: ViciSection) => T, h: (e: T) => void, log: ViciLogger | undefined): EventHandler {
  return (msg) => {
    let e: T;
    try {
      e = parse(msg);
    } catch (err) {
      log?.warn({ event, err: (err as Error).message }, 'vici: event skipped');
      return;
    }
    return h(e);
  };
}
