// One-shot commands: status (SAs per tunnel from VICI), check (probe once), doctor (config review).
import { existsSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH, loadConfig, type AgentConfig, type TunnelConfig } from '../agent/config/load.js';
import { DEFAULT_VICI_URI } from '../agent/config/schema.js';
import { diagnose, findingsJson, formatFindings } from './doctor.js';
import { childConfigs, childConnMap, tunnelIke } from '../agent/controller/conns.js';
import { observeTunnel } from '../agent/controller/observe.js';
import { runProbe } from '../probes/index.js';
import type { ProbeResult } from '../probes/types.js';
import { ViciClient, type Conn, type IkeSa } from '../vici/index.js';

interface InspectOptions {
  config?: string;
  socket?: string;
  json?: boolean;
  /** status: only these tunnels (empty or absent: all). */
  names?: string[];
  /** status: more detail per tunnel. */
  verbose?: boolean;
}

/** The config when there is one; status and doctor also work without (every loaded child). */
async function optionalConfig(opts: InspectOptions): Promise<AgentConfig | undefined> {
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  if (!opts.config && !existsSync(path)) return undefined;
  return loadConfig(path);
}

async function withVici<T>(uri: string, fn: (v: ViciClient) => Promise<T>): Promise<T> {
  const vici = new ViciClient({ uri, reconnect: false, commandTimeoutMs: 10_000 });
  await vici.connect();
  try {
    return await fn(vici);
  } finally {
    await vici.close();
  }
}

export interface TunnelStatusRow {
  tunnel: string;
  ike: string | null;
  child: string;
  configured: boolean;
  state: 'up' | 'down' | 'connecting' | 'duplicate';
  childSas: Array<{ ikeId: number; childId: number; state: string; installedSecondsAgo: number; bytesIn: number; bytesOut: number }>;
  ikeSas: Array<{ ikeId: number; state: string; remoteHost: string | null }>;
}

export function tunnelRows(tunnels: ReadonlyArray<Pick<TunnelConfig, 'name' | 'child' | 'ike'>>, conns: readonly Conn[], sas: readonly IkeSa[], configured: boolean): TunnelStatusRow[] {
  const children = childConnMap(conns);
  return tunnels.map((t) => {
    const ike = tunnelIke(t, children.get(t.child));
    const obs = observeTunnel(sas, t.child, ike);
    const holding = sas.filter((sa) => obs.ikeIds.includes(Number(sa.uniqueid)));
    const state = obs.installed.length > 1 ? 'duplicate' : obs.up.length > 0 ? 'up' : obs.charonBusy ? 'connecting' : 'down';
    return {
      tunnel: t.name,
      ike: ike ?? null,
      child: t.child,
      configured,
      state,
      childSas: obs.up.map((c) => ({ ikeId: c.ikeId, childId: c.childId, state: c.state, installedSecondsAgo: c.installAgeSec, bytesIn: c.bytesIn, bytesOut: c.bytesOut })),
      ikeSas: holding.map((sa) => ({ ikeId: Number(sa.uniqueid), state: sa.state, remoteHost: sa['remote-host'] ?? null })),
    };
  });
}

export function formatStatus(rows: readonly TunnelStatusRow[]): string {
  if (rows.length === 0) return 'no tunnels (no config, and charon has no connections loaded)';
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(`${r.tunnel}: ${r.state.toUpperCase()}  ike=${r.ike ?? '?'} child=${r.child}${r.configured ? '' : ' (not in config)'}`);
    for (const sa of r.ikeSas) lines.push(`  IKE_SA #${sa.ikeId} ${sa.state} remote ${sa.remoteHost ?? '?'}`);
    for (const c of r.childSas) lines.push(`  CHILD_SA #${c.childId} ${c.state} installed ${c.installedSecondsAgo}s ago, ${c.bytesIn} bytes in, ${c.bytesOut} bytes out`);
  }
  return lines.join('\n');
}

export async function runStatus(opts: InspectOptions): Promise<number> {
  const cfg = await optionalConfig(opts);
  const uri = opts.socket ?? cfg?.viciUri ?? DEFAULT_VICI_URI;
  const rows = await withVici(uri, async (v) => {
    const [conns, sas] = [await v.listConns(), await v.listSas()];
    const tunnels = cfg && cfg.tunnels.length > 0
      ? cfg.tunnels
      : childConfigs(conns).map(([child, info]) => ({ name: child, child, ike: info.ike }));
    return tunnelRows(tunnels, conns, sas, Boolean(cfg && cfg.tunnels.length > 0));
  });
  console.log(opts.json ? JSON.stringify(rows, null, 2) : formatStatus(rows));
  return rows.every((r) => r.state === 'up') ? 0 : 1;
}

export async function runCheck(opts: InspectOptions): Promise<number> {
  const cfg = await loadConfig(opts.config ?? DEFAULT_CONFIG_PATH);
  const results: Array<{ tunnel: string; result: ProbeResult }> = [];
  await Promise.all(
    cfg.tunnels
      .filter((t) => t.enabled)
      .flatMap((t) =>
        t.probes.map(async (p) => {
          const o: { timeoutMs: number; sourceAddr?: string } = { timeoutMs: t.probeTimeoutMs };
          if (t.source) o.sourceAddr = t.source;
          results.push({ tunnel: t.name, result: await runProbe(p, o) });
        }),
      ),
  );
  results.sort((a, b) => a.tunnel.localeCompare(b.tunnel) || a.result.target.localeCompare(b.result.target));
  if (opts.json) {
    console.log(JSON.stringify(results, null, 2));
  } else {
    for (const { tunnel, result: r } of results) {
      console.log(`${r.success ? 'ok  ' : 'FAIL'}  ${tunnel}  ${r.kind} ${r.target}  ${Math.round(r.durationMs)} ms${r.error ? `  ${r.error}` : ''}`);
    }
    if (results.length === 0) console.log('no probe targets configured');
  }
  return results.every((r) => r.result.success) ? 0 : 1;
}

export async function runDoctor(opts: InspectOptions): Promise<number> {
  const cfg = await optionalConfig(opts);
  const uri = opts.socket ?? cfg?.viciUri ?? DEFAULT_VICI_URI;
  const conns = await withVici(uri, (v) => v.listConns());
  const children = childConnMap(conns);
  const managed = new Set(cfg?.discover ? children.keys() : (cfg?.tunnels ?? []).map((t) => t.child));
  const findings = diagnose(conns, managed);
  const missing = (cfg?.tunnels ?? []).filter((t) => !children.has(t.child));
  for (const t of missing) {
    findings.unshift({ severity: 'warn', conn: t.ike ?? '?', child: t.child, key: 'child', message: `tunnel ${t.name}: charon has no CHILD_SA config with this name` });
  }
  if (opts.json) console.log(findingsJson(findings));
  else console.log(findings.length ? formatFindings(findings) : 'charon has no connections loaded');
  return findings.some((f) => f.severity === 'warn') ? 1 : 0;
}
