// Why charon's VICI socket cannot be reached, in the operator's terms: one reason per errno that
// has a known fix, and the hint that names the fix. The CLI's error line, the agent's log and the
// vici_down_reason metric all say the same thing because they all ask this module.

export const VICI_DOWN_REASONS = ['permission', 'missing', 'refused', 'other'] as const;
export type ViciDownReason = (typeof VICI_DOWN_REASONS)[number];

export interface ViciDown {
  reason: ViciDownReason;
  hint: string;
}

const BY_ERRNO: Record<string, ViciDownReason> = {
  EACCES: 'permission',
  EPERM: 'permission',
  ENOENT: 'missing',
  ECONNREFUSED: 'refused',
};

const HINTS: Record<Exclude<ViciDownReason, 'other'>, string> = {
  permission: 'permission denied: this user is not in the group of charon\'s socket (README, "Troubleshooting")',
  missing: 'no socket there: charon is not running, or its VICI socket is elsewhere (set vici.socket or --socket)',
  refused: 'connection refused: charon is not accepting connections (stopped or restarting)',
};

/** The errno behind an error: its own `code`, or its causes' (the VICI layer wraps the socket's error). */
function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** What went wrong, without the "vici <socket>: " prefix the VICI layer puts on its errors. */
function detailOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const socket = err instanceof Error ? (err as { socket?: unknown }).socket : undefined;
  const prefix = typeof socket === 'string' ? `vici ${socket}: ` : '';
  return prefix && message.startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** The reason and the hint for a failed connect (or a lost connection: `other`, with its own words). */
export function viciDown(err: unknown): ViciDown {
  const reason = BY_ERRNO[errnoOf(err) ?? ''] ?? 'other';
  return { reason, hint: reason === 'other' ? detailOf(err) : HINTS[reason] };
}
