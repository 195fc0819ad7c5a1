// Why charon could not do what the agent asked, from its own words: the control-log it streams for a
// command (what `swanctl --initiate` prints) and the command's errmsg. One class per cause an operator
// acts on differently, and whether the cause lies with the IKE_SA (shared by every tunnel of the
// connection: one attempt stream for all of them) or with one CHILD_SA (that tunnel alone backs off).

export type FailureClass = 'auth' | 'timeout' | 'proposal' | 'traffic-selectors' | 'peer-delete' | 'config' | 'other';

export const FAILURE_CLASSES: readonly FailureClass[] = ['auth', 'timeout', 'proposal', 'traffic-selectors', 'peer-delete', 'config', 'other'];

export interface FailureReason {
  class: FailureClass;
  /** The IKE_SA could not be set up: every tunnel of the connection shares the failure. */
  ikeLevel: boolean;
  /** charon's line that says it, or the error message. */
  detail: string;
}

interface Rule {
  class: FailureClass;
  /** Matches a control-log line or the error message. */
  re: RegExp;
  /** IKE-level always, never, or when no IKE_SA was established before the line ('unless-established'). */
  ike: boolean | 'unless-established';
}

// First match wins, in this order: a specific notify beats the generic "failed" lines around it.
const RULES: readonly Rule[] = [
  { class: 'auth', re: /AUTHENTICATION_FAILED|authentication of .* failed|no shared key found|MAC verification failed|tried \d+ shared keys? for/i, ike: true },
  { class: 'traffic-selectors', re: /TS_UNACCEPTABLE|traffic selectors? .*unacceptable|no acceptable traffic selectors/i, ike: false },
  { class: 'proposal', re: /NO_PROPOSAL_CHOSEN|no acceptable proposal|no matching proposal|proposal mismatch/i, ike: 'unless-established' },
  { class: 'config', re: /config '.*' not found|no config named|no matching config/i, ike: false },
  { class: 'peer-delete', re: /received DELETE|deleted by peer/i, ike: false },
  // charon gave up (its retransmits, or the initiate's own timeout), or the client heard no reply.
  { class: 'timeout', re: /giving up after \d+ retransmits|peer not responding|not established after \d+ ?ms|no reply within|unable to resolve|no route to host|network is unreachable/i, ike: true },
];

const ESTABLISHED = /IKE_SA .* established between/;

/** Classifies a failed initiate or terminate from charon's log for it and the error message. */
export function classifyFailure(charonLog: readonly string[], errorMessage: string): FailureReason {
  const lines = [...charonLog, errorMessage];
  for (const rule of RULES) {
    const i = lines.findIndex((l) => rule.re.test(l));
    if (i < 0) continue;
    const established = lines.slice(0, i).some((l) => ESTABLISHED.test(l));
    const ikeLevel = rule.ike === 'unless-established' ? !established : rule.ike;
    return { class: rule.class, ikeLevel, detail: lines[i]!.trim() };
  }
  return { class: 'other', ikeLevel: false, detail: errorMessage };
}
