// The demo: the agent keeping the two-gateway lab's tunnels up while faults are injected.
//
//   bash scripts/demo.sh              loop the fault tour until Ctrl-C
//   bash scripts/demo.sh --once       one tour, then exit (0 when every fault was repaired)
//   bash scripts/demo.sh --ipsec-conf the left gateway configured by a legacy ipsec.conf
import { parseArgs } from 'node:util';
import { cleanupStaleLabs, startLab, type Lab } from '../test/lab/lab.js';
import { labConfig, startAgent, type LogLine, type RunningAgent } from '../test/integration/agent-harness.js';

const { values } = parseArgs({ options: { once: { type: 'boolean' }, 'ipsec-conf': { type: 'boolean' } } });

await cleanupStaleLabs();
const lab: Lab = await startLab({ initiate: false, frontEnd: values['ipsec-conf'] ? 'ipsec.conf' : 'swanctl' });
let agent: RunningAgent | undefined = undefined;
let closing = false;
const shutdown = async (code: number) => {
  if (closing) return;
  closing = true;
  console.log('\ntearing down the lab...');
  await agent?.stop();
  await lab.close();
  process.exit(code);
};
// Listening here also tells the lab's own signal handler not to exit before close() ran.
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

const t0 = Date.now();
const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(3).padStart(8)}s`;
function show(l: LogLine): void {
  const interesting = typeof l.action === 'string' || /down|repaired|backing off|probes|VICI|charon|agent running/.test(l.msg);
  if (l.msg === 'probe round' || l.msg === 'reconcile' || !interesting) return;
  console.log(`${stamp()}  agent: ${l.msg}${l['ms'] !== undefined ? ` (${String(l['ms'])} ms)` : ''}`);
}

console.log(`lab ${lab.id}: left ${lab.left.ns} (${lab.frontEnd}), right ${lab.right.ns}; children ${lab.children.join(', ')}`);
console.log(`targets ${lab.targets.map((t) => `${t.host}:${t.port}`).join(', ')} probed from ${lab.leftInsideAddr} through the tunnel\n`);
agent = await startAgent(lab, labConfig(lab, { defaults: { probe_interval: '5s' }, metrics: { enabled: true, listen: '127.0.0.1:9842' } }), 'demo-agent');
let shown = 0;
setInterval(() => {
  while (shown < (agent?.logs.length ?? 0)) show(agent!.logs[shown++]!);
}, 50).unref();

async function waitRepaired(tunnel: string, from: number, timeoutMs = 30_000): Promise<boolean> {
  try {
    await agent!.waitForLog((l) => l.tunnel === tunnel && /repaired/.test(l.msg), { from, timeoutMs });
    return true;
  } catch {
    return false;
  }
}

async function step(title: string, fault: () => Promise<void>, tunnel: string, heal?: () => Promise<void>): Promise<boolean> {
  console.log(`\n${stamp()}  === fault: ${title}`);
  const from = agent!.logs.length;
  await fault();
  if (heal) {
    await agent!.waitForLog((l) => l.tunnel === tunnel && l.action !== undefined, { from, timeoutMs: 30_000 }).catch(() => undefined);
    console.log(`${stamp()}  === healing the fault`);
    await heal();
  }
  const ok = await waitRepaired(tunnel, from);
  console.log(`${stamp()}  === ${ok ? 'repaired' : 'NOT repaired within 30 s'}`);
  return ok;
}

await agent.waitForLog((l) => l.msg === 'probe round' && l.health === 'healthy', { timeoutMs: 30_000 });
console.log(`${stamp()}  every tunnel up and passing traffic; metrics on http://127.0.0.1:9842/metrics inside ${lab.left.ns}`);
do {
  const results = [
    await step('the peer deletes CHILD_SA ikev2-vpn-140', () => lab.peerDeleteChild('ikev2-vpn-140'), 'ikev2-vpn-140'),
    await step('an operator terminates ikev2-vpn-141 locally', async () => void (await lab.swanctl('left', ['--terminate', '--child', 'ikev2-vpn-141'])), 'ikev2-vpn-141'),
    await step('the peer deletes the IKE_SA', () => lab.peerDeleteIke(), 'ikev2-vpn-142'),
    await step('ESP blackholed (stale tunnel: SAs installed, IKE answers, no traffic)', () => lab.blackholeEsp(), 'ikev2-vpn-140', () => lab.healEsp()),
    await step('the peer loses all state (SIGKILL + restart)', () => lab.peerKillAndRestart(), 'ikev2-vpn-140'),
  ];
  if (values.once) await shutdown(results.every(Boolean) ? 0 : 1);
} while (!closing);
