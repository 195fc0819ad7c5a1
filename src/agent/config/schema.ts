// The YAML file's schema: its keys, types, limits and the file's own defaults (zod), and the
// one-line errors that name the field. load.ts turns what it accepts into the agent's AgentConfig.
//
// Durations accept a number of seconds or a string with a unit ("500ms", "2s", "5m", "1h"),
// because operators write "60s" and mean it. Keys are snake_case like strongSwan's own.
import { isIP } from 'node:net';
import { z } from 'zod';
import { closestKey } from '../../suggest.js';

export const DEFAULT_VICI_URI = 'unix:///var/run/charon.vici';
/** Not used by the known IPsec exporters (8079, 9536, 9814, 9903). */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9842';
/** Where the running agent serves its status for `ipsec-keepalive status` (systemd's RuntimeDirectory). */
export const DEFAULT_STATUS_SOCKET = '/run/ipsec-keepalive/status.sock';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The value as the operator wrote it, for messages: strings quoted, anything long cut short. */
function shown(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'number' ? String(v) : (JSON.stringify(v) ?? String(v));
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * A duration in milliseconds, from seconds (a number, or a string without a unit) or "<n><ms|s|m|h>".
 * Every value it refuses gets the same message, whatever was wrong with it (sign, zero, unit, type).
 */
function durationOf(zero: 'allowed' | 'refused') {
  const use = zero === 'allowed' ? 'use 0 or a positive number with a unit' : 'use a positive number with a unit';
  return z.unknown().transform((v, ctx): number => {
    const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v) : undefined;
    const ms = typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : m ? Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000)) : NaN;
    if (!(ms > 0 || (ms === 0 && zero === 'allowed'))) {
      ctx.addIssue({ code: 'custom', message: `${shown(v)} is not a duration: ${use} (500ms, 30s, 5m, 1h)` });
      return z.NEVER;
    }
    return ms;
  });
}

const duration = durationOf('allowed');
const positiveDuration = durationOf('refused');

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
  /** How long charon gets to restore a child itself (close_action after a peer delete, start_action after its restart) before the agent acts. */
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
        /** How often charon's loaded connections (list-conns) are read again: charon has no event for a config loaded later. */
        conns_refresh: duration.default(30_000),
      })
      .strict()
      .default({ socket: DEFAULT_VICI_URI, command_timeout: 30_000, max_concurrent_initiates: 4, conns_refresh: 30_000 }),
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
    traffic_watch: z
      .object({
        interval: duration.default(2_000),
        window: positiveDuration.default(4_000),
      })
      .strict()
      .default({ interval: 2_000, window: 4_000 }),
    status: z
      .object({
        enabled: z.boolean().default(true),
        socket: z.string().regex(/^\/[^\0]+$/, 'expected an absolute path').default(DEFAULT_STATUS_SOCKET),
      })
      .strict()
      .default({ enabled: true, socket: DEFAULT_STATUS_SOCKET }),
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

/** The per-tunnel tuning keys as the file has them (after parsing: durations in ms). */
export type RawTuning = Partial<Record<keyof typeof tuning, number>>;

/** The keys the object at `path` of `schema` allows (through defaults, optionals, arrays, transforms). */
export function keysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let at: z.core.$ZodType | undefined = schema;
  const unwrap = (t: z.core.$ZodType): z.core.$ZodType => {
    for (;;) {
      const def = t._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType };
      if (def.innerType) t = def.innerType;
      else if (def.type === 'pipe' && def.in) t = def.in;
      else return t;
    }
  };
  for (const step of path) {
    if (!at) return [];
    const def = unwrap(at)._zod.def as { type: string; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
    at = typeof step === 'number' ? def.element : def.shape?.[String(step)];
  }
  const def = at ? (unwrap(at)._zod.def as { shape?: Record<string, unknown> }) : undefined;
  return Object.keys(def?.shape ?? {});
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

/** The first issue of a failed parse as one line: `source: field: message (+n more)`. */
export function firstIssueLine(source: string, err: z.ZodError): string {
  // A misspelt key first: it usually explains the required key that seems to be missing.
  const issue = err.issues.find((i) => i.code === 'unrecognized_keys') ?? err.issues[0];
  if (!issue) return `${source}: invalid configuration`;
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const meant = closestKey(key, keysAt(configSchema, issue.path));
    const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
    return `${source}: ${where}unknown key ${JSON.stringify(key)}${meant ? ` (did you mean ${JSON.stringify(meant)}?)` : ''}`;
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
