// The agent as it is deployed (the compiled CLI, `ipsec-keepalive run`), started in the lab's left namespace
// where its probes take the tunnel. Its JSON log lines are parsed as they arrive.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { built } from './build.js';
import { onLines, parseLogLine, type LogLine } from '../../lab/json-lines.js';

export type { LogLine };

export interface BenchAgent {
  proc: ChildProcess;
  /** the node process itself (not `ip netns exec`, should that ever fork) */
  pid: number;
  logs: LogLine[];
  configPath: string;
  waitForLog(pred: (l: LogLine) => boolean, opts?: { timeoutMs?: number; what?: string; from?: number }): Promise<LogLine>;
  stop(): Promise<void>;
}

/** A config with the product's defaults, except what the benchmark states. */
export function agentConfig(lab: Lab, o: { tunnels: object[]; defaults?: object; vici?: object; logLevel?: string; metrics?: boolean }): object {
  return {
    vici: { socket: lab.left.viciUri, ...o.vici },
    defaults: { ...o.defaults },
    tunnels: o.tunnels,
    // The default (enabled, loopback) except where a benchmark runs several agents that must not collide:
    // each lab namespace has its own loopback, so the default address is fine everywhere.
    metrics: { enabled: o.metrics ?? true },
    log: { level: o.logLevel ?? 'info' },
  };
}

function nodePidOf(pid: number): number {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node') return pid;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const k of kids) if (readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'node') return k;
  } catch {
    // gone
  }
  return pid;
}

export async function startBenchAgent(lab: Lab, cfg: object, name = 'agent'): Promise<BenchAgent> {
  const configPath = join(lab.dir, `${name}.yaml`);
  writeFileSync(configPath, stringify(cfg));
  const proc = lab.spawnIn('left', [process.execPath, built().main, 'run', '--config', configPath]);
  const logs: LogLine[] = [];
  let stderr = '';
  onLines(proc.stdout, (line) => logs.push(parseLogLine(line)));
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const agent: BenchAgent = {
    proc,
    pid: proc.pid ?? 0,
    logs,
    configPath,
    async waitForLog(pred, o = {}) {
      return waitFor(
        () => {
          if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode}: ${stderr.slice(-1000)}`);
          return logs.slice(o.from ?? 0).find(pred);
        },
        { timeoutMs: o.timeoutMs ?? 20_000, intervalMs: 20, what: o.what ?? 'agent log line' },
      );
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  try {
    await agent.waitForLog((l) => l.msg === 'agent running', { what: 'agent running', timeoutMs: 60_000 });
  } catch (err) {
    await agent.stop();
    throw err;
  }
  agent.pid = nodePidOf(proc.pid ?? 0);
  return agent;
}

/** Epoch ms of a pino ISO time (ms resolution, truncated). */
export const logTime = (l: LogLine): number => Date.parse(l.time);
