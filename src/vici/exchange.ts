// One exchange on a connection, read the way the protocol defines it: a command's reply becomes a message or
// a typed error, a registration's reply a confirmation or ViciUnknownEventError. Every part of the client
// sends through these, so a reply of the wrong kind is handled the same way on every connection.
//
// VICI has no sequence numbers: replies are matched by position. An exchange that outlives its deadline has
// lost its position (a late reply would be taken for the next command's), and so has one answered with a
// packet of the wrong kind: in both cases the connection is destroyed, never reused.
import { PacketType } from './constants.js';
import type { Connection } from './connection.js';
import { ViciCommandError, ViciConnectionError, ViciTimeoutError, ViciUnknownCommandError, ViciUnknownEventError, type ViciError } from './errors.js';
import { asString, decodeMessage, type ViciSection } from './message.js';
import { encodeRegister, encodeUnregister, packetTypeName } from './packet.js';

/** One command exchange on `conn`. `success = no` rejects with ViciCommandError. */
export async function commandOn(conn: Connection, cmd: string, frame: Buffer): Promise<ViciSection> {
  const pkt = await conn.exchange(frame);
  if (pkt.type === PacketType.CMD_UNKNOWN) throw new ViciUnknownCommandError(cmd);
  if (pkt.type !== PacketType.CMD_RESPONSE) throw outOfStep(conn, `${packetTypeName(pkt.type)} in reply to command '${cmd}'`);
  const msg = decodeMessage(pkt.payload, pkt.payloadOffset);
  const success = msg.success;
  if (success !== undefined && asString(success) !== 'yes') throw new ViciCommandError(cmd, asString(msg.errmsg) ?? '', msg);
  return msg;
}

/** EVENT_REGISTER (or EVENT_UNREGISTER) on `conn`. */
export async function registerOn(conn: Connection, event: string, register: boolean): Promise<void> {
  const pkt = await conn.exchange(register ? encodeRegister(event) : encodeUnregister(event));
  if (pkt.type === PacketType.EVENT_CONFIRM) return;
  if (pkt.type === PacketType.EVENT_UNKNOWN) throw new ViciUnknownEventError(event);
  throw outOfStep(conn, `${packetTypeName(pkt.type)} in reply to ${register ? 'registering' : 'unregistering'} '${event}'`);
}

/** Runs `fn` on `conn`; past the deadline the connection is destroyed with a ViciTimeoutError (see above). */
export async function withDeadline<T>(conn: Connection, what: string, timeoutMs: number, fn: (c: Connection) => Promise<T>): Promise<T> {
  const timer = setTimeout(() => conn.destroy(new ViciTimeoutError(what, timeoutMs)), timeoutMs);
  try {
    return await fn(conn);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws the ViciEncodeError that registering would, before anything is queued. */
export function validateEventName(name: string): void {
  encodeRegister(name);
}

/** A reply of the wrong kind: the server and we disagree on the exchange, so the connection goes. */
function outOfStep(conn: Connection, detail: string): ViciError {
  const err = new ViciConnectionError(conn.target.uri, `protocol error: ${detail}`);
  conn.destroy(err);
  return err;
}
