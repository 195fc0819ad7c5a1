// One set of raw ICMP sockets per process, shared by every ICMP probe: requests are keyed by
// identifier+sequence and replies demultiplexed back to the waiting probe, so 1000 concurrent probes
// cost a few file descriptors and one receive path instead of 1000.
//
// Why raw-socket and IP_HDRINCL:
// - Node 20 has no ICMP socket of its own: `dgram` only creates udp4/udp6, so the unprivileged
//   Linux "ping socket" (SOCK_DGRAM + IPPROTO_ICMP, gated by net.ipv4.ping_group_range) is out of
//   reach without a native module too. raw-socket gives SOCK_RAW, which needs CAP_NET_RAW.
// - raw-socket 1.8.1 exposes no bind() and sends with plain sendto() (no IP_PKTINFO cmsg); its
//   setOption() is a generic setsockopt(), and Linux has no sticky IPv4 source option (the IPv6
//   sticky IPV6_PKTINFO is accepted but ignored by raw sockets, checked on kernel 6.x). So the source
//   address is chosen by writing the IP header ourselves (IP_HDRINCL / IPV6_HDRINCL).
//   Caveat: the kernel's route and xfrm (IPsec policy) lookup for such a packet uses the source the
//   route would pick, not the one in our header. With strongSwan's routes (table 220, `src` = the
//   inner address) those agree; when they do not, the packet carries our source but may miss the
//   policy.
import { randomBytes, randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  buildEchoV4,
  buildEchoV6,
  describeIcmpError,
  ICMP4_DEST_UNREACH,
  ICMP4_ECHO_REPLY,
  ICMP4_TIME_EXCEEDED,
  ICMP6_DEST_UNREACH,
  ICMP6_ECHO_REPLY,
  ICMP6_TIME_EXCEEDED,
  type Inbound,
  ipBytes,
  parseInboundV4,
  parseInboundV6,
} from './icmp-packet.js';
import { ProbeFailure } from './outcome.js';

// The slice of raw-socket's API used here (the package ships no types).
interface RawSocket {
  on(ev: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  on(ev: 'close', cb: () => void): void;
  send(buf: Buffer, offset: number, length: number, address: string, before: () => void, after: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  close(): void;
}
interface RawSocketModule {
  createSocket(opts: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  AddressFamily: { IPv4: number; IPv6: number };
  Protocol: { ICMP: number; ICMPv6: number };
}

const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const IPPROTO_IP = 0;
const IP_HDRINCL = 3;
const SOL_RAW = 255;
const ICMP_FILTER = 1;
const IPPROTO_IPV6 = 41;
const IPV6_HDRINCL = 36;
const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
/** Room for a burst of replies when a whole round is in flight. */
const RCVBUF_BYTES = 1 << 20;
const NONCE_BYTES = 16;

let rawModule: RawSocketModule | Error | undefined;

/** Loaded on first use so a host without the native build still runs TCP probes. */
function loadRaw(): RawSocketModule {
  if (rawModule === undefined) {
    try {
      rawModule = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    } catch (err) {
      rawModule = err instanceof Error ? err : new Error(String(err));
    }
  }
  if (rawModule instanceof Error) {
    throw new ProbeFailure('other', `ICMP probes need the raw-socket native module: ${rawModule.message.split('\n')[0]}`);
  }
  return rawModule;
}

/** raw-socket reports strerror() text without the errno name. */
function socketFailure(what: string, err: unknown): ProbeFailure {
  const msg = err instanceof Error ? err.message : String(err);
  if (/not permitted|permission denied/i.test(msg)) {
    return new ProbeFailure('permission', `ICMP probes need CAP_NET_RAW: ${what}: ${msg}`);
  }
  if (/unreachable|no route/i.test(msg)) return new ProbeFailure('unreachable', `${what}: ${msg}`);
  return new ProbeFailure('other', `${what}: ${msg}`);
}

/** Which raw sockets exist: IPv6 needs two, since only one of them writes its own header. */
type SocketKey = 'v4' | 'v6' | 'v6-src';

interface Pending {
  family: 4 | 6;
  dst: Buffer;
  nonce: Buffer;
  sentAt?: number;
  settle(r: EchoOutcome | ProbeFailure): void;
}

export interface EchoOutcome {
  rttMs: number;
}

/** A type mask for ICMP_FILTER / ICMP6_FILTER: set bits are dropped by the kernel. */
function blockAllBut(words: number, allowed: number[]): Buffer {
  const mask = new Array<number>(words).fill(0xffffffff);
  for (const t of allowed) mask[t >> 5] = (mask[t >> 5]! & ~(1 << (t & 31))) >>> 0;
  const buf = Buffer.alloc(words * 4);
  mask.forEach((w, i) => (endianness() === 'LE' ? buf.writeUInt32LE(w, i * 4) : buf.writeUInt32BE(w, i * 4)));
  return buf;
}

class IcmpEngine {
  private readonly sockets = new Map<SocketKey, RawSocket>();
  private readonly pending = new Map<number, Pending>();
  /** Random per process, as ping does, so two agents on one host keep apart. */
  private readonly id = randomInt(0, 0x10000);
  private seq = randomInt(0, 0x10000);
  /** A raw socket opened once; later losses of the capability still surface when a socket opens. */
  private verified = false;

  /** Opens (and closes) a raw socket to learn whether ICMP probes can work here. */
  check(): void {
    if (this.verified || this.sockets.size > 0) return;
    const raw = loadRaw();
    let s: RawSocket;
    try {
      s = raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 });
    } catch (err) {
      throw socketFailure('cannot open a raw ICMP socket', err);
    }
    s.on('error', () => {});
    s.close();
    this.verified = true;
  }

  /**
   * Sends one echo request and settles on its reply or an ICMP error about it. `signal` ends the wait
   * (the caller's deadline); the request's key is then freed.
   */
  echo(dst: string, family: 4 | 6, src: string | undefined, signal: AbortSignal): Promise<EchoOutcome> {
    return new Promise<EchoOutcome>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const key = this.socketKey(family, src);
      let sock: RawSocket;
      try {
        sock = this.socket(key);
      } catch (err) {
        reject(err);
        return;
      }
      const seq = this.nextSeq();
      const mapKey = (this.id << 16) | seq;
      const nonce = randomBytes(NONCE_BYTES);
      const req = { dst: ipBytes(dst), id: this.id, seq, payload: nonce, ...(src !== undefined ? { src: ipBytes(src) } : {}) };
      const pkt = family === 4 ? buildEchoV4(req) : buildEchoV6(req);
      const onAbort = (): void => p.settle(signal.reason as ProbeFailure);
      const p: Pending = {
        family,
        dst: req.dst,
        nonce,
        settle: (r) => {
          if (this.pending.get(mapKey) !== p) return;
          this.pending.delete(mapKey);
          signal.removeEventListener('abort', onAbort);
          this.closeIfIdle();
          if (r instanceof ProbeFailure) reject(r);
          else resolve(r);
        },
      };
      this.pending.set(mapKey, p);
      signal.addEventListener('abort', onAbort, { once: true });
      sock.send(
        pkt,
        0,
        pkt.length,
        dst,
        () => {
          p.sentAt = performance.now();
        },
        (err) => {
          if (err) p.settle(socketFailure(`send to ${dst}`, err));
        },
      );
    });
  }

  private socketKey(family: 4 | 6, src: string | undefined): SocketKey {
    if (family === 4) return 'v4';
    return src === undefined ? 'v6' : 'v6-src';
  }

  private nextSeq(): number {
    // Skip keys still in flight: after 65536 requests the sequence wraps onto a slow one.
    for (let i = 0; i < 0x10000; i++) {
      this.seq = (this.seq + 1) & 0xffff;
      if (!this.pending.has((this.id << 16) | this.seq)) return this.seq;
    }
    throw new ProbeFailure('other', 'ICMP: 65536 echo requests already in flight');
  }

  private socket(key: SocketKey): RawSocket {
    const existing = this.sockets.get(key);
    if (existing) return existing;
    const raw = loadRaw();
    const v4 = key === 'v4';
    let s: RawSocket;
    try {
      s = raw.createSocket({
        protocol: v4 ? raw.Protocol.ICMP : raw.Protocol.ICMPv6,
        addressFamily: v4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
        bufferSize: 1500,
      });
    } catch (err) {
      throw socketFailure('cannot open a raw ICMP socket', err);
    }
    try {
      if (v4) {
        s.setOption(IPPROTO_IP, IP_HDRINCL, 1);
        s.setOption(SOL_RAW, ICMP_FILTER, blockAllBut(1, [ICMP4_ECHO_REPLY, ICMP4_DEST_UNREACH, ICMP4_TIME_EXCEEDED]), 4);
      } else {
        if (key === 'v6-src') s.setOption(IPPROTO_IPV6, IPV6_HDRINCL, 1);
        s.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, blockAllBut(8, [ICMP6_ECHO_REPLY, ICMP6_DEST_UNREACH, ICMP6_TIME_EXCEEDED]), 32);
      }
    } catch (err) {
      s.close();
      throw socketFailure('raw ICMP socket setup', err);
    }
    try {
      s.setOption(SOL_SOCKET, SO_RCVBUF, RCVBUF_BYTES);
    } catch {
      // A smaller buffer only risks drops under a burst; the probe still works.
    }
    s.on('message', (buf) => this.onMessage(v4 ? 4 : 6, buf));
    s.on('error', (err) => this.onSocketGone(key, s, socketFailure('raw ICMP socket', err)));
    s.on('close', () => this.onSocketGone(key, s, new ProbeFailure('other', 'raw ICMP socket closed')));
    this.sockets.set(key, s);
    this.verified = true;
    return s;
  }

  private onMessage(family: 4 | 6, buf: Buffer): void {
    const now = performance.now();
    let m: Inbound | undefined;
    try {
      m = family === 4 ? parseInboundV4(buf) : parseInboundV6(buf);
    } catch {
      return;
    }
    if (!m || m.id !== this.id) return;
    const p = this.pending.get((m.id << 16) | m.seq);
    if (!p || p.family !== family) return;
    if (m.kind === 'reply') {
      // The nonce proves the reply answers this request, not an older one that reused the key.
      if (!m.payload.subarray(0, NONCE_BYTES).equals(p.nonce)) return;
      p.settle({ rttMs: Math.round((now - (p.sentAt ?? now)) * 1000) / 1000 });
    } else {
      if (!m.origDst.equals(p.dst)) return;
      p.settle(new ProbeFailure('unreachable', `ICMP ${describeIcmpError(family, m.type, m.code)}`));
    }
  }

  private onSocketGone(key: SocketKey, s: RawSocket, why: ProbeFailure): void {
    if (this.sockets.get(key) !== s) return;
    this.sockets.delete(key);
    const fam = key === 'v4' ? 4 : 6;
    for (const p of [...this.pending.values()]) if (p.family === fam) p.settle(why);
  }

  /**
   * An open raw socket keeps the event loop alive, and with nobody waiting there is nothing to
   * receive: close when idle, reopen on the next probe.
   */
  private closeIfIdle(): void {
    if (this.pending.size > 0) return;
    const all = [...this.sockets.values()];
    this.sockets.clear();
    for (const s of all) s.close();
  }
}

let engine: IcmpEngine | undefined;

export function icmpEngine(): IcmpEngine {
  engine ??= new IcmpEngine();
  return engine;
}
