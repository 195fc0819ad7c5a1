// What `run` tells systemd (Type=notify): READY=1 once the agent runs, RELOADING=1 … READY=1 around
// a reload, STATUS= lines an operator sees in `systemctl status`, STOPPING=1, and WATCHDOG=1 from
// the event loop. Through the sd-notify package (libsystemd's own sd_notify); outside systemd
// (no NOTIFY_SOCKET) nothing is loaded and every call does nothing.
import { createRequire } from 'node:module';

/** The part of sd-notify's native binding used here (its own typings omit sendState). */
interface SdNotify {
  sendState(state: string): void;
  watchdog(): void;
  /** WATCHDOG_USEC in ms, 0 without a watchdog. */
  watchdogInterval(): number;
}

export interface ServiceNotifier {
  /** READY=1 with a status line; sent once per start or reload. */
  ready(status: string): void;
  reloading(): void;
  /** STATUS=, sent only when the text changed. */
  status(text: string): void;
  stopping(): void;
  close(): void;
}

const NOOP: ServiceNotifier = { ready() {}, reloading() {}, status() {}, stopping() {}, close() {} };

/** One line for systemd: the protocol is newline-separated assignments. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

export function serviceNotifier(env: NodeJS.ProcessEnv = process.env): ServiceNotifier {
  if (!env['NOTIFY_SOCKET']) return NOOP;
  const sd = createRequire(import.meta.url)('sd-notify') as SdNotify;
  let last = '';
  let watchdog: NodeJS.Timeout | undefined;
  // WATCHDOG_USEC is what WatchdogSec= set; pinging at half of it is systemd's own advice.
  const intervalMs = sd.watchdogInterval();
  if (intervalMs > 0) {
    watchdog = setInterval(() => sd.watchdog(), Math.max(1, Math.floor(intervalMs / 2)));
    watchdog.unref();
  }
  return {
    ready(status) {
      last = oneLine(status);
      sd.sendState(`READY=1\nSTATUS=${last}`);
    },
    reloading() {
      sd.sendState('RELOADING=1');
    },
    status(text) {
      const t = oneLine(text);
      if (t === last) return;
      last = t;
      sd.sendState(`STATUS=${t}`);
    },
    stopping() {
      sd.sendState('STOPPING=1');
    },
    close() {
      if (watchdog) clearInterval(watchdog);
    },
  };
}
