// Webhook URLs carry their credential in the path or query (Slack: /services/T…/B…/<token>), SMTP
// has a password: neither may reach a log line, an error message or a metric label.

/** scheme://host[:port] of a URL: what logs may say about a webhook. */
export function safeOrigin(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid URL)';
  }
}

/** The parts of a URL that are secret, longest first, for scrubbing text. */
export function urlSecrets(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [url];
  }
  const parts = [url, u.href, `${u.pathname}${u.search}`, u.search.slice(1), safeDecode(u.pathname), u.username, u.password];
  for (const seg of u.pathname.split('/')) parts.push(seg, safeDecode(seg));
  for (const v of u.searchParams.values()) parts.push(v, encodeURIComponent(v));
  return distinct(parts);
}

/** The password and the forms an SMTP AUTH exchange carries it in (base64 of PLAIN and LOGIN). */
export function passwordSecrets(user: string | undefined, password: string | undefined): string[] {
  if (!password) return [];
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return distinct([password, encodeURIComponent(password), b64(password), b64(`\u0000${user ?? ''}\u0000${password}`), b64(`${user ?? ''}\u0000${user ?? ''}\u0000${password}`)]);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function distinct(parts: string[]): string[] {
  // Very short fragments ('/', 'v1') are not secrets and would mangle every message.
  return [...new Set(parts.filter((p) => p.length >= 4))].sort((a, b) => b.length - a.length);
}

/** Replaces every secret in `text`; used on every error message before it is logged. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('[redacted]');
  return out;
}

/** One line from an error, its cause included (fetch hides the socket error there). */
export function errorLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  let line = err.message;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    line += `: ${code && !cause.message.includes(code) ? `${code} ` : ''}${cause.message}`;
  }
  return line.replace(/\s*\n\s*/g, ' ');
}
