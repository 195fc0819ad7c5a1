// The agent's YAML configuration: schema, defaults, and one-line errors that name the field.
//
// Durations accept a number of seconds or a string with a unit ("500ms", "2s", "5m", "1h"),
// because operators write "60s" and mean it. Keys are snake_case like strongSwan's own.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

export const DEFAULT_CONFIG_PATH = '/etc/ipsec-keepalive/config.yaml';
export const DEFAULT_VICI_URI = 'unix:///var/run/charon.vici';
/** Not used by the known IPsec exporters (8079, 9536, 9814, 9903). */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9842';

/** EX_CONFIG from sysexits.h: what systemd and operators expect for a bad config. */
export const EX_CONFIG = 78;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in milliseconds, from seconds (number) or "<n><ms|s|m|h>". */
const duration = z.union([z.number(), z.string()]).transform((v, ctx): number => {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) {
      ctx.addIssue({ code: 'custom', message: `expected a non-negative duration, got ${v}` });
      return z.NEVER;
    }
    return Math.round(v * 1000);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "60s", "500ms" or "5m", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000));
});

const positiveDuration = duration.refine((ms) => ms > 0, { message: 'must be greater than zero' });

const host = z
  .string()
  .min(1)
  .max(253)
  .refine((h) => isIP(h) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h), {
    message: 'expected an IP address or a DNS name',
  });

/** "host:port" or "[v6]:port". */
const hostPort = z.string().transform((v, ctx) => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535) || !host.safeParse(m[1]).success) {
    ctx.addIssue({ code: 'custom', message: `expected host:port with a port 1-65535, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return { host: m[1] as string, port };
});

const probeSpec = z.union([
  z.object({ tcp: hostPort }).strict().transform((p) => ({ kind: 'tcp' as const, host: p.tcp.host, port: p.tcp.port })),
  z.object({ icmp: host }).strict().transform((p) => ({ kind: 'icmp' as const, host: p.icmp })),
]);

const tuning = {
  probe_interval: positiveDuration.optional(),
  probe_timeout: positiveDuration.optional(),
  reprobe_attempts: z.number().int().min(0).max(20).optional(),
  reprobe_interval: positiveDuration.optional(),
  failures_before_action: z.number().int().min(1).max(100).optional(),
  backoff_base: positiveDuration.optional(),
  backoff_cap: positiveDuration.optional(),
  initiate_timeout: positiveDuration.optional(),
  terminate_timeout: positiveDuration.optional(),
  /** How long charon gets to restore a child itself (close_action/dpd_action) before the agent acts. */
  charon_grace: duration.optional(),
  /** A repaired CHILD_SA that goes down again within this time counts toward damping. */
  repair_hold: positiveDuration.optional(),
};

const tunnelSchema = z
  .object({
    name: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').optional(),
    child: z.string().min(1).max(255).regex(/^[\x20-\x7e]+$/, 'printable ASCII'),
    ike: z.string().min(1).max(255).optional(),
    enabled: z.boolean().default(true),
    source: z.string().refine((s) => isIP(s) !== 0, 'expected an IP address').optional(),
    probes: z.array(probeSpec).max(32).default([]),
    ...tuning,
  })
  .strict();

const slackOrWebhook = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    timeout: positiveDuration.default(5000),
  })
  .strict();

const emailSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(25),
    secure: z.boolean().default(false),
    starttls: z.boolean().default(true),
    user: z.string().optional(),
    password: z.string().optional(),
    from: z.string().min(3),
    to: z.union([z.string().min(3), z.array(z.string().min(3)).min(1)]),
    timeout: positiveDuration.default(10_000),
  })
  .strict();

const alertsSchema = z
  .object({
    webhook: slackOrWebhook.optional(),
    slack: slackOrWebhook.optional(),
    email: emailSchema.optional(),
    /** At most this many messages per channel per minute; the rest are counted and summarised. */
    rate_limit_per_minute: z.number().int().min(1).max(600).default(20),
    /** Delivery retries with exponential backoff before a message is dropped (and counted). */
    retries: z.number().int().min(0).max(20).default(5),
  })
  .strict();

export const configSchema = z
  .object({
    vici: z
      .object({
        socket: z
          .string()
          .regex(/^(unix:\/\/\/.+|tcp:\/\/.+:\d+)$/, 'expected unix:///path or tcp://host:port')
          .default(DEFAULT_VICI_URI),
        command_timeout: positiveDuration.default(30_000),
        max_concurrent_initiates: z.number().int().min(1).max(64).default(4),
      })
      .strict()
      .default({ socket: DEFAULT_VICI_URI, command_timeout: 30_000, max_concurrent_initiates: 4 }),
    defaults: z.object(tuning).strict().default({}),
    discover: z.boolean().default(false),
    tunnels: z.array(tunnelSchema).max(10_000).default([]),
    metrics: z
      .object({
        enabled: z.boolean().default(true),
        listen: z
          .string()
          .regex(/^(\[[0-9a-fA-F:]+\]|[^:]+):\d{1,5}$/, 'expected address:port')
          .default(DEFAULT_METRICS_LISTEN),
      })
      .strict()
      .default({ enabled: true, listen: DEFAULT_METRICS_LISTEN }),
    alerts: alertsSchema.optional(),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.tunnels.forEach((t, i) => {
      const name = t.name ?? t.child;
      const prev = seen.get(name);
      if (prev !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tunnels', i, t.name ? 'name' : 'child'],
          message: `duplicate tunnel name ${JSON.stringify(name)} (also tunnels[${prev}])`,
        });
      }
      seen.set(name, i);
    });
    if (!cfg.discover && cfg.tunnels.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['tunnels'], message: 'no tunnels configured and discover is false: nothing to keep alive' });
    }
  });

export type RawConfig = z.output<typeof configSchema>;

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
  discover: boolean;
  defaults: Tuning;
  tunnels: TunnelConfig[];
  metrics: { enabled: boolean; host: string; port: number };
  alerts?: RawConfig['alerts'];
  logLevel: RawConfig['log']['level'];
}

type RawTuning = Partial<Record<keyof typeof tuning, number>>;

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

/** "tunnels[0].probes[1].tcp" from zod's path. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

function firstIssueLine(source: string, err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return `${source}: invalid configuration`;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    return `${source}: ${formatPath([...issue.path, ...issue.keys.slice(0, 1)])}: unknown key`;
  }
  if (issue.code === 'invalid_union') {
    // Report the branch the user meant (the one without unknown keys), else name the choices.
    const branch = issue.errors.find((errs) => errs.length > 0 && !errs.some((e) => e.code === 'unrecognized_keys'));
    const inner = branch?.[0];
    if (inner) return `${source}: ${formatPath([...issue.path, ...inner.path])}: ${inner.message}`;
    message = 'expected one of { tcp: "host:port" } or { icmp: "host" }';
  }
  const more = err.issues.length > 1 ? ` (+${err.issues.length - 1} more)` : '';
  return `${source}: ${formatPath(issue.path)}: ${message}${more}`;
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
    discover: raw.discover,
    defaults,
    tunnels,
    metrics: { enabled: raw.metrics.enabled, host: (m[1] ?? m[2]) as string, port },
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
