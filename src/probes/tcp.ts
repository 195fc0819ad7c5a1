// TCP probe: resolve, then a handshake from the chosen source address; closed as soon as it is up.
import { connect, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Deadline, fromSystemError, ms, ProbeFailure, runProbeBody } from './outcome.js';
import { resolveTarget } from './resolve.js';
import { tcpLabel, type Prober } from './types.js';

export const probeTcp: Prober = (target, opts) =>
  runProbeBody('tcp', tcpLabel(target), opts, async (deadline, phases) => {
    const port = target.port;
    if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ProbeFailure('other', `tcp target ${target.host} needs a port 1-65535, got ${String(port)}`);
    }
    const srcFamily = sourceFamily(opts.sourceAddr);
    const { address, family } = await resolveTarget(target.host, srcFamily, deadline, phases);
    const start = performance.now();
    try {
      await handshake(address, port, family, opts.sourceAddr, deadline);
    } finally {
      phases.connect = ms(start);
    }
  });

function sourceFamily(sourceAddr: string | undefined): 4 | 6 | undefined {
  if (sourceAddr === undefined) return undefined;
  const f = isIP(sourceAddr);
  if (f === 0) throw new ProbeFailure('other', `source address ${sourceAddr} is not an IP address`);
  return f as 4 | 6;
}

function handshake(host: string, port: number, family: 4 | 6, localAddress: string | undefined, deadline: Deadline): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (deadline.signal.aborted) {
      reject(deadline.reason);
      return;
    }
    const sock = connect({ host, port, family, ...(localAddress !== undefined ? { localAddress } : {}) });
    const done = (err?: ProbeFailure): void => {
      deadline.signal.removeEventListener('abort', onAbort);
      sock.removeAllListeners('connect');
      // A late error after destroy() must not become an unhandled 'error' event.
      sock.removeAllListeners('error');
      sock.on('error', () => {});
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => done(deadline.reason);
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    sock.once('connect', () => done());
    sock.once('error', (e) => done(fromSystemError(e)));
  });
}
