// Test-only reachability checks run inside a lab namespace (the product's probes live in src/probes).
import type { Lab } from './lab.js';

export interface CheckResult {
  ok: boolean;
  /** for TCP: 'connected' | an errno code such as ECONNREFUSED, ENETUNREACH | 'ETIMEDOUT' */
  detail: string;
  ms: number;
}

// Bound to the source address so the packet matches the local traffic selector.
const TCP_SCRIPT = `
const net = require('node:net');
const [host, port, src, ms] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), localAddress: src || undefined });
const t = setTimeout(() => { console.log('ETIMEDOUT'); process.exit(0); }, Number(ms));
s.on('connect', () => { clearTimeout(t); console.log('connected'); s.destroy(); });
s.on('error', (e) => { clearTimeout(t); console.log(e.code || e.message); });
`;

export async function tcpCheck(
  lab: Lab,
  side: 'left' | 'right',
  host: string,
  port: number,
  opts: { sourceAddr?: string; timeoutMs?: number } = {},
): Promise<CheckResult> {
  const t0 = Date.now();
  const r = await lab.exec(
    side,
    [process.execPath, '-e', TCP_SCRIPT, host, String(port), opts.sourceAddr ?? '', String(opts.timeoutMs ?? 1000)],
    { allowFail: true },
  );
  const detail = r.stdout.trim() || r.stderr.trim() || `exit ${r.code}`;
  return { ok: detail === 'connected', detail, ms: Date.now() - t0 };
}

export async function pingCheck(
  lab: Lab,
  side: 'left' | 'right',
  host: string,
  opts: { sourceAddr?: string; timeoutSec?: number } = {},
): Promise<CheckResult> {
  const t0 = Date.now();
  const src = opts.sourceAddr ? ['-I', opts.sourceAddr] : [];
  const r = await lab.exec(side, ['ping', '-n', '-q', '-c1', `-W${opts.timeoutSec ?? 1}`, ...src, host], {
    allowFail: true,
  });
  return { ok: r.code === 0, detail: r.code === 0 ? 'reply' : (r.stderr.trim() || `exit ${r.code}`), ms: Date.now() - t0 };
}
