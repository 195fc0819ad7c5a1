// A recording VICI proxy: clients connect to a unix socket, every connection is relayed to charon unchanged,
// and both directions are written, frame by frame with timestamps, to a JSON-lines fixture:
//   {"t_ms":12.345,"conn":0,"event":"open"}
//   {"t_ms":12.9,"conn":0,"dir":"c2s","hex":"0007 76657273696f6e"...}      one line per frame (length prefix included)
//   {"t_ms":40.1,"conn":0,"event":"close","by":"server"}
// `conn` numbers connections in accept order (a client may open several: the VICI client's pool does).
// Bytes that are not frames (an over-long length) are recorded as {"dir", "raw": hex} from there on.
import { createWriteStream, lstatSync, unlinkSync, type WriteStream } from 'node:fs';
import net from 'node:net';
import { FrameDecoder, frameHeader } from './frame.js';
import { openSocket, parseViciUri, type ViciTarget } from './uri.js';

export interface FixtureLine {
  t_ms: number;
  conn: number;
  dir?: 'c2s' | 's2c';
  /** One whole frame, length prefix included. */
  hex?: string;
  /** Bytes after the framing broke down. */
  raw?: string;
  event?: 'open' | 'close';
  by?: 'client' | 'server';
}

export interface RecorderOptions {
  /** Unix socket path clients connect to (a stale socket file there is replaced). */
  listen: string;
  /** charon's socket: unix:///path or tcp://host:port. */
  upstream: string;
  /** Fixture file (truncated), or a stream to write lines to. */
  out: string | NodeJS.WritableStream;
  connectTimeoutMs?: number;
}

export interface Recorder {
  readonly listen: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Stops accepting, closes every relayed connection, flushes the fixture. */
  close(): Promise<void>;
}

class Direction {
  private readonly decoder = new FrameDecoder();
  private broken = false;
  constructor(
    private readonly write: (l: Omit<FixtureLine, 't_ms' | 'conn'>) => void,
    private readonly dir: 'c2s' | 's2c',
  ) {}
  record(chunk: Buffer): void {
    if (this.broken) {
      this.write({ dir: this.dir, raw: chunk.toString('hex') });
      return;
    }
    try {
      this.decoder.push(chunk, (frame) => this.write({ dir: this.dir, hex: Buffer.concat([frameHeader(frame.length), frame]).toString('hex') }));
    } catch {
      // Over-long frame: keep the relay transparent, record what follows as raw bytes.
      this.broken = true;
      this.write({ dir: this.dir, raw: chunk.toString('hex') });
    }
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export async function startRecorder(opts: RecorderOptions): Promise<Recorder> {
  const target: ViciTarget = parseViciUri(opts.upstream);
  const out: NodeJS.WritableStream | WriteStream = typeof opts.out === 'string' ? createWriteStream(opts.out) : opts.out;
  const t0 = performance.now();
  const line = (l: Omit<FixtureLine, 't_ms'>) => {
    out.write(`${JSON.stringify({ t_ms: Math.round((performance.now() - t0) * 1000) / 1000, ...l })}\n`);
  };
  const sockets = new Set<net.Socket>();
  /** Resolve once a connection's close line is written. */
  const closeLines = new Set<Promise<void>>();
  let count = 0;
  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    const conn = count++;
    sockets.add(client);
    line({ conn, event: 'open' });
    let closedBy: 'client' | 'server' | undefined;
    let upstream: net.Socket | undefined;
    let written!: () => void;
    const closeLine = new Promise<void>((r) => (written = r));
    closeLines.add(closeLine);
    const end = (by: 'client' | 'server') => {
      if (closedBy) return;
      closedBy = by;
      line({ conn, event: 'close', by });
      written();
      closeLines.delete(closeLine);
      client.destroy();
      upstream?.destroy();
    };
    client.on('close', () => {
      sockets.delete(client);
      end('client');
    });
    client.on('error', () => end('client'));
    openSocket(target, opts.connectTimeoutMs ?? 5000).then(
      (up) => {
        if (closedBy) {
          up.destroy();
          return;
        }
        upstream = up;
        sockets.add(up);
        const c2s = new Direction((l) => line({ conn, ...l }), 'c2s');
        const s2c = new Direction((l) => line({ conn, ...l }), 's2c');
        client.on('data', (d: Buffer) => {
          c2s.record(d);
          up.write(d);
        });
        up.on('data', (d: Buffer) => {
          s2c.record(d);
          client.write(d);
        });
        up.on('close', () => {
          sockets.delete(up);
          end('server');
        });
        up.on('error', () => end('server'));
        client.resume();
      },
      () => end('server'),
    );
  });
  removeStaleSocket(opts.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.listen, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return {
    listen: opts.listen,
    get connections() {
      return count;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A client that just closed may not have been seen yet: give its close line a moment, then force.
      const pending = [...closeLines];
      await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 200))]);
      for (const s of sockets) s.destroy();
      await Promise.all(pending);
      await closed;
      if (out !== process.stdout && typeof opts.out === 'string') {
        await new Promise<void>((resolve) => (out as WriteStream).end(resolve));
      }
    },
  };
}

/** Reads a fixture file's lines. */
export function parseFixture(text: string): FixtureLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as FixtureLine;
      } catch (err) {
        throw new Error(`fixture line ${i + 1}: ${(err as Error).message}`, { cause: err });
      }
    });
}
