// The agent in a hostile environment, against the lab: charon's socket not there yet, a metrics port
// already taken, a probe target whose name does not resolve, tunnels naming CHILD_SA configs charon does
// not have, and SIGHUP with a broken file. Each must end in one clear line and the rest keeps working.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { everyTunnelOnce, labConfig, startAgent, watchLeft, childNamesOf, type LogLine, type RunningAgent, type Watcher } from './agent-harness.js';
import { startTappedAgent } from '../soak/agent-proc.js';
import { VICI_RECONNECT_CAP_MS } from '../soak/bounds.js';
import { runCli } from '../../lab/cli-run.js';

const EVENT_BOUND_MS = 1000;

function oneLine(l: LogLine): void {
  assert.ok(!l.msg.includes('\n'), `one line: ${l.msg}`);
}

describe('environment: the agent against a lab that misbehaves', () => {
  let lab: Lab;
  let watch: Watcher;
  const agents: RunningAgent[] = [];

  before(async () => {
    lab = await startLab({ initiate: true });
    watch = await watchLeft(lab);
  });
  after(async () => {
    for (const a of agents) await a.stop();
    await watch?.close();
    await lab?.close();
  });

  /** Peer deletes `child`; it must be back within the event bound. */
  async function repairedFast(child: string): Promise<void> {
    const from = watch.events.length;
    await lab.peerDeleteChild(child);
    const find = (up: boolean) => watch.events.slice(from).find((x) => x.e.up === up && childNamesOf(x.e).includes(child));
    const up = await waitFor(() => find(false) && find(true), {
      timeoutMs: 30_000,
      what: `${child} back`,
      seen: async () => {
        const events = watch.events.slice(from).map((x) => `${x.e.up ? 'up' : 'down'} ${childNamesOf(x.e).join('+')}`);
        return `events [${events.join(', ')}], installed ${JSON.stringify([...(await lab.installedChildren('left'))])}`;
      },
    });
    const ms = up.at - find(false)!.at;
    assert.ok(ms < EVENT_BOUND_MS, `${child} back after ${ms.toFixed(0)} ms`);
  }

  it("charon's socket missing at start: one line naming it, the agent waits, and connects when charon appears", async () => {
    await lab.stopLocalCharon();
    const { tap, running } = startTappedAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }), 'early');
    try {
      const wait = await tap.waitFor((l) => /is not reachable/.test(l.msg), 'the waiting line');
      assert.equal(wait.msg, `charon's VICI socket ${lab.left.viciUri} is not reachable: no socket there: charon is not running, or its VICI socket is elsewhere (set vici.socket or --socket); waiting for it`);
      oneLine(wait);
    } finally {
      await lab.startLocalCharon();
    }
    // The watcher connected before charon stopped: it reconnects by itself, and must hear the peer
    // delete below as the agent does (one CI run once saw it miss events for a while after this).
    const t0 = Date.now();
    const agent = await running;
    agents.push(agent);
    assert.ok(Date.now() - t0 < VICI_RECONNECT_CAP_MS + 3000, `connected ${Date.now() - t0} ms after charon came`);
    assert.equal(tap.lines().filter((l) => /is not reachable/.test(l.msg)).length, 1, 'said once, not per retry');
    // No start_action: the agent initiates every tunnel itself.
    await everyTunnelOnce(lab, 'every tunnel initiated');
    await waitFor(() => watch.vici.connected, { what: "the watcher's own reconnect" });
    await repairedFast('ikev2-vpn-141');
    assert.equal(await agent.stop(), 0);
  });

  it('a client connected before charon stops hears every event after charon is back (5 restarts, the agent started while charon is down)', async () => {
    for (let round = 1; round <= 5; round++) {
      const reconnects = watch.vici.reconnects;
      await lab.stopLocalCharon();
      const { tap, running } = startTappedAgent(lab, labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })) }), `restart-${round}`);
      await tap.waitFor((l) => /is not reachable/.test(l.msg), `round ${round}: the agent waiting for charon`);
      await lab.startLocalCharon();
      const agent = await running;
      agents.push(agent);
      await waitFor(() => watch.vici.reconnects > reconnects && watch.vici.connected, { timeoutMs: 10_000, what: `round ${round}: the watcher reconnected` });
      await everyTunnelOnce(lab, `round ${round}: every tunnel initiated`);
      // Within about a second of the reconnect: the window the missed events were seen in.
      await repairedFast('ikev2-vpn-141');
      assert.equal(await agent.stop(), 0);
    }
  });

  it('metrics address taken: `run` stops at once with one line naming it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const cfgPath = join(lab.dir, 'taken.yaml');
    writeFileSync(cfgPath, stringify(labConfig(lab, { metrics: { enabled: true, listen: `127.0.0.1:${port}` } })));
    try {
      const r = await runCli(['run', '--config', cfgPath]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `ipsec-keepalive run: metrics: cannot listen on 127.0.0.1:${port}: address already in use\n`);
    } finally {
      blocker.close();
      rmSync(cfgPath, { force: true });
    }
  });

  it('a probe target whose name does not resolve: the probe reports the resolver error, nothing is restarted, the other tunnels keep working', async () => {
    const [a, b, c] = lab.children as [string, string, string];
    const target = (child: string) => lab.targets.find((t) => t.child === child)!;
    const agent = await startAgent(
      lab,
      labConfig(lab, {
        tunnels: [
          { child: a, source: lab.leftInsideAddr, probes: [{ tcp: 'does-not-resolve.invalid:9802' }] },
          { child: b, source: lab.leftInsideAddr, probes: [{ tcp: `${target(b).host}:9802` }, { icmp: target(b).host }] },
          { child: c, source: lab.leftInsideAddr, probes: [{ tcp: `${target(c).host}:9802` }] },
        ],
      }),
      'dns',
    );
    agents.push(agent);
    const fromEvents = watch.events.length;
    // Three rounds of the unresolvable probe, each one reported with the resolver's error.
    const rounds = await waitFor(() => {
      const r = agent.logs.filter((l) => l.tunnel === a && l.msg === `tunnel ${a}: probes unknown`);
      return r.length >= 3 && r;
    }, { timeoutMs: 20_000, what: `three reported rounds of ${a}` });
    for (const r of rounds) {
      const results = r['results'] as Array<{ target: string; ok: boolean; error?: string }>;
      assert.equal(results[0]!.target, 'does-not-resolve.invalid:9802');
      assert.equal(results[0]!.ok, false);
      assert.match(results[0]!.error ?? '', /^(EAI_AGAIN|ENOTFOUND|EAI_NONAME|EAI_FAIL) does-not-resolve\.invalid$/);
    }
    for (const t of [b, c]) await agent.waitForLog((l) => l.tunnel === t && l.msg === 'probe round' && l.health === 'healthy', { what: `${t} healthy` });
    assert.deepEqual(agent.actions().map((l) => `${l.tunnel} ${l.action}`), [], 'no repair on account of a name');
    assert.deepEqual(watch.events.slice(fromEvents).filter((e) => !e.e.up).flatMap((e) => childNamesOf(e.e)), [], 'no tunnel went down');
    await repairedFast(b);
    assert.equal(await agent.stop(), 0);
  });

  it('a tunnel naming a CHILD_SA charon does not have: one warning line naming it, no attempt across later reads, the others keep running', async () => {
    const cfg = { ...labConfig(lab, { tunnels: [...lab.children.slice(0, 2).map((c) => ({ child: c })), { name: 'ghost', child: 'no-such-child' }] }), vici: { socket: lab.left.viciUri, conns_refresh: '1s' } };
    const agent = await startAgent(lab, cfg, 'ghost');
    agents.push(agent);
    const warn = agent.logs.find((l) => l.tunnel === 'ghost' && l.level === 40 && /charon has no CHILD_SA config/.test(l.msg));
    assert.ok(warn, 'the warning comes with the start-up resync');
    assert.equal(warn.msg, 'tunnel ghost: charon has no CHILD_SA config named "no-such-child"; not-loaded, repaired as soon as charon loads it');
    oneLine(warn);
    // Nothing is attempted for it: the config source reads list-conns again (settling, then every second) and
    // would reconcile it the moment charon has it. The negative holds across those reads.
    await waitFor(() => agent.logs.filter((l) => l.msg === 'vici command' && l['cmd'] === 'list-conns').length >= 8, { timeoutMs: 20_000, what: 'eight list-conns reads' });
    assert.deepEqual(agent.actions().filter((l) => l.tunnel === 'ghost').map((l) => `${l.action} ${l.result}`), [], 'no initiate of a config charon does not have');
    assert.deepEqual(agent.logs.filter((l) => l.tunnel === 'ghost' && /backing off/.test(l.msg)).map((l) => l.msg), [], 'nothing to back off from');
    assert.equal(agent.logs.filter((l) => /charon has no CHILD_SA config/.test(l.msg)).length, 1, 'named once, not on every read');
    for (const c of lab.children.slice(0, 2)) await repairedFast(c);
    assert.equal(agent.proc.exitCode, null);
    assert.equal(await agent.stop(), 0);
  });

  it('SIGHUP with a broken file: one line naming the problem, the running configuration stays; a good file is taken', async () => {
    const [a, b] = lab.children as [string, string];
    // Each broken reload is followed by a peer delete of `a`, in quick succession: by design that is a
    // repair loop the agent damps. This test is about reloads, so every repair counts as held.
    const good = labConfig(lab, { tunnels: lab.children.map((c) => ({ child: c })), defaults: { repair_hold: '1ms' } }) as { tunnels: Array<Record<string, unknown>>; defaults: Record<string, unknown> };
    const agent = await startAgent(lab, good, 'hup');
    agents.push(agent);
    await everyTunnelOnce(lab, 'all up');
    // Each broken file would also disable tunnel `a`: if any were taken, `a` would stay down below.
    const disabledA = { ...good, tunnels: good.tunnels.map((t) => (t['child'] === a ? { ...t, enabled: false } : t)) };
    const broken: Array<[string, () => void, RegExp]> = [
      ['a YAML syntax error', () => writeFileSync(agent.configPath, `${stringify(disabledA)}\n  : [\n`), new RegExp(`^${agent.configPath}:\\d+:\\d+: YAML: `)],
      ['an unknown key', () => writeFileSync(agent.configPath, stringify({ ...disabledA, tunnles: [] })), new RegExp(`^${agent.configPath}: unknown key "tunnles" \\(did you mean "tunnels"\\?\\)$`)],
      ['a value out of range', () => writeFileSync(agent.configPath, stringify({ ...disabledA, defaults: { ...good.defaults, reprobe_attempts: 99 } })), new RegExp(`^${agent.configPath}: defaults\\.reprobe_attempts: `)],
      ['a duplicate tunnel', () => writeFileSync(agent.configPath, stringify({ ...disabledA, tunnels: [...disabledA.tunnels, { child: b }] })), new RegExp(`^${agent.configPath}: tunnels\\[3\\]\\.child: duplicate tunnel name "${b}"`)],
      ['the file gone', () => rmSync(agent.configPath), new RegExp(`^${agent.configPath}: cannot read config: no such file$`)],
    ];
    for (const [what, write, re] of broken) {
      write();
      const from = agent.logs.length;
      agent.reload();
      const line = await agent.waitForLog((l) => /^reload rejected/.test(l.msg) || l.msg === 'configuration reloaded', { from, what });
      assert.equal(line.level, 50, `${what}: ${line.msg}`);
      assert.match(String(line.err), re, what);
      assert.equal(line.msg, `reload rejected, keeping the running configuration: ${String(line.err)}`);
      oneLine(line);
      await repairedFast(a);
    }
    assert.equal(agent.proc.exitCode, null, 'still running');
    // A good file is taken: now `a` is disabled and stays down when the peer deletes it.
    agent.writeConfig(disabledA);
    const from = agent.logs.length;
    agent.reload();
    await agent.waitForLog((l) => l.msg === 'configuration reloaded', { from });
    await lab.peerDeleteChild(a);
    await agent.waitForLog((l) => l.tunnel === a && l.msg === 'reconcile' && l['status'] === 'disabled', { from, what: `${a} left alone` });
    assert.equal((await lab.installedChildren('left')).get(a), undefined);
    assert.equal(await agent.stop(), 0);
    await lab.initiateAll();
  });
});
