// One socket to charon and its reader loop. Every inbound packet goes one of three ways: an EVENT named by
// the running stream goes to that stream; any other EVENT goes to `onEvent` (subscriptions); every other packet
// is the reply to the single exchange in flight. There are no sequence numbers in VICI, so one exchange at a
// time is all this class allows; queueing is the caller's business.
import type net from 'node:net';
import { PacketType } from './constants.js';
import { ViciConnectionError, ViciDecodeError, ViciFrameTooLargeError } from './errors.js';
import { FrameDecoder } from './frame.js';
import { packetTypeName, parsePacket, type RawPacket } from './packet.js';
import { openSocket, type ViciTarget } from './uri.js';

export interface ConnectionHooks {
  /** An EVENT not taken by the running stream. `payload` is a view of the frame. */
  onEvent(name: string, payload: Buffer, payloadOffset: number): void;
  /** Called once, when the socket is gone (or was destroyed), with the reason. */
  onClose(err: Error): void;
}

export interface StreamSink {
  event: string;
  push(payload: Buffer, payloadOffset: number): void;
}

let nextId = 1;

export class Connection {
  readonly id = nextId++;
  private readonly decoder = new FrameDecoder();
  private pending: { resolve: (p: RawPacket) => void; reject: (e: Error) => void } | undefined;
  private closeError: Error | undefined;
  private readonly closedPromise: Promise<void>;
  /** Set by a streamed command while it runs. */
  stream: StreamSink | undefined;
  /**
   * Stream events (list-sa, list-conn, ...) registered on this socket and left registered: charon sends them
   * only in answer to this connection's own commands, so keeping them saves two round trips per streamed
   * command (one exchange instead of register, command, unregister). They die with the socket.
   */
  readonly streamEvents = new Set<string>();
  /**
   * Events registered on this socket for subscriptions (the main connection only). Kept with the
   * socket because registrations die with it: a new connection starts with none, nothing to reset.
   */
  readonly subscribed = new Set<string>();

  static async open(target: ViciTarget, timeoutMs: number, hooks: ConnectionHooks, signal?: AbortSignal): Promise<Connection> {
    return new Connection(await openSocket(target, timeoutMs, signal), target, hooks);
  }

  private constructor(
    private readonly socket: net.Socket,
    readonly target: ViciTarget,
    private readonly hooks: ConnectionHooks,
  ) {
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.destroy(new ViciConnectionError(target.uri, `connection lost: ${err.code ?? err.message}`, { cause: err })),
    );
    socket.on('close', () => this.destroy(new ViciConnectionError(target.uri, 'connection closed by charon')));
  }

  get closed(): boolean {
    return this.closeError !== undefined;
  }

  /** Resolves once the socket is fully closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  /** Sends one frame and resolves with the next packet that is not an EVENT. */
  exchange(frame: Buffer): Promise<RawPacket> {
    if (this.closeError) return Promise.reject(this.closeError);
    if (this.pending) return Promise.reject(new Error('vici connection: an exchange is already in flight (caller bug)'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(frame);
    });
  }

  /** Closes the socket; the exchange in flight (if any) rejects with `err`. Idempotent: the first reason wins. */
  destroy(err: Error): void {
    if (this.closeError) return;
    this.closeError = err;
    this.stream = undefined;
    this.socket.destroy();
    const p = this.pending;
    this.pending = undefined;
    p?.reject(err);
    this.hooks.onClose(err);
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, (frame) => this.onFrame(frame));
    } catch (err) {
      if (err instanceof ViciFrameTooLargeError || err instanceof ViciDecodeError) {
        this.destroy(new ViciConnectionError(this.target.uri, `protocol error: ${err.message}`, { cause: err }));
      } else {
        throw err;
      }
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.closeError) return;
    // A packet header that does not parse leaves us unable to tell a reply from an event: the stream
    // position is lost, so the connection goes (parsePacket throws ViciDecodeError, handled in onData).
    const pkt = parsePacket(frame);
    if (pkt.type === PacketType.EVENT) {
      const s = this.stream;
      if (s && s.event === pkt.name) s.push(pkt.payload, pkt.payloadOffset);
      else this.hooks.onEvent(pkt.name!, pkt.payload, pkt.payloadOffset);
      return;
    }
    if (pkt.type === PacketType.CMD_REQUEST || pkt.type === PacketType.EVENT_REGISTER || pkt.type === PacketType.EVENT_UNREGISTER) {
      this.destroy(new ViciConnectionError(this.target.uri, `protocol error: the server sent ${packetTypeName(pkt.type)}`));
      return;
    }
    const p = this.pending;
    if (!p) {
      this.destroy(new ViciConnectionError(this.target.uri, `protocol error: ${packetTypeName(pkt.type)} with nothing in flight`));
      return;
    }
    this.pending = undefined;
    p.resolve(pkt);
  }
}
