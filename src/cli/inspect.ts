// One-shot commands: check (probe once) and doctor (config review); status is in status.ts.
import { existsSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH, loadConfig, type AgentConfig } from '../agent/config/load.js';
import { DEFAULT_VICI_URI } from '../agent/config/schema.js';
import { diagnose, findingsJson, formatFindings } from './doctor.js';
import { childConnMap } from '../agent/controller/conns.js';
import { runProbe } from '../probes/index.js';
import type { ProbeResult } from '../probes/types.js';
import { ViciClient } from '../vici/index.js';

interface InspectOptions {
  config?: string;
  socket?: string;
  json?: boolean;
}

/** The config when there is one; doctor also works without (every loaded child). */
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
