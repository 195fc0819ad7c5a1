// What alerts and metrics share, so that neither imports the other: the events an alert can be
// about and the counters alert delivery reports to (implemented by metrics; a no-op when metrics
// are off).

/** What the alert dispatcher sends (alerts/types.ts AlertEvent); metrics initialise a series per event. */
export const ALERT_EVENTS = ['tunnel-down', 'tunnel-repaired', 'escalated', 'backoff', 'vici-lost', 'vici-restored', 'charon-alert', 'suppressed'] as const;

export type AlertDropReason = 'rate-limit' | 'queue-full' | 'retries-exhausted' | 'duplicate' | 'closed';

/** Where the alert dispatcher reports deliveries. */
export interface AlertCounters {
  sent(channel: string, event: string): void;
  failed(channel: string): void;
  dropped(channel: string, reason: AlertDropReason, count?: number): void;
}
