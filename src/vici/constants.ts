// The protocol's own names and bounds, as strongSwan's vici README and vici_socket.c spell them.

/** Largest transport segment charon reads or writes (vici_socket.c): longer ones drop the connection or are discarded. */
export const VICI_MESSAGE_SIZE_MAX = 512 * 1024;
/** Names (packet and element) carry an 8-bit length. */
export const VICI_NAME_MAX = 255;
/** Values carry a 16-bit length. */
export const VICI_VALUE_MAX = 65535;
/**
 * Section nesting the decoder accepts. charon's deepest message (child-rekey) nests 4 levels; the spec allows
 * any depth, but a bound keeps a hostile frame from costing a stack of 500k sections.
 */
export const VICI_DEPTH_MAX = 64;

export const PacketType = {
  CMD_REQUEST: 0,
  CMD_RESPONSE: 1,
  CMD_UNKNOWN: 2,
  EVENT_REGISTER: 3,
  EVENT_UNREGISTER: 4,
  EVENT_CONFIRM: 5,
  EVENT_UNKNOWN: 6,
  EVENT: 7,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const PACKET_TYPE_NAMES: readonly string[] = [
  'CMD_REQUEST',
  'CMD_RESPONSE',
  'CMD_UNKNOWN',
  'EVENT_REGISTER',
  'EVENT_UNREGISTER',
  'EVENT_CONFIRM',
  'EVENT_UNKNOWN',
  'EVENT',
];

export const ElementType = {
  SECTION_START: 1,
  SECTION_END: 2,
  KEY_VALUE: 3,
  LIST_START: 4,
  LIST_ITEM: 5,
  LIST_END: 6,
} as const;
export type ElementType = (typeof ElementType)[keyof typeof ElementType];
