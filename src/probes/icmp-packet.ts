// ICMP echo packets as pure functions over bytes: building requests (with our own IP header, which
// is how the source address is chosen, see icmp-socket.ts) and parsing what a raw socket delivers.
import { isIPv4, isIPv6 } from 'node:net';

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
const PROTO_ICMP = 1;
const PROTO_ICMPV6 = 58;
const ECHO_HEADER_LEN = 8;
const IPV4_HEADER_LEN = 20;
const IPV6_HEADER_LEN = 40;
const TTL = 64;

export function ipv4Bytes(addr: string): Buffer {
  if (!isIPv4(addr)) throw new Error(`not an IPv4 address: ${addr}`);
  return Buffer.from(addr.split('.').map(Number));
}

export function ipv6Bytes(addr: string): Buffer {
  const bare = addr.replace(/%.*$/, '');
  if (!isIPv6(bare)) throw new Error(`not an IPv6 address: ${addr}`);
  let text = bare;
  const groups: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const b = ipv4Bytes(dotted[1]);
    text = `${text.slice(0, -dotted[1].length)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  groups.push(...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function ipBytes(addr: string): Buffer {
  return isIPv4(addr) ? ipv4Bytes(addr) : ipv6Bytes(addr);
}

/** RFC 1071 Internet checksum over the concatenation of `parts`. */
export function internetChecksum(...parts: Buffer[]): number {
  const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i + 1 < all.length; i += 2) sum += all.readUInt16BE(i);
  if (all.length % 2 === 1) sum += all[all.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface EchoRequest {
  /** Empty (0.0.0.0) lets the kernel pick the source by route; IPv4 only. */
  src?: Buffer;
  dst: Buffer;
  id: number;
  seq: number;
  payload: Buffer;
}

function echo(type: number, r: EchoRequest): Buffer {
  const icmp = Buffer.alloc(ECHO_HEADER_LEN + r.payload.length);
  icmp[0] = type;
  icmp.writeUInt16BE(r.id, 4);
  icmp.writeUInt16BE(r.seq, 6);
  r.payload.copy(icmp, ECHO_HEADER_LEN);
  return icmp;
}

/**
 * IPv4 header + echo request, for a socket with IP_HDRINCL. The kernel fills the IP id, the
 * header checksum, and the source when it is 0.0.0.0.
 */
export function buildEchoV4(r: EchoRequest): Buffer {
  const icmp = echo(ICMP4_ECHO_REQUEST, r);
  icmp.writeUInt16BE(internetChecksum(icmp), 2);
  const ip = Buffer.alloc(IPV4_HEADER_LEN);
  ip[0] = 0x45;
  ip.writeUInt16BE(IPV4_HEADER_LEN + icmp.length, 2);
  ip[8] = TTL;
  ip[9] = PROTO_ICMP;
  (r.src ?? Buffer.alloc(4)).copy(ip, 12);
  r.dst.copy(ip, 16);
  return Buffer.concat([ip, icmp]);
}

/**
 * Echo request for IPv6. With `r.src` it carries its own IPv6 header (IPV6_HDRINCL) and so its own
 * checksum over the pseudo-header; without, the kernel adds both.
 */
export function buildEchoV6(r: EchoRequest): Buffer {
  const icmp = echo(ICMP6_ECHO_REQUEST, r);
  if (!r.src) return icmp;
  const pseudo = Buffer.alloc(40);
  r.src.copy(pseudo, 0);
  r.dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = PROTO_ICMPV6;
  icmp.writeUInt16BE(internetChecksum(pseudo, icmp), 2);
  const ip = Buffer.alloc(IPV6_HEADER_LEN);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(icmp.length, 4);
  ip[6] = PROTO_ICMPV6;
  ip[7] = TTL;
  r.src.copy(ip, 8);
  r.dst.copy(ip, 24);
  return Buffer.concat([ip, icmp]);
}

export type Inbound =
  | { kind: 'reply'; id: number; seq: number; payload: Buffer }
  /** An ICMP error about one of our requests: `origDst` is where that request was going. */
  | { kind: 'error'; id: number; seq: number; origDst: Buffer; type: number; code: number };

/** Parses what a raw IPv4 ICMP socket delivers: the whole IP packet. */
export function parseInboundV4(pkt: Buffer): Inbound | undefined {
  if (pkt.length < IPV4_HEADER_LEN || pkt[0]! >> 4 !== 4) return undefined;
  const ihl = (pkt[0]! & 0x0f) * 4;
  const icmp = pkt.subarray(ihl);
  if (icmp.length < ECHO_HEADER_LEN) return undefined;
  const type = icmp[0]!;
  if (type === ICMP4_ECHO_REPLY) {
    return { kind: 'reply', id: icmp.readUInt16BE(4), seq: icmp.readUInt16BE(6), payload: icmp.subarray(ECHO_HEADER_LEN) };
  }
  if (type !== ICMP4_DEST_UNREACH && type !== ICMP4_TIME_EXCEEDED) return undefined;
  // The error quotes the offending IP header plus at least 8 bytes of it: our echo header.
  const orig = icmp.subarray(ECHO_HEADER_LEN);
  if (orig.length < IPV4_HEADER_LEN || orig[0]! >> 4 !== 4 || orig[9] !== PROTO_ICMP) return undefined;
  const oihl = (orig[0]! & 0x0f) * 4;
  const oicmp = orig.subarray(oihl);
  if (oicmp.length < ECHO_HEADER_LEN || oicmp[0] !== ICMP4_ECHO_REQUEST) return undefined;
  return {
    kind: 'error',
    id: oicmp.readUInt16BE(4),
    seq: oicmp.readUInt16BE(6),
    origDst: Buffer.from(orig.subarray(16, 20)),
    type,
    code: icmp[1]!,
  };
}

/** Parses what a raw ICMPv6 socket delivers: the ICMPv6 message without the IPv6 header. */
export function parseInboundV6(msg: Buffer): Inbound | undefined {
  if (msg.length < ECHO_HEADER_LEN) return undefined;
  const type = msg[0]!;
  if (type === ICMP6_ECHO_REPLY) {
    return { kind: 'reply', id: msg.readUInt16BE(4), seq: msg.readUInt16BE(6), payload: msg.subarray(ECHO_HEADER_LEN) };
  }
  if (type !== ICMP6_DEST_UNREACH && type !== ICMP6_TIME_EXCEEDED) return undefined;
  const orig = msg.subarray(ECHO_HEADER_LEN);
  // Requests we send carry no extension headers, so the echo header follows the fixed header.
  if (orig.length < IPV6_HEADER_LEN + ECHO_HEADER_LEN || orig[0]! >> 4 !== 6 || orig[6] !== PROTO_ICMPV6) return undefined;
  const oicmp = orig.subarray(IPV6_HEADER_LEN);
  if (oicmp[0] !== ICMP6_ECHO_REQUEST) return undefined;
  return {
    kind: 'error',
    id: oicmp.readUInt16BE(4),
    seq: oicmp.readUInt16BE(6),
    origDst: Buffer.from(orig.subarray(24, 40)),
    type,
    code: msg[1]!,
  };
}

const V4_UNREACH = ['network unreachable', 'host unreachable', 'protocol unreachable', 'port unreachable', 'fragmentation needed'];
const V6_UNREACH = ['no route to destination', 'administratively prohibited', 'beyond scope of source', 'address unreachable', 'port unreachable', 'source address failed policy', 'reject route'];

export function describeIcmpError(family: 4 | 6, type: number, code: number): string {
  if (family === 4) {
    if (type === ICMP4_TIME_EXCEEDED) return 'time exceeded';
    if (code === 13) return 'communication administratively prohibited';
    return V4_UNREACH[code] ?? `destination unreachable (code ${code})`;
  }
  if (type === ICMP6_TIME_EXCEEDED) return 'time exceeded';
  return V6_UNREACH[code] ?? `destination unreachable (code ${code})`;
}
