// pino to stdout: JSON lines for journald, human-readable when a person runs it in a terminal.
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
  return pino({ ...base, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 1, sync: false }));
}
