// The fault soak: the real agent (CLI process) on the lab's left gateway, a seeded schedule of faults
// against the lab, and after each fault and its heal the checks the issue asks for: every enabled
// tunnel back within its bound, no duplicate CHILD_SA at steady state, traffic through every tunnel
// (checked by the test, not taken from the agent), the agent alive (restarted only by the schedule,
// exiting 0 when told to), no unhandled error in its output, and RSS not growing. At the end it greps
// everything the agent wrote, `status --json`, /metrics and /healthz for the lab's PSK and the alert
// secrets. Used by scripts/soak.ts (any length) and test/integration/soak-ci.test.ts (20 faults).
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { stringify } from 'yaml';
import { parseConfig, type Tuning } from '../../src/agent/config/load.js';
import { childNamesOf, labConfig, startAgent, watchLeft, type LogLine, type RunningAgent, type Watcher } from '../integration/agent-harness.js';
import { startLab } from '../../lab/lab.js';
import { tcpCheck } from '../../lab/net-check.js';
import { waitFor } from '../../lab/wait.js';
import { boundsFor, dampedAllowanceMs, failingRoundMs, MARGIN_MS, type Bound } from './bounds.js';
import { UNHELD_LIMIT } from '../../src/agent/controller/reconcile.js';
import { duringOutage, scanOutput, type ScanRules } from './log-scan.js';
import { formatRss, formatTable, rssSegments, summarize, type FaultRecord, type Recovery, type RssSample, type RssSegment } from './report.js';
import { buildSchedule, describeFault, type Fault, type FaultKind, type SoakMode } from './schedule.js';
import { inNetns, runCli } from '../../lab/cli-run.js';


export interface SoakOptions {
  seed: number;
  faults: number;
  mode: SoakMode;
  kinds?: FaultKind[];
  /** Run only these indexes of the seed's schedule (to replay a failing fault). */
  only?: number[];
  /** Agent output, progress and report.json go here (written as the run goes). */
  outDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface SecretCheck {
  source: string;
  bytes: number;
}

export interface SoakResult {
  seed: number;
  mode: SoakMode;
  schedule: Fault[];
  records: FaultRecord[];
  tuning: Tuning;
  bounds: Record<FaultKind, Bound>;
  rss: RssSegment[];
  rssSamples: RssSample[];
  /** Violations outside any one fault (start-up, RSS, secrets, aborts). */
  runViolations: string[];
  violations: string[];
  secretsChecked: SecretCheck[];
  table: string;
  durationMs: number;
  completed: boolean;
}

/** The agent's timing per mode: CI keeps everything short so 20 faults fit in a few minutes. */
export const TIMING: Record<SoakMode, Record<string, string | number>> = {
  ci: { probe_interval: '1s', probe_timeout: '500ms', reprobe_attempts: 2, reprobe_interval: '250ms', backoff_base: '500ms', backoff_cap: '4s', initiate_timeout: '3s', terminate_timeout: '1s', charon_grace: '1500ms' },
  long: { probe_interval: '2s', probe_timeout: '1s', reprobe_attempts: 2, reprobe_interval: '500ms', backoff_base: '1s', backoff_cap: '8s', initiate_timeout: '5s', terminate_timeout: '2s', charon_grace: '1500ms' },
};



const fmt = (ms: number): string => (ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

/** The node process itself: `ip netns exec` execs in place, but check rather than assume. */
function nodePid(pid: number): number {
  try {
    if (/node/.test(readlinkSync(`/proc/${pid}/exe`))) return pid;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids.find((k) => /node/.test(readlinkSync(`/proc/${k}/exe`))) ?? pid;
  } catch {
    return pid;
  }
}

function rssKb(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const t0 = Date.now();
  const say = opts.log ?? (() => {});
  const outDir = opts.outDir;
  if (outDir) mkdirSync(outDir, { recursive: true });
  const lab = await startLab({ initiate: true });
  const tunnels = [...lab.children];
  const schedule = buildSchedule({ seed: opts.seed, count: opts.faults, mode: opts.mode, tunnels, ...(opts.kinds ? { kinds: opts.kinds } : {}) });
  const todo = opts.only ? schedule.filter((f) => opts.only!.includes(f.index)) : schedule;

  // Secrets the agent is given and must never repeat: the lab's PSK is charon's, the rest the agent's own.
  const whPath = `whpath${randomBytes(8).toString('hex')}`;
  const whToken = `whtoken${randomBytes(8).toString('hex')}`;
  const slackToken = `slack${randomBytes(8).toString('hex')}`;
  const smtpPassword = `smtp-pw-${randomBytes(8).toString('hex')}`;
  const secrets = [lab.psk, whPath, whToken, slackToken, smtpPassword];
  const baseCfg = labConfig(lab, {
    defaults: TIMING[opts.mode],
    metrics: { enabled: true }, // the default listen address: 127.0.0.1:9842 in the left namespace
    alerts: {
      webhook: { url: `http://127.0.0.1:9843/hooks/${whPath}?token=${whToken}`, timeout: '1s' },
      slack: { url: `https://hooks.slack.com/services/T0000/B0000/${slackToken}`, timeout: '1s' },
      email: { host: '127.0.0.1', port: 2525, user: 'soak', password: smtpPassword, from: 'soak@lab.invalid', to: 'noc@lab.invalid', timeout: '2s' },
      retries: 2,
    },
  }) as { tunnels: Array<Record<string, unknown> & { child: string }>; defaults: Record<string, unknown> };
  const tuning = parseConfig(stringify(baseCfg), 'soak.yaml').defaults;
  const bounds = boundsFor(tuning);
  const damping = dampedAllowanceMs(tuning);

  const records: FaultRecord[] = [];
  const runViolations: string[] = [];
  const rssSamples: RssSample[] = [];
  const agents: RunningAgent[] = [];
  const scanned = new Map<RunningAgent, number>();
  const secretsChecked: SecretCheck[] = [];
  const served: Array<[string, string]> = [];
  const stoppedBySchedule = new Set<RunningAgent>();
  let agent!: RunningAgent;
  let watch: Watcher | undefined;
  let currentFault = -1;
  let completed = false;
  let sampler: NodeJS.Timeout | undefined;

  const writeReport = (): void => {
    if (!outDir) return;
    const violations = [...runViolations, ...records.flatMap((r) => r.violations.map((v) => `#${r.fault.index} ${r.fault.kind}: ${v}`))];
    writeFileSync(
      join(outDir, 'report.json'),
      `${JSON.stringify({ seed: opts.seed, mode: opts.mode, faults: opts.faults, tuning, bounds, durationMs: Date.now() - t0, completed, violations, table: formatTable(summarize(records)), rss: rssSegments(rssSamples), records }, null, 1)}\n`,
    );
  };

  /** New output of every agent since the last look, scanned; also appended to the out dir. */
  const scan = (rules: ScanRules): string[] => {
    const found: string[] = [];
    agents.forEach((a, i) => {
      const text = a.output();
      const from = scanned.get(a) ?? 0;
      const end = text.lastIndexOf('\n') + 1;
      if (end <= from) return;
      const chunk = text.slice(from, end);
      scanned.set(a, end);
      if (outDir) appendFileSync(join(outDir, `agent-${i + 1}.log`), chunk);
      for (const f of scanOutput(chunk, rules)) found.push(`agent output: ${f.why}: ${f.line}`);
    });
    return found;
  };

  const launchAgent = async (): Promise<RunningAgent> => {
    const a = await startAgent(lab, baseCfg, 'soak');
    agents.push(a);
    return a;
  };

  const alive = (a: RunningAgent): boolean => a.proc.exitCode === null && a.proc.signalCode === null;

  const healthyRound = (a: RunningAgent, tunnel: string, from: number): LogLine | undefined =>
    a.logs.slice(from).find((l) => l.tunnel === tunnel && l.msg === 'probe round' && l.health === 'healthy');

  /**
   * Whether the agent damped `tunnel` since log index `from`; a claim checked against its own words:
   * damping is for UNHELD_LIMIT repairs in a row that did not hold (src/agent/controller/reconcile.ts).
   */
  const damped = (rec: FaultRecord, a: RunningAgent, tunnel: string, from: number): boolean => {
    const line = a.logs.slice(from).find((l) => l.tunnel === tunnel && /repairs in a row were lost before they carried traffic; damping/.test(l.msg));
    if (!line) return false;
    if (Number(line['unheldRepairs']) < UNHELD_LIMIT) rec.violations.push(`${tunnel}: damped after only ${String(line['unheldRepairs'])} repairs that did not hold`);
    return true;
  };

  /** Per tunnel: the first healthy probe round logged at index >= from, timed against refAt. */
  const probeRecoveries = async (rec: FaultRecord, bound: Bound, refAt: number, from: number, dampFrom: number): Promise<void> => {
    const waitMs = bound.ms + damping + 30_000;
    await waitFor(() => tunnels.every((t) => healthyRound(agent, t, from)), { timeoutMs: waitMs, intervalMs: 50, what: 'every tunnel healthy' }).catch(() => undefined);
    for (const t of tunnels) {
      const line = healthyRound(agent, t, from);
      const isDamped = damped(rec, agent, t, dampFrom);
      const boundMs = bound.ms + (isDamped ? damping : 0);
      if (!line) {
        rec.violations.push(`${t}: no healthy probe round within ${fmt(waitMs)} of ${bound.from}`);
        continue;
      }
      const ms = Math.max(0, Date.parse(line.time) - refAt);
      rec.recoveries.push({ tunnel: t, ms, boundMs, damped: isDamped });
      if (ms > boundMs) rec.violations.push(`${t}: back after ${fmt(ms)}, bound ${fmt(boundMs)} from ${bound.from} (${bound.formula}${isDamped ? ' + damping' : ''})`);
    }
  };

  /** Per child: its first down event at index >= fromEvent, then the first up after it (test-side VICI watcher). */
  const eventRecoveries = async (rec: FaultRecord, children: string[], bound: Bound, fromEvent: number, dampFrom: number): Promise<void> => {
    const w = watch!;
    const find = (child: string): { down?: number; up?: number } => {
      const evs = w.events.slice(fromEvent);
      const di = evs.findIndex((x) => !x.e.up && childNamesOf(x.e).includes(child));
      if (di < 0) return {};
      const up = evs.slice(di + 1).find((x) => x.e.up && childNamesOf(x.e).includes(child));
      return { down: evs[di]!.at, ...(up ? { up: up.at } : {}) };
    };
    const waitMs = bound.ms + damping + 20_000;
    await waitFor(() => children.every((c) => find(c).up !== undefined), { timeoutMs: waitMs, intervalMs: 10, what: 'up events' }).catch(() => undefined);
    for (const c of children) {
      const { down, up } = find(c);
      const isDamped = damped(rec, agent, c, dampFrom);
      const boundMs = bound.ms + (isDamped ? damping : 0);
      if (down === undefined) {
        rec.violations.push(`${c}: no down event seen for the fault`);
        continue;
      }
      if (up === undefined) {
        rec.violations.push(`${c}: not back within ${fmt(waitMs)} of its down event`);
        continue;
      }
      const ms = up - down;
      rec.recoveries.push({ tunnel: c, ms, boundMs, damped: isDamped });
      if (ms > boundMs) rec.violations.push(`${c}: back ${fmt(ms)} after its down event, bound ${fmt(boundMs)}${isDamped ? ' (damped)' : ''}`);
    }
  };

  /** Steady state: every tunnel INSTALLED exactly once, healthy since `from`, and passing the test's own TCP check. */
  const steady = async (rec: FaultRecord | undefined, from: number, timeoutMs: number): Promise<string[]> => {
    const problems: string[] = [];
    let last = new Map<string, number>();
    const installedOk = await waitFor(
      async () => {
        last = await lab.installedChildren('left');
        return tunnels.every((t) => last.get(t) === 1);
      },
      // A duplicate must be gone within the agent's confirmation second plus its terminate.
      { timeoutMs: Math.max(timeoutMs, 1000 + tuning.terminateTimeoutMs + 3000), intervalMs: 100, what: 'every tunnel installed once' },
    ).then(
      () => true,
      () => false,
    );
    if (!installedOk) {
      for (const t of tunnels) {
        const n = last.get(t) ?? 0;
        if (n !== 1) problems.push(n > 1 ? `${t}: ${n} INSTALLED CHILD_SAs at steady state (duplicates)` : `${t}: not INSTALLED at steady state`);
      }
    }
    const healthyOk = await waitFor(() => tunnels.every((t) => healthyRound(agent, t, from)), { timeoutMs, intervalMs: 50, what: 'healthy' }).then(
      () => true,
      () => false,
    );
    if (!healthyOk) for (const t of tunnels) if (!healthyRound(agent, t, from)) problems.push(`${t}: no healthy probe round at steady state`);
    for (const target of lab.targets) {
      const r = await tcpCheck(lab, 'left', target.host, target.port, { sourceAddr: lab.leftInsideAddr, timeoutMs: 2500 });
      if (!r.ok) problems.push(`${target.child}: the test's own TCP check through the tunnel failed (${r.detail})`);
    }
    if (rec) rec.violations.push(...problems);
    return problems;
  };

  /** After a failed check: undo every fault, restart what is gone, and wait for the world to settle. */
  const restoreWorld = async (rec: FaultRecord): Promise<boolean> => {
    rec.notes.push('restoring the lab after a failed check');
    await lab.healEsp();
    await lab.restoreLink();
    await lab.startTarget();
    await lab.peerStart();
    await lab.startLocalCharon();
    agent.writeConfig(baseCfg);
    if (!alive(agent)) agent = await launchAgent();
    else agent.reload();
    const from = agent.logs.length;
    const problems = await steady(undefined, from, 90_000);
    if (problems.length) rec.notes.push(`still not steady: ${problems.join('; ')}`);
    return problems.length === 0;
  };

  const stopAgent = async (a: RunningAgent): Promise<number | null | 'hung'> => {
    const r = await Promise.race([a.stop(), delay(15_000).then(() => 'hung' as const)]);
    if (r === 'hung') a.proc.kill('SIGKILL');
    return r;
  };

  // ---- the faults -----------------------------------------------------------------------------

  const inject = async (f: Fault, rec: FaultRecord): Promise<ScanRules> => {
    const rules: ScanRules = { expectReloadRejected: false };
    const w = watch!;
    const dampFrom = agent.logs.length;
    const fromEvent = w.events.length;
    const bound = bounds[f.kind];
    switch (f.kind) {
      case 'peer-delete-child': {
        rec.refAt = Date.now();
        await lab.peerDeleteChild(f.tunnel!);
        await eventRecoveries(rec, [f.tunnel!], bound, fromEvent, dampFrom);
        break;
      }
      case 'peer-delete-ike': {
        rec.refAt = Date.now();
        await lab.peerDeleteIke();
        await eventRecoveries(rec, tunnels, bound, fromEvent, dampFrom);
        break;
      }
      case 'peer-kill': {
        await lab.peerKillAndRestart();
        rec.refAt = Date.now();
        await probeRecoveries(rec, bound, rec.refAt, agent.logs.length, dampFrom);
        break;
      }
      case 'esp-blackhole':
      case 'link-cut': {
        if (f.kind === 'esp-blackhole') await lab.blackholeEsp();
        else await lab.cutLink();
        const heldFrom = Date.now();
        await delay(f.holdMs!);
        // The outage ends when the heal starts, not when the command returns: a probe may pass in
        // between (seed 7 #56 logged a healthy round 10 ms before the nft command came back).
        const healFrom = Date.now();
        if (f.kind === 'esp-blackhole') await lab.healEsp();
        else await lab.restoreLink();
        rec.refAt = Date.now();
        for (const t of tunnels) {
          const seen = duringOutage(agent.logs.slice(dampFrom), t, heldFrom, healFrom);
          if (seen.healthyRounds.length) rec.violations.push(`${t}: probes called it healthy during the ${f.kind} (${seen.healthyRounds.join(', ')})`);
          // Held longer than one interval plus a failing round, it must have been noticed.
          if (!seen.noticed && f.holdMs! > tuning.probeIntervalMs + failingRoundMs(tuning) + MARGIN_MS) {
            rec.violations.push(`${t}: ${f.kind} held ${fmt(f.holdMs!)} and the agent never noticed (no failing round, no down, no repair)`);
          }
        }
        await probeRecoveries(rec, bound, rec.refAt, agent.logs.length, dampFrom);
        break;
      }
      case 'charon-restart': {
        await lab.stopLocalCharon();
        // As strongswan.service does it: the socket first, the configs (swanctl --load-all) a moment later.
        await lab.startLocalCharon({ load: false });
        await new Promise((r) => setTimeout(r, f.holdMs ?? 0));
        await lab.loadLocalConfig();
        rec.refAt = Date.now();
        await probeRecoveries(rec, bound, rec.refAt, agent.logs.length, dampFrom);
        break;
      }
      case 'target-down': {
        await lab.stopTarget();
        await delay(f.holdMs!);
        await lab.startTarget();
        rec.refAt = Date.now();
        const from = agent.logs.length;
        if (f.holdMs! > tuning.probeIntervalMs + tuning.probeTimeoutMs + MARGIN_MS) {
          for (const t of tunnels) {
            if (!agent.logs.slice(dampFrom, from).some((l) => l.tunnel === t && l.msg === 'probe round' && l.health === 'target-down')) {
              rec.violations.push(`${t}: target down for ${fmt(f.holdMs!)} but never reported target-down`);
            }
          }
        }
        await probeRecoveries(rec, bound, rec.refAt, from, dampFrom);
        const acted = agent.actions(dampFrom);
        if (acted.length) rec.violations.push(`repairs while only the target was down: ${acted.map((l) => `${l.tunnel} ${l.action}`).join(', ')}`);
        break;
      }
      case 'sighup-reload': {
        const x = f.tunnel!;
        const changed = clone(baseCfg);
        const tx = changed.tunnels.find((t) => t.child === x)!;
        const reloaded = async (what: string): Promise<LogLine> => {
          const from = agent.logs.length;
          agent.reload();
          return agent.waitForLog((l) => l.msg === 'configuration reloaded' || /^reload rejected/.test(l.msg), { from, timeoutMs: 5000, what });
        };
        if (f.variant === 'interval') {
          tx['probe_interval'] = `${(tuning.probeIntervalMs * 3) / 1000}s`;
          agent.writeConfig(changed);
          const t1 = Date.now();
          const a = await reloaded('reload with a longer interval');
          await delay(f.holdMs!);
          agent.writeConfig(baseCfg);
          const b = await reloaded('reload back');
          rec.refAt = Date.now();
          if (a.msg !== 'configuration reloaded' || b.msg !== 'configuration reloaded') rec.violations.push(`a valid reload was rejected: ${a.msg} / ${b.msg}`);
          rec.recoveries.push({ tunnel: x, ms: Math.max(0, Date.parse(a.time) - t1), boundMs: bound.ms, damped: false });
          const acted = agent.actions(dampFrom);
          if (acted.length) rec.violations.push(`repairs after an interval-only reload: ${acted.map((l) => `${l.tunnel} ${l.action}`).join(', ')}`);
        } else if (f.variant === 'enabled') {
          tx['enabled'] = false;
          agent.writeConfig(changed);
          await reloaded('reload disabling the tunnel');
          const from = w.events.length;
          const actFrom = agent.logs.length;
          await lab.peerDeleteChild(x);
          await waitFor(() => w.events.slice(from).some((e) => !e.e.up && childNamesOf(e.e).includes(x)), { timeoutMs: 5000, what: `${x} down event` });
          await delay(f.holdMs!);
          if ((await lab.installedChildren('left')).get(x)) rec.violations.push(`${x}: disabled, yet re-established`);
          const acted = agent.actions(actFrom).filter((l) => l.tunnel === x);
          if (acted.length) rec.violations.push(`${x}: disabled, yet the agent acted: ${acted.map((l) => l.action).join(', ')}`);
          agent.writeConfig(baseCfg);
          const fromUp = w.events.length;
          // Taken before the signal: the agent may damp the tunnel within milliseconds of the reload.
          const dampFromReload = agent.logs.length;
          const t1 = performance.now();
          rec.refAt = Date.now();
          await reloaded('reload enabling it again');
          await waitFor(() => w.events.slice(fromUp).find((e) => e.e.up && childNamesOf(e.e).includes(x)), { timeoutMs: bound.ms + damping + 20_000, intervalMs: 10, what: `${x} up` }).then(
            (up) => {
              const isDamped = damped(rec, agent, x, dampFromReload);
              const boundMs = bound.ms + (isDamped ? damping : 0);
              const ms = up.at - t1;
              rec.recoveries.push({ tunnel: x, ms, boundMs, damped: isDamped });
              if (ms > boundMs) rec.violations.push(`${x}: back ${fmt(ms)} after the re-enabling reload, bound ${fmt(boundMs)}`);
            },
            () => rec.violations.push(`${x}: not back after the re-enabling reload`),
          );
        } else {
          // An invalid file: the reload is rejected and the running config (tunnel enabled) stays.
          rules.expectReloadRejected = true;
          tx['enabled'] = false;
          (changed.defaults as Record<string, unknown>)['probe_interval'] = 'soon';
          agent.writeConfig(changed);
          const r = await reloaded('reload of an invalid file');
          if (!/^reload rejected/.test(r.msg)) rec.violations.push(`an invalid config was accepted: ${r.msg}`);
          await delay(f.holdMs!);
          const fromDown = w.events.length;
          rec.refAt = Date.now();
          await lab.peerDeleteChild(x);
          await eventRecoveries(rec, [x], bound, fromDown, dampFrom);
          agent.writeConfig(baseCfg);
        }
        break;
      }
      case 'agent-restart': {
        const old = agent;
        stoppedBySchedule.add(old);
        const code = await stopAgent(old);
        if (code !== 0) rec.violations.push(`agent exited ${code} on SIGTERM (expected 0)`);
        const t1 = Date.now();
        agent = await launchAgent();
        const running = agent.logs.find((l) => l.msg === 'agent running')!;
        rec.refAt = Date.parse(running.time);
        rec.notes.push(`new agent running ${fmt(rec.refAt - t1)} after spawn`);
        // Every line of the new agent is after the restart; a first round may finish before 'agent running'.
        await probeRecoveries(rec, bound, rec.refAt, 0, agent.logs.length);
        const downs = w.events.slice(fromEvent).filter((e) => !e.e.up);
        if (downs.length) rec.violations.push(`tunnels went down across an agent restart: ${downs.flatMap((e) => childNamesOf(e.e)).join(', ')}`);
        const acted = agent.actions();
        if (acted.length) rec.violations.push(`the new agent repaired healthy tunnels: ${acted.map((l) => `${l.tunnel} ${l.action}`).join(', ')}`);
        break;
      }
    }
    return rules;
  };

  try {
    agent = await launchAgent();
    watch = await watchLeft(lab);
    const pid = nodePid(agent.proc.pid!);
    sampler = setInterval(() => {
      if (!alive(agent)) return;
      const p = nodePid(agent.proc.pid!);
      const kb = rssKb(p);
      if (kb !== undefined) rssSamples.push({ t: Date.now(), pid: p, kb, fault: currentFault });
    }, 2000);
    const startProblems = await steady(undefined, 0, 30_000);
    if (startProblems.length) {
      runViolations.push(...startProblems.map((p) => `start-up: ${p}`));
      throw new Error(`the lab never reached a steady state: ${startProblems.join('; ')}`);
    }
    say(`soak: seed ${opts.seed}, ${todo.length} of ${schedule.length} faults, ${opts.mode} mode, lab ${lab.id}, agent pid ${pid}`);
    say(`soak: bounds: ${Object.entries(bounds).map(([k, b]) => `${k} ${fmt(b.ms)}`).join(', ')}; damped tunnels +${fmt(damping)}`);

    for (const f of todo) {
      currentFault = f.index;
      const rec: FaultRecord = { fault: f, startedAt: Date.now(), recoveries: [], violations: [], notes: [], durationMs: 0 };
      records.push(rec);
      let rules: ScanRules = { expectReloadRejected: false };
      try {
        rules = await inject(f, rec);
      } catch (err) {
        rec.violations.push(`fault step failed: ${(err as Error).message.split('\n')[0]}`);
      }
      if (!alive(agent)) {
        // (An agent the schedule stopped whose successor failed to start has that failure recorded already.)
        if (!stoppedBySchedule.has(agent)) rec.violations.push(`agent process died (exit ${agent.proc.exitCode ?? agent.proc.signalCode}) outside a scheduled restart`);
      } else {
        // Healthy at steady state means a round that completed after the recovery was measured.
        await steady(rec, agent.logs.length, 30_000);
      }
      rec.violations.push(...scan(rules));
      if (rec.violations.length && !(await restoreWorld(rec))) {
        runViolations.push(`#${f.index}: the lab could not be brought back to a steady state; run aborted`);
        rec.durationMs = Date.now() - rec.startedAt;
        say(progressLine(rec, records.length, todo.length, t0));
        break;
      }
      rec.durationMs = Date.now() - rec.startedAt;
      say(progressLine(rec, records.length, todo.length, t0));
      writeReport();
      await delay(f.gapMs);
    }
    currentFault = -1;
    completed = records.length === todo.length && !runViolations.length;

    // What it serves, for the secrets check (with everything it said, once it has stopped).
    const ran = await runCli(['status', '--json', '--config', agent.configPath], { prefix: inNetns(lab.left.ns) });
    const status = { code: ran.code, out: `${ran.stdout}${ran.stderr}` };
    const metrics = await lab.exec('left', ['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9842/metrics'], { allowFail: true });
    const healthz = await lab.exec('left', ['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:9842/healthz'], { allowFail: true });
    served.push(['status --json', status.out], ['/metrics', metrics.stdout], ['/healthz', healthz.stdout]);
    if (status.code !== 0) runViolations.push(`status --json exited ${status.code}: ${status.out.slice(0, 300)}`);
    if (!metrics.stdout.includes('ipsec_keepalive_tunnel_up')) runViolations.push('/metrics did not answer with the tunnel metrics');
    if (!/"status":"ok"/.test(healthz.stdout)) runViolations.push(`/healthz did not answer ok: ${healthz.stdout.slice(0, 200)}`);
    const cfgText = readFileSync(agent.configPath, 'utf8');
    if (secrets.slice(1).some((s) => !cfgText.includes(s))) runViolations.push('a secret under test is missing from the config (the check would prove nothing)');
  } catch (err) {
    runViolations.push(`soak aborted: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    clearInterval(sampler);
    for (const a of agents) {
      if (!alive(a)) continue;
      const code = await stopAgent(a);
      if (code !== 0) runViolations.push(`agent exited ${code} on the final SIGTERM (expected 0)`);
    }
    // What the agents said after the last fault's checks, their shutdown included.
    runViolations.push(...scan({ expectReloadRejected: false }).map((v) => `after the faults: ${v}`));
    for (const [source, text] of [...agents.map((a, i): [string, string] => [`agent ${i + 1} output`, a.output()]), ...served]) {
      secretsChecked.push({ source, bytes: text.length });
      secrets.forEach((s, i) => {
        if (text.includes(s)) runViolations.push(`secret #${i} (${i === 0 ? 'the PSK' : 'an alert credential'}) appears in ${source}`);
      });
    }
    await watch?.close().catch(() => undefined);
    await lab.close();
  }

  const rss = rssSegments(rssSamples);
  for (const s of rss) {
    if (s.checked && s.growthKb > s.allowedKb) runViolations.push(`RSS of agent pid ${s.pid} grew ${Math.round(s.growthKb / 1024)} MiB (allowed ${Math.round(s.allowedKb / 1024)} MiB) over ${(s.spanMs / 60_000).toFixed(1)} min`);
  }
  const violations = [...runViolations, ...records.flatMap((r) => r.violations.map((v) => `#${r.fault.index} ${r.fault.kind}: ${v}`))];
  const table = formatTable(summarize(records));
  writeReport();
  if (outDir) writeFileSync(join(outDir, 'table.md'), `${table}\n\n${formatRss(rss)}\n`);
  return {
    seed: opts.seed,
    mode: opts.mode,
    schedule,
    records,
    tuning,
    bounds,
    rss,
    rssSamples,
    runViolations,
    violations,
    secretsChecked,
    table,
    durationMs: Date.now() - t0,
    completed,
  };
}

function progressLine(rec: FaultRecord, n: number, total: number, t0: number): string {
  const el = Math.round((Date.now() - t0) / 1000);
  const rs = rec.recoveries.map((r: Recovery) => `${r.tunnel.replace(/^ikev2-vpn-/, '')} ${fmt(r.ms)}${r.damped ? '*' : ''}`).join(', ');
  const bound = rec.recoveries.length ? ` (bound ${fmt(Math.max(...rec.recoveries.map((r) => r.boundMs)))})` : '';
  const verdict = rec.violations.length ? `VIOLATION: ${rec.violations.join(' | ')}` : 'ok';
  return `[${String(n).padStart(3)}/${total} #${rec.fault.index} +${Math.floor(el / 60)}m${String(el % 60).padStart(2, '0')}s] ${describeFault(rec.fault)}: ${rs || '-'}${bound} ${verdict}`;
}

