// Where charon listens: strongSwan's own URI forms (unix:///path, tcp://host:port), plus a bare absolute path.
import net from 'node:net';
import { ViciConnectionError } from './errors.js';

export const DEFAULT_URI = 'unix:///var/run/charon.vici';

export type ViciTarget = { kind: 'unix'; path: string; uri: string } | { kind: 'tcp'; host: string; port: number; uri: string };

export function parseViciUri(uri: string): ViciTarget {
  if (uri.startsWith('unix://')) {
    const path = uri.slice('unix://'.length);
    if (path === '') throw new RangeError(`vici uri ${JSON.stringify(uri)} names no socket path`);
    return { kind: 'unix', path, uri };
  }
  if (uri.startsWith('/')) return { kind: 'unix', path: uri, uri: `unix://${uri}` };
  if (uri.startsWith('tcp://')) {
    const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d{1,5})\/?$/.exec(uri);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port < 1 || port > 65535) throw new RangeError(`vici uri ${JSON.stringify(uri)} is not tcp://host:port`);
    return { kind: 'tcp', host: (m[1] ?? m[2])!, port, uri };
  }
  throw new RangeError(`vici uri ${JSON.stringify(uri)}: expected unix:///path or tcp://host:port`);
}

/** Opens a stream socket to charon, or rejects with a ViciConnectionError naming it. */
export function openSocket(target: ViciTarget, timeoutMs: number, signal?: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.kind === 'unix' ? net.createConnection({ path: target.path }) : net.createConnection({ host: target.host, port: target.port });
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = () => {
      if (target.kind === 'tcp') socket.setNoDelay(true);
      done();
    };
    const onError = (err: NodeJS.ErrnoException) => done(new ViciConnectionError(target.uri, `cannot connect: ${err.code ?? err.message}`, { cause: err }));
    const onAbort = () => done(new ViciConnectionError(target.uri, 'connect aborted', { cause: signal?.reason }));
    const timer = setTimeout(() => done(new ViciConnectionError(target.uri, `no connection within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
