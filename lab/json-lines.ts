// The agent (pino) and the bench worker talk in JSON lines; tests and benchmarks read them as they arrive.
import type { Readable } from 'node:stream';

/** One line of the agent's log. */
export interface LogLine {
  level: number;
  time: string;
  msg: string;
  tunnel?: string;
  action?: string;
  reason?: string;
  result?: string;
  health?: string;
  err?: string;
  ms?: number;
  [k: string]: unknown;
}

/** Calls `onLine` with each complete, non-blank line of `stream`; a partial last line waits for its newline. */
export function onLines(stream: Readable | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    partial += d;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line);
  });
}

/** A line of agent output; one that is not JSON (a stack trace, a warning) becomes a level-60 entry saying so. */
export function parseLogLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { level: 60, time: '', msg: `unparsed: ${line}` };
  }
}
