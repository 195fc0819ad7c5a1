// Streamed commands (list-sas, list-conns, ...): charon answers with a series of events, then the reply.
//
// The stream's event is registered the first time a connection streams it and then stays registered for the
// life of that socket (Connection.streamEvents): charon sends list-sa/list-conn only in answer to the same
// connection's commands, so keeping it costs nothing and a later stream is one exchange, not three (register,
// command, unregister). Outside a stream such events go to subscribers, or nowhere.
// An event the user also subscribed to is already registered: registering it twice would make charon send
// each event twice. While the stream runs, its events go to it (Connection.stream), not to subscribers.
import type { Connection } from './connection.js';
import { commandOn, registerOn } from './exchange.js';
import { decodeMessage, type ViciSection } from './message.js';

export type StreamPush = (payload: Buffer, payloadOffset: number) => void;

/** The streamed exchange on `conn`: `push` gets each stream event's raw payload until charon's reply. */
export async function streamOn(conn: Connection, cmd: string, frame: Buffer, event: string, push: StreamPush): Promise<ViciSection> {
  if (!conn.subscribed.has(event) && !conn.streamEvents.has(event)) {
    await registerOn(conn, event, true);
    conn.streamEvents.add(event);
  }
  conn.stream = { event, push };
  try {
    return await commandOn(conn, cmd, frame);
  } finally {
    conn.stream = undefined;
  }
}

/**
 * An async iterator over a stream that `start` begins at once (pushing events, resolving at the reply).
 * Leaving the loop early cannot cancel the command: it runs to its end in its queue slot, so the connection
 * stays in step, and its remaining events are discarded. A failed reply is thrown after the events.
 */
export function streamIterator(start: (push: StreamPush) => Promise<unknown>): AsyncIterator<ViciSection> {
  const buffered: { payload: Buffer; off: number }[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: Error | undefined;
  let cancelled = false;
  start((payload, off) => {
    if (cancelled) return;
    buffered.push({ payload, off });
    wake?.();
  }).then(
    () => {
      finished = true;
      wake?.();
    },
    (err: Error) => {
      finished = true;
      failure = err;
      wake?.();
    },
  );
  return {
    next: async (): Promise<IteratorResult<ViciSection>> => {
      for (;;) {
        if (cancelled) return { done: true, value: undefined };
        const item = buffered.shift();
        if (item) {
          try {
            return { done: false, value: decodeMessage(item.payload, item.off) };
          } catch (err) {
            cancelled = true;
            throw err;
          }
        }
        if (finished) {
          cancelled = true;
          if (failure) throw failure;
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    return: async (): Promise<IteratorResult<ViciSection>> => {
      cancelled = true;
      buffered.length = 0;
      return { done: true, value: undefined };
    },
  };
}
