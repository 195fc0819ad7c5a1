// A stand-in for the Agent as metrics and alerts see it: the same typed events (eventemitter3 with
// AgentEvents) and a view() of real TunnelViews, built from a real parsed config, newRuntime() and
// TunnelObservations shaped like observeTunnel's output. Tests set the state and emit the events.
import { EventEmitter } from 'eventemitter3';
import type { TunnelView } from '../../src/agent/controller/tunnel-view.js';
import { parseConfig, type AgentConfig } from '../../src/agent/config/load.js';
import { newRuntime } from '../../src/agent/controller/reconcile.js';
import type { AgentEvents } from '../../src/agent/controller/events.js';
import type { ChildRef, TunnelObservation } from '../../src/agent/controller/observe.js';

export class FakeAgent extends EventEmitter<AgentEvents> {
  readonly tunnels = new Map<string, TunnelView>();

  constructor(readonly config: AgentConfig) {
    super();
  }

  /** Like Agent.start(): the configured tunnels appear in the view. */
  start(): this {
    for (const t of this.config.tunnels) this.tunnels.set(t.name, { config: t, runtime: newRuntime() });
    return this;
  }

  view(): ReadonlyMap<string, TunnelView> {
    return this.tunnels;
  }

  get(name: string): TunnelView {
    const v = this.tunnels.get(name);
    if (!v) throw new Error(`no tunnel ${name}`);
    return v;
  }
}

export class FakeVici {
  connected = true;
  reconnects = 0;
  lastError: Error | undefined = undefined;
}

export function child(over: Partial<ChildRef> & { childId: number }): ChildRef {
  return { ikeName: 'ikev2-vpn', ikeId: 1, state: 'INSTALLED', installAgeSec: 10, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, sa: { name: 'ikev2-vpn-140', uniqueid: String(over.childId), state: over.state ?? 'INSTALLED' }, ...over };
}

/** What observeTunnel returns for these CHILD_SAs (installed: the INSTALLED ones). */
export function observation(children: ChildRef[], ikeNames = ['ikev2-vpn']): TunnelObservation {
  return {
    up: children,
    installed: children.filter((c) => c.state === 'INSTALLED'),
    charonBusy: false,
    childCreates: 0,
    ikeIds: [...new Set(children.map((c) => c.ikeId))],
    ikeNames: children.length ? ikeNames : [],
    ikeEstablished: children.length > 0,
    ikeSas: [],
  };
}

export const LAB_YAML = `
vici: { socket: "unix:///run/test.vici" }
defaults: { probe_interval: 2s }
tunnels:
  - name: branch-a
    child: ikev2-vpn-140
    ike: ikev2-vpn
    source: 10.1.0.1
    probes: [{ tcp: "198.51.100.140:9802" }, { icmp: 198.51.100.140 }]
  - name: branch-b
    child: ikev2-vpn-141
    probes: [{ tcp: "198.51.100.141:9802" }]
  - name: branch-c
    child: ikev2-vpn-142
  - name: legacy
    child: old-child
    enabled: false
    probes: [{ icmp: 192.0.2.99 }]
`;

export function labConfig(yaml = LAB_YAML): AgentConfig {
  return parseConfig(yaml, 'test.yaml');
}
