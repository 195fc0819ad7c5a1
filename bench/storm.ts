// `npm run bench:storm [-- --quick]`: restart storm. The left charon, with 400 CHILD_SAs configured and no
// start_action, is restarted; how long until all 400 are INSTALLED again with the agent, against charon's own
// start_action = start on an identical lab (no agent) restarted in the same run, storms alternating.
// The agent runs with vici.max_concurrent_initiates 4 (the default) and other values; each storm counts the
// agent's initiate errors and timeouts (its own concurrency against charon's workers, strongSwan #2776) and
// watches charon's answers: a list-sas every 100 ms whose slowest reply says whether charon was ever wedged.
import { startLab, type Lab } from '../lab/lab.js';
import { agentConfig, logTime, startBenchAgent, type BenchAgent } from './lib/agent.js';
import { buildAgent, loadBuilt } from './lib/build.js';
import { dbg, round, sleep, type BenchOptions } from './lib/common.js';
import { benchResult, progress, row, runWhenMain, verdict, type BenchResult, type Row } from './lib/report.js';
import { summarize } from './lib/stats.js';

const CHILDREN = 400;
// A restart that is not done in a minute (start_action takes ~6 s, the agent's default ~8 s) is a wedged
// charon, not a slow one: waiting longer only made `npm run bench` overrun its 15 minutes.
const DEADLINE_MS = 60_000;

interface Storm {
  variant: string;
  /** from charon's start (spawn) to all CHILD_SAs INSTALLED */
  allMs?: number;
  /** to half of them */
  halfMs?: number;
  /** charon start + config load, as the lab does it */
  startMs: number;
  installed: number;
  duplicates: number;
  ikeSas: number;
  slowestPollMs: number;
  initiates?: number;
  initiateErrors?: number;
  initiateTimeouts?: number;
  errorSample?: string[];
  /** agent: its VICI reconnect ('restored' log line) and its first initiate, from t0 (log ms resolution) */
  agentRestoredMs?: number;
  agentFirstInitiateMs?: number;
}

/** Restarts the left charon and polls until every child is INSTALLED. */
async function storm(lab: Lab, variant: string, agent?: BenchAgent): Promise<Storm> {
  await lab.stopLocalCharon();
  const logFrom = agent?.logs.length ?? 0;
  const t0 = performance.now();
  const t0Epoch = Date.now();
  await lab.startLocalCharon();
  const startMs = performance.now() - t0;
  const { ViciClient } = await loadBuilt();
  const vici = new ViciClient({ uri: lab.left.viciUri, reconnect: false, commandTimeoutMs: 60_000 });
  const res: Storm = { variant, startMs, installed: 0, duplicates: 0, ikeSas: 0, slowestPollMs: 0 };
  try {
    await vici.connect();
    for (;;) {
      const p0 = performance.now();
      const sas = await vici.listSas();
      res.slowestPollMs = Math.max(res.slowestPollMs, performance.now() - p0);
      const counts = new Map<string, number>();
      for (const s of sas) for (const c of Object.values(s['child-sas'])) if (c.state === 'INSTALLED') counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
      res.installed = counts.size;
      res.duplicates = [...counts.values()].reduce((a, n) => a + Math.max(0, n - 1), 0);
      res.ikeSas = sas.length;
      const at = performance.now() - t0;
      if (res.halfMs === undefined && counts.size >= CHILDREN / 2) res.halfMs = at;
      if (counts.size >= CHILDREN) {
        res.allMs = at;
        break;
      }
      if (at > DEADLINE_MS) break;
      await sleep(Math.max(0, 100 - (performance.now() - p0)));
    }
  } finally {
    await vici.close();
  }
  if (agent) {
    // The agent's last initiates may still be answering; let its log catch up.
    await sleep(500);
    const acts = agent.logs.slice(logFrom).filter((l) => l.action === 'initiate' && logTime(l) >= t0Epoch - 5);
    const errs = acts.filter((l) => l.result === 'error');
    res.initiates = acts.length;
    res.initiateErrors = errs.length;
    // charon's own initiate timeout reads "CHILD_SA '…' not established after 10000ms"; the client's is a timeout error.
    res.initiateTimeouts = errs.filter((l) => /not established after|time(d)? ?out/i.test(String(l['err'] ?? ''))).length;
    const restored = agent.logs.slice(logFrom).find((l) => /VICI connection restored/.test(l.msg));
    if (restored) res.agentRestoredMs = logTime(restored) - t0Epoch;
    const firstInit = acts[0];
    if (firstInit) res.agentFirstInitiateMs = logTime(firstInit) - (firstInit.ms ?? 0) - t0Epoch;
    res.errorSample = [...new Set(errs.map((l) => String(l['err'] ?? '')))].slice(0, 5);
  }
  dbg(`storm ${variant}: ${JSON.stringify({ ...res, errorSample: undefined })}`);
  return res;
}

const tunnelsOf = (lab: Lab) => lab.children.map((child) => ({ child }));

export async function runStorm(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  buildAgent(progress);
  const trials = o.quick ? 1 : 3;
  const variants = o.quick ? [4] : [1, 4, 16];
  let agentLab: Lab | undefined;
  let anchorLab: Lab | undefined;
  let agent: BenchAgent | undefined;
  const storms: Storm[] = [];
  try {
    progress(`storm: two labs with ${CHILDREN} CHILD_SAs (no start_action + agent; start_action = start)`);
    [agentLab, anchorLab] = await Promise.all([
      startLab({ scaleChildren: CHILDREN - 3, initiate: true }),
      startLab({ scaleChildren: CHILDREN - 3, startAction: 'start', initiate: true }),
    ]);
    const aLab = agentLab;
    for (let t = 0; t < trials; t++) {
      progress(`storm: round ${t + 1}/${trials}: start_action, then the agent with max_concurrent_initiates ${variants.join(', ')}`);
      storms.push(await storm(anchorLab, 'start_action'));
      for (const v of variants) {
        await agent?.stop();
        agent = await startBenchAgent(aLab, agentConfig(aLab, { tunnels: tunnelsOf(aLab), vici: { max_concurrent_initiates: v } }), `agent-mci${v}-${t}`);
        storms.push(await storm(aLab, `agent, max_concurrent_initiates ${v}`, agent));
      }
    }
  } finally {
    await agent?.stop().catch(() => {});
    await Promise.allSettled([agentLab?.close(), anchorLab?.close()]);
  }

  const rows: Row[] = [];
  const of = (v: string) => storms.filter((s) => s.variant === v);
  const anchor = summarize(of('start_action').map((s) => s.allMs ?? NaN).filter(Number.isFinite));
  const anchorMissing = of('start_action').filter((s) => s.allMs === undefined).length;
  for (const v of variants) {
    const ss = of(`agent, max_concurrent_initiates ${v}`);
    const all = summarize(ss.map((s) => s.allMs ?? NaN).filter(Number.isFinite));
    const missing = ss.filter((s) => s.allMs === undefined).length;
    const errors = ss.reduce((a, s) => a + (s.initiateErrors ?? 0), 0);
    const timeouts = ss.reduce((a, s) => a + (s.initiateTimeouts ?? 0), 0);
    const initiates = ss.reduce((a, s) => a + (s.initiates ?? 0), 0);
    const slowest = Math.max(...ss.map((s) => s.slowestPollMs));
    const isDefault = v === 4;
    rows.push(
      row({
        metric: `charon restart, ${CHILDREN} CHILD_SAs all INSTALLED, p50 of ${all.n}: agent, max_concurrent_initiates ${v}${isDefault ? ' (default)' : ''}`,
        agent: all.p50,
        unit: 'ms',
        anchor: anchor.p50,
        anchorLabel: 'start_action = start',
        target: '<= 1.2x',
        verdict: verdict(all.p50 / anchor.p50 <= 1.2 && missing === 0),
        note: `${initiates} initiates, ${errors} failed (${timeouts} timeouts)${ss.some((s) => s.errorSample?.length) ? `: ${[...new Set(ss.flatMap((s) => s.errorSample ?? []))].slice(0, 3).join(' | ')}` : ''}; slowest list-sas during the storm ${round(slowest, 0)} ms; duplicates after ${ss.map((s) => s.duplicates).join('/')}, IKE_SAs after ${ss.map((s) => s.ikeSas).join('/')}; half back at ${round(summarize(ss.map((s) => s.halfMs ?? NaN).filter(Number.isFinite)).p50, 0)} ms (start_action ${round(summarize(of('start_action').map((s) => s.halfMs ?? NaN).filter(Number.isFinite)).p50, 0)} ms); agent reconnected at ${round(summarize(ss.map((s) => s.agentRestoredMs ?? NaN).filter(Number.isFinite)).p50, 0)} ms, first initiate sent at ${round(summarize(ss.map((s) => s.agentFirstInitiateMs ?? NaN).filter(Number.isFinite)).p50, 0)} ms${missing ? `; ${missing} storm(s) not complete within ${DEADLINE_MS / 1000} s` : ''}`,
      }),
    );
    rows.push(
      row({
        metric: `  charon never wedged (initiate timeouts / slowest list-sas), max_concurrent_initiates ${v}`,
        agent: `${timeouts} / ${round(slowest, 0)} ms`,
        unit: '',
        anchor: `${round(Math.max(...of('start_action').map((s) => s.slowestPollMs)), 0)} ms`,
        anchorLabel: 'slowest list-sas, start_action',
        target: '0 timeouts',
        verdict: verdict(timeouts === 0),
      }),
    );
  }
  const method = [
    `Two labs, ${CHILDREN} CHILD_SAs under one IKE config each; the agent lab has no start_action, the anchor lab start_action = start and no agent. Storms alternate between the labs (${trials} round(s)); the agent is restarted with each max_concurrent_initiates value before its storm.`,
    't0 = the left charon spawned (after a SIGTERM stop, which sends DELETEs to the peer); the time includes the lab loading swanctl.conf (charon start + load, p50 ' +
      `${round(summarize(storms.map((s) => s.startMs)).p50, 0)} ms) and, for the agent, its VICI reconnect backoff (base 100 ms, cap 5 s).`,
    'All INSTALLED = a list-sas every 100 ms (own VICI connection) shows every child INSTALLED; its slowest answer during the storm is the "wedged" indicator. Agent: production build, default tuning, no probes; initiate errors and timeouts from its action log lines.',
    ...(anchorMissing ? [`${anchorMissing} start_action storm(s) did not complete within ${DEADLINE_MS / 1000} s`] : []),
  ];
  return benchResult(
    { name: 'storm', title: `Restart storm (${CHILDREN} CHILD_SAs)`, o, started },
    {
      rows,
      method,
      raw: { storms },
    },
  );
}

runWhenMain(import.meta.url, 'bench:storm', runStorm);
