// `ipsec-keepalive run`: the agent process. Wires config, logger, VICI client, agent, probes,
// and (when configured) metrics and alerts; handles SIGHUP reload and SIGTERM/SIGINT stop.
import { Agent } from '../agent/agent.js';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, type AgentConfig } from '../agent/config.js';
import { createLogger } from '../agent/logger.js';
import { runProbe } from '../probes/index.js';
import { ViciClient } from '../vici/index.js';
import { startObservability, type Observability } from './observability.js';

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


  log.info({ config: cfg.path, socket: cfg.viciUri, tunnels: cfg.tunnels.length, discover: cfg.discover }, 'starting; waiting for charon');
  // Metrics and alerts first: "agent up, charon down" is exactly what they must be able to say.
  const obs: Observability = await startObservability(cfg, agent, vici, log);

  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      void (async () => {
        await agent.stop();
        await vici.close();
        await obs.close();
        log.flush();
        resolve(0);
      })();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

  process.on('SIGHUP', () => {
    void (async () => {
      try {
        const next = await loadWithOverrides(opts);
        await agent.reload(next);
        await obs.reload(next);
        log.info({ config: next.path, tunnels: next.tunnels.length }, 'configuration reloaded');
      } catch (err) {
        const msg = err instanceof ConfigError ? err.message : (err as Error).message;
        log.error({ err: msg }, `reload rejected, keeping the running configuration: ${msg}`);
      }
    })();
  });

  vici.on('connect', () => log.info({ socket: cfg.viciUri }, 'connected to charon'));
  let waitingLogged = false;
  let agentStarted = false;
  vici.on('disconnect', (err) => {
    // Before the first connection: say once, in one line, what we wait for and why.
    if (!waitingLogged && !agentStarted) {
      waitingLogged = true;
      log.warn({ socket: cfg.viciUri, err: err.message }, `charon's VICI socket ${cfg.viciUri} is not reachable (${err.message}); waiting for it`);
    }
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
  log.info({ tunnels: agent.view().size }, 'agent running');
  return stopped;
}
