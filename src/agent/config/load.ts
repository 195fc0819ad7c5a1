// Loading the agent's configuration: the YAML text through the schema (schema.ts) to the typed
// AgentConfig and TunnelConfig the agent runs on, with the tuning defaults applied; every failure
// is a ConfigError of one line that names the file and the field.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { configSchema, firstIssueLine, type RawConfig, type RawTuning } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/ipsec-keepalive/config.yaml';

/** EX_CONFIG from sysexits.h: what systemd and operators expect for a bad config. */
export const EX_CONFIG = 78;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ProbeSpec {
  kind: 'tcp' | 'icmp';
  host: string;
  port?: number;
}

/** Everything the agent needs to know about one tunnel, defaults applied. */
export interface TunnelConfig {
  name: string;
  child: string;
  ike?: string;
  enabled: boolean;
  source?: string;
  probes: ProbeSpec[];
  probeIntervalMs: number;
  probeTimeoutMs: number;
  reprobeAttempts: number;
  reprobeIntervalMs: number;
  failuresBeforeAction: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  initiateTimeoutMs: number;
  terminateTimeoutMs: number;
  charonGraceMs: number;
  repairHoldMs: number;
  /** true when it came from `discover`, not from the file's tunnels list */
  discovered: boolean;
}

export type Tuning = Omit<TunnelConfig, 'name' | 'child' | 'ike' | 'enabled' | 'source' | 'probes' | 'discovered'>;

export const BUILTIN_TUNING: Tuning = {
  probeIntervalMs: 60_000,
  // A failing round is confirmed in probe_timeout + reprobe_attempts x (reprobe_interval +
  // probe_timeout) = 2 + 2 x 3 = 8 s, so a stale tunnel is repaired within interval + 10 s. A 2 s
  // timeout still allows one TCP SYN retransmission (1 s) through a slow tunnel.
  probeTimeoutMs: 2_000,
  reprobeAttempts: 2,
  reprobeIntervalMs: 1_000,
  failuresBeforeAction: 1,
  backoffBaseMs: 1_000,
  backoffCapMs: 300_000,
  initiateTimeoutMs: 10_000,
  terminateTimeoutMs: 3_000,
  charonGraceMs: 1_500,
  repairHoldMs: 30_000,
};

export interface AgentConfig {
  /** Where it was read from, for messages. */
  path: string;
  viciUri: string;
  commandTimeoutMs: number;
  maxConcurrentInitiates: number;
  /** list-conns is read again this often (0: only at (re)connect and reload). */
  connsRefreshMs: number;
  discover: boolean;
  defaults: Tuning;
  tunnels: TunnelConfig[];
  metrics: { enabled: boolean; host: string; port: number };
  status: { enabled: boolean; socket: string };
  /** Passive stale detection: counters read every intervalMs (0: off), suspect after windowMs. */
  trafficWatch: { intervalMs: number; windowMs: number };
  alerts?: RawConfig['alerts'];
  logLevel: RawConfig['log']['level'];
}

function applyTuning(base: Tuning, t: RawTuning): Tuning {
  return {
    probeIntervalMs: t.probe_interval ?? base.probeIntervalMs,
    probeTimeoutMs: t.probe_timeout ?? base.probeTimeoutMs,
    reprobeAttempts: t.reprobe_attempts ?? base.reprobeAttempts,
    reprobeIntervalMs: t.reprobe_interval ?? base.reprobeIntervalMs,
    failuresBeforeAction: t.failures_before_action ?? base.failuresBeforeAction,
    backoffBaseMs: t.backoff_base ?? base.backoffBaseMs,
    backoffCapMs: t.backoff_cap ?? base.backoffCapMs,
    initiateTimeoutMs: t.initiate_timeout ?? base.initiateTimeoutMs,
    terminateTimeoutMs: t.terminate_timeout ?? base.terminateTimeoutMs,
    charonGraceMs: t.charon_grace ?? base.charonGraceMs,
    repairHoldMs: t.repair_hold ?? base.repairHoldMs,
  };
}

/** Parses and validates YAML text. Throws ConfigError with one line naming the field. */
export function parseConfig(text: string, source = 'config'): AgentConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      const where = pos ? `:${pos.line}:${pos.col}` : '';
      throw new ConfigError(`${source}${where}: YAML: ${(err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`);
    }
    throw new ConfigError(`${source}: YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) throw new ConfigError(firstIssueLine(source, parsed.error));
  return toAgentConfig(parsed.data, source);
}

function toAgentConfig(raw: RawConfig, source: string): AgentConfig {
  const defaults = applyTuning(BUILTIN_TUNING, raw.defaults);
  const tunnels = raw.tunnels.map((t): TunnelConfig => {
    const tunnel: TunnelConfig = {
      name: t.name ?? t.child,
      child: t.child,
      enabled: t.enabled,
      probes: t.probes,
      ...applyTuning(defaults, t),
      discovered: false,
    };
    if (t.ike !== undefined) tunnel.ike = t.ike;
    if (t.source !== undefined) tunnel.source = t.source;
    return tunnel;
  });
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(raw.metrics.listen);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new ConfigError(`${source}: metrics.listen: expected address:port, got ${JSON.stringify(raw.metrics.listen)}`);
  const cfg: AgentConfig = {
    path: source,
    viciUri: raw.vici.socket,
    commandTimeoutMs: raw.vici.command_timeout,
    maxConcurrentInitiates: raw.vici.max_concurrent_initiates,
    connsRefreshMs: raw.vici.conns_refresh,
    discover: raw.discover,
    defaults,
    tunnels,
    metrics: { enabled: raw.metrics.enabled, host: (m[1] ?? m[2]) as string, port },
    status: { enabled: raw.status.enabled, socket: raw.status.socket },
    trafficWatch: { intervalMs: raw.traffic_watch.interval, windowMs: raw.traffic_watch.window },
    logLevel: raw.log.level,
  };
  if (raw.alerts) cfg.alerts = raw.alerts;
  return cfg;
}

/** Reads and validates a config file; every failure is a ConfigError naming the path. */
export async function loadConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new ConfigError(`${path}: cannot read config: ${why}`);
  }
  return parseConfig(text, path);
}

/** A tunnel config for a CHILD_SA found by `discover`, with the file's defaults. */
export function discoveredTunnel(cfg: AgentConfig, child: string, ike: string): TunnelConfig {
  return { name: child, child, ike, enabled: true, probes: [], ...cfg.defaults, discovered: true };
}
