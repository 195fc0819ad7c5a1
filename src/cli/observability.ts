// Metrics server and alert channels for `run`. (Filled in by the observability work.)
import type { Logger } from 'pino';
import type { Agent } from '../agent/agent.js';
import type { AgentConfig } from '../agent/config.js';
import type { ViciClient } from '../vici/index.js';

export interface Observability {
  reload(cfg: AgentConfig): Promise<void>;
  close(): Promise<void>;
}

export async function startObservability(_cfg: AgentConfig, _agent: Agent, _vici: ViciClient, _log: Logger): Promise<Observability> {
  return { reload: async () => undefined, close: async () => undefined };
}
