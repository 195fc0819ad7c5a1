// The agent's status on a unix socket (HTTP, GET /status): `ipsec-keepalive status` asks here first.
// A socket file, not a port: who may read it is the file's group (the agent's), with no address to
// configure and nothing reachable from the network. Mode 0660 in a 0750 directory.
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
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

function listen(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export async function startStatusSocket(path: string, status: () => unknown, onError?: (err: unknown) => void): Promise<StatusSocket> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const route = (req.url ?? '/').split('?')[0];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (route !== '/status' && route !== '/healthz')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: this socket serves GET /status and /healthz\n');
      return;
    }
    let body: string;
    try {
      body = route === '/status' ? JSON.stringify(status()) : JSON.stringify({ status: 'ok' });
    } catch (err) {
      onError?.(err);
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${route} could not be rendered\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(req.method === 'HEAD' ? undefined : `${body}\n`);
  });
  server.requestTimeout = 10_000;
  try {
    try {
      await listen(server, path);
    } catch (err) {
      // A file in the way: another agent's live socket is left alone; one left by a killed agent goes.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      if (await answering(path)) throw new Error(`status socket ${path} is already served by another running agent`, { cause: err });
      unlinkSync(path);
      await listen(server, path);
    }
    chmodSync(path, 0o660);
  } catch (err) {
    server.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === undefined) throw err;
    throw new Error(`status socket: cannot listen on ${path}: ${e.code === 'EACCES' ? 'permission denied' : e.message}`, { cause: err });
  }
  return {
    path,
    // libuv removes the socket file when the server closes.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
