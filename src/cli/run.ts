// `ipsec-keepalive run`: the agent process. Wires config, logger, VICI client, agent, probes,
// and (when configured) metrics and alerts; handles SIGHUP reload and SIGTERM/SIGINT stop.
import type { Logger } from 'pino';
import { Agent } from '../agent/controller/agent.js';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, type AgentConfig } from '../agent/config/load.js';
import { createLogger } from '../agent/observability/logger.js';
import { tunnelUp } from '../agent/controller/observe.js';
import { runProbe } from '../probes/index.js';
import { ViciClient } from '../vici/index.js';
import { startObservability, type Observability } from './observability.js';
import { serviceNotifier } from './systemd.js';
import { ViciDownNotes, viciDownMessage } from './vici-waiting.js';

/** How often systemd's STATUS= line ("N/M tunnels up") is brought up to date. */
const SERVICE_STATUS_INTERVAL_MS = 5000;

export interface RunOptions {
  config?: string;
  socket?: string;
}

export async function loadWithOverrides(opts: RunOptions): Promise<AgentConfig> {
  const cfg = await loadConfig(opts.config ?? DEFAULT_CONFIG_PATH);
  if (opts.socket) cfg.viciUri = opts.socket;
  return cfg;
}

export async function runAgentCommand(opts: RunOptions): Promise<number> {
  const cfg = await loadWithOverrides(opts);
  const log = createLogger(cfg.logLevel);
  const vici = new ViciClient({
    uri: cfg.viciUri,
    commandTimeoutMs: cfg.commandTimeoutMs,
    maxConcurrentInitiates: cfg.maxConcurrentInitiates,
    logger: log.child({ component: 'vici' }),
  });
  const agent = new Agent({ config: cfg, vici, logger: log, runProbe });
  const service = serviceNotifier();
  let viciDownReason = '';
  const statusLine = (): string => {
    if (!vici.connected) return `waiting for charon (${viciDownReason || 'not connected yet'})`;
    const views = [...agent.view().values()];
    return `${views.filter((v) => tunnelUp(v.obs, true)).length}/${views.length} tunnels up`;
  };
  const statusTimer = setInterval(() => service.status(statusLine()), SERVICE_STATUS_INTERVAL_MS);
  statusTimer.unref();

  log.info({ config: cfg.path, socket: cfg.viciUri, tunnels: cfg.tunnels.length, discover: cfg.discover }, 'starting; waiting for charon');
  // Metrics and alerts first: "agent up, charon down" is exactly what they must be able to say.
  const obs: Observability = await startObservability(cfg, agent, vici, log);

  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      service.stopping();
      clearInterval(statusTimer);
      void (async () => {
        await agent.stop();
        await vici.close();
        await obs.close();
        service.close();
        log.flush();
        resolve(0);
      })();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

  // One reload at a time, in the order the signals came: a second SIGHUP waits for the first.
  let reloads: Promise<void> = Promise.resolve();
  process.on('SIGHUP', () => {
    reloads = reloads.then(async () => {
      service.reloading();
      try {
        const next = await loadWithOverrides(opts);
        await agent.reload(next);
        await obs.reload(next);
        vici.setLimits(next);
        log.level = next.logLevel;
        log.info({ config: next.path, tunnels: next.tunnels.length }, 'configuration reloaded');
        const needRestart = viciSettingsChanged(cfg, next);
        if (needRestart.length > 0) {
          log.warn({ settings: needRestart }, `reload: ${needRestart.join(', ')} changed and take effect at the next restart (systemctl restart ipsec-keepalive)`);
        }
      } catch (err) {
        const msg = err instanceof ConfigError ? err.message : (err as Error).message;
        log.error({ err: msg }, `reload rejected, keeping the running configuration: ${msg}`);
      }
      service.ready(statusLine());
    });
  });

  const downNotes = new ViciDownNotes();
  vici.on('connect', () => {
    downNotes.connected();
    log.info({ socket: cfg.viciUri }, 'connected to charon');
    void warnIfInitiatesStarveCharon(vici, cfg.maxConcurrentInitiates, log);
  });
  let waitingLogged = false;
  let agentStarted = false;
  vici.on('disconnect', (err) => {
    viciDownReason = err.message;
    // Before the first connection the agent is running (metrics, alerts, waiting for charon):
    // systemd may call it started.
    if (!waitingLogged && !agentStarted) {
      waitingLogged = true;
      service.ready(statusLine());
    }
    const note = downNotes.failed(err, Date.now());
    if (note) log.warn({ socket: cfg.viciUri, err: err.message, reason: note.reason }, viciDownMessage(cfg.viciUri, note));
  });
  try {
    // With reconnect on, this waits for charon as long as it takes; SIGTERM closes the client.
    await vici.connect();
  } catch (err) {
    if (stopping) return stopped;
    throw err;
  }
  if (stopping) return stopped;
  await agent.start();
  agentStarted = true;
  service.ready(statusLine());
  log.info({ tunnels: agent.view().size }, 'agent running');
  return stopped;
}

/** Settings a reload cannot apply to the running agent, by their config names: the VICI socket (a new client). */
export function viciSettingsChanged(running: AgentConfig, next: AgentConfig): string[] {
  return running.viciUri === next.viciUri ? [] : ['vici.socket'];
}

/**
 * Each blocking initiate holds one of charon's worker threads until its CHILD_SA is up (strongSwan #2776).
 * With too many, charon has no thread left to read its peer's answers: in bench:storm, 16 concurrent
 * initiates against charon's default 16 threads lost CREATE_CHILD_SA answers to 10 s retransmits and never
 * finished a 400-tunnel restart in 3 minutes, where 4 took 8 s. Said once per connect, not enforced.
 */
export async function warnIfInitiatesStarveCharon(vici: ViciClient, maxConcurrentInitiates: number, log: Logger): Promise<void> {
  try {
    const threads = Number((await vici.stats()).workers?.total);
    if (Number.isFinite(threads) && threads > 0 && maxConcurrentInitiates > threads / 4) {
      log.warn(
        { maxConcurrentInitiates, charonThreads: threads },
        `vici.max_concurrent_initiates ${maxConcurrentInitiates} is more than a quarter of charon's ${threads} worker threads: blocking initiates can starve charon (strongSwan #2776); use at most ${Math.max(1, Math.floor(threads / 4))} or raise charon.threads`,
      );
    }
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'stats failed; charon worker threads not checked');
  }
}
