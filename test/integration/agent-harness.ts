// Runs the real agent (the CLI, as a process) inside the lab's left namespace, where its probes
// take the tunnel, and lets tests wait on its JSON log lines and on charon's own events.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Lab } from '../../lab/lab.js';
import { onLines, parseLogLine, type LogLine } from '../../lab/json-lines.js';
import { waitFor } from '../../lab/wait.js';
import { SOURCE_ENTRY } from '../../lab/cli-run.js';
import { ViciClient, type ChildUpdown } from '../../src/vici/index.js';


export type { LogLine };

export interface RunningAgent {
  proc: ChildProcess;
  logs: LogLine[];
  /** Everything the agent wrote, raw, for secret greps. */
  output(): string;
  configPath: string;
  /** Resolves with the first log line (at index >= `from`) that matches. */
  waitForLog(pred: (l: LogLine) => boolean, opts?: { timeoutMs?: number; what?: string; from?: number }): Promise<LogLine>;
  actions(from?: number): LogLine[];
  writeConfig(cfg: object): void;
  reload(): void;
  stop(): Promise<number | null>;
}

/** A lab-flavoured config for the agent: short probe interval, the lab's socket and targets. */
export function labConfig(lab: Lab, over: { tunnels?: object[]; defaults?: object; discover?: boolean; metrics?: object; alerts?: object } = {}): object {
  return {
    vici: { socket: lab.left.viciUri },
    defaults: { probe_interval: '2s', probe_timeout: '1s', reprobe_attempts: 2, reprobe_interval: '500ms', backoff_base: '1s', backoff_cap: '8s', initiate_timeout: '5s', terminate_timeout: '2s', charon_grace: '1500ms', ...over.defaults },
    discover: over.discover ?? false,
    tunnels:
      over.tunnels ??
      lab.targets.map((t) => ({ child: t.child, source: lab.leftInsideAddr, probes: [{ tcp: `${t.host}:${t.port}` }, { icmp: t.host }] })),
    metrics: over.metrics ?? { enabled: false },
    ...(over.alerts ? { alerts: over.alerts } : {}),
    log: { level: 'debug' },
  };
}

/** `entry` runs another build of the CLI (the installed product) instead of the source. */
export async function startAgent(lab: Lab, cfg: object, name = 'agent', entry: string[] = SOURCE_ENTRY): Promise<RunningAgent> {
  const configPath = join(lab.dir, `${name}.yaml`);
  // Each agent its own status socket in the lab, not the system's /run/ipsec-keepalive.
  const withStatus = (c: object): object => ('status' in c ? c : { ...c, status: { socket: join(lab.dir, `${name}.status.sock`) } });
  writeFileSync(configPath, stringify(withStatus(cfg)));
  const proc = lab.spawnIn('left', [...entry, 'run', '--config', configPath]);
  const logs: LogLine[] = [];
  let raw = '';
  onLines(proc.stdout, (line) => {
    raw += `${line}\n`;
    logs.push(parseLogLine(line));
  });
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => {
    raw += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const agent: RunningAgent = {
    proc,
    logs,
    output: () => raw,
    configPath,
    async waitForLog(pred, opts = {}) {
      const from = opts.from ?? 0;
      try {
        return await waitFor(
          () => {
            if (proc.exitCode !== null) throw new Error(`agent exited with ${proc.exitCode}: ${raw.slice(-2000)}`);
            return logs.slice(from).find(pred);
          },
          { timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 20, what: opts.what ?? 'agent log line' },
        );
      } catch (err) {
        // What the agent was doing is the first thing anyone needs when this fails in CI.
        const tail = logs
          .slice(from)
          .filter((l) => l.msg !== 'vici command')
          .slice(-40)
          .map((l) => `  ${l.time.slice(11)} ${l.tunnel ?? '-'} ${l.msg}${l['status'] ? ` [${String(l['status'])}: ${String(l['why'])}]` : ''}${l['health'] ? ` [${String(l['health'])}${l['read'] === false ? ', no read' : ''}]` : ''}${l.err ? ` (${l.err})` : ''}`)
          .join('\n');
        throw new Error(`${(err as Error).message}; agent log since then:\n${tail}`, { cause: err });
      }
    },
    actions(from = 0) {
      return logs.slice(from).filter((l) => typeof l.action === 'string');
    },
    writeConfig(c) {
      writeFileSync(configPath, stringify(withStatus(c)));
    },
    reload() {
      proc.kill('SIGHUP');
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  await agent.waitForLog((l) => l.msg === 'agent running', { what: 'agent running', timeoutMs: 20_000 });
  return agent;
}

/** A test-side VICI client on the left charon, recording child-updown events with arrival times. */
export interface Watcher {
  vici: ViciClient;
  events: Array<{ at: number; e: ChildUpdown }>;
  /** First child-updown for `child` with `up` at index >= from. */
  waitChild(child: string, up: boolean, opts?: { from?: number; timeoutMs?: number }): Promise<{ at: number; e: ChildUpdown }>;
  close(): Promise<void>;
}

export function childNamesOf(e: ChildUpdown): string[] {
  return Object.values(e.ike['child-sas'] ?? {}).map((c) => c.name);
}

export async function watchLeft(lab: Lab): Promise<Watcher> {
  const vici = new ViciClient({ uri: lab.left.viciUri, reconnect: { baseMs: 50, capMs: 500 } });
  await vici.connect();
  const events: Watcher['events'] = [];
  await vici.onChildUpdown((e) => events.push({ at: performance.now(), e }));
  return {
    vici,
    events,
    waitChild(child, up, opts = {}) {
      return waitFor(() => events.slice(opts.from ?? 0).find((x) => x.e.up === up && childNamesOf(x.e).includes(child)), {
        timeoutMs: opts.timeoutMs ?? 15_000,
        intervalMs: 5,
        what: `child-updown ${up ? 'up' : 'down'} for ${child}`,
      });
    },
    close: () => vici.close(),
  };
}

/**
 * Waits until every lab tunnel has exactly one CHILD_SA on the left. "At least one each" is not enough
 * before a peer delete: on a loaded machine start-up can leave a duplicate for up to a second (the agent
 * keeps the newest), and a peer delete of the older one then needs no repair at all.
 */
export async function everyTunnelOnce(lab: Lab, what: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    async () => {
      const m = await lab.installedChildren('left');
      return lab.children.every((c) => m.get(c) === 1);
    },
    { timeoutMs, what, seen: async () => `installed ${JSON.stringify([...(await lab.installedChildren('left'))])}` },
  );
}

/** Installed CHILD_SAs of `child` on the left, straight from charon. */
export async function installedCount(lab: Lab, child: string): Promise<number> {
  return (await lab.installedChildren('left')).get(child) ?? 0;
}
