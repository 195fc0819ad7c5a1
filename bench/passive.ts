// `npm run bench:passive [-- --quick]`: passive stale detection (a tunnel's own counters) against probe-only
// detection in the same run, and the probe-proof check.
//
// Two lanes side by side, each on its own lab, identical but for `traffic_watch`: the agent as deployed,
// probe interval 60 s (the default), one CHILD_SA made stale by dropping its ESP at the peer by SPI (IKE
// untouched, so charon and DPD see nothing) while traffic flows through it: a TCP connect every 100 ms
// from the left's inside address, which is also the measurement (fault -> first completed handshake).
// Trial k of n injects the fault (k + 0.5) / n of an interval before the tunnel's next probe round, so the
// probe-only anchor covers its interval evenly; passive detection does not depend on the phase.
// Probe proof: a third small lab where one tunnel's probe target sits behind its sibling's SA: sampled
// /metrics says whether that tunnel ever counted as healthy.
import { startLab } from '../lab/lab.js';
import { run } from '../lab/proc.js';
import { agentConfig, logTime, startBenchAgent, type BenchAgent } from './lib/agent.js';
import { buildAgent, loadBuilt } from './lib/build.js';
import { round, sleep, type BenchOptions } from './lib/common.js';
import { benchResult, progress, row, runWhenMain, verdict, type BenchResult, type Row } from './lib/report.js';
import { summarize } from './lib/stats.js';
import { startWorker, type Worker } from './lib/worker-client.js';
import { blackholeSpi, epochNow, spiOut, unblock, untilPhase } from './lib/stale-fault.js';

const INTERVAL_S = 60;
const TARGET_S = 10;

interface Trial {
  phaseS: number;
  repairS?: number;
  suspectS?: number;
  actions: string[];
}

/** n stale trials on one tunnel, with traffic flowing, passive detection on or off. */
async function lane(passive: boolean, n: number): Promise<Trial[]> {
  const { ViciClient } = await loadBuilt();
  const lab = await startLab({ initiate: true });
  let agent: BenchAgent | undefined;
  let w: Worker | undefined;
  const vici = new ViciClient({ uri: lab.left.viciUri });
  const intervalMs = INTERVAL_S * 1000;
  const child = lab.children[0]!;
  const out: Trial[] = [];
  try {
    await vici.connect();
    w = await startWorker(lab);
    const tunnels = lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }] }));
    const cfg = { ...(agentConfig(lab, { tunnels, defaults: { probe_interval: `${INTERVAL_S}s` }, logLevel: 'debug' }) as Record<string, unknown>), ...(passive ? {} : { traffic_watch: { interval: 0 } }) };
    agent = await startBenchAgent(lab, cfg, passive ? 'passive' : 'probe-only');
    await agent.waitForLog((l) => l.tunnel === child && l.msg === 'probe round' && l['health'] === 'healthy', { timeoutMs: 30_000 });
    for (let k = 0; k < n; k++) {
      const phaseMs = ((k + 0.5) / n) * intervalMs;
      await untilPhase(agent, child, intervalMs, phaseMs);
      const from = agent.logs.length;
      const watchP = w.watch({ child, spacingMs: 100, attemptTimeoutMs: 1000, timeoutMs: intervalMs + 60_000 });
      const spi = await spiOut(vici, child);
      const t0 = epochNow();
      await blackholeSpi(lab, 'ikb_passive', spi);
      const r = await watchP;
      await unblock(lab, 'ikb_passive');
      const t: Trial = { phaseS: phaseMs / 1000, actions: agent.logs.slice(from).filter((l) => typeof l.action === 'string').map((l) => `${l.tunnel}:${l.action}:${l.result}`) };
      if (r.passEpoch !== undefined) t.repairS = (r.passEpoch - t0) / 1000;
      const suspect = agent.logs.slice(from).find((l) => l.tunnel === child && /probing now/.test(l.msg));
      if (suspect) t.suspectS = (logTime(suspect) - t0) / 1000;
      out.push(t);
      progress(`bench:passive ${passive ? 'passive' : 'probe-only'} trial ${k + 1}/${n}: phase ${round(t.phaseS, 1)} s, traffic again after ${t.repairS === undefined ? 'never' : `${round(t.repairS, 2)} s`}`);
      await agent.waitForLog((l) => l.tunnel === child && l.msg === 'probe round' && l['health'] === 'healthy', { from: agent.logs.length, timeoutMs: intervalMs + 30_000 }).catch(() => {});
    }
    return out;
  } finally {
    await vici.close().catch(() => {});
    await agent?.stop().catch(() => {});
    await w?.close().catch(() => {});
    await lab.close();
  }
}

/** One tunnel probes its sibling's target for `samples` seconds: how often /metrics called it healthy. */
async function proofLane(samples: number): Promise<{ healthy: number; samples: number; unproven: boolean }> {
  const lab = await startLab({ initiate: true });
  let agent: BenchAgent | undefined;
  try {
    const [a, b] = lab.targets as [(typeof lab.targets)[0], (typeof lab.targets)[0]];
    const tunnels = [
      { child: a.child, source: lab.leftInsideAddr, probes: [{ tcp: `${a.host}:${a.port}` }] },
      { child: b.child, source: lab.leftInsideAddr, probes: [{ tcp: `${a.host}:${a.port}` }] },
    ];
    agent = await startBenchAgent(lab, agentConfig(lab, { tunnels, defaults: { probe_interval: '1s' } }), 'proof');
    await agent.waitForLog((l) => l.tunnel === a.child && /probes healthy/.test(l.msg), { timeoutMs: 30_000 }).catch(() => {});
    let healthy = 0;
    const re = new RegExp(`^ipsec_keepalive_tunnel_healthy\\{tunnel="${b.child}"[^}]*\\} 1$`, 'm');
    for (let i = 0; i < samples; i++) {
      await sleep(1000);
      const m = await run(['ip', 'netns', 'exec', lab.left.ns, 'curl', '-sf', 'http://127.0.0.1:9842/metrics'], { allowFail: true });
      if (re.test(m.stdout)) healthy++;
    }
    return { healthy, samples, unproven: agent.logs.some((l) => l.tunnel === b.child && /went through another SA/.test(l.msg)) };
  } finally {
    await agent?.stop().catch(() => {});
    await lab.close();
  }
}

export async function runPassive(o: BenchOptions): Promise<BenchResult> {
  const started = performance.now();
  buildAgent(progress);
  const n = o.quick ? 1 : 3;
  const [passive, probeOnly, proof] = await Promise.all([lane(true, n), lane(false, n), proofLane(o.quick ? 5 : 15)]);
  const rep = (ts: Trial[]) => summarize(ts.map((t) => t.repairS ?? Infinity));
  const p = rep(passive);
  const a = rep(probeOnly);
  const rows: Row[] = [];
  for (const q of ['p50', 'max'] as const) {
    rows.push(
      row({
        metric: `stale CHILD_SA carrying traffic, interval ${INTERVAL_S} s: fault -> traffic again, ${q} (n=${n}, phases ${passive.map((t) => round(t.phaseS, 1)).join('/')} s)`,
        agent: round(p[q], 2),
        unit: 's',
        anchor: round(a[q], 2),
        anchorLabel: 'probes only (traffic_watch off), same run',
        target: `<= ${TARGET_S} s`,
        verdict: verdict(p[q] <= TARGET_S),
      }),
    );
  }
  const suspects = passive.map((t) => t.suspectS).filter((x): x is number => x !== undefined);
  if (suspects.length) rows.push(row({ metric: 'of which: fault -> suspect (counters), p50', agent: round(summarize(suspects).p50, 2), unit: 's', anchor: null, anchorLabel: '', target: '', verdict: 'info' }));
  rows.push(
    row({
      metric: `probe through a sibling's SA: /metrics samples with tunnel_healthy 1 (of ${proof.samples}, 1 s apart)`,
      agent: proof.healthy,
      unit: '',
      anchor: null,
      anchorLabel: '',
      target: '0 (unproven, said in the log)',
      verdict: verdict(proof.healthy === 0 && proof.unproven),
    }),
  );
  return benchResult(
    { name: 'passive', title: 'Passive stale detection and probe proof', o, started },
    {
      rows,
      method: [
        `Two agent lanes side by side, production build, default tuning, probe_interval ${INTERVAL_S} s: passive detection on (traffic_watch default: counters every 2 s, window 4 s) and off (the anchor). Stale = ESP of one CHILD_SA dropped at the peer by SPI; traffic = a TCP connect every 100 ms through it, and "traffic again" = its first completed handshake after the fault.`,
        'Trial k of n injects the fault (k + 0.5) / n of an interval before the next probe round (from the agent\'s "probe round" lines).',
        'Probe proof: tunnel B probes tunnel A\'s target (A\'s traffic selectors cover it); /metrics sampled once a second.',
      ],
      raw: { passive, probeOnly, proof },
    },
  );
}

runWhenMain(import.meta.url, 'bench:passive', runPassive);
