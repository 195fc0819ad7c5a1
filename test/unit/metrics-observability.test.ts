// The `run` wiring: startObservability serves metrics, counts the VICI client's events and
// commands, sends alerts, and applies a reloaded config (new alert channel, new metrics address).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import { pino } from 'pino';
import type { Agent } from '../../src/agent/controller/agent.js';
import { parseConfig } from '../../src/agent/config/load.js';
import type { ViciClient } from '../../src/vici/index.js';
import { startObservability } from '../../src/cli/observability.js';
import { waitFor } from '../../lab/wait.js';
import { FakeAgent, LAB_YAML } from './metrics-fake-agent.js';

class FakeViciClient extends EventEmitter {
  connected = true;
  reconnects = 2;
}

async function receiver(): Promise<{ server: Server; url: string; bodies: Array<Record<string, unknown>> }> {
  const bodies: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(raw) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('startObservability', () => {
  const servers: Server[] = [];
  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  it('serves metrics, counts VICI traffic, alerts, and follows a reload', async () => {
    const one = await receiver();
    const two = await receiver();
    servers.push(one.server, two.server);
    const port1 = await freePort();
    const yaml = (port: number, url: string): string => `${LAB_YAML}metrics: { listen: "127.0.0.1:${port}" }\nalerts: { webhook: { url: "${url}" } }\n`;
    const cfg = parseConfig(yaml(port1, one.url), 'obs.yaml');
    const agent = new FakeAgent(cfg);
    const vici = new FakeViciClient();
    const obs = await startObservability(cfg, agent as unknown as Agent, vici as unknown as ViciClient, pino({ level: 'silent' }));
    try {
      // Before the agent has started: configured tunnels are already there.
      let text = await (await fetch(`http://127.0.0.1:${port1}/metrics`)).text();
      assert.match(text, /^ipsec_keepalive_tunnel_up\{tunnel="branch-a",ike="ikev2-vpn",child="ikev2-vpn-140"\} 0$/m);
      assert.match(text, /^ipsec_keepalive_vici_reconnects_total 2$/m);
      assert.match(text, /^ipsec_keepalive_alerts_sent_total\{channel="webhook",event="tunnel-down"\} 0$/m);
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port1}/healthz`)).json(), { status: 'ok', vici: 'connected', tunnels: 0 });

      vici.emit('event', 'child-updown', {});
      vici.emit('command', { name: 'list-sas', ms: 3, result: 'ok' });
      agent.start();
      agent.emit('tunnel-down', { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140', why: 'no CHILD_SA installed', at: Date.now() });
      await waitFor(() => one.bodies.length === 1, { what: 'the alert at the first receiver' });
      text = await (await fetch(`http://127.0.0.1:${port1}/metrics`)).text();
      assert.match(text, /^ipsec_keepalive_vici_events_total\{event="child-updown"\} 1$/m);
      assert.match(text, /^ipsec_keepalive_vici_commands_total\{command="list-sas",result="ok"\} 1$/m);
      assert.match(text, /^ipsec_keepalive_alerts_sent_total\{channel="webhook",event="tunnel-down"\} 1$/m);

      // SIGHUP: another webhook, another metrics port.
      const port2 = await freePort();
      await obs.reload(parseConfig(yaml(port2, two.url), 'obs.yaml'));
      agent.emit('tunnel-repaired', { tunnel: 'branch-a', ike: 'ikev2-vpn', child: 'ikev2-vpn-140', downMs: 500, at: Date.now() });
      await waitFor(() => two.bodies.length === 1, { what: 'the alert at the second receiver' });
      assert.equal(one.bodies.length, 1);
      assert.equal(two.bodies[0]!['event'], 'tunnel-repaired');
      text = await (await fetch(`http://127.0.0.1:${port2}/metrics`)).text();
      assert.match(text, /^ipsec_keepalive_alerts_sent_total\{channel="webhook",event="tunnel-repaired"\} 1$/m);
      await assert.rejects(fetch(`http://127.0.0.1:${port1}/metrics`));
    } finally {
      await obs.close();
    }
    assert.equal(vici.listenerCount('event'), 0);
    assert.equal(agent.listenerCount('tunnel-down'), 0);
  });

  it('a taken metrics port fails the start with one line naming it', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    servers.push(blocker);
    const port = (blocker.address() as AddressInfo).port;
    const cfg = parseConfig(`${LAB_YAML}metrics: { listen: "127.0.0.1:${port}" }\n`, 'obs.yaml');
    const agent = new FakeAgent(cfg);
    const vici = new FakeViciClient();
    await assert.rejects(startObservability(cfg, agent as unknown as Agent, vici as unknown as ViciClient, pino({ level: 'silent' })), {
      message: `metrics: cannot listen on 127.0.0.1:${port}: address already in use`,
    });
    assert.equal(vici.listenerCount('event'), 0);
  });
});
