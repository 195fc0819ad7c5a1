// `ipsec-keepalive status [NAME...]`: the running agent's view (its status socket), or charon's own
// when no agent answers, saying which one it shows.
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, type AgentConfig } from '../agent/config/load.js';
import { DEFAULT_STATUS_SOCKET, DEFAULT_VICI_URI } from '../agent/config/schema.js';
import { countByStatus, type StatusDocument } from '../agent/observability/status.js';
import { closest } from '../suggest.js';
import { ViciClient } from '../vici/index.js';
import { charonStatusDocument } from './charon-status.js';
import { formatStatusText } from './status-format.js';

export interface StatusOptions {
  config?: string;
  socket?: string;
  json?: boolean;
  names?: string[];
  verbose?: boolean;
  /** Read charon directly even when an agent runs. */
  charon?: boolean;
}

/** A tunnel name the operator typed that matches no tunnel: a usage error (exit 64). */
export class UnknownTunnelError extends Error {
  override name = 'UnknownTunnelError';
}

/** How long the agent gets to answer before `status` reads charon itself. */
const AGENT_TIMEOUT_MS = 5000;

/** The running agent's status document, or why there is none (the reason names what to do). */
export function askAgent(socketPath: string, timeoutMs = AGENT_TIMEOUT_MS): Promise<{ doc: StatusDocument } | { why: string }> {
  return new Promise((resolve) => {
    // A connection of its own (no keep-alive pool): an agent that restarts must not get a dead socket.
    const req = request({ socketPath, path: '/status', method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.on('error', (err) => resolve({ why: `the agent at ${socketPath} broke off its answer (${err.message})` }));
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          resolve({ doc: JSON.parse(body) as StatusDocument });
        } catch (err) {
          resolve({ why: `the agent at ${socketPath} gave no status (${(err as Error).message})` });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? `no agent answers at ${socketPath}`
          : err.code === 'EACCES'
            ? `cannot read the agent's status at ${socketPath}: permission denied (add this user to the ipsec-keepalive group)`
            : `the agent at ${socketPath} did not answer (${err.message})`;
      resolve({ why });
    });
    req.end();
  });
}

/** The tunnels the operator named (by tunnel or CHILD_SA name), or every one. */
export function selectTunnels(doc: StatusDocument, names: readonly string[]): StatusDocument {
  if (names.length === 0) return doc;
  const picked = new Set<string>();
  for (const n of names) {
    const hits = doc.tunnels.filter((t) => t.name === n || t.child === n);
    if (hits.length === 0) {
      const like = closest(n, doc.tunnels.flatMap((t) => [t.name, t.child]));
      throw new UnknownTunnelError(`no tunnel named ${JSON.stringify(n)}${like ? ` (did you mean ${JSON.stringify(like)}?)` : ''}; \`ipsec-keepalive status\` lists them all`);
    }
    for (const t of hits) picked.add(t.name);
  }
  const tunnels = doc.tunnels.filter((t) => picked.has(t.name));
  return { ...doc, counts: countByStatus(tunnels), tunnels };
}

/** 0 when every selected, enabled tunnel carries traffic as far as the view knows. */
export function statusExitCode(doc: StatusDocument): number {
  return doc.tunnels.every((t) => !t.enabled || t.status === 'up' || t.status === 'target-down') ? 0 : 1;
}

async function readConfig(opts: StatusOptions, notes: string[]): Promise<AgentConfig | undefined> {
  const path = opts.config ?? DEFAULT_CONFIG_PATH;
  if (!opts.config && !existsSync(path)) return undefined;
  try {
    return await loadConfig(path);
  } catch (err) {
    // The agent's view needs no config; charon's can do without one. Only a file named on the command line must be readable.
    if (opts.config || !(err instanceof ConfigError) || !/EACCES|permission denied/i.test(err.message)) throw err;
    notes.push(`${path} is not readable by this user: using the default status socket and VICI socket`);
    return undefined;
  }
}

export async function runStatus(opts: StatusOptions): Promise<number> {
  const notes: string[] = [];
  const cfg = await readConfig(opts, notes);
  let doc: StatusDocument | undefined;
  // --socket names a charon: read that one, not whatever the agent watches.
  if (!opts.charon && !opts.socket) {
    const answer = await askAgent(cfg?.status.socket ?? DEFAULT_STATUS_SOCKET);
    if ('doc' in answer) doc = answer.doc;
    else notes.push(answer.why);
  }
  if (!doc) {
    const uri = opts.socket ?? cfg?.viciUri ?? DEFAULT_VICI_URI;
    const vici = new ViciClient({ uri, reconnect: false, commandTimeoutMs: 10_000 });
    try {
      await vici.connect();
    } catch (err) {
      // Neither view: the one error line says why for both.
      if (notes.length > 0 && err instanceof Error) Object.assign(err, { also: notes.join('; ') });
      throw err;
    }
    try {
      doc = await charonStatusDocument(vici, cfg, uri, notes);
    } finally {
      await vici.close();
    }
  }
  const shown = selectTunnels(doc, opts.names ?? []);
  console.log(opts.json ? JSON.stringify(shown, null, 2) : formatStatusText(shown, { verbose: opts.verbose ?? false, now: Date.now() }));
  return statusExitCode(shown);
}
