// The demo: the agent keeping the two-gateway lab's tunnels up while faults are injected.
//
//   bash scripts/demo.sh              loop the fault tour until Ctrl-C
//   bash scripts/demo.sh --once       one tour, then exit (0 when every fault was repaired)
//   bash scripts/demo.sh --ipsec-conf the left gateway configured by a legacy ipsec.conf
//
// Everything printed after the agent starts goes through one timeline ordered by time: the agent's
// lines by their own timestamps, the demo's "===" marks by when they happened.
import { parseArgs } from 'node:util';
import { cleanupStaleLabs, startLab, type Lab } from '../lab/lab.js';
import { labConfig, startAgent, type LogLine, type RunningAgent } from '../test/integration/agent-harness.js';
import { waitFor } from '../lab/wait.js';
import { allUp, faultTable, lastRepairAt, formatAgentLine, formatTable, isShown, logTime, relStamp, repairAfter, Timeline, type FaultWindow } from './demo/timeline.js';

const { values } = parseArgs({ options: { once: { type: 'boolean' }, 'ipsec-conf': { type: 'boolean' } } });

/** How long a line is held before it is printed: far more than an agent line takes to reach us (pipe, then the harness). */
const WATERMARK_MS = 300;
const REPAIR_TIMEOUT_MS = 30_000;
/**
 * The demo's repair_hold. The faults follow each other within seconds and most hit every tunnel: with
 * the default 30 s each new fault would count as the last repair "not holding", and damping would slow
 * the tour's repairs for the demo's pace, not the peer's. Each fault waits until the last repair held.
 */
const HOLD_MS = 5_000;

await cleanupStaleLabs();
const lab: Lab = await startLab({ initiate: false, frontEnd: values['ipsec-conf'] ? 'ipsec.conf' : 'swanctl' });
let agent: RunningAgent | undefined = undefined;

type Item = { kind: 'agent'; line: LogLine } | { kind: 'mark'; text: string; gap?: boolean } | { kind: 'plain'; text: string };
const t0 = Date.now();
const timeline = new Timeline<Item>(WATERMARK_MS);
/** Every agent line with its time, shown or not, for the fault table. */
const stamped: Array<{ at: number; line: LogLine }> = [];
let pulled = 0;

function pull(): void {
  const now = Date.now();
  const logs = agent?.logs ?? [];
  while (pulled < logs.length) {
    const line = logs[pulled++] as LogLine;
    const at = logTime(line, now);
    stamped.push({ at, line });
    if (isShown(line)) timeline.add(at, { kind: 'agent', line });
  }
}
function print(all = false): void {
  pull();
  for (const r of all ? timeline.drain() : timeline.release(Date.now())) {
    const late = r.late ? '  (arrived late)' : '';
    if (r.item.kind === 'plain') console.log(r.item.text);
    else if (r.item.kind === 'mark') console.log(`${r.item.gap ? '\n' : ''}${relStamp(r.at, t0)}  ${r.item.text}${late}`);
    else console.log(`${relStamp(r.at, t0)}  ${formatAgentLine(r.item.line)}${late}`);
  }
}
/** A demo mark, stamped now; it is printed after every agent line stamped before it. */
function mark(text: string, gap = false): void {
  timeline.add(Date.now(), { kind: 'mark', text, gap });
}
// Only moves lines from the agent to the screen; the order comes from the timestamps, not from this tick.
const printer = setInterval(() => print(), 50);
printer.unref();

let closing = false;
const shutdown = async (code: number) => {
  if (closing) return;
  closing = true;
  mark('tearing down the lab...', true);
  await agent?.stop();
  clearInterval(printer);
  print(true);
  await lab.close();
  process.exit(code);
};
// Listening here also tells the lab's own signal handler not to exit before close() ran.
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

console.log(`lab ${lab.id}: left ${lab.left.ns} (${lab.frontEnd}), right ${lab.right.ns}; children ${lab.children.join(', ')}`);
console.log(`targets ${lab.targets.map((t) => `${t.host}:${t.port}`).join(', ')} probed from ${lab.leftInsideAddr} through the tunnel`);
console.log(`times are seconds since the demo started; agent lines carry the agent's own timestamps`);
console.log(`each fault waits until every tunnel is up and the last repair held for repair_hold (${HOLD_MS / 1000} s)\n`);
agent = await startAgent(lab, labConfig(lab, { defaults: { probe_interval: '5s', repair_hold: `${HOLD_MS}ms` }, metrics: { enabled: true, listen: '127.0.0.1:9842' } }), 'demo-agent');

/**
 * Until every tunnel is up again and the last repair held for repair_hold: a fault then starts from a
 * healthy lab, its repair is not a leftover of the last, and its losses are not counted against that repair.
 */
async function settle(): Promise<boolean> {
  const up = await waitFor(() => allUp(agent!.logs, lab.children), { timeoutMs: REPAIR_TIMEOUT_MS, intervalMs: 50, what: 'every tunnel up' }).then(
    () => true,
    () => false,
  );
  pull();
  const wait = lastRepairAt(stamped) + HOLD_MS + 100 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  return up;
}

let windows: FaultWindow[] = [];
async function step(title: string, fault: () => Promise<void>, tunnel: string, heal?: () => Promise<void>): Promise<boolean> {
  if (!(await settle())) mark(`=== not every tunnel up after ${REPAIR_TIMEOUT_MS / 1000} s; injecting the next fault anyway`);
  const from = agent!.logs.length;
  const injectedAt = Date.now();
  const last = windows.at(-1);
  if (last) last.endAt = injectedAt;
  windows.push({ title, tunnel, injectedAt, endAt: Infinity });
  mark(`=== fault: ${title}`, true);
  await fault();
  if (heal) {
    await agent!.waitForLog((l) => l.tunnel === tunnel && l.action !== undefined, { from, timeoutMs: REPAIR_TIMEOUT_MS }).catch(() => undefined);
    mark('=== healing the fault');
    await heal();
  }
  // The repair of a loss seen since the fault, not a sibling's repair still under way from the last one.
  const ok = await waitFor(() => repairAfter(agent!.logs, tunnel, from) >= 0, { timeoutMs: REPAIR_TIMEOUT_MS, intervalMs: 20 }).then(
    () => true,
    () => false,
  );
  mark(ok ? `=== repaired ${tunnel}` : `=== ${tunnel} NOT repaired within ${REPAIR_TIMEOUT_MS / 1000} s`);
  return ok;
}

/** The tour's table, once every line up to now is in; it goes through the timeline like everything else. */
async function table(tour: number): Promise<boolean> {
  // The siblings of the last fault's tunnel may still be under repair.
  if (!(await settle())) mark(`=== not every tunnel up ${REPAIR_TIMEOUT_MS / 1000} s after the last fault`);
  const end = Date.now();
  const last = windows.at(-1);
  if (last) last.endAt = end;
  await new Promise((r) => setTimeout(r, WATERMARK_MS));
  pull();
  const rows = faultTable(windows, stamped);
  const at = Date.now();
  timeline.add(at, { kind: 'mark', gap: true, text: `=== tour ${tour}: times from each fault's injection; "by" is the reason (and kind) of the agent's action that repaired it, or charon when none did` });
  for (const line of formatTable(rows)) timeline.add(at, { kind: 'plain', text: `    ${line}` });
  windows = [];
  return rows.every((r) => r.repairedMs !== undefined);
}

if (await settle()) mark(`every tunnel up and passing traffic; metrics on http://127.0.0.1:9842/metrics inside ${lab.left.ns}`);
else mark(`not every tunnel came up within ${REPAIR_TIMEOUT_MS / 1000} s; starting the tour anyway`);
let tour = 0;
do {
  tour++;
  const results = [
    await step('the peer deletes CHILD_SA ikev2-vpn-140', () => lab.peerDeleteChild('ikev2-vpn-140'), 'ikev2-vpn-140'),
    await step('an operator terminates ikev2-vpn-141 locally', async () => void (await lab.swanctl('left', ['--terminate', '--child', 'ikev2-vpn-141'])), 'ikev2-vpn-141'),
    await step('the peer deletes the IKE_SA', () => lab.peerDeleteIke(), 'ikev2-vpn-142'),
    await step('ESP blackholed (stale tunnel: SAs installed, IKE answers, no traffic)', () => lab.blackholeEsp(), 'ikev2-vpn-140', () => lab.healEsp()),
    await step('the peer loses all state (SIGKILL + restart)', () => lab.peerKillAndRestart(), 'ikev2-vpn-140'),
  ];
  const allRepaired = await table(tour);
  if (values.once) await shutdown(results.every(Boolean) && allRepaired ? 0 : 1);
} while (!closing);
