// `npm run bench:stale [-- --quick]`: probe-driven repair of a stale tunnel and of peer state loss, against
// what DPD does in the same run.
//
// Lanes run side by side, each on its own lab (identical but for the agent / DPD settings):
//   - agent, probe interval 5 s: stale trials (3 tunnels at once, phases spread over the interval), then peer
//     state loss trials;
//   - agent, probe interval 60 s (the default; full mode only): stale trials, and state loss on a second lab;
//   - DPD (dpd_delay 5 s, dpd_action restart, no agent): an ESP blackhole for a whole window (DPD is answered,
//     the SAs stay, traffic is gone), then the dead peer;
//   - DPD with charon's default retransmits and the operators' dpd_delay 30 s (full mode only): the dead peer.
// Stale = ESP of ONE CHILD_SA dropped at the peer by SPI (nft, right namespace), IKE untouched: charon and DPD
// see nothing wrong, and a new CHILD_SA (new SPIs) carries traffic again, so repair is possible and measurable.
// Peer state loss = SIGKILL + restart of the right charon. Everything else is the product's default tuning
// (probe timeout 3 s, 3 re-probes 1 s apart, terminate timeout 3 s).
// Phase: the time from the fault to the tunnel's next scheduled probe round (from the agent's 'probe round'
// log lines) is set on purpose to (k + 0.5) / n of the interval for trial k of n (stratified), so n trials
// cover the interval evenly instead of waiting for luck; the worst case (a fault just after a round) is computed.
import { readFileSync } from 'node:fs';
import type { ViciClient } from '../src/vici/index.js';
import { BUILTIN_TUNING } from '../src/agent/config/load.js';
import { startLab, type Lab } from '../lab/lab.js';
import { agentConfig, logTime, startBenchAgent, type BenchAgent } from './lib/agent.js';
import { buildAgent, loadBuilt } from './lib/build.js';
import { dbg, round, sleep, type BenchOptions } from './lib/common.js';
import { benchResult, progress, row, runWhenMain, verdict, type BenchResult, type Row } from './lib/report.js';
import { summarize } from './lib/stats.js';
import { startWorker, type Worker } from './lib/worker-client.js';
import { allHealthy, blackholeSpi, epochNow, nextRound, spiOut, unblock, untilPhase } from './lib/stale-fault.js';

/** The product's defaults, for the computed bounds. */
const PROBE_TIMEOUT_S = BUILTIN_TUNING.probeTimeoutMs / 1000;
const REPROBES = BUILTIN_TUNING.reprobeAttempts;
const REPROBE_INTERVAL_S = BUILTIN_TUNING.reprobeIntervalMs / 1000;
const REPROBE_WINDOW_S = PROBE_TIMEOUT_S + REPROBES * (REPROBE_INTERVAL_S + PROBE_TIMEOUT_S);

interface StaleTrial {
  child: string;
  phaseS: number;
  repairS?: number;
  actedS?: number;
  actions: string[];
}

interface LossTrial {
  phaseS: number;
  repairS?: number;
  perChildS: (number | undefined)[];
  actions: string[];
}

const tunnelsOf = (lab: Lab) =>
  lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }, { icmp: t.host }] }));

function actionsSince(agent: BenchAgent, from: number, tunnel?: string): string[] {
  return agent.logs
    .slice(from)
    .filter((l) => typeof l.action === 'string' && (tunnel === undefined || l.tunnel === tunnel))
    .map((l) => `${l.tunnel}:${l.action}:${l.result}`);
}

async function withAgentLab<T>(name: string, intervalS: number, fn: (lab: Lab, agent: BenchAgent, w: Worker, vici: ViciClient) => Promise<T>): Promise<T> {
  const { ViciClient } = await loadBuilt();
  const lab = await startLab({ initiate: true });
  let agent: BenchAgent | undefined;
  let w: Worker | undefined;
  const vici = new ViciClient({ uri: lab.left.viciUri });
  try {
    await vici.connect();
    w = await startWorker(lab);
    agent = await startBenchAgent(lab, agentConfig(lab, { tunnels: tunnelsOf(lab), defaults: { probe_interval: `${intervalS}s` }, logLevel: 'debug' }), name);
    await allHealthy(agent, lab, 0, 30_000);
    return await fn(lab, agent, w, vici);
  } finally {
    await vici.close().catch(() => {});
    await agent?.stop().catch(() => {});
    await w?.close().catch(() => {});
    await lab.close();
  }
}

/** n stale trials, three tunnels at a time, trial k with its phase at (k + 0.5) / n of the interval. */
async function staleTrials(lab: Lab, agent: BenchAgent, w: Worker, vici: ViciClient, intervalS: number, n: number): Promise<StaleTrial[]> {
  const out: StaleTrial[] = [];
  const intervalMs = intervalS * 1000;
  for (let base = 0; base < n; base += lab.children.length) {
    const batch = lab.children.slice(0, Math.min(lab.children.length, n - base));
    const from = agent.logs.length;
    const got = await Promise.all(
      batch.map(async (child, j) => {
        const k = base + j;
        const phaseMs = ((k + 0.5) / n) * intervalMs;
        const table = `ikb_stale_${child.slice(-3)}`;
        await untilPhase(agent, child, intervalMs, phaseMs);
        const watchP = w.watch({ child, spacingMs: 100, attemptTimeoutMs: 1000, timeoutMs: intervalMs + 60_000 });
        const spi = await spiOut(vici, child);
        const t0 = epochNow();
        await blackholeSpi(lab, table, spi);
        dbg(`stale ${child} phase ${phaseMs} spi ${spi}`);
        const r = await watchP;
        await unblock(lab, table);
        const acted = agent.logs.slice(from).find((l) => l.tunnel === child && typeof l.action === 'string');
        const t: StaleTrial = { child, phaseS: phaseMs / 1000, actions: actionsSince(agent, from, child) };
        if (r.passEpoch !== undefined) t.repairS = (r.passEpoch - t0) / 1000;
        if (acted) t.actedS = (logTime(acted) - t0) / 1000;
        return t;
      }),
    );
    out.push(...got);
    await allHealthy(agent, lab, agent.logs.length, intervalMs + 30_000).catch(() => {});
  }
  return out;
}

/** n peer state losses, one at a time, phase relative to the earliest next round of the three tunnels. */
async function lossTrials(lab: Lab, agent: BenchAgent, w: Worker, intervalS: number, n: number): Promise<LossTrial[]> {
  const out: LossTrial[] = [];
  const intervalMs = intervalS * 1000;
  for (let k = 0; k < n; k++) {
    const phaseMs = ((k + 0.5) / n) * intervalMs;
    const first = lab.children.reduce((a, c) => ((nextRound(agent, c, intervalMs) ?? Infinity) < (nextRound(agent, a, intervalMs) ?? Infinity) ? c : a));
    await untilPhase(agent, first, intervalMs, phaseMs);
    const from = agent.logs.length;
    const watches = lab.children.map((child) => w.watch({ child, spacingMs: 100, attemptTimeoutMs: 1000, timeoutMs: intervalMs + 90_000 }));
    const t0 = epochNow();
    await lab.peerKillAndRestart();
    dbg(`loss ${k} phase ${phaseMs}`);
    const rs = await Promise.all(watches);
    const per = rs.map((r) => (r.passEpoch === undefined ? undefined : (r.passEpoch - t0) / 1000));
    const t: LossTrial = { phaseS: phaseMs / 1000, perChildS: per, actions: actionsSince(agent, from) };
    if (per.every((x) => x !== undefined)) t.repairS = Math.max(...(per as number[]));
    out.push(t);
    await allHealthy(agent, lab, agent.logs.length, intervalMs + 30_000).catch(() => {});
  }
  return out;
}

interface DpdFigures {
  blackhole?: { windowS: number; samples: number; installedAll: number; trafficOk: number; dpdRequests: number; dpdAnswered: number };
  deadPeer: { sasBackS?: number; trafficPerChildS: (number | undefined)[]; reqids?: Record<string, string> }[];
  restartS?: number;
}

/** A lab with DPD and no agent: the blackhole window (optional), then `n` dead peers. */
async function dpdLane(o: { dpdDelayS: number; retransmit?: { tries: number; timeoutSec: number; base: number }; windowS?: number; n: number; watchS: number }): Promise<DpdFigures> {
  const { ViciClient } = await loadBuilt();
  const lab = await startLab({ initiate: true, dpdDelaySec: o.dpdDelayS, dpdAction: 'restart', ...(o.retransmit ? { retransmit: o.retransmit } : {}) });
  const vici = new ViciClient({ uri: lab.left.viciUri, reconnect: { baseMs: 50, capMs: 500 } });
  let w: Worker | undefined;
  const fig: DpdFigures = { deadPeer: [] };
  try {
    await vici.connect();
    w = await startWorker(lab);
    await w.settle({ children: lab.children, timeoutMs: 10_000, quietMs: 200 });
    if (o.windowS) {
      const logLen = readFileSync(lab.left.logPath, 'utf8').length;
      await lab.blackholeEsp();
      const end = performance.now() + o.windowS * 1000;
      let samples = 0;
      let installedAll = 0;
      let trafficOk = 0;
      while (performance.now() < end) {
        const t = performance.now();
        const [checks, sas] = await Promise.all([w.check({ children: lab.children, timeoutMs: 800 }), vici.listSas()]);
        samples++;
        const inst = new Set(sas.flatMap((s) => Object.values(s['child-sas']).filter((c) => c.state === 'INSTALLED').map((c) => c.name)));
        if (lab.children.every((c) => inst.has(c))) installedAll++;
        trafficOk += checks.filter((c) => c.ok).length;
        await sleep(Math.max(0, 1000 - (performance.now() - t)));
      }
      await lab.healEsp();
      const log = readFileSync(lab.left.logPath, 'utf8').slice(logLen);
      fig.blackhole = {
        windowS: o.windowS,
        samples,
        installedAll,
        trafficOk,
        dpdRequests: (log.match(/sending DPD request/g) ?? []).length,
        dpdAnswered: (log.match(/parsed INFORMATIONAL response/g) ?? []).length,
      };
      await w.settle({ children: lab.children, timeoutMs: 10_000, quietMs: 200 });
      // Let traffic flow again so DPD's idea of "last inbound" is fresh before the dead-peer trials.
      await w.check({ children: lab.children, timeoutMs: 1000 });
    }
    const ups: { at: number; names: string[] }[] = [];
    await vici.onChildUpdown((e) => {
      if (e.up) ups.push({ at: performance.now(), names: Object.values(e.ike['child-sas']).map((c) => c.name) });
    });
    for (let k = 0; k < o.n; k++) {
      const watches = lab.children.map((child) => w!.watch({ child, spacingMs: 100, attemptTimeoutMs: 1000, timeoutMs: o.watchS * 1000 }));
      const from = ups.length;
      const t0p = performance.now();
      const t0 = epochNow();
      await lab.peerKillAndRestart();
      const rs = await Promise.all(watches);
      const back = lab.children.map((c) => ups.slice(from).find((u) => u.names.includes(c))?.at);
      const d: DpdFigures['deadPeer'][number] = { trafficPerChildS: rs.map((r) => (r.passEpoch === undefined ? undefined : (r.passEpoch - t0) / 1000)) };
      if (back.every((x) => x !== undefined)) d.sasBackS = (Math.max(...(back as number[])) - t0p) / 1000;
      const reqids: Record<string, string> = {};
      for (const s of await vici.listSas()) for (const c of Object.values(s['child-sas'])) reqids[c.name] = String(c.reqid);
      d.reqids = reqids;
      fig.deadPeer.push(d);
      dbg(`dpd dead peer ${JSON.stringify(d)}`);
      // A tunnel left without traffic (see the report) is re-created by hand before the next trial.
      if (d.trafficPerChildS.some((x) => x === undefined)) {
        await lab.swanctl('left', ['--terminate', '--ike', lab.ikeName, '--force', '--timeout', '2']).catch(() => '');
        await lab.initiateAll();
      }
      await w.settle({ children: lab.children, timeoutMs: 30_000, quietMs: 200 });
      await w.check({ children: lab.children, timeoutMs: 1000 });
    }
    // What the bash loop's `ipsec restart` costs here: charon stopped, started, every child initiated again.
    const t = performance.now();
    await lab.stopLocalCharon();
    await lab.startLocalCharon();
    await lab.initiateAll();
    fig.restartS = (performance.now() - t) / 1000;
  } finally {
    await vici.close().catch(() => {});
    await w?.close().catch(() => {});
    await lab.close();
  }
  return fig;
}

export async function runStale(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  buildAgent(progress);
  const quick = o.quick;
  const n5 = quick ? 3 : 6;
  const loss5 = quick ? 1 : 3;
  progress(`stale: lanes: agent@5s (${n5} stale, ${loss5} state loss)${quick ? '' : ', agent@60s stale (3), agent@60s state loss (3), DPD 30 s with default retransmits'}, DPD 5 s`);
  const lanes = await Promise.allSettled([
    withAgentLab('agent-5s', 5, async (lab, agent, w, vici) => ({
      stale: await staleTrials(lab, agent, w, vici, 5, n5),
      loss: await lossTrials(lab, agent, w, 5, loss5),
    })),
    quick ? Promise.resolve(undefined) : withAgentLab('agent-60s-stale', 60, async (lab, agent, w, vici) => staleTrials(lab, agent, w, vici, 60, 3)),
    quick ? Promise.resolve(undefined) : withAgentLab('agent-60s-loss', 60, async (lab, agent, w) => lossTrials(lab, agent, w, 60, 3)),
    dpdLane({ dpdDelayS: 5, windowS: quick ? 10 : 30, n: quick ? 1 : 3, watchS: 30 }),
    quick ? Promise.resolve(undefined) : dpdLane({ dpdDelayS: 30, retransmit: { tries: 5, timeoutSec: 4, base: 1.8 }, n: 1, watchS: 320 }),
  ]);
  const val = <T>(r: PromiseSettledResult<T>, what: string): T | undefined => {
    if (r.status === 'fulfilled') return r.value;
    progress(`stale: lane ${what} failed: ${(r.reason as Error)?.stack ?? String(r.reason)}`);
    return undefined;
  };
  const a5 = val(lanes[0], 'agent@5s');
  const s60 = val(lanes[1], 'agent@60s stale');
  const l60 = val(lanes[2], 'agent@60s loss');
  const dpd5 = val(lanes[3], 'DPD 5 s');
  const dpd30 = val(lanes[4], 'DPD 30 s default retransmits');
  const failedLanes = lanes.map((l, i) => (l.status === 'rejected' ? i : -1)).filter((i) => i >= 0);

  const rows: Row[] = [];
  const restartS = dpd5?.restartS ?? NaN;
  const bashExpected = 30 + 1 + restartS;
  const bashWorst = 60 + 1 + restartS;
  const dpd5Back = summarize((dpd5?.deadPeer ?? []).map((d) => d.sasBackS).filter((x): x is number => x !== undefined));
  const dpd5Traffic = (dpd5?.deadPeer ?? []).flatMap((d) => d.trafficPerChildS);
  const dpd5TrafficOk = dpd5Traffic.filter((x): x is number => x !== undefined);
  const staleRows = (label: string, intervalS: number, ts: StaleTrial[] | undefined) => {
    if (!ts) {
      rows.push(row({ metric: `stale tunnel, interval ${intervalS} s`, agent: quick ? 'skipped' : 'lane failed', unit: '', anchor: null, anchorLabel: '', target: `<= ${intervalS + 10} s`, verdict: 'skipped', note: quick ? `--quick: a ${intervalS} s interval needs > ${intervalS + REPROBE_WINDOW_S} s per trial; run the full bench` : 'see the progress log' }));
      return;
    }
    const rep = summarize(ts.map((t) => t.repairS).filter((x): x is number => x !== undefined));
    const unrepaired = ts.filter((t) => t.repairS === undefined).length;
    // After the round that first sees the fault: the re-probe window plus the repair, per trial.
    const afterDetect = ts.filter((t) => t.repairS !== undefined).map((t) => (t.repairS as number) - t.phaseS);
    const worst = intervalS + Math.max(...afterDetect);
    const bh = dpd5?.blackhole;
    const dpdText = bh ? `never (${bh.installedAll}/${bh.samples} s SAs INSTALLED, ${bh.dpdRequests} DPD answered)` : 'n/a';
    for (const p of ['p50', 'max'] as const) {
      rows.push(
        row({
          metric: `${label}: fault -> traffic again, ${p} (n=${rep.n}, phases ${ts.map((t) => round(t.phaseS, 1)).join('/')} s)`,
          agent: rep[p],
          unit: 's',
          anchor: dpdText,
          anchorLabel: 'DPD',
          target: `<= ${intervalS + 10} s`,
          verdict: verdict(rep[p] <= intervalS + 10 && unrepaired === 0),
          ...(p === 'max' && unrepaired ? { note: `${unrepaired} trial(s) not repaired within the watch window` } : {}),
        }),
      );
    }
    rows.push(
      row({
        metric: `${label}: worst case (fault just after a round), computed`,
        agent: worst,
        unit: 's',
        anchor: null,
        anchorLabel: '',
        target: `<= ${intervalS + 10} s`,
        verdict: verdict(worst <= intervalS + 10),
        note: `interval + the slowest measured (repair - phase): the re-probe window (${PROBE_TIMEOUT_S} s timeout + ${REPROBES} x (${REPROBE_INTERVAL_S} s + ${PROBE_TIMEOUT_S} s) = ${REPROBE_WINDOW_S} s with the default tuning) plus the repair itself`,
      }),
    );
    rows.push(row({ metric: `${label}: p50 vs the 60 s bash loop (expected)`, agent: rep.p50, unit: 's', anchor: bashExpected, anchorLabel: 'bash loop model', target: '', verdict: 'info' }));
    rows.push(row({ metric: `${label}: max vs the 60 s bash loop (worst)`, agent: rep.max, unit: 's', anchor: bashWorst, anchorLabel: 'bash loop model', target: '', verdict: 'info' }));
  };
  const lossRows = (label: string, intervalS: number, ts: LossTrial[] | undefined) => {
    if (!ts) {
      rows.push(row({ metric: `peer state loss, interval ${intervalS} s`, agent: quick ? 'skipped' : 'lane failed', unit: '', anchor: null, anchorLabel: '', target: `<= ${intervalS + 10} s`, verdict: 'skipped', note: quick ? `--quick: a ${intervalS} s interval needs > ${intervalS + REPROBE_WINDOW_S} s per trial; run the full bench` : 'see the progress log' }));
      return;
    }
    const rep = summarize(ts.map((t) => t.repairS).filter((x): x is number => x !== undefined));
    const unrepaired = ts.filter((t) => t.repairS === undefined).length;
    for (const p of ['p50', 'max'] as const) {
      rows.push(
        row({
          metric: `${label}: kill -> traffic on all 3 tunnels, ${p} (n=${rep.n}, phases ${ts.map((t) => round(t.phaseS, 1)).join('/')} s)`,
          agent: rep[p],
          unit: 's',
          anchor: dpd5Back.n ? dpd5Back[p] : null,
          anchorLabel: 'DPD 5 s: SAs back',
          target: `<= ${intervalS + 10} s`,
          verdict: verdict(rep[p] <= intervalS + 10 && unrepaired === 0),
          ...(p === 'max' && unrepaired ? { note: `${unrepaired} trial(s) not repaired within the watch window` } : {}),
        }),
      );
    }
    if (dpd30?.deadPeer[0]) {
      rows.push(row({ metric: `${label}: p50 vs DPD 30 s + default retransmits (SAs back)`, agent: rep.p50, unit: 's', anchor: dpd30.deadPeer[0].sasBackS ?? 'not back', anchorLabel: 'DPD, charon defaults', target: '', verdict: 'info' }));
    }
    rows.push(row({ metric: `${label}: p50 vs the 60 s bash loop (expected)`, agent: rep.p50, unit: 's', anchor: bashExpected, anchorLabel: 'bash loop model', target: '', verdict: 'info' }));
    rows.push(row({ metric: `${label}: max vs the 60 s bash loop (worst)`, agent: rep.max, unit: 's', anchor: bashWorst, anchorLabel: 'bash loop model', target: '', verdict: 'info' }));
  };
  staleRows('stale tunnel (ESP of one CHILD_SA dropped), interval 5 s', 5, a5?.stale);
  staleRows('stale tunnel (ESP of one CHILD_SA dropped), interval 60 s', 60, s60);
  lossRows('peer state loss (SIGKILL + restart), interval 5 s', 5, a5?.loss);
  lossRows('peer state loss (SIGKILL + restart), interval 60 s', 60, l60);
  if (dpd5?.blackhole) {
    const b = dpd5.blackhole;
    rows.push(
      row({
        metric: `DPD 5 s under an ESP blackhole, ${b.windowS} s window: seconds with all SAs INSTALLED / TCP checks passed`,
        agent: null,
        unit: '',
        anchor: `${b.installedAll}/${b.samples} / ${b.trafficOk}/${b.samples * 3}`,
        anchorLabel: `${b.dpdRequests} DPD requests, ${b.dpdAnswered} answered`,
        target: 'DPD never notices',
        verdict: 'info',
      }),
    );
  }
  if (dpd5) {
    const missing = dpd5Traffic.length - dpd5TrafficOk.length;
    rows.push(
      row({
        metric: `DPD 5 s (lab retransmits ~4.4 s), dead peer: SAs back p50 / traffic back p50 (per tunnel)`,
        agent: null,
        unit: 's',
        anchor: `${round(dpd5Back.p50, 1)} s / ${dpd5TrafficOk.length ? round(summarize(dpd5TrafficOk).p50, 1) : '-'} s`,
        anchorLabel: 'DPD',
        target: '',
        verdict: 'info',
        ...(missing ? { note: `${missing} of ${dpd5Traffic.length} tunnels INSTALLED again after dpd_action=restart but passed no traffic within 30 s (reqids after: ${JSON.stringify(dpd5.deadPeer.map((d) => d.reqids))})` } : {}),
      }),
    );
  }
  if (dpd30?.deadPeer[0]) {
    const d = dpd30.deadPeer[0];
    rows.push(row({ metric: 'DPD 30 s + charon default retransmits (5 x 4 s x 1.8^n, ~165 s), dead peer: SAs back', agent: null, unit: 's', anchor: d.sasBackS ?? 'not back in 320 s', anchorLabel: 'DPD', target: '', verdict: 'info' }));
  }
  const method = [
    'Agent lanes: production build, default tuning except probe_interval (5 s / 60 s); tcp + icmp probe per tunnel; lab retransmits (2 tries, 1 s, base 1.4). Repair = first completed TCP handshake to the target after the fault (worker in the left namespace, an attempt every 100 ms, 1 s attempt timeout).',
    'Phases are set from the agent\'s own schedule (its last "probe round" debug line + interval): trial k of n injects (k + 0.5) / n of an interval before the next round. The worst case (fault right after a round) is computed: interval + re-probe window + slowest measured repair after detection.',
    `Bash loop model: 60 s poll, ping through the tunnel (-W1), \`ipsec restart\` on failure: expected 30 s + 1 s + restart, worst 60 s + 1 s + restart; restart = stop/start the left charon and initiate all 3 children, measured once in this run (${round(restartS, 2)} s).`,
    'DPD lanes: same lab, no agent, dpd_action = restart. Blackhole: all ESP dropped at the right (lab.blackholeEsp), SAs and traffic sampled every second. Dead peer: SIGKILL + restart of the right charon, "SAs back" = child-updown up for all 3 on the left.',
    ...(failedLanes.length ? [`lanes that failed: ${failedLanes.join(', ')} (see progress output)`] : []),
  ];
  return benchResult(
    { name: 'stale', title: 'Stale tunnel and peer state loss', o, started },
    {
      rows,
      method,
      raw: { agent5: a5, agent60stale: s60, agent60loss: l60, dpd5, dpd30, reprobeWindowS: REPROBE_WINDOW_S },
    },
  );
}

runWhenMain(import.meta.url, 'bench:stale', runStale);
