// Metrics server and alert channels for `run`: wiring only; the logic is in src/agent/observability
// (metrics/, alerts/).
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Agent } from '../agent/controller/agent.js';
import { AlertDispatcher } from '../agent/observability/alerts/index.js';
import type { AgentConfig } from '../agent/config/load.js';
import { AgentMetrics, type ViciCommandEvent } from '../agent/observability/metrics/index.js';
import { startMetricsServer, type MetricsServer } from '../agent/observability/metrics/server.js';
import type { ViciClient } from '../vici/index.js';
import { agentStatusDocument, type StatusDocument } from '../agent/observability/status.js';
import { startStatusSocket, type StatusSocket } from '../agent/observability/status-socket.js';

export interface Observability {
  reload(cfg: AgentConfig): Promise<void>;
  close(): Promise<void>;
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Starts the metrics endpoint (when enabled) and the alert dispatcher. A metrics address that
 * cannot be bound rejects with one line naming it: the operator asked for metrics there.
 */
export async function startObservability(cfg: AgentConfig, agent: Agent, vici: ViciClient, log: Logger): Promise<Observability> {
  const ver = version();
  const startedAt = new Date().toISOString();
  let current = cfg;
  const status = (): StatusDocument =>
    agentStatusDocument(agent, { version: ver, pid: process.pid, started_at: startedAt, config: current.path, vici_socket: current.viciUri, vici_connected: vici.connected }, Date.now());
  const metrics = new AgentMetrics({ agent, vici, tunnels: cfg.tunnels, version: ver });
  const onEvent = (name: string): void => metrics.recordViciEvent(name);
  const onCommand = (e: ViciCommandEvent): void => metrics.recordViciCommand(e);
  vici.on('event', onEvent);
  vici.on('command', onCommand);

  let server: MetricsServer | undefined;
  let serverKey = '';
  const startServer = async (c: AgentConfig): Promise<void> => {
    server = await startMetricsServer({
      host: c.metrics.host,
      port: c.metrics.port,
      registry: metrics.registry,
      status,
      version: ver,
      health: () => ({ vici: vici.connected ? 'connected' : 'disconnected', tunnels: agent.view().size }),
      onError: (err) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'rendering a page of the metrics listener failed'),
    });
    serverKey = `${c.metrics.host}:${c.metrics.port}`;
    log.info({ address: server.address }, `metrics on http://${server.address}/metrics`);
  };
  // The status socket is a convenience for `status`: one that cannot be served is said, not fatal.
  let socket: StatusSocket | undefined;
  const startSocket = async (c: AgentConfig): Promise<void> => {
    if (!c.status.enabled) return;
    try {
      socket = await startStatusSocket(c.status.socket, status, (err) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'rendering the status failed'));
      log.debug({ path: socket.path }, 'status socket listening');
    } catch (err) {
      log.warn({ err: (err as Error).message }, `${(err as Error).message}; \`ipsec-keepalive status\` will read charon directly${c.metrics.enabled ? ', /status is on the metrics listener' : ''}`);
    }
  };
  const alerts = new AlertDispatcher({ agent, log: log.child({ component: 'alerts' }), counters: metrics, version: ver });
  try {
    if (cfg.metrics.enabled) await startServer(cfg);
    await startSocket(cfg);
    alerts.configure(cfg.alerts);
    metrics.initAlertChannels(alerts.channels);
  } catch (err) {
    vici.off('event', onEvent);
    vici.off('command', onCommand);
    metrics.close();
    await Promise.all([alerts.close(), server?.close(), socket?.close()]);
    throw err;
  }

  return {
    async reload(next) {
      current = next;
      metrics.setConfigured(next.tunnels);
      const socketKey = next.status.enabled ? next.status.socket : '';
      if (socketKey !== (socket?.path ?? '')) {
        await socket?.close();
        socket = undefined;
        await startSocket(next);
      }
      alerts.configure(next.alerts);
      metrics.initAlertChannels(alerts.channels);
      const key = next.metrics.enabled ? `${next.metrics.host}:${next.metrics.port}` : '';
      if (key !== (server ? serverKey : '')) {
        // A new address is bound before the old one is let go; a failure keeps the old one.
        const old = server;
        server = undefined;
        try {
          if (next.metrics.enabled) await startServer(next);
          await old?.close();
        } catch (err) {
          server = old;
          log.error({ err: (err as Error).message }, `${(err as Error).message}; metrics stay on ${old?.address ?? 'nothing'}`);
        }
      }
    },
    async close() {
      vici.off('event', onEvent);
      vici.off('command', onCommand);
      metrics.close();
      await Promise.all([server?.close(), socket?.close(), alerts.close()]);
    },
  };
}
