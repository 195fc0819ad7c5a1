// Public surface of the VICI module: protocol (pure) and client.
export * from './constants.js';
export * from './errors.js';
export { FrameDecoder, frameHeader } from './frame.js';
export {
  asBool,
  asNumber,
  asString,
  asStrings,
  decodeMessage,
  decodeMessagePlain,
  encodeMessage,
  isSection,
  newSection,
  orderedKeys,
  toPlain,
  VICI_ORDER,
  type PlainSection,
  type PlainValue,
  type ViciInput,
  type ViciInputValue,
  type ViciScalar,
  type ViciSection,
  type ViciValue,
} from './message.js';
export { decodePacket, encodeCommand, encodePacket, encodeRegister, encodeUnregister, packetTypeName, parsePacket, type Packet, type RawPacket } from './packet.js';
export { ViciClient, type CallOptions, type ClientEvents, type CommandInfo, type EventHandler, type Unsubscribe, type ViciClientOptions, type ViciLogger } from './client.js';
export type { Alert, CharonLog, ChildRekey, ChildSa, ChildUpdown, Conn, ConnChild, IkeRekey, IkeSa, IkeUpdate, IkeUpdown, Stats, Version } from './types.js';
export { DEFAULT_URI, parseViciUri, type ViciTarget } from './uri.js';
