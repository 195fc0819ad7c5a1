// Plays a recorded fixture (see src/vici/recorder.ts) to a VICI client, standing in for charon, and checks
// that the client sends what the recording says it sent.
//
// Each recorded connection becomes a script: frames to expect from the client, frames to send, a close by
// the server. Accepted connections take the scripts in recording order. Causality across connections is
// kept: a frame is sent only once every client frame recorded before it (on any connection) has arrived, so
// an event charon raised because of a request on another connection does not overtake that request.
// Connections that carried nothing and were closed by the recorder (client retries while charon was down)
// are left out: the client's reconnect goes straight to the next real connection.
import { rmSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FrameDecoder } from '../../src/vici/frame.js';
import { parsePacket, packetTypeName } from '../../src/vici/packet.js';
import type { FixtureLine } from '../../src/vici/recorder.js';

type Step = { line: number; kind: 'expect' | 'send'; hex: string } | { line: number; kind: 'close'; by: 'client' | 'server' };

interface Script {
  conn: number;
  openLine: number;
  steps: Step[];
}

/** Splits a fixture into per-connection scripts, dropping the refused ones (no frames, closed by the server). */
export function scriptsOf(lines: FixtureLine[]): Script[] {
  const byConn = new Map<number, Script>();
  lines.forEach((l, i) => {
    let s = byConn.get(l.conn);
    if (!s) {
      s = { conn: l.conn, openLine: i, steps: [] };
      byConn.set(l.conn, s);
    }
    if (l.hex !== undefined) s.steps.push({ line: i, kind: l.dir === 'c2s' ? 'expect' : 'send', hex: l.hex });
    else if (l.raw !== undefined) throw new Error(`fixture line ${i + 1}: raw bytes cannot be replayed`);
    else if (l.event === 'close') s.steps.push({ line: i, kind: 'close', by: l.by ?? 'client' });
  });
  return [...byConn.values()].filter((s) => s.steps.some((st) => st.kind !== 'close' || st.by === 'client'));
}

/** A short description of a frame, for mismatch reports. */
function describeFrame(hex: string): string {
  try {
    const p = parsePacket(Buffer.from(hex, 'hex').subarray(4));
    return `${packetTypeName(p.type)}${p.name ? ` ${p.name}` : ''} (${hex.length / 2} bytes)`;
  } catch {
    return `${hex.slice(0, 32)}... (${hex.length / 2} bytes)`;
  }
}

export class ReplayServer {
  /** What the client did differently from the recording. Empty after a faithful run. */
  readonly mismatches: string[] = [];
  private readonly scripts: Script[];
  private nextScript = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private readonly dir: string;
  readonly path: string;
  /** Lines of client frames (and accepts) matched so far. */
  private readonly matched = new Set<number>();
  /** Lines of every expected client event (frame or accept), in order. */
  private readonly expectLines: number[];
  private wakers: (() => void)[] = [];
  private finished = 0;
  private doneResolve!: () => void;
  private readonly donePromise = new Promise<void>((r) => (this.doneResolve = r));

  private constructor(lines: FixtureLine[]) {
    this.scripts = scriptsOf(lines);
    this.expectLines = this.scripts
      .flatMap((s) => [s.openLine, ...s.steps.filter((st) => st.kind === 'expect').map((st) => st.line)])
      .sort((a, b) => a - b);
    this.dir = mkdtempSync(path.join(tmpdir(), 'vici-replay-'));
    this.path = path.join(this.dir, 'charon.vici');
  }

  static async start(lines: FixtureLine[]): Promise<ReplayServer> {
    const r = new ReplayServer(lines);
    const server = net.createServer((s) => r.accept(s));
    r.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(r.path, () => resolve());
    });
    if (r.scripts.length === 0) r.doneResolve();
    return r;
  }

  get uri(): string {
    return `unix://${this.path}`;
  }

  /** Resolves when every recorded connection has been played to its end, or rejects after `timeoutMs`. */
  async done(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const missing = this.expectLines.filter((l) => !this.matched.has(l));
        reject(new Error(`replay not finished after ${timeoutMs} ms: ${this.finished}/${this.scripts.length} connections done, ${missing.length} recorded client frames never came (first at fixture line ${(missing[0] ?? -1) + 1}); mismatches: ${this.mismatches.join('; ') || 'none'}`));
      }, timeoutMs);
    });
    try {
      await Promise.race([this.donePromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private mark(line: number): void {
    this.matched.add(line);
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  /** Resolves once every client event recorded before `line` has happened. */
  private async causesOf(line: number): Promise<void> {
    while (this.expectLines.some((l) => l < line && !this.matched.has(l))) {
      await new Promise<void>((r) => this.wakers.push(r));
    }
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const script = this.scripts[this.nextScript++];
    if (!script) {
      this.mismatches.push(`connection #${this.nextScript - 1}: the recording has only ${this.scripts.length}`);
      socket.destroy();
      return;
    }
    const tag = `connection #${script.conn}`;
    this.mark(script.openLine);
    const inbox: Buffer[] = [];
    let inboxWake: (() => void) | undefined;
    let clientClosed = false;
    let over = false;
    const decoder = new FrameDecoder();
    const extra = () => {
      for (const f of inbox.splice(0)) this.mismatches.push(`${tag}: unexpected frame after the recorded end: ${describeFrame(Buffer.concat([Buffer.alloc(4), f]).toString('hex'))}`);
    };
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (f) => inbox.push(Buffer.from(f)));
      } catch (err) {
        this.mismatches.push(`${tag}: client sent an invalid frame: ${(err as Error).message}`);
      }
      if (over) extra();
      inboxWake?.();
    });
    socket.on('close', () => {
      clientClosed = true;
      inboxWake?.();
    });
    const nextFrame = async (): Promise<Buffer | undefined> => {
      for (;;) {
        const f = inbox.shift();
        if (f) return f;
        if (clientClosed) return undefined;
        await new Promise<void>((r) => (inboxWake = r));
        inboxWake = undefined;
      }
    };
    void (async () => {
      for (const step of script.steps) {
        if (step.kind === 'expect') {
          const got = await nextFrame();
          const want = step.hex.slice(8);
          if (!got) {
            this.mismatches.push(`${tag}: client closed instead of sending ${describeFrame(step.hex)} (fixture line ${step.line + 1})`);
            break;
          }
          if (got.toString('hex') !== want) {
            this.mismatches.push(
              `${tag}: fixture line ${step.line + 1}: expected ${describeFrame(step.hex)}, got ${describeFrame(Buffer.concat([Buffer.alloc(4), got]).toString('hex'))}`,
            );
          }
          this.mark(step.line);
        } else if (step.kind === 'send') {
          await this.causesOf(step.line);
          if (!socket.destroyed) socket.write(Buffer.from(step.hex, 'hex'));
        } else if (step.kind === 'close' && step.by === 'server') {
          await this.causesOf(step.line);
          socket.end();
          break;
        } else {
          // The client closed here in the recording; it may still do so later (or already has).
          break;
        }
      }
      over = true;
      extra();
      this.finished++;
      if (this.finished === this.scripts.length) this.doneResolve();
    })();
  }
}
