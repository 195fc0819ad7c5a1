// pino to stdout: JSON lines for journald, human-readable when a person runs it in a terminal.
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

/** Keys that may carry secrets anywhere in a log object: censored, never printed. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password',
  'secret', '*.secret', '*.*.secret',
  'psk', '*.psk',
  'url', '*.url', '*.*.url',
  'webhook', '*.webhook',
  'token', '*.token',
  'headers.authorization', '*.headers.authorization',
];

export function createLogger(level: LevelWithSilent = 'info', opts: { pretty?: boolean } = {}): Logger {
  const usePretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base = {
    level,
    base: { name: 'ipsec-keepalive' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (usePretty) {
    // Loaded only for a terminal: under systemd (JSON to journald) it would be RSS for nothing.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', sync: true }));
  }
  const toJournal = stdoutIsJournal();
  return pino(
    { ...base, timestamp: pino.stdTimeFunctions.isoTime, ...(toJournal ? { hooks: { streamWrite: withSyslogPriority } } : {}) },
    pino.destination({ fd: 1, sync: false }),
  );
}

/** pino's numeric levels as syslog priorities (trace and debug 7, info 6, warn 4, error 3, fatal 2). */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

/**
 * journald files a stdout line at the priority of its `<N>` prefix (and strips the prefix), so
 * `journalctl -p warning` works while `journalctl -o cat` still gives one JSON object per line.
 * pino writes the level as the first key of every line.
 */
export function withSyslogPriority(line: string): string {
  const m = /^\{"level":(\d+)/.exec(line);
  return m ? `<${syslogPriority(Number(m[1]))}>${line}` : line;
}

/** True when systemd connected stdout to the journal (JOURNAL_STREAM names stdout's device and inode). */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (!stream) return false;
  try {
    const st = fstatSync(1);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}
