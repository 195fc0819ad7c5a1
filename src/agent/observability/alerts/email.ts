// Email over SMTP with nodemailer: the one maintained SMTP client for Node with implicit TLS,
// STARTTLS, AUTH PLAIN/LOGIN and proper MIME encoding; writing SMTP by hand is not worth the risk.
import { createRequire } from 'node:module';
import type * as Nodemailer from 'nodemailer';
import type { Alert, AlertSource, Channel } from './types.js';
import { passwordSecrets } from './redact.js';
import { formatDuration } from './policy.js';

export interface EmailConfig {
  host: string;
  port: number;
  /** Implicit TLS (SMTPS, port 465). */
  secure: boolean;
  /** Without implicit TLS: true requires STARTTLS (credentials never cross in clear), false sends in clear. */
  starttls: boolean;
  user?: string;
  password?: string;
  from: string;
  to: string | string[];
  /** ms */
  timeout: number;
}

export function emailSubject(a: Alert, src: AlertSource): string {
  const tag = a.severity === 'critical' ? 'DOWN' : a.severity === 'warning' ? 'WARN' : 'OK';
  const line = `[ipsec-keepalive ${tag}] ${src.host}: ${a.message}`;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

export function emailText(a: Alert, src: AlertSource): string {
  const lines = [a.message, '', `event:    ${a.event}`, `severity: ${a.severity}`, `host:     ${src.host}`];
  if (a.tunnel) lines.push(`tunnel:   ${a.tunnel}`);
  if (a.ike) lines.push(`IKE:      ${a.ike}`);
  if (a.child) lines.push(`child:    ${a.child}`);
  lines.push(`time:     ${new Date(a.at).toISOString()}`);
  if (a.since !== undefined) lines.push(`since:    ${new Date(a.since).toISOString()}`);
  if (a.downMs !== undefined) lines.push(`down for: ${formatDuration(a.downMs)}`);
  for (const [k, v] of Object.entries(a.details ?? {})) lines.push(`${`${k}:`.padEnd(10)}${String(v)}`);
  lines.push('', `-- ipsec-keepalive ${src.version}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Loaded only when email is configured: nodemailer costs resident memory in every agent that
 * imports it (bench:footprint measures it), and most agents send no email.
 */
function loadNodemailer(): typeof Nodemailer {
  return createRequire(import.meta.url)('nodemailer') as typeof Nodemailer;
}

export function emailChannel(cfg: EmailConfig, src: AlertSource): Channel {
  const transport = loadNodemailer().createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    requireTLS: !cfg.secure && cfg.starttls,
    ignoreTLS: !cfg.secure && !cfg.starttls,
    ...(cfg.user !== undefined ? { auth: { user: cfg.user, pass: cfg.password ?? '' } } : {}),
    connectionTimeout: cfg.timeout,
    greetingTimeout: cfg.timeout,
    socketTimeout: cfg.timeout,
    // nodemailer's own logger would print the SMTP dialogue, AUTH included.
    logger: false,
    debug: false,
  });
  return {
    name: 'email',
    target: `smtp${cfg.secure ? 's' : ''}://${cfg.host}:${cfg.port}`,
    secrets: passwordSecrets(cfg.user, cfg.password),
    deliver: async (a, signal) => {
      if (signal.aborted) throw new Error('aborted');
      // nodemailer takes no AbortSignal; its socket timeouts bound the attempt.
      await transport.sendMail({ from: cfg.from, to: cfg.to, subject: emailSubject(a, src), text: emailText(a, src) });
    },
    close: () => transport.close(),
  };
}
