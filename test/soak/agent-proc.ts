// The harness's startAgent, for the reliability tests that need more: the agent run under a prefix
// (`setpriv` to an unprivileged user), and its output readable before 'agent running' (an agent that
// waits for charon, or for permission on its socket, does not get there until the test lets it).
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { startAgent, type LogLine, type RunningAgent } from '../integration/agent-harness.js';

export interface Tap {
  /** JSON lines the agent wrote so far (stdout). */
  lines(): LogLine[];
  /** Everything it wrote, stdout and stderr. */
  output(): string;
  waitFor(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  proc(): ChildProcess | undefined;
}

export function startTappedAgent(lab: Lab, cfg: object, name: string, prefix: string[] = [], entry?: string[]): { tap: Tap; running: Promise<RunningAgent> } {
  let child: ChildProcess | undefined;
  let raw = '';
  const spawnIn: Lab['spawnIn'] = (side, argv, o) => {
    child = lab.spawnIn(side, [...prefix, ...argv], o);
    child.stdout?.on('data', (d: Buffer | string) => (raw += d.toString()));
    child.stderr?.on('data', (d: Buffer | string) => (raw += d.toString()));
    return child;
  };
  const lines = (): LogLine[] =>
    raw
      .split('\n')
      .slice(0, -1)
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as LogLine];
        } catch {
          return [];
        }
      });
  const running = startAgent({ ...lab, spawnIn }, cfg, name, entry);
  running.catch(() => undefined); // observed by whoever awaits it
  return {
    running,
    tap: {
      lines,
      output: () => raw,
      proc: () => child,
      waitFor: (pred, what, timeoutMs = 15_000) =>
        waitFor(
          () => {
            if (child && child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${raw.slice(-1500)}`);
            return lines().find(pred);
          },
          { timeoutMs, intervalMs: 20, what },
        ),
    },
  };
}
