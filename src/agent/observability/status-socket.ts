// The agent's status on a unix socket (HTTP, GET /status): `ipsec-keepalive status` asks here first.
// A socket file, not a port: who may read it is the file's group (the agent's), with no address to
// configure and nothing reachable from the network. Mode 0660 in a 0750 directory.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { dirname } from 'node:path';

export interface StatusSocket {
  readonly path: string;
  close(): Promise<void>;
}

/** Is something answering on this socket path? (A file left by a killed agent is not.) */
function answering(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startStatusSocket(path: string, status: () => unknown): Promise<StatusSocket> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  if (existsSync(path)) {
    if (await answering(path)) throw new Error(`status socket ${path} is already served by another running agent`);
    unlinkSync(path);
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = (req.url ?? '/').split('?')[0];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (route !== '/status' && route !== '/healthz')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: this socket serves GET /status\n');
      return;
    }
    const body = route === '/status' ? JSON.stringify(status()) : JSON.stringify({ status: 'ok' });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(req.method === 'HEAD' ? undefined : `${body}\n`);
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`status socket: cannot listen on ${path}: ${err.code === 'EACCES' ? 'permission denied' : err.message}`)));
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o660);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
