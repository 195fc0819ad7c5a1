// A stale CHILD_SA on demand, timed against the agent's probe schedule (bench:stale, bench:passive).
import type { ViciClient } from '../../src/vici/index.js';
import type { Lab } from '../../lab/lab.js';
import { run } from '../../lab/proc.js';
import { logTime, type BenchAgent } from './agent.js';
import { sleep } from './common.js';

export const epochNow = () => performance.timeOrigin + performance.now();

/** When `tunnel`'s next probe round starts (epoch ms): its last round's end plus the interval. */
export function nextRound(agent: BenchAgent, tunnel: string, intervalMs: number): number | undefined {
  for (let i = agent.logs.length - 1; i >= 0; i--) {
    const l = agent.logs[i]!;
    if (l.tunnel === tunnel && l.msg === 'probe round') return logTime(l) + intervalMs;
  }
  return undefined;
}

/** Sleeps until `phaseMs` before the tunnel's next round (a later round if that moment has passed). */
export async function untilPhase(agent: BenchAgent, tunnel: string, intervalMs: number, phaseMs: number): Promise<void> {
  let next = nextRound(agent, tunnel, intervalMs);
  while (next === undefined) {
    await sleep(100);
    next = nextRound(agent, tunnel, intervalMs);
  }
  let at = next - phaseMs;
  while (at < epochNow() + 150) at += intervalMs;
  await sleep(at - epochNow());
}

export async function allHealthy(agent: BenchAgent, lab: Lab, from: number, timeoutMs: number): Promise<void> {
  await Promise.all(
    lab.children.map((c) => agent.waitForLog((l) => l.tunnel === c && l.msg === 'probe round' && l['health'] === 'healthy', { from, timeoutMs, what: `${c} healthy` })),
  );
}

export async function spiOut(vici: ViciClient, child: string): Promise<string> {
  for (const ike of await vici.listSas({ child })) {
    for (const c of Object.values(ike['child-sas'])) if (c.name === child && c.state === 'INSTALLED') return String(c['spi-out']);
  }
  throw new Error(`no INSTALLED ${child}`);
}

/** Drops ESP carrying this SPI at the right gateway; IKE (UDP 4500 with a zero non-ESP marker) still passes. */
export async function blackholeSpi(lab: Lab, table: string, spi: string): Promise<void> {
  await run(['ip', 'netns', 'exec', lab.right.ns, 'nft', '-f', '-'], {
    input: `table inet ${table} {\n chain in {\n  type filter hook input priority -1; policy accept;\n  udp dport 4500 @th,64,32 0x${spi} drop\n }\n}\n`,
  });
}
export const unblock = (lab: Lab, table: string) => run(['ip', 'netns', 'exec', lab.right.ns, 'nft', 'delete', 'table', 'inet', table], { allowFail: true });

