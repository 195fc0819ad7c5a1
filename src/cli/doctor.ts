// `doctor`: reads charon's loaded connections (list-conns, every backend including stroke) and
// says where they differ from the hardening the operators rely on, and which combinations are
// known to produce duplicate CHILD_SAs. Pure over the list-conns answer.
import type { Conn } from '../vici/index.js';

export type Severity = 'ok' | 'info' | 'warn';

export interface Finding {
  severity: Severity;
  conn: string;
  child?: string;
  key: string;
  message: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

/** Findings for every connection and child; `managed` are the CHILD_SA names the agent keeps up. */
export function diagnose(conns: readonly Conn[], managed: ReadonlySet<string> = new Set()): Finding[] {
  const out: Finding[] = [];
  for (const conn of conns) {
    const c = conn.name;
    const dpdDelay = num(conn['dpd_delay']);
    if (dpdDelay === undefined) {
      out.push({ severity: 'info', conn: c, key: 'dpd_delay', message: 'not reported by this charon; cannot check DPD' });
    } else if (dpdDelay === 0) {
      out.push({ severity: 'warn', conn: c, key: 'dpd_delay', message: 'DPD is off: charon never notices a dead peer by itself (the agent\'s probes still do)' });
    } else {
      out.push({ severity: 'ok', conn: c, key: 'dpd_delay', message: `${dpdDelay}s` });
    }
    const keyingtries = num(conn['keyingtries']);
    if (keyingtries !== undefined && keyingtries !== 0) {
      out.push({ severity: 'info', conn: c, key: 'keyingtries', message: `${keyingtries}: charon gives up after that many tries; the agent keeps retrying with backoff` });
    }
    const unique = str(conn['unique']);
    if (unique === 'UNIQUE_NO' || unique === 'no') {
      out.push({ severity: 'info', conn: c, key: 'unique', message: 'unique=no: a re-initiating peer can leave a second IKE_SA' });
    }
    for (const [child, cfg] of Object.entries(conn.children ?? {})) {
      const start = str(cfg['start_action']) ?? '';
      const close = str(cfg['close_action']) ?? '';
      const dpd = str(cfg['dpd_action']) ?? '';
      const isManaged = managed.has(child);
      const rekey = num(cfg['rekey_time']);
      if (rekey === 0) out.push({ severity: 'warn', conn: c, child, key: 'rekey_time', message: 'CHILD_SA never rekeyed: keys live until the hard lifetime ends the SA' });
      if (/trap|route/.test(start) && /restart|start/.test(dpd)) {
        out.push({ severity: 'warn', conn: c, child, key: 'start_action+dpd_action', message: 'trap policy with dpd_action=restart is a known duplicate-CHILD_SA recipe; prefer dpd_action=trap' });
      }
      if (/trap|route/.test(start) && /start/.test(start)) {
        out.push({ severity: 'warn', conn: c, child, key: 'start_action', message: 'trap together with start is a known duplicate-CHILD_SA recipe' });
      }
      if (/start|restart/.test(close)) {
        out.push({
          severity: 'info',
          conn: c,
          child,
          key: 'close_action',
          message: isManaged
            ? `${close}: charon re-initiates after a peer DELETE; the agent waits its grace period before acting, so no duplicate. If the peer has close_action=start too, both sides re-initiate: duplicates (the agent removes extras)`
            : `${close}: charon re-initiates after a peer DELETE only (not after expiry, local deletes or failed negotiations)`,
        });
      } else if (!isManaged) {
        out.push({ severity: 'warn', conn: c, child, key: 'close_action', message: `${close || 'none'}: nothing restores this CHILD_SA after a peer DELETE (not managed by the agent either)` });
      }
      if (!dpd || dpd === 'clear' || dpd === 'none') {
        out.push({ severity: isManaged ? 'info' : 'warn', conn: c, child, key: 'dpd_action', message: `${dpd || 'clear'}: charon drops the tunnel when the peer is dead${isManaged ? '; the agent re-initiates with backoff' : ' and nothing brings it back'}` });
      }
      if (!start || start === 'none' || start === 'add') {
        out.push({ severity: isManaged ? 'info' : 'warn', conn: c, child, key: 'start_action', message: `${start || 'none'}: not started when charon starts${isManaged ? '; the agent initiates it' : ''}` });
      }
    }
  }
  return out;
}

export function formatFindings(findings: readonly Finding[]): string {
  const mark: Record<Severity, string> = { ok: 'ok  ', info: 'info', warn: 'WARN' };
  return findings.map((f) => `${mark[f.severity]}  ${f.conn}${f.child ? `/${f.child}` : ''}  ${f.key}: ${f.message}`).join('\n');
}

/** The findings for machines: snake_case keys, `child` null where the finding is about the connection. */
export function findingsJson(findings: readonly Finding[]): string {
  const out = findings.map((f) => ({ severity: f.severity, conn: f.conn, child: f.child ?? null, key: f.key, message: f.message }));
  return JSON.stringify({ findings: out, warnings: findings.filter((f) => f.severity === 'warn').length }, null, 2);
}
