// An in-process stand-in for charon's VICI socket, for tests: a unix-socket server that speaks the protocol
// with charon's rules (one request at a time per connection, in order; EVENT_UNKNOWN for unknown events;
// CMD_UNKNOWN for unknown commands) and lets each test script the replies, events and failures it needs.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PacketType } from '../../src/vici/constants.js';
import { FrameDecoder } from '../../src/vici/frame.js';
import { decodePacket, encodePacket } from '../../src/vici/packet.js';
import type { ViciSection } from '../../src/vici/message.js';

export interface FakeRequest {
  /** Command name. */
  name: string;
  msg: ViciSection;
  conn: FakeConn;
}

/** A command handler: reply with conn.respond()/conn.unknown(), or not at all; events via conn.event(). */
export type FakeHandler = (req: FakeRequest) => void | Promise<void>;

export class FakeConn {
  /** Events this connection registered for. */
  readonly registered = new Set<string>();
  /** Every packet received, in order, as "TYPE name". */
  readonly log: string[] = [];
  closed = false;
  constructor(
    readonly id: number,
    readonly socket: net.Socket,
  ) {}
  send(frame: Buffer): void {
    if (!this.closed) this.socket.write(frame);
  }
  respond(msg: Record<string, unknown> = {}): void {
    this.send(encodePacket(PacketType.CMD_RESPONSE, undefined, msg));
  }
  unknown(): void {
    this.send(encodePacket(PacketType.CMD_UNKNOWN));
  }
  /** Sends an event if this connection registered for it (charon's rule); `force` sends it regardless. */
  event(name: string, msg: Record<string, unknown>, force = false): boolean {
    if (!force && !this.registered.has(name)) return false;
    this.send(encodePacket(PacketType.EVENT, name, msg));
    return true;
  }
  kill(): void {
    this.closed = true;
    this.socket.destroy();
  }
}

export interface FakeCharonOptions {
  /** Event names charon knows (others get EVENT_UNKNOWN). */
  events?: string[];
  /** Called before an EVENT_REGISTER is answered (to delay or inject there). */
  onRegister?: (event: string, conn: FakeConn) => void | Promise<void>;
  /** Called between EVENT_UNREGISTER and its EVENT_CONFIRM (to inject events there). */
  onUnregister?: (event: string, conn: FakeConn) => void | Promise<void>;
}

const DEFAULT_EVENTS = ['log', 'control-log', 'ike-updown', 'ike-rekey', 'ike-update', 'child-updown', 'child-rekey', 'list-sa', 'list-conn', 'list-policy', 'list-cert', 'list-authority'];

export class FakeCharon {
  readonly handlers = new Map<string, FakeHandler>();
  readonly conns: FakeConn[] = [];
  readonly events: Set<string>;
  private server: net.Server | undefined;
  private readonly dir: string;
  readonly path: string;

  private constructor(private readonly opts: FakeCharonOptions) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'fake-charon-'));
    this.path = path.join(this.dir, 'charon.vici');
    this.events = new Set(opts.events ?? DEFAULT_EVENTS);
  }

  static async start(opts: FakeCharonOptions = {}): Promise<FakeCharon> {
    const f = new FakeCharon(opts);
    await f.listen();
    return f;
  }

  get uri(): string {
    return `unix://${this.path}`;
  }

  /** Connections still open. */
  get open(): FakeConn[] {
    return this.conns.filter((c) => !c.closed);
  }

  on(cmd: string, h: FakeHandler): this {
    this.handlers.set(cmd, h);
    return this;
  }

  /** Sends an event to every connection registered for it; returns how many got it. */
  emit(name: string, msg: Record<string, unknown>): number {
    let n = 0;
    for (const c of this.open) if (c.event(name, msg)) n++;
    return n;
  }

  /** Resolves when some connection has received `n` packets matching `re`. */
  async waitFor(re: RegExp, n = 1, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.conns.flatMap((c) => c.log).filter((l) => re.test(l)).length < n) {
      if (Date.now() > deadline) throw new Error(`fake charon: no ${n}x ${re} within ${timeoutMs} ms; got ${JSON.stringify(this.conns.map((c) => c.log))}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    rmSync(this.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
  }

  /** Stops listening and drops every connection (charon gone). listen() brings it back. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.conns) c.kill();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    const conn = new FakeConn(this.conns.length, socket);
    this.conns.push(conn);
    const decoder = new FrameDecoder();
    // charon processes one request per connection at a time, in order.
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => {
          const copy = Buffer.from(frame);
          chain = chain.then(() => this.process(conn, copy)).catch(() => conn.kill());
        });
      } catch {
        conn.kill(); // charon drops a connection that announces an over-long frame
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      conn.closed = true;
    });
  }

  private async process(conn: FakeConn, frame: Buffer): Promise<void> {
    if (conn.closed) return;
    const p = decodePacket(frame);
    conn.log.push(`${['CMD_REQUEST', 'CMD_RESPONSE', 'CMD_UNKNOWN', 'EVENT_REGISTER', 'EVENT_UNREGISTER', 'EVENT_CONFIRM', 'EVENT_UNKNOWN', 'EVENT'][p.type]} ${p.name ?? ''}`.trim());
    switch (p.type) {
      case PacketType.EVENT_REGISTER:
        await this.opts.onRegister?.(p.name!, conn);
        if (this.events.has(p.name!)) {
          conn.registered.add(p.name!);
          conn.send(encodePacket(PacketType.EVENT_CONFIRM));
        } else {
          conn.send(encodePacket(PacketType.EVENT_UNKNOWN));
        }
        return;
      case PacketType.EVENT_UNREGISTER: {
        await this.opts.onUnregister?.(p.name!, conn);
        const had = conn.registered.delete(p.name!);
        conn.send(encodePacket(had ? PacketType.EVENT_CONFIRM : PacketType.EVENT_UNKNOWN));
        return;
      }
      case PacketType.CMD_REQUEST: {
        const h = this.handlers.get(p.name!);
        if (!h) {
          conn.unknown();
          return;
        }
        await h({ name: p.name!, msg: p.message!, conn });
        return;
      }
      default:
        // charon logs "unsupported vici operation" and answers nothing
        return;
    }
  }
}
