// `npm run bench:footprint [-- --quick]`: memory and CPU of an idle agent managing 100 and 1000 tunnels, and
// the time of one probe round over 1000 targets.
//
// Each size gets its own lab (scaleChildren) and its own agent (production build, default config: metrics on,
// log level info) with probes at a short interval; in full mode also 100 tunnels at the default 60 s interval.
// Probes: the three lab tunnels keep tcp + icmp to their target service; every scale tunnel gets one ICMP probe
// to its own remote traffic selector address, which the right gateway holds on its loopback, so each echo
// crosses that tunnel's CHILD_SA and is answered (scale children have no host behind them).
// After a warm-up, the window samples /proc/<agent pid>/status VmRSS every 5 s and takes utime + stime of
// /proc/<agent pid>/stat at both ends (the pid is the node process itself: `ip netns exec` execs it).
// Anchors, same run: an idle `node -e 'setInterval(()=>{},1e9)'` (RSS, CPU), and the old bash loop's cost per
// round (one `swanctl --list-sas`, one `ping -c1 -W1` per tunnel, children's CPU from bash `times`) at the same
// interval. The left charon's CPU over the window is reported too: every probe round also costs one filtered
// list-sas per tunnel there.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILTIN_TUNING } from '../src/agent/config/load.js';
import { startLab, type Lab } from '../lab/lab.js';
import { run } from '../lab/proc.js';
import { nsPids } from '../lab/teardown.js';
import { agentConfig, startBenchAgent, type BenchAgent } from './lib/agent.js';
import { buildAgent, built } from './lib/build.js';
import { dbg, round, sleep, type BenchOptions } from './lib/common.js';
import { commOf, cpuSeconds, statusKb } from './lib/procstat.js';
import { benchResult, progress, row, runWhenMain, verdict, type BenchResult, type Row } from './lib/report.js';
import { summarize } from './lib/stats.js';

const PROBE_ROUND = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib/probe-round.ts');
/** "A short interval" for the footprint windows. */
export const SHORT_INTERVAL_S = Number(process.env['BENCH_FOOTPRINT_INTERVAL'] ?? 10);
/** The agent's default probe timeout: the round is measured the way the agent would run it. */
const DEFAULT_TIMEOUT_MS = BUILTIN_TUNING.probeTimeoutMs;

interface LaneSpec {
  tunnels: number;
  intervalS: number;
  probeRound: boolean;
}

interface LaneResult extends LaneSpec {
  windowS: number;
  rssKb: number[];
  rssEndKb: number;
  hwmKb: number;
  cpuS: number;
  cpuPct: number;
  charonCpuPct: number;
  startMs: number;
  probes: { count: number; targets: number; lastOk: number };
  bashRoundCpuS: number;
  bashRoundWallS: number;
  /** Over the window: VICI traffic by kind (charon's `log` events, list-sas reads), per second. */
  vici: { logEventsPerS: number; listSasPerS: number; otherEventsPerS: number };
  round?: { single: number[]; many: { ms: number; ok: number; refused: number; failed: number; errors: Record<string, number> }[] };
  roundTcp?: { single: number[]; many: { ms: number; ok: number; refused: number; failed: number; errors: Record<string, number> }[] };
}

const scaleAddr = (i: number) => `10.200.${i >> 8}.${i & 255}`;

function tunnelsFor(lab: Lab, n: number): object[] {
  const base = lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }, { icmp: t.host }] }));
  const scale = Array.from({ length: n - base.length }, (_, k) => ({ child: `scale-${String(k + 1).padStart(4, '0')}`, source: lab.leftInsideAddr, probes: [{ icmp: scaleAddr(k + 1) }] }));
  return [...base, ...scale];
}

function targetsFor(lab: Lab, n: number): { ip: string[]; tcp: { host: string; port: number }[] } {
  const ip = [...lab.targets.map((t) => t.host), ...Array.from({ length: n - lab.targets.length }, (_, k) => scaleAddr(k + 1))];
  return { ip, tcp: ip.map((host) => ({ host, port: 9802 })) };
}

async function scrape(lab: Lab): Promise<string> {
  const r = await lab.exec('left', [process.execPath, '-e', "fetch('http://127.0.0.1:9842/metrics').then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(String(e));process.exit(1)})"], { allowFail: true });
  return r.stdout;
}

function probeFigures(metrics: string): LaneResult['probes'] {
  let count = 0;
  let targets = 0;
  let lastOk = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('ipsec_keepalive_probe_duration_seconds_count{')) count += Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('ipsec_keepalive_probe_success{')) {
      targets++;
      if (line.endsWith(' 1')) lastOk++;
    }
  }
  return { count, targets, lastOk };
}

/** Sum of a counter's samples whose labels contain `match`. */
function counterSum(metrics: string, name: string, match = ''): number {
  let n = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(match)) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

function viciFigures(before: string, after: string, windowS: number): LaneResult['vici'] {
  const d = (name: string, match = '') => (counterSum(after, name, match) - counterSum(before, name, match)) / windowS;
  const events = d('ipsec_keepalive_vici_events_total');
  const logs = d('ipsec_keepalive_vici_events_total', 'event="log"');
  return { logEventsPerS: logs, listSasPerS: d('ipsec_keepalive_vici_commands_total', 'command="list-sas"'), otherEventsPerS: events - logs };
}

/** The bash loop's work for one round, run once inside the left namespace; CPU of its children from `times`. */
async function bashRound(lab: Lab, ips: string[]): Promise<{ cpuS: number; wallS: number }> {
  const script = [
    `STRONGSWAN_CONF=${lab.dir}/swanctl-client.conf swanctl --list-sas --raw --uri ${lab.left.viciUri} >/dev/null 2>&1`,
    `for ip in ${ips.join(' ')}; do ping -n -q -c1 -W1 -I ${lab.leftInsideAddr} $ip >/dev/null 2>&1; done`,
    'times',
  ].join('\n');
  const t0 = performance.now();
  const r = await lab.exec('left', ['bash', '-c', script], { allowFail: true });
  const wallS = (performance.now() - t0) / 1000;
  const lines = r.stdout.trim().split('\n');
  const secs = (s: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(s);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  };
  const kids = (lines[1] ?? '').trim().split(/\s+/);
  return { cpuS: secs(kids[0] ?? '') + secs(kids[1] ?? ''), wallS };
}

async function probeRound(lab: Lab, targets: { kind: 'icmp' | 'tcp'; host: string; port?: number }[], rounds: number): Promise<LaneResult['round']> {
  const req = { targets, source: lab.leftInsideAddr, timeoutMs: DEFAULT_TIMEOUT_MS, rounds, singleRounds: 5, probesModule: built().url('probes/index.js') };
  const file = path.join(lab.dir, `probe-round-${targets[0]?.kind ?? 'x'}.json`);
  writeFileSync(file, JSON.stringify(req));
  // `ip netns exec` keeps our working directory, so `--import tsx` resolves from the repository.
  const r = await run(['ip', 'netns', 'exec', lab.left.ns, process.execPath, '--import', 'tsx', PROBE_ROUND, file], { allowFail: true });
  if (r.code !== 0) throw new Error(`probe round: exit ${r.code}: ${r.stderr.slice(-800)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as LaneResult['round'];
}

/** RSS of a node process that only imported `what` (a package or a file), 300 ms after. */
async function rssAfterImport(what: string | undefined): Promise<number> {
  const code = `${what ? `await import(${JSON.stringify(what)});` : ''} await new Promise((r) => setTimeout(r, 300)); const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8'); console.log(/VmRSS:\\s+(\\d+)/.exec(s)[1]);`;
  const r = await run([process.execPath, '--input-type=module', '-e', code]);
  return Number(r.stdout.trim());
}

/** Where the fixed memory goes: bare node, each runtime dependency alone, and the whole agent's modules. */
async function moduleCost(): Promise<Record<string, number>> {
  const out: Record<string, number> = { 'node alone': await rssAfterImport(undefined) };
  for (const dep of ['zod', 'prom-client', 'nodemailer', 'pino', 'yaml', 'eventemitter3', 'raw-socket']) out[dep] = await rssAfterImport(dep);
  out['the agent (dist/cli/run.js and all it imports)'] = await rssAfterImport(built().url('cli/run.js'));
  return out;
}

async function lane(spec: LaneSpec, windowS: number, quick: boolean): Promise<LaneResult> {
  const t0 = performance.now();
  const lab = await startLab({ scaleChildren: spec.tunnels - 3, initiate: true });
  let agent: BenchAgent | undefined;
  try {
    progress(`footprint: lab with ${spec.tunnels} CHILD_SAs up in ${round((performance.now() - t0) / 1000, 1)} s`);
    const tunnels = tunnelsFor(lab, spec.tunnels);
    const ta = performance.now();
    agent = await startBenchAgent(lab, agentConfig(lab, { tunnels, defaults: { probe_interval: `${spec.intervalS}s` } }), `agent-${spec.tunnels}-${spec.intervalS}s`);
    const startMs = performance.now() - ta;
    const pid = agent.pid;
    if (commOf(pid) !== 'node') throw new Error(`agent pid ${pid} is ${commOf(pid)}, not node`);
    const charon = nsPids(lab.left.ns).find((p) => commOf(p) === 'charon');
    // Warm-up: start-up reconciles and the first rounds are not "idle".
    await sleep((Math.min(spec.intervalS, 60) + (quick ? 2 : 10)) * 1000);
    dbg(`footprint ${spec.tunnels}@${spec.intervalS}s: window starts`);
    const metrics0 = await scrape(lab);
    const cpu0 = cpuSeconds(pid);
    const ch0 = charon ? cpuSeconds(charon) : 0;
    const w0 = performance.now();
    const rss: number[] = [];
    while (performance.now() - w0 < windowS * 1000) {
      rss.push(statusKb(pid, 'VmRSS'));
      await sleep(Math.min(5000, windowS * 1000 - (performance.now() - w0)));
    }
    const cpuS = cpuSeconds(pid) - cpu0;
    const charonS = charon ? cpuSeconds(charon) - ch0 : NaN;
    const wS = (performance.now() - w0) / 1000;
    const rssEndKb = statusKb(pid, 'VmRSS');
    const hwmKb = statusKb(pid, 'VmHWM');
    const metrics1 = await scrape(lab);
    const probes = probeFigures(metrics1);
    const vici = viciFigures(metrics0, metrics1, wS);
    const ips = targetsFor(lab, spec.tunnels).ip;
    // --quick times the bash loop over at most 100 tunnels and scales it (its cost is linear: one ping each).
    const sample = quick ? ips.slice(0, 100) : ips;
    const bashSample = await bashRound(lab, sample);
    const bash = { cpuS: (bashSample.cpuS * ips.length) / sample.length, wallS: (bashSample.wallS * ips.length) / sample.length };
    const res: LaneResult = {
      ...spec,
      windowS: wS,
      rssKb: rss,
      rssEndKb,
      hwmKb,
      cpuS,
      cpuPct: (cpuS / wS) * 100,
      charonCpuPct: (charonS / wS) * 100,
      startMs,
      probes,
      bashRoundCpuS: bash.cpuS,
      bashRoundWallS: bash.wallS,
      vici,
    };
    if (spec.probeRound) {
      // The agent's own probes would share the wire and the raw socket: measure the pool alone.
      await agent.stop();
      agent = undefined;
      try {
        res.round = await probeRound(lab, ips.map((host) => ({ kind: 'icmp' as const, host })), quick ? 1 : 3);
        res.roundTcp = await probeRound(lab, targetsFor(lab, spec.tunnels).tcp.map((t) => ({ kind: 'tcp' as const, ...t })), quick ? 1 : 3);
      } catch (err) {
        progress(`footprint: ${(err as Error).message}`);
      }
    }
    return res;
  } finally {
    await agent?.stop().catch(() => {});
    await lab.close();
  }
}

export async function runFootprint(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  buildAgent(progress);
  const windowS = o.quick ? 30 : 300;
  const specs: LaneSpec[] = [
    // The fixed cost: the same agent with only the three lab tunnels.
    { tunnels: 3, intervalS: SHORT_INTERVAL_S, probeRound: false },
    { tunnels: 100, intervalS: SHORT_INTERVAL_S, probeRound: false },
    { tunnels: 1000, intervalS: SHORT_INTERVAL_S, probeRound: true },
    ...(o.quick ? [] : [{ tunnels: 100, intervalS: 60, probeRound: false }]),
  ];
  progress(`footprint: ${specs.map((s) => `${s.tunnels} tunnels @ ${s.intervalS} s`).join(', ')}; window ${windowS} s each, side by side`);
  // The anchor process runs for the whole time the lanes do.
  const idle = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
  const killIdle = () => idle.kill('SIGKILL');
  process.once('exit', killIdle);
  const idleCpu0 = cpuSeconds(idle.pid!);
  const idleT0 = performance.now();
  let results: PromiseSettledResult<LaneResult>[];
  let idleRssKb: number;
  let idleCpuPct: number;
  try {
    results = await Promise.allSettled(specs.map((s) => lane(s, windowS, o.quick)));
    idleRssKb = statusKb(idle.pid!, 'VmRSS');
    idleCpuPct = ((cpuSeconds(idle.pid!) - idleCpu0) / ((performance.now() - idleT0) / 1000)) * 100;
  } finally {
    killIdle();
    process.removeListener('exit', killIdle);
  }
  // Measured after the lanes, on a quiet machine: where the fixed RSS comes from.
  const modules = await moduleCost();
  const lanes: LaneResult[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') lanes.push(r.value);
    else progress(`footprint: lane ${specs[i]!.tunnels}@${specs[i]!.intervalS}s failed: ${(r.reason as Error)?.stack ?? String(r.reason)}`);
  });

  const rows: Row[] = [];
  for (const l of lanes) {
    const tag = `${l.tunnels} tunnels, probes every ${l.intervalS} s`;
    const mb = (kb: number) => kb / 1024;
    const rssMax = Math.max(...l.rssKb, l.rssEndKb);
    // The targets: 100 tunnels at the default 60 s interval, and 1000 at 10 s.
    const rssLimit = l.tunnels === 100 && l.intervalS === 60 ? 60 : l.tunnels === 1000 && l.intervalS === 10 ? 100 : undefined;
    const cpuLimit = l.tunnels === 100 && l.intervalS === 60 ? 0.2 : l.tunnels === 1000 && l.intervalS === 10 ? 3 : undefined;
    const rssTarget = rssLimit ? `<= ${rssLimit} MB` : '';
    rows.push(row({ metric: `${tag}: RSS, max over the window`, agent: mb(rssMax), unit: 'MB', anchor: mb(idleRssKb), anchorLabel: 'idle node', target: rssTarget, verdict: rssLimit ? verdict(mb(rssMax) <= rssLimit) : 'info', note: `VmHWM (peak since start, start-up included) ${round(mb(l.hwmKb), 1)} MB; agent ready after ${round(l.startMs / 1000, 2)} s` }));
    const bashPct = (l.bashRoundCpuS / l.intervalS) * 100;
    const cpuTarget = cpuLimit ? `<= ${cpuLimit} %` : '';
    rows.push(
      row({
        metric: `${tag}: CPU over ${round(l.windowS, 0)} s`,
        agent: l.cpuPct,
        unit: '%',
        anchor: bashPct,
        anchorLabel: `bash loop at ${l.intervalS} s`,
        target: cpuTarget,
        verdict: cpuLimit ? verdict(l.cpuPct <= cpuLimit) : 'info',
        note: `${l.probes.count} probes since start, ${l.probes.lastOk}/${l.probes.targets} targets passing at the end; per tunnel-round ${round((l.cpuS * 1000) / ((l.windowS / l.intervalS) * l.tunnels), 3)} ms CPU; bash loop: ${round(l.bashRoundCpuS, 2)} s CPU and ${round(l.bashRoundWallS, 1)} s wall per round; idle node ${round(idleCpuPct, 3)} %; left charon ${round(l.charonCpuPct, 2)} % over the window; VICI per second: ${round(l.vici.listSasPerS, 2)} list-sas, ${round(l.vici.logEventsPerS, 2)} log events, ${round(l.vici.otherEventsPerS, 2)} other events`,
      }),
    );
    // One row per probe kind: the whole round against the same call over one target.
    const roundRow = (kind: string, r: NonNullable<typeof l.round | typeof l.roundTcp>, note: string) => {
      const many = summarize(r.many.map((m) => m.ms));
      const single = summarize(r.single);
      rows.push(
        row({
          metric: `probe round, ${l.tunnels} ${kind}, max of ${many.n}`,
          agent: many.max,
          unit: 'ms',
          anchor: single.p50,
          anchorLabel: 'same call, 1 target',
          target: `<= ${DEFAULT_TIMEOUT_MS + 1000} ms`,
          verdict: verdict(many.max <= DEFAULT_TIMEOUT_MS + 1000),
          note,
        }),
      );
    };
    if (l.round) {
      const failures = l.round.many.some((m) => m.failed) ? `; failures: ${JSON.stringify(l.round.many.map((m) => m.errors))}` : '';
      roundRow(`ICMP targets (probeAll, timeout ${DEFAULT_TIMEOUT_MS / 1000} s)`, l.round, `answered per round: ${l.round.many.map((m) => `${m.ok}/${l.tunnels}`).join(', ')}${failures}`);
    }
    if (l.roundTcp) {
      roundRow('TCP targets :9802 (3 listen, the rest answer RST)', l.roundTcp, `connected + refused (both prove the tunnel) per round: ${l.roundTcp.many.map((m) => `${m.ok}+${m.refused}/${l.tunnels}`).join(', ')}`);
    }
  }
  const agentModules = modules['the agent (dist/cli/run.js and all it imports)'] ?? NaN;
  const bare = modules['node alone'] ?? NaN;
  rows.push(
    row({
      metric: 'RSS of node that only loaded the agent\'s modules (no config, no work)',
      agent: agentModules / 1024,
      unit: 'MB',
      anchor: bare / 1024,
      anchorLabel: 'node alone',
      target: '',
      verdict: 'info',
      note: `each dependency alone, over node alone: ${Object.entries(modules)
        .filter(([k]) => k !== 'node alone' && !k.startsWith('the agent'))
        .map(([k, v]) => `${k} +${round((v - bare) / 1024, 1)} MB`)
        .join(', ')}`,
    }),
  );
  const method = [
    `Window ${windowS} s per lane after a warm-up of min(interval, 60 s) + ${o.quick ? 2 : 10} s; lanes run side by side (separate labs), ${o.quick ? 'quick mode (the bash loop timed over 100 tunnels and scaled linearly; one probe round each)' : 'full mode'}.`,
    'Agent: production build, the default config (metrics endpoint on, log level info) except probe_interval. Probes: tcp + icmp for the 3 lab tunnels; one ICMP probe per scale tunnel to its remote TS address (held by the right gateway on lo, answered through that CHILD_SA).',
    'RSS: VmRSS of /proc/<pid>/status every 5 s; CPU: utime + stime of /proc/<pid>/stat (all threads), as % of one core. The pid is the node process itself (ip netns exec execs).',
    'CPU anchor: the bash loop\'s work for one round over the same tunnels (swanctl --list-sas once, ping -c1 -W1 per tunnel, run in the left namespace, CPU of its children from bash `times`) divided by the same interval. RSS anchor: an idle node process started with the lanes.',
    'Probe round: test/support/probe-pool.ts probeAll (default concurrency 512) over the build\'s runProbe in the left namespace with the agent stopped; anchor: the same call over one target.',
  ];
  return benchResult(
    { name: 'footprint', title: 'Footprint', o, started },
    {
      rows,
      method,
      raw: { lanes, idle: { rssKb: idleRssKb, cpuPct: idleCpuPct }, moduleRssKb: modules },
    },
  );
}

runWhenMain(import.meta.url, 'bench:footprint', runFootprint);
