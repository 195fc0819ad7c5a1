// HTTP channels: a generic JSON webhook and Slack's incoming-webhook format, both a POST through
// Node's built-in fetch (undici): no extra HTTP library for one POST with a timeout.
import type { Alert, AlertSource, Channel } from './types.js';
import { safeOrigin, urlSecrets } from './redact.js';

export interface WebhookConfig {
  url: string;
  /** ms */
  timeout: number;
}

const EMOJI: Record<Alert['event'], string> = {
  'tunnel-down': ':red_circle:',
  'tunnel-repaired': ':large_green_circle:',
  escalated: ':large_orange_circle:',
  backoff: ':large_orange_circle:',
  'vici-lost': ':red_circle:',
  'vici-restored': ':large_green_circle:',
  'charon-alert': ':warning:',
  suppressed: ':information_source:',
};

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The generic webhook's JSON body (documented in README.md (Metrics and alerts)). */
export function webhookBody(a: Alert, src: AlertSource): Record<string, unknown> {
  const body: Record<string, unknown> = {
    source: 'ipsec-keepalive',
    version: src.version,
    host: src.host,
    event: a.event,
    severity: a.severity,
    tunnel: a.tunnel ?? null,
    ike: a.ike ?? null,
    child: a.child ?? null,
    message: a.message,
    time: iso(a.at),
    timestamp: a.at / 1000,
  };
  if (a.since !== undefined) {
    body['since'] = iso(a.since);
    body['since_timestamp'] = a.since / 1000;
  }
  if (a.downMs !== undefined) body['down_seconds'] = a.downMs / 1000;
  if (a.details) body['details'] = a.details;
  return body;
}

/** Slack mrkdwn treats &, < and > as markup. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackBody(a: Alert, src: AlertSource): { text: string; blocks: unknown[] } {
  const text = `${EMOJI[a.event]} ${esc(a.message)}`;
  const context = [`host \`${esc(src.host)}\``];
  if (a.tunnel) context.push(`tunnel \`${esc(a.tunnel)}\``);
  if (a.ike) context.push(`IKE \`${esc(a.ike)}\``);
  if (a.child) context.push(`child \`${esc(a.child)}\``);
  context.push(`<!date^${Math.floor(a.at / 1000)}^{date_short_pretty} {time_secs}|${iso(a.at)}>`);
  return {
    // `text` is what notifications and clients without blocks show.
    text: `${text} (${src.host})`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
    ],
  };
}

async function post(url: string, body: unknown, timeoutMs: number, signal: AbortSignal, src: AlertSource): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': `ipsec-keepalive/${src.version}` },
    body: JSON.stringify(body),
    signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    // A redirect would re-send the body elsewhere: configure the final URL instead.
    redirect: 'manual',
  });
  // Drain the body so the connection is reused; its content is not needed (and may echo the URL).
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
}

export function webhookChannel(cfg: WebhookConfig, src: AlertSource): Channel {
  return {
    name: 'webhook',
    target: safeOrigin(cfg.url),
    secrets: urlSecrets(cfg.url),
    deliver: (a, signal) => post(cfg.url, webhookBody(a, src), cfg.timeout, signal, src),
  };
}

export function slackChannel(cfg: WebhookConfig, src: AlertSource): Channel {
  return {
    name: 'slack',
    target: safeOrigin(cfg.url),
    secrets: urlSecrets(cfg.url),
    deliver: (a, signal) => post(cfg.url, slackBody(a, src), cfg.timeout, signal, src),
  };
}
