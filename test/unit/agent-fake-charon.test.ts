// The Agent against a scripted charon (test/support/fake-charon.ts): what it sends, in what order,
// for the event paths and the initiates after charon's restart. The real charon's side of the same
// paths is in the lab tests (test/integration); these pin down orders a lab cannot force.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { FakeCharon, type FakeConn } from '../support/fake-charon.js';
import { ViciClient } from '../../src/vici/index.js';
import { Agent } from '../../src/agent/controller/agent.js';
import { parseConfig } from '../../src/agent/config/load.js';
import { SETTLE_MS, SETTLE_POLL_MS } from '../../src/agent/controller/conns-watch.js';
import type { ProbeResult } from '../../src/probes/types.js';

const CONFIG = (uri: string) => `
vici: { socket: ${uri} }
defaults: { charon_grace: 0, initiate_timeout: 10s }
traffic_watch: { interval: 0 }
metrics: { enabled: false }
status: { enabled: false }
tunnels:
  - child: a
    ike: gw
`;
/** discover: true, nothing configured: the tunnels are whatever charon has loaded. */
const DISCOVER = (uri: string) => `
vici: { socket: ${uri} }
defaults: { charon_grace: 0, initiate_timeout: 10s }
traffic_watch: { interval: 0 }
metrics: { enabled: false }
status: { enabled: false }
discover: true
`;
/** The site-to-site connection gw with its child a, as list-conns shows it. */
const GW = { gw: { remote_addrs: ['192.0.2.2'], children: { a: { start_action: 'none', close_action: 'none' } } } };
/** A road-warrior responder beside it: charon cannot initiate it. */
const RW = { rw: { remote_addrs: ['%any'], children: { 'rw-net': { start_action: 'none' } } } };

const ike = (id: number, children: Record<string, unknown>[], state = 'ESTABLISHED') => ({
  uniqueid: String(id),
  version: '2',
  state,
  'child-sas': Object.fromEntries(children.map((c) => [`a-${String(c['uniqueid'])}`, c])),
});
const child = (id: number, state = 'INSTALLED') => ({ name: 'a', uniqueid: String(id), state, 'install-time': '5', 'packets-in': '1', 'packets-out': '1' });

async function until(fn: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Rig {
  charon: FakeCharon;
  agent: Agent;
  vici: ViciClient;
  /** What charon holds: the IKE_SA `gw` (or none). */
  sa: { gw?: ReturnType<typeof ike> };
  /** Commands in the order charon received them ("list-sas", "initiate timeout=…"). */
  seq: string[];
  /** What list-conns answers (one list-conn event per connection). */
  conns: Record<string, unknown>;
  /** How many list-conns charon answered. */
  connReads: number;
  /** Each initiate's handler: answers success by default. */
  onInitiate: (msg: Record<string, unknown>) => void;
  actions: Array<{ kind: string; result: string; ms: number }>;
  /** Each reconcile's result, in order. */
  reconciles: string[];
  cfg: ReturnType<typeof parseConfig>;
}

/** The unique ids of the CHILD_SAs charon holds INSTALLED. */
function installedIds(r: Rig): Set<string> {
  const sas = Object.values((r.sa.gw?.['child-sas'] ?? {}) as Record<string, { uniqueid: string; state: string }>);
  return new Set(sas.filter((c) => c.state === 'INSTALLED').map((c) => c.uniqueid));
}

/** As charon does: a CHILD_SA an initiate installed is announced by its up event before the answer. */
function announceNew(r: Rig, before: Set<string>): void {
  const gw = r.sa.gw;
  if (!gw) return;
  for (const [key, c] of Object.entries(gw['child-sas'] as Record<string, { uniqueid: string; state: string }>)) {
    if (c.state === 'INSTALLED' && !before.has(c.uniqueid)) r.charon.emit('child-updown', { up: 'yes', gw: { ...gw, 'child-sas': { [key]: c } } });
  }
}

const rigs: Rig[] = [];

async function rig(config = CONFIG): Promise<Rig> {
  const charon = await FakeCharon.start();
  const r = { charon, sa: {}, seq: [], actions: [], reconciles: [], conns: GW, connReads: 0, onInitiate: () => undefined } as unknown as Rig;
  charon.on('list-sas', ({ conn }) => {
    r.seq.push('list-sas');
    if (r.sa.gw) conn.event('list-sa', { gw: r.sa.gw });
    conn.respond({});
  });
  charon.on('list-conns', ({ conn }) => {
    r.connReads++;
    for (const [name, c] of Object.entries(r.conns)) conn.event('list-conn', { [name]: c });
    conn.respond({});
  });
  charon.on('initiate', ({ conn, msg }) => {
    r.seq.push(`initiate ${String(msg['child'])} timeout=${String(msg['timeout'])}`);
    const before = installedIds(r);
    r.onInitiate(msg);
    announceNew(r, before);
    conn.respond({ success: 'yes' });
  });
  const cfg = parseConfig(config(charon.uri), 'test.yaml');
  const log = pino({ level: 'silent' });
  r.vici = new ViciClient({ uri: cfg.viciUri, commandTimeoutMs: 5000, maxConcurrentInitiates: 4, logger: log, reconnect: { baseMs: 20, capMs: 100 } });
  await r.vici.connect();
  r.agent = new Agent({ config: cfg, vici: r.vici, logger: log, runProbe: () => Promise.reject(new Error('no probes here')) });
  r.agent.on('action', (a) => r.actions.push({ kind: a.kind, result: a.result, ms: a.ms }));
  r.agent.on('reconcile', (e) => r.reconciles.push(e.result));
  r.cfg = cfg;
  rigs.push(r);
  return r;
}

/** The agent has read the tunnel up and has nothing left to do. */
async function steady(r: Rig): Promise<void> {
  await until(() => r.agent.statusOf('a') === 'up', 'the tunnel reconciled up');
}

/**
 * A negative check must hold across a later read: a reconcile that decided nothing and requeued nothing
 * ('ok' without an action), then a reload's read of charon, and its reconcile again quiet.
 */
async function quietAcrossARead(r: Rig): Promise<void> {
  const quiet = async (from: number, what: string) => {
    await until(() => r.reconciles.slice(from).includes('ok'), `${what} (reconciles: ${r.reconciles.slice(from).join(', ')})`);
  };
  await quiet(Math.max(0, r.reconciles.length - 1), 'a reconcile that leaves nothing pending');
  const reads = r.seq.filter((c) => c === 'list-sas').length;
  const from = r.reconciles.length;
  await r.agent.reload(r.cfg);
  await until(() => r.seq.filter((c) => c === 'list-sas').length > reads, 'the read after the reload');
  await quiet(from, "the reload's reconcile, quiet too");
}

/** The agent started on charon holding the tunnel's CHILD_SA (1 on IKE_SA 1), read up; the commands so far forgotten. */
async function upAndSteady(r?: Rig): Promise<Rig> {
  const rr = r ?? (await rig());
  rr.sa.gw = ike(1, [child(1)]);
  await rr.agent.start();
  await steady(rr);
  rr.seq.length = 0;
  return rr;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.agent.stop();
    await r.vici.close();
    await r.charon.close();
  }
});

describe('agent: repairs from the event', () => {
  it('a peer CHILD_SA delete that is the only news since the last read is repaired before any read', async () => {
    const r = await upAndSteady();
    r.sa.gw = ike(1, []);
    r.onInitiate = () => {
      r.sa.gw = ike(1, [child(2)]);
    };
    r.charon.emit('child-updown', { gw: ike(1, [child(1, 'DELETING')]) });
    await until(() => r.seq.some((c) => c.startsWith('initiate')), 'the initiate');
    assert.equal(r.seq[0], 'initiate a timeout=10000', `commands: ${r.seq.join(', ')}`);
    // The read follows the initiate.
    await until(() => r.seq.includes('list-sas'), 'the read after the initiate');
  });

  it('an up then a down in one batch (make-before-break): the agent reads first, and adds nothing', async () => {
    const r = await upAndSteady();
    // The new IKE_SA (2) with its CHILD_SA is up; then the old one's goes.
    r.sa.gw = ike(2, [child(2)]);
    r.charon.emit('child-updown', { up: 'yes', gw: ike(2, [child(2)]) });
    r.charon.emit('child-updown', { gw: ike(1, [child(1, 'DELETING')]) });
    await until(() => r.seq.includes('list-sas'), 'a read');
    await steady(r);
    await quietAcrossARead(r);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), [], `commands: ${r.seq.join(', ')}`);
  });
});

describe('agent: initiates after charon restarts', () => {
  async function restarted(r: Rig): Promise<void> {
    await upAndSteady(r);
    r.sa = {};
    await r.charon.stop();
    await r.charon.listen();
  }

  it('are sent without waiting inside charon (timeout -1) and end on the up event', async () => {
    const r = await rig();
    r.onInitiate = () => {
      setTimeout(() => {
        r.sa.gw = ike(3, [child(3)]);
        r.charon.emit('child-updown', { up: 'yes', gw: ike(3, [child(3)]) });
      }, 50);
    };
    await restarted(r);
    await until(() => r.actions.some((a) => a.kind === 'initiate'), 'the initiate to end', 5000);
    assert.ok(r.seq.includes('initiate a timeout=-1'), `commands: ${r.seq.join(', ')}`);
    const a = r.actions.find((x) => x.kind === 'initiate')!;
    assert.equal(a.result, 'ok');
    assert.ok(a.ms >= 40 && a.ms < 2000, `ended by the up event after ${a.ms.toFixed(0)} ms, not by its 10 s timeout`);
    await steady(r);
  });

  it('stop() ends one still waiting for its up event at once, not at its timeout', async () => {
    const r = await rig();
    await restarted(r);
    await until(() => r.seq.includes('initiate a timeout=-1'), 'the initiate');
    const t0 = performance.now();
    await r.agent.stop();
    assert.ok(performance.now() - t0 < 1000, `stop() took ${(performance.now() - t0).toFixed(0)} ms`);
  });
});

/** Waits until charon has answered `n` more list-conns than now: the agent's config source has read again. */
async function connReads(r: Rig, n: number, timeoutMs = 5000): Promise<void> {
  const want = r.connReads + n;
  await until(() => r.connReads >= want, `${n} more list-conns reads`, timeoutMs);
}

describe("agent: charon's loaded configs as the desired set (the config source)", () => {
  it("charon restarted, its configs loaded after its socket: nothing attempted before, initiated as soon as they are", async () => {
    const r = await rig();
    await upAndSteady(r);
    r.sa = {};
    r.conns = {};
    await r.charon.stop();
    await r.charon.listen();
    // The socket is back without configs (strongswan.service loads them in ExecStartPost).
    await until(() => r.agent.statusOf('a') === 'not-loaded', 'the tunnel not-loaded');
    await connReads(r, 2);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), [], 'no initiate of a config charon does not have');
    r.onInitiate = () => {
      setTimeout(() => {
        r.sa.gw = ike(3, [child(3)]);
        r.charon.emit('child-updown', { up: 'yes', gw: ike(3, [child(3)]) });
      }, 10);
    };
    const loadedAt = performance.now();
    r.conns = GW;
    await until(() => r.seq.some((c) => c.startsWith('initiate')), 'the initiate once the config is loaded', 2000);
    const ms = performance.now() - loadedAt;
    assert.ok(ms < 1500, `initiated ${ms.toFixed(0)} ms after the load`);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), ['initiate a timeout=-1'], "one initiate, not waiting inside charon (it came with charon's restart)");
    await steady(r);
  });

  it('a configured tunnel whose config is not loaded attempts nothing across later reads, and is repaired once charon loads it', async () => {
    const r = await rig();
    r.conns = {};
    await r.agent.start();
    await until(() => r.agent.statusOf('a') === 'not-loaded', 'the tunnel not-loaded');
    await connReads(r, 3);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), []);
    r.onInitiate = () => {
      r.sa.gw = ike(1, [child(1)]);
    };
    r.conns = GW;
    await until(() => r.seq.some((c) => c.startsWith('initiate')), 'the initiate once the config is loaded', 2000);
    await steady(r);
  });

  it('discover keeps what charon can initiate, lists a responder and never initiates it', async () => {
    const r = await rig(DISCOVER);
    r.conns = { ...GW, ...RW };
    r.onInitiate = () => {
      r.sa.gw = ike(1, [child(1)]);
    };
    await r.agent.start();
    await steady(r);
    await connReads(r, 3);
    await quietAcrossARead(r);
    assert.deepEqual([...r.agent.view().keys()], ['a']);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), ['initiate a timeout=10000'], 'rw-net is never initiated');
    assert.deepEqual(r.agent.responderConns(), [{ ike: 'rw', children: ['rw-net'], remoteAddrs: ['%any'] }]);
  });

  it('discover: a connection unloaded is forgotten once the answer has settled, not at the first read that lacks it', async () => {
    const r = await rig(DISCOVER);
    r.sa.gw = ike(1, [child(1)]);
    await r.agent.start();
    await steady(r);
    // Another connection stays loaded: an answer with no connections at all is charon still loading them.
    r.conns = RW;
    // The second read is scheduled only once the first was applied.
    await connReads(r, 2);
    assert.ok(r.agent.view().has('a'), 'kept while charon may still be loading');
    await until(() => !r.agent.view().has('a'), 'the tunnel forgotten', 6000);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), []);
  });

  it('discover: charon with no connections at all forgets nothing, also once settled (it may still be loading them)', async () => {
    // Read every second once settled, so that the reads below go past the settling.
    const r = await rig((uri) => DISCOVER(uri).replace(`vici: { socket: ${uri} }`, `vici: { socket: ${uri}, conns_refresh: 1s }`));
    r.sa.gw = ike(1, [child(1)]);
    await r.agent.start();
    await steady(r);
    r.conns = {};
    // Enough reads for the empty answer to settle (unchanged for SETTLE_MS at SETTLE_POLL_MS), and two after.
    await connReads(r, SETTLE_MS / SETTLE_POLL_MS + 3, SETTLE_MS * 3);
    assert.ok(r.agent.view().has('a'), 'kept');
  });
});

// A stale tunnel's repairs, with charon's answers scripted: what the agent makes of a CHILD_SA restart
// whose terminate charon reports failed, and of an IKE_SA restart that went through.
describe('agent: stale repairs', () => {
  const PROBED = (uri: string) => `
vici: { socket: ${uri} }
defaults: { charon_grace: 0, initiate_timeout: 10s, probe_interval: 300ms, probe_timeout: 100ms, reprobe_attempts: 0, backoff_base: 1s }
traffic_watch: { interval: 0 }
metrics: { enabled: false }
status: { enabled: false }
log: { level: debug }
tunnels:
  - child: a
    ike: gw
    probes: [{ tcp: 198.51.100.1:9802 }]
`;
  interface Stale {
    r: Rig;
    logs: Array<{ msg: string; tunnel?: string; health?: string; action?: string }>;
    probes: { ok: boolean };
    /** Each terminate's handler: answers success by default. */
    onTerminate: (req: { conn: FakeConn; msg: Record<string, unknown> }) => void;
  }
  async function staleRig(): Promise<Stale> {
    const charon = await FakeCharon.start();
    const logs: Stale['logs'] = [];
    const probes = { ok: true };
    const r = { charon, sa: {}, seq: [], actions: [], onInitiate: () => undefined } as unknown as Rig;
    const s: Stale = { r, logs, probes, onTerminate: ({ conn }) => conn.respond({ success: 'yes' }) };
    charon.on('list-sas', ({ conn, msg }) => {
      r.seq.push(`list-sas${msg['child'] !== undefined ? ` child=${String(msg['child'])}` : ''}`);
      if (r.sa.gw) conn.event('list-sa', { gw: r.sa.gw });
      conn.respond({});
    });
    charon.on('list-conns', ({ conn }) => conn.respond({}));
    charon.on('initiate', ({ conn, msg }) => {
      r.seq.push(`initiate timeout=${String(msg['timeout'])}`);
      const before = installedIds(r);
      r.onInitiate(msg);
      announceNew(r, before);
      conn.respond({ success: 'yes' });
    });
    charon.on('terminate', ({ conn, msg }) => {
      r.seq.push(msg['ike-id'] !== undefined ? `terminate ike-id=${String(msg['ike-id'])}` : `terminate child-id=${String(msg['child-id'])}`);
      s.onTerminate({ conn, msg });
    });
    const cfg = parseConfig(PROBED(charon.uri), 'test.yaml');
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Stale['logs'][number]);
        cb();
      },
    });
    const log = pino({ level: 'debug' }, sink);
    r.vici = new ViciClient({ uri: cfg.viciUri, commandTimeoutMs: 5000, maxConcurrentInitiates: 4, logger: pino({ level: 'silent' }), reconnect: { baseMs: 20, capMs: 100 } });
    await r.vici.connect();
    const result = (ok: boolean): ProbeResult => ({ kind: 'tcp', target: '198.51.100.1:9802', success: ok, durationMs: 1, phases: {}, ...(ok ? {} : { error: 'timeout after 100 ms', errorCode: 'timeout' as const }) });
    r.agent = new Agent({ config: cfg, vici: r.vici, logger: log, runProbe: () => Promise.resolve(result(probes.ok)) });
    r.agent.on('action', (a) => r.actions.push({ kind: a.kind, result: a.result, ms: a.ms }));
    rigs.push(r);
    r.sa.gw = ike(1, [child(1)]);
    await r.agent.start();
    await until(() => logs.some((l) => l.msg === 'probe round' && l.health === 'healthy'), 'a healthy round');
    return s;
  }
  /** Resolves once `n` more probe rounds with this verdict have ended. */
  async function rounds(s: Stale, health: string, n = 1): Promise<void> {
    const from = s.logs.length;
    await until(() => s.logs.slice(from).filter((l) => l.msg === 'probe round' && l.health === health).length >= n, `${n} ${health} round(s)`);
  }

  it("a CHILD_SA restart whose terminate charon reports failed, its CHILD_SA gone (the DELETE was answered): the restart goes on to the initiate, no IKE_SA restart", async () => {
    const s = await staleRig();
    const { r } = s;
    s.onTerminate = ({ conn }) => {
      // charon removed the CHILD_SA, logged the peer's DELETE on the IKE_SA, and still answered failure.
      r.sa.gw = ike(1, []);
      conn.event('control-log', { group: 'IKE', level: '1', 'ikesa-name': 'gw', 'ikesa-uniqueid': '1', msg: 'received DELETE for ESP CHILD_SA with SPI 17e88550' });
      conn.respond({ success: 'no', errmsg: 'terminating SA failed', matches: '1', terminated: '0' });
    };
    r.onInitiate = () => {
      r.sa.gw = ike(1, [child(2)]);
      s.probes.ok = true;
    };
    r.seq.length = 0;
    s.probes.ok = false;
    await until(() => r.actions.some((a) => a.kind === 'restart-child'), 'the CHILD_SA restart');
    assert.deepEqual(r.actions.filter((a) => a.kind === 'restart-child').map((a) => a.result), ['ok']);
    // charon's state is read, then the restart's initiate goes out.
    const t = r.seq.indexOf('terminate child-id=1');
    assert.deepEqual(r.seq.slice(t, t + 3), ['terminate child-id=1', 'list-sas child=a', 'initiate timeout=10000'], `commands: ${r.seq.join(', ')}`);
    // A later round passes on the new CHILD_SA, and nothing escalated.
    await rounds(s, 'healthy', 2);
    assert.deepEqual(r.actions.map((a) => a.kind), ['restart-child']);
    assert.equal(r.agent.statusOf('a'), 'up');
  });

  it("a CHILD_SA restart whose DELETE charon still waits on (the CHILD_SA is there): a failure, said to be the unanswered DELETE whatever else charon logged", async () => {
    const s = await staleRig();
    const { r } = s;
    const failures: string[] = [];
    r.agent.on('action', (a) => {
      if (a.result === 'error') failures.push(`${a.kind} ${String(a.failure)}`);
    });
    s.onTerminate = ({ conn }) => {
      r.sa.gw = ike(1, [child(1, 'DELETING')]);
      // A sibling's DELETE exchange on the same IKE_SA, in this command's log.
      conn.event('control-log', { group: 'IKE', level: '1', 'ikesa-name': 'gw', 'ikesa-uniqueid': '1', msg: 'received DELETE for ESP CHILD_SA with SPI 0badc0de' });
      conn.respond({ success: 'no', errmsg: 'terminating SA failed' });
    };
    r.onInitiate = () => {
      r.sa.gw = ike(2, [child(3)]);
      s.probes.ok = true;
    };
    s.probes.ok = false;
    await until(() => r.actions.some((a) => a.kind === 'restart-child'), 'the CHILD_SA restart');
    assert.deepEqual(failures, ['restart-child timeout']);
    const t = r.seq.indexOf('terminate child-id=1');
    assert.notEqual(r.seq[t + 2], 'initiate timeout=10000', `no initiate of its own: ${r.seq.join(', ')}`);
  });

  it('an IKE_SA restart that went through backs nothing off: no "backing off" line, across a later probe round', async () => {
    const s = await staleRig();
    const { r } = s;
    let initiates = 0;
    s.onTerminate = ({ conn, msg }) => {
      r.sa.gw = msg['ike-id'] !== undefined ? undefined : ike(1, []);
      conn.respond({ success: 'yes' });
    };
    r.onInitiate = () => {
      initiates++;
      // The CHILD_SA restart brings a CHILD_SA the probes still fail through; the IKE_SA restart fixes it.
      r.sa.gw = initiates === 1 ? ike(1, [child(2)]) : ike(2, [child(3)]);
      if (initiates === 2) s.probes.ok = true;
    };
    const from = s.logs.length;
    s.probes.ok = false;
    await until(() => r.actions.some((a) => a.kind === 'restart-ike'), 'the IKE_SA restart', 10_000);
    await rounds(s, 'healthy', 2);
    assert.deepEqual(r.actions.map((a) => `${a.kind} ${a.result}`), ['restart-child ok', 'restart-ike ok']);
    assert.deepEqual(s.logs.slice(from).filter((l) => /backing off/.test(l.msg)).map((l) => l.msg), []);
    assert.equal(r.agent.statusOf('a'), 'up');
  });

  it('an IKE_SA restart that went through but did not help: the next stale verdict backs off before another one', async () => {
    const s = await staleRig();
    const { r } = s;
    let initiates = 0;
    s.onTerminate = ({ conn, msg }) => {
      r.sa.gw = msg['ike-id'] !== undefined ? undefined : ike(1, []);
      conn.respond({ success: 'yes' });
    };
    r.onInitiate = () => {
      initiates++;
      r.sa.gw = initiates === 1 ? ike(1, [child(2)]) : ike(2, [child(3)]);
    };
    const from = s.logs.length;
    s.probes.ok = false;
    await until(() => s.logs.slice(from).some((l) => /backing off/.test(l.msg)), 'the backoff', 10_000);
    assert.deepEqual(r.actions.map((a) => `${a.kind} ${a.result}`), ['restart-child ok', 'restart-ike ok']);
    // In this order: the IKE_SA restart, a round failing through it, then the backoff.
    const seen = s.logs.slice(from);
    const restart = seen.findIndex((l) => l.action === 'restart-ike');
    const failing = seen.findIndex((l, i) => i > restart && l.msg === 'probe round' && l.health === 'failing');
    const off = seen.findIndex((l) => /backing off/.test(l.msg));
    assert.ok(restart >= 0 && failing > restart && off > failing, `restart-ike at ${restart}, failing round at ${failing}, backoff at ${off}`);
    assert.match(seen[off]!.msg, /backing off \d+ ms after 1 failed attempts/);
  });
});

describe("agent: an initiate is done when the tunnel's own CHILD_SA is up, not when charon says so", () => {
  /** A blocking initiate that gives up after a second, so that the case without an up event ends soon. */
  const SHORT = (uri: string) => CONFIG(uri).replace('initiate_timeout: 10s', 'initiate_timeout: 1s');

  it("charon's success came first (a sibling's CHILD_SA installed): the initiate ends on this child's own up event", async () => {
    const r = await rig(SHORT);
    r.conns = GW;
    r.onInitiate = () => {
      // charon's answer is the IKE_SA's: a sibling's CHILD_SA was installed; this child's comes later.
      setTimeout(() => {
        r.sa.gw = ike(1, [child(1)]);
        r.charon.emit('child-updown', { up: 'yes', gw: ike(1, [child(1)]) });
      }, 300);
    };
    await r.agent.start();
    await until(() => r.actions.length > 0, 'the initiate to end', 3000);
    assert.equal(r.actions[0]!.result, 'ok');
    assert.ok(r.actions[0]!.ms >= 290, `ended ${r.actions[0]!.ms.toFixed(0)} ms after it was sent, on the up event`);
    await steady(r);
  });

  it("charon's success, and this child never comes up: a failure of the CHILD_SA, not a repair that did not hold", async () => {
    const r = await rig(SHORT);
    r.conns = GW;
    r.sa.gw = ike(1, []); // the IKE_SA is up; no CHILD_SA of this tunnel ever is
    await r.agent.start();
    await until(() => r.actions.length > 0, 'the initiate to end', 4000);
    const a = r.actions[0]!;
    assert.equal(a.result, 'error');
    assert.ok(a.ms >= 900, `gave up after ${a.ms.toFixed(0)} ms (initiate_timeout 1 s)`);
  });
});
