// What `run` says while charon's VICI socket cannot be reached: the hint on the first failure,
// again when the reason changes, and a reminder at a bounded rate while it lasts, so the journal
// never goes silent on an agent that cannot do its job, and never floods either.
import { viciDown, type ViciDown, type ViciDownReason } from '../agent/observability/vici-down.js';

/** How often the same reason is said again while the socket stays unreachable. */
export const VICI_DOWN_REMINDER_MS = 5 * 60_000;

export interface ViciDownNote extends ViciDown {
  kind: 'first' | 'changed' | 'reminder';
  /** Since the first failure of this outage. */
  downMs: number;
}

export class ViciDownNotes {
  /** 'up': connected; the next failure is the loss of that connection. */
  private state: 'never' | 'up' | 'down' = 'never';
  private since = 0;
  private current: ViciDownReason | undefined;
  private lastSaid = 0;
  /** When each reason was last said in this outage: a socket that flips between two reasons is said twice per reminder period, not per attempt. */
  private readonly saidAt = new Map<ViciDownReason, number>();

  connected(): void {
    this.state = 'up';
    this.current = undefined;
    this.saidAt.clear();
  }

  /**
   * A 'disconnect' from the VICI client at `now`; the note to log, if any. The first failure after a
   * connection is the loss of it, which the agent reports itself; the attempts after it are said here.
   */
  failed(err: unknown, now: number): ViciDownNote | undefined {
    if (this.state === 'up') {
      this.state = 'down';
      this.since = now;
      return undefined;
    }
    const down = viciDown(err);
    const said = (kind: ViciDownNote['kind']): ViciDownNote => {
      this.current = down.reason;
      this.lastSaid = now;
      this.saidAt.set(down.reason, now);
      return { ...down, kind, downMs: now - this.since };
    };
    if (this.state === 'never') {
      this.state = 'down';
      this.since = now;
    }
    if (this.current === undefined) return said('first');
    if (down.reason !== this.current) {
      const before = this.saidAt.get(down.reason);
      this.current = down.reason;
      if (before === undefined || now - before >= VICI_DOWN_REMINDER_MS) return said('changed');
    }
    if (now - this.lastSaid >= VICI_DOWN_REMINDER_MS) return said('reminder');
    return undefined;
  }
}

/** The log line for a note. */
export function viciDownMessage(socket: string, note: ViciDownNote): string {
  switch (note.kind) {
    case 'first':
      return `charon's VICI socket ${socket} is not reachable: ${note.hint}; waiting for it`;
    case 'changed':
      return `charon's VICI socket ${socket} is still not reachable, now: ${note.hint}`;
    case 'reminder':
      return `charon's VICI socket ${socket} is still not reachable after ${Math.round(note.downMs / 60_000)} min: ${note.hint}`;
  }
}
