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
