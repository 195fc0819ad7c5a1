// ICMP echo probe: resolve, then one echo request through the process-wide raw sockets.
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { icmpEngine } from './icmp-socket.js';
import { fromSystemError, ProbeFailure, runProbeBody } from './outcome.js';
import { resolveTarget } from './resolve.js';
import type { Prober } from './types.js';

export const probeIcmp: Prober = (target, opts) =>
  runProbeBody('icmp', target.host, opts, async (deadline, phases) => {
    const engine = icmpEngine();
    engine.check();
    let family: 4 | 6 | undefined;
    if (opts.sourceAddr !== undefined) {
      const f = isIP(opts.sourceAddr);
      if (f === 0) throw new ProbeFailure('other', `source address ${opts.sourceAddr} is not an IP address`);
      family = f as 4 | 6;
      await deadline.race(assertLocal(opts.sourceAddr, family));
    }
    const resolved = await resolveTarget(target.host, family, deadline, phases);
    const { rttMs } = await engine.echo(resolved.address, resolved.family, opts.sourceAddr, deadline.signal);
    phases.rtt = rttMs;
  });

/**
 * A raw socket would happily send from any address we write into the header, and the replies would
 * go elsewhere: a typo'd source would look like a dead tunnel. Binding a UDP socket asks the kernel
 * whether the address is ours, with TCP's error (EADDRNOTAVAIL).
 */
function assertLocal(addr: string, family: 4 | 6): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const s = createSocket(family === 4 ? 'udp4' : 'udp6');
    s.once('error', (err) => {
      s.close();
      const f = fromSystemError(err);
      reject(new ProbeFailure(f.code === 'permission' ? 'other' : f.code, `source ${addr}: ${f.message}`));
    });
    s.bind({ address: addr, port: 0, exclusive: true }, () => {
      s.close();
      resolve();
    });
  });
}

