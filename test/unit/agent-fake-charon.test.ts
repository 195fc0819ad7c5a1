// The Agent against a scripted charon (test/support/fake-charon.ts): what it sends, in what order,
// for the event paths and the initiates after charon's restart. The real charon's side of the same
// paths is in the lab tests (test/integration); these pin down orders a lab cannot force.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FakeCharon } from '../support/fake-charon.js';
import { ViciClient } from '../../src/vici/index.js';
import { Agent } from '../../src/agent/controller/agent.js';
import { parseConfig } from '../../src/agent/config/load.js';

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
    r.onInitiate(msg);
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
    r.conns = {};
    await connReads(r, 1);
    assert.ok(r.agent.view().has('a'), 'kept while charon may still be loading');
    await until(() => !r.agent.view().has('a'), 'the tunnel forgotten', 6000);
    assert.deepEqual(r.seq.filter((c) => c.startsWith('initiate')), []);
  });
});
