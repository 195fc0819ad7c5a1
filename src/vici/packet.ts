// Packet layer: a type byte, a name for the named types, a message for the types that carry one.
import { PACKET_TYPE_NAMES, PacketType, VICI_MESSAGE_SIZE_MAX } from './constants.js';
import { ViciDecodeError, ViciEncodeError } from './errors.js';
import { decodeMessage, writeMessage, writeName, Writer, type ViciSection } from './message.js';

const NAMED: ReadonlySet<number> = new Set([PacketType.CMD_REQUEST, PacketType.EVENT_REGISTER, PacketType.EVENT_UNREGISTER, PacketType.EVENT]);
const WITH_MESSAGE: ReadonlySet<number> = new Set([PacketType.CMD_REQUEST, PacketType.CMD_RESPONSE, PacketType.EVENT]);

export function packetTypeName(type: number): string {
  return PACKET_TYPE_NAMES[type] ?? `packet type ${type}`;
}

/** A decoded packet whose message is left as bytes: routing needs only type and name. */
export interface RawPacket {
  type: PacketType;
  /** For CMD_REQUEST, EVENT_REGISTER, EVENT_UNREGISTER and EVENT. */
  name?: string;
  /** The message bytes (empty for types without one). */
  payload: Buffer;
  /** Offset of `payload` in the frame, for error offsets. */
  payloadOffset: number;
}

export interface Packet {
  type: PacketType;
  name?: string;
  message?: ViciSection;
}

/** Splits a frame into type, name and message bytes. Throws ViciDecodeError only. */
export function parsePacket(frame: Buffer): RawPacket {
  if (frame.length === 0) throw new ViciDecodeError('empty packet', 0);
  const type = frame[0]!;
  if (type > PacketType.EVENT) throw new ViciDecodeError(`unknown packet type ${type}`, 0);
  let i = 1;
  let name: string | undefined;
  if (NAMED.has(type)) {
    if (frame.length < 2) throw new ViciDecodeError(`${packetTypeName(type)} without a name`, 1);
    const len = frame[1]!;
    i = 2 + len;
    if (i > frame.length) throw new ViciDecodeError(`${packetTypeName(type)} name of ${len} bytes runs past the packet end`, 1);
    for (let k = 2; k < i; k++) {
      const c = frame[k]!;
      if (c < 0x20 || c > 0x7e) throw new ViciDecodeError(`${packetTypeName(type)} name is not printable ASCII`, k);
    }
    name = frame.toString('latin1', 2, i);
  }
  if (!WITH_MESSAGE.has(type) && i < frame.length) {
    throw new ViciDecodeError(`${frame.length - i} unexpected bytes after ${packetTypeName(type)}`, i);
  }
  const p: RawPacket = { type: type as PacketType, payload: frame.subarray(i), payloadOffset: i };
  if (name !== undefined) p.name = name;
  return p;
}

/** parsePacket plus the message, for the types that carry one. */
export function decodePacket(frame: Buffer): Packet {
  const raw = parsePacket(frame);
  const p: Packet = { type: raw.type };
  if (raw.name !== undefined) p.name = raw.name;
  if (WITH_MESSAGE.has(raw.type)) p.message = decodeMessage(raw.payload, raw.payloadOffset);
  return p;
}

/**
 * A complete frame (length prefix included) ready for the socket. Enforces the protocol's limits with
 * ViciEncodeError: names printable ASCII and at most 255 bytes, values at most 65535, the whole at most 512 KiB.
 */
export function encodePacket(type: PacketType, name?: string, message?: Record<string, unknown>): Buffer {
  if (!(type in PACKET_TYPE_NAMES)) throw new ViciEncodeError(`unknown packet type ${String(type)}`);
  const w = new Writer(VICI_MESSAGE_SIZE_MAX + 4, 64);
  w.ensure(5);
  w.pos = 4;
  w.u8(type);
  if (NAMED.has(type)) {
    if (name === undefined || name === '') throw new ViciEncodeError(`${packetTypeName(type)} needs a name`);
    writeName(w, name, '', `${packetTypeName(type)} name`);
  } else if (name !== undefined) {
    throw new ViciEncodeError(`${packetTypeName(type)} carries no name`);
  }
  if (message !== undefined) {
    if (!WITH_MESSAGE.has(type)) throw new ViciEncodeError(`${packetTypeName(type)} carries no message`);
    writeMessage(w, message);
  }
  const frame = w.finish();
  frame.writeUInt32BE(frame.length - 4, 0);
  return frame;
}

export const encodeCommand = (command: string, message: Record<string, unknown> = {}): Buffer =>
  encodePacket(PacketType.CMD_REQUEST, command, message);
export const encodeRegister = (event: string): Buffer => encodePacket(PacketType.EVENT_REGISTER, event);
export const encodeUnregister = (event: string): Buffer => encodePacket(PacketType.EVENT_UNREGISTER, event);
