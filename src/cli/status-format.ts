// `ipsec-keepalive status` as text: a header saying whose view it is, one line per tunnel, and with
// -v the swanctl-level detail (SPIs, traffic selectors, algorithms, counters, lifetimes).
import type { ChildSaStatus, IkeSaStatus, StatusDocument, TunnelStatusDoc } from '../agent/observability/status.js';

/** "45s", "3m12s", "2h03m", "4d02h". */
export function human(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

function sinceText(iso: string | null, now: number): string {
  return iso ? human(now - Date.parse(iso)) : '-';
}

function inText(iso: string | null, now: number): string {
  return iso ? human(Date.parse(iso) - now) : '-';
}

function secs(n: number | null): string {
  return n === null ? '-' : human(n * 1000);
}

function probesText(t: TunnelStatusDoc): string {
  if (t.probes.length === 0) return '-';
  const failed = t.probes.filter((p) => !p.ok);
  const slowest = Math.max(...t.probes.map((p) => p.latency_ms));
  // Passing probes of a tunnel without a CHILD_SA went through another SA, whatever the health says
  // between a round and its judgement.
  const unproven = t.health === 'unproven' || t.child_sas.length === 0;
  if (failed.length === 0) return `${t.probes.length}/${t.probes.length} ok ${slowest}ms${unproven ? ' (unproven)' : ''}`;
  const f = failed[0]!;
  return `${t.probes.length - failed.length}/${t.probes.length} ok; ${f.kind} ${f.target}: ${f.error ?? 'failed'}`;
}

/** What an operator should read next to a tunnel that is not simply up. */
function noteText(t: TunnelStatusDoc, now: number): string {
  const parts: string[] = [];
  if ((t.status !== 'up' || t.child_sas.length > 1) && t.why) parts.push(t.why);
  if (t.backoff_until) parts.push(`next attempt in ${inText(t.backoff_until, now)}`);
  if (t.status === 'up' || t.status === 'not-loaded') return parts.join('; ');
  const a = t.last_action;
  if (a && a.result === 'error') parts.push(`last ${a.kind} failed: ${a.failure ?? 'error'}${a.detail ? ` (${a.detail})` : ''}`);
  else if (t.last_error) parts.push(t.last_error);
  return parts.join('; ');
}

function ikeText(t: TunnelStatusDoc): string {
  return t.ike_sa ? `${t.ike_sa.name}#${t.ike_sa.id}` : '-';
}

function childText(t: TunnelStatusDoc): string {
  const c = t.child_sas[0];
  if (!c) return '-';
  return `#${c.id}${c.reqid !== null ? ` reqid ${c.reqid}` : ''}${t.child_sas.length > 1 ? ` (+${t.child_sas.length - 1})` : ''}`;
}

function header(doc: StatusDocument, now: number): string[] {
  const counts = Object.entries(doc.counts)
    .sort(([a], [b]) => (a === 'up' ? -1 : b === 'up' ? 1 : a.localeCompare(b)))
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const total = `${doc.tunnels.length} tunnel${doc.tunnels.length === 1 ? '' : 's'}${counts ? `: ${counts}` : ''}`;
  if (doc.agent) {
    const a = doc.agent;
    return [`agent view (pid ${a.pid}, running ${sinceText(a.started_at, now)}, ${a.config}); charon ${a.vici_connected ? 'connected' : 'NOT connected'} at ${a.vici_socket}; ${total}`];
  }
  const lines = [`charon view (${doc.charon?.vici_socket ?? '?'}): no probes, backoff or repair history; ${total}`];
  for (const n of doc.charon?.notes ?? []) lines.push(`note: ${n}`);
  return lines;
}

function ikeDetail(s: IkeSaStatus): string[] {
  const algs = [s.encryption, s.integrity, s.prf, s.dh_group].filter(Boolean).join('/');
  return [
    `  IKE_SA ${s.name} #${s.id} ${s.state}${s.version ? ` IKEv${s.version}` : ''}, ${s.local_host ?? '?'}[${s.local_id ?? '?'}]...${s.remote_host ?? '?'}[${s.remote_id ?? '?'}]`,
    `    ${algs || 'algorithms unknown'}, established ${secs(s.established_seconds_ago)} ago, rekeying in ${secs(s.rekey_in_seconds)}${s.reauth_in_seconds !== null ? `, reauth in ${secs(s.reauth_in_seconds)}` : ''}`,
  ];
}

function childDetail(c: ChildSaStatus): string[] {
  const algs = [c.encryption, c.integrity, c.dh_group].filter(Boolean).join('/');
  return [
    `  ${['CHILD_SA', c.name, `#${c.id}`, c.reqid !== null ? `reqid ${c.reqid}` : '', c.state, c.mode ? `${c.mode}${c.encap ? '-in-UDP' : ''}` : '', c.protocol ?? '', `SPIs ${c.spi_in ?? '?'}_i ${c.spi_out ?? '?'}_o`].filter(Boolean).join(' ')}`,
    `    ${algs || 'algorithms unknown'}, ${c.bytes_in} bytes_i (${c.packets_in} pkts), ${c.bytes_out} bytes_o (${c.packets_out} pkts), installed ${secs(c.installed_seconds_ago)} ago, rekeying in ${secs(c.rekey_in_seconds)}, expires in ${secs(c.expires_in_seconds)}`,
    `    ${c.local_ts.join(',') || '?'} === ${c.remote_ts.join(',') || '?'}`,
  ];
}

function detail(t: TunnelStatusDoc, now: number): string[] {
  const out: string[] = [];
  if (t.ike_sa) out.push(...ikeDetail(t.ike_sa));
  for (const c of t.child_sas) out.push(...childDetail(c));
  for (const p of t.probes) out.push(`  probe ${p.kind} ${p.target} ${p.ok ? 'ok' : 'FAILED'} ${p.latency_ms} ms${p.error ? `: ${p.error}` : ''}${t.probed_at ? ` (${sinceText(t.probed_at, now)} ago)` : ''}`);
  if (t.next_probe_at) out.push(`  next probe in ${inText(t.next_probe_at, now)}`);
  const a = t.last_action;
  if (a) out.push(`  last action ${a.kind} ${a.result === 'ok' ? 'ok' : `failed${a.failure ? ` (${a.failure}${a.detail ? `: ${a.detail}` : ''})` : ''}`} in ${a.ms} ms, ${sinceText(a.at, now)} ago`);
  if (t.flaps !== null) out.push(`  ${t.flaps} outage${t.flaps === 1 ? '' : 's'} since the agent started${t.down_since ? `; this one since ${sinceText(t.down_since, now)} ago` : ''}`);
  return out;
}

export function formatStatusText(doc: StatusDocument, opts: { verbose?: boolean; now?: number } = {}): string {
  const now = opts.now ?? Date.parse(doc.generated_at);
  const lines = header(doc, now);
  // Connections that only answer are listed (the operator may wonder why discover left them), never kept.
  const responderRows = doc.responders.flatMap((r) =>
    r.children.map((c) => [c, 'responder', '-', '-', '-', doc.view === 'agent' ? '-' : '', `connection ${r.ike} only answers (remote ${r.remote_addrs.join(',') || '%any'}): not kept alive`]),
  );
  if (doc.tunnels.length === 0 && responderRows.length === 0) {
    lines.push('no tunnels (none configured, and charon has no CHILD_SA configs loaded)');
    return lines.join('\n');
  }
  const rows = [...doc.tunnels.map((t) => [t.name, t.status, sinceText(t.since, now), ikeText(t), childText(t), doc.view === 'agent' ? probesText(t) : '', noteText(t, now)]), ...responderRows];
  const head = ['TUNNEL', 'STATUS', 'SINCE', 'IKE_SA', 'CHILD_SA', doc.view === 'agent' ? 'PROBES' : '', 'NOTE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 || widths[i] === 0 ? c : c.padEnd(widths[i]!)))
      .filter((c, i) => widths[i] !== 0 || c !== '')
      .join('  ')
      .trimEnd();
  lines.push(line(head));
  doc.tunnels.forEach((t, i) => {
    lines.push(line(rows[i]!));
    if (opts.verbose) lines.push(...detail(t, now));
  });
  for (const r of rows.slice(doc.tunnels.length)) lines.push(line(r));
  return lines.join('\n');
}
