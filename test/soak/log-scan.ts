// Reads what the agent wrote (stdout JSON lines and stderr) for signs of bugs: unhandled rejections,
// uncaught exceptions, anything that is not one of its JSON lines (a stack trace, a Node warning),
// and error/fatal lines (pino level >= 50) other than the few a fault provokes on purpose.

export interface ScanRules {
  /** The fault under way fed the agent a bad config on SIGHUP: its rejection is expected. */
  expectReloadRejected: boolean;
}

/** Level >= 50 lines a soak provokes by design, with why; everything else at that level is a finding. */
const EXPECTED_ERRORS: Array<{ re: RegExp; why: string; when?: (r: ScanRules) => boolean }> = [
  {
    re: /^alert to \S+ \(.*\) dropped after \d+ attempts: /,
    why: "the soak's alert receivers are closed ports (and a host the lab cannot reach) on purpose",
  },
  {
    re: /^reload rejected, keeping the running configuration: /,
    why: 'the invalid-config reload fault',
    when: (r) => r.expectReloadRejected,
  },
];

export interface ScanFinding {
  line: string;
  why: string;
}

function clip(s: string, n = 300): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

export function scanOutput(text: string, rules: ScanRules): ScanFinding[] {
  const out: ScanFinding[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (/unhandled|uncaught/i.test(line)) {
      out.push({ line: clip(line), why: 'unhandled rejection or uncaught exception' });
      continue;
    }
    let obj: { level?: unknown; msg?: unknown };
    try {
      obj = JSON.parse(line) as { level?: unknown; msg?: unknown };
    } catch {
      out.push({ line: clip(line), why: 'not a JSON log line (stderr, a stack trace or a warning)' });
      continue;
    }
    const level = typeof obj.level === 'number' ? obj.level : 0;
    if (level < 50) continue;
    const msg = typeof obj.msg === 'string' ? obj.msg : '';
    const known = EXPECTED_ERRORS.find((e) => e.re.test(msg) && (e.when?.(rules) ?? true));
    if (!known) out.push({ line: clip(line), why: `level ${level} line` });
  }
  return out;
}

interface AgentLine {
  time: string;
  msg: string;
  tunnel?: string;
  health?: string;
  action?: string;
}

/**
 * What the agent said about `tunnel` while a traffic-stopping fault (ESP blackhole, link cut) was held
 * from `from` to `to` (ms): whether it noticed (a failing round, the tunnel down, or a repair on it: a
 * sibling's IKE_SA restart re-creates it and discards its round in flight), and any round it called
 * healthy although no traffic could pass (after `graceMs`, for a round that completed as the fault began).
 */
export function duringOutage(lines: readonly AgentLine[], tunnel: string, from: number, to: number, graceMs = 1000): { noticed: boolean; healthyRounds: string[] } {
  let noticed = false;
  const healthyRounds: string[] = [];
  for (const l of lines) {
    if (l.tunnel !== tunnel) continue;
    const t = Date.parse(l.time);
    if (t < from || t > to) continue;
    if ((l.msg === 'probe round' && l.health === 'failing') || l.msg.startsWith(`tunnel ${tunnel} down: `) || l.action !== undefined) noticed = true;
    if (l.msg === 'probe round' && l.health === 'healthy' && t > from + graceMs) healthyRounds.push(l.time);
  }
  return { noticed, healthyRounds };
}
