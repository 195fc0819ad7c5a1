// The resolve phase shared by all probe kinds: IP literals skip DNS, names go through the system
// resolver (getaddrinfo, so /etc/hosts counts) and must fit in the probe's deadline.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Deadline, ms, ProbeFailure } from './outcome.js';

export interface Resolved {
  address: string;
  family: 4 | 6;
}

/**
 * `family` pins the address family (the source address's, when one is given) so a dual-stack name
 * does not resolve to an address the source cannot reach.
 */
export async function resolveTarget(
  host: string,
  family: 4 | 6 | undefined,
  deadline: Deadline,
  phases: Record<string, number>,
): Promise<Resolved> {
  const start = performance.now();
  const literal = isIP(host);
  if (literal !== 0) {
    phases.resolve = 0;
    if (family !== undefined && literal !== family) {
      throw new ProbeFailure('other', `source address is IPv${family} but target ${host} is IPv${literal}`);
    }
    return { address: host, family: literal as 4 | 6 };
  }
  try {
    // getaddrinfo cannot be cancelled; the race only stops us waiting for it.
    const r = await deadline.race(lookup(host, { family: family ?? 0, verbatim: true }));
    return { address: r.address, family: r.family as 4 | 6 };
  } catch (err) {
    if (err instanceof ProbeFailure) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'EAI_FAIL';
    throw new ProbeFailure('resolve', `${code} ${host}`);
  } finally {
    phases.resolve = ms(start);
  }
}
