// What an alert is, independent of how it is delivered.
import type { ALERT_EVENTS } from '../alert-counters.js';

export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** critical: needs a person now; warning: the agent struggles; info: good news or a summary. */
export type Severity = 'critical' | 'warning' | 'info';

export interface Alert {
  event: AlertEvent;
  severity: Severity;
  /** One line for a person: what happened, to what. */
  message: string;
  /** When it happened (ms since the epoch). */
  at: number;
  tunnel?: string;
  ike?: string;
  child?: string;
  /** Start of the outage this alert is about (ms since the epoch). */
  since?: number;
  /** How long the outage lasted (repaired, vici-restored), in ms. */
  downMs?: number;
  /** Event-specific values (reason, failures, next attempt, charon alert type, summary counts). */
  details?: Record<string, string | number | boolean>;
}

/** Who the alert is from, in every message: several gateways may share one channel. */
export interface AlertSource {
  host: string;
  version: string;
}

/** One delivery; rejects on failure (the queue retries). `signal` aborts it on shutdown. */
export type Deliver = (alert: Alert, signal: AbortSignal) => Promise<void>;

export interface Channel {
  /** 'webhook', 'slack' or 'email': the metric label. */
  name: string;
  /** Where it goes, safe to log: scheme and host of a URL, SMTP host and port. Never a secret. */
  target: string;
  deliver: Deliver;
  /** Strings that must never reach a log (URL path and query, SMTP password). */
  secrets: string[];
  close?(): void;
}
