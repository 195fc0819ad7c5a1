// The client against an in-process fake charon (test/support/fake-charon.ts), one scenario per test.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  asString,
  encodePacket,
  PacketType,
  ViciClient,
  ViciCommandError,
  ViciConnectionError,
  ViciEncodeError,
  ViciTimeoutError,
  ViciUnknownCommandError,
  ViciUnknownEventError,
  type ClientEvents,
  type CommandInfo,
  type ViciClientOptions,
  type ViciSection,
} from '../../src/vici/index.js';
import { FakeCharon } from '../support/fake-charon.js';
import { ikeSa } from '../../bench/vici-data.js';

function nextEvent<K extends keyof ClientEvents>(c: ViciClient, name: K, timeoutMs = 5000): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${String(name)}' within ${timeoutMs} ms`)), timeoutMs);
    c.once(name, ((...args: ClientEvents[K]) => {
      clearTimeout(t);
      resolve(args);
    }) as never);
  });
}

async function until(fn: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Initiates the fake charon holds until the test releases them, one at a time, counting how many run at once. */
function heldInitiates(fake: FakeCharon, onRequest?: (msg: ViciSection) => void): { release: (() => void)[]; inFlight(): number; max: { value: number } } {
  const release: (() => void)[] = [];
  let inFlight = 0;
  const max = { value: 0 };
  fake.on('initiate', ({ conn, msg }) => {
    onRequest?.(msg);
    inFlight++;
    max.value = Math.max(max.value, inFlight);
    return new Promise<void>((resolve) =>
      release.push(() => {
        inFlight--;
        conn.respond({ success: 'yes' });
        resolve();
      }),
    );
  });
  return { release, inFlight: () => inFlight, max };
}

const updown = (up: boolean, ike = 'gw', child = 'net', id = 7) => ({
  ...(up ? { up: 'yes' } : {}),
  [ike]: {
    uniqueid: '3',
    state: up ? 'ESTABLISHED' : 'DELETING',
    'child-sas': { [`${child}-${id}`]: { name: child, uniqueid: String(id), state: up ? 'INSTALLED' : 'DELETING', 'local-ts': ['10.1.0.1/32'] } },
  },
});

describe('ViciClient against a fake charon', () => {
  let fake: FakeCharon;
  let client: ViciClient | undefined;
  const clients: ViciClient[] = [];
  const mk = (o: ViciClientOptions = {}) => {
    const c = new ViciClient({ uri: fake.uri, reconnect: { baseMs: 10, capMs: 50 }, ...o });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    fake = await FakeCharon.start();
    fake.on('version', ({ conn }) => conn.respond({ daemon: 'charon', version: '5.9.8', sysname: 'Linux', release: '6.1', machine: 'x86_64' }));
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    client = undefined;
    await fake.close();
  });

  it('OK: a typed command', async () => {
    client = mk();
    await client.connect();
    assert.equal(client.connected, true);
    const v = await client.version();
    assert.equal(v.version, '5.9.8');
    assert.equal(v.daemon, 'charon');
  });

  it('success = no: ViciCommandError with charon\'s errmsg and the command', async () => {
    fake.on('initiate', ({ conn, msg }) => conn.respond({ success: 'no', errmsg: `establishing CHILD_SA '${asString(msg.child)}' failed` }));
    client = mk();
    await client.connect();
    await assert.rejects(client.initiate({ child: 'net' }), (err: unknown) => {
      assert.ok(err instanceof ViciCommandError);
      assert.equal(err.command, 'initiate');
      assert.equal(err.errmsg, "establishing CHILD_SA 'net' failed");
      assert.equal(asString(err.response?.success), 'no');
      return true;
    });
  });

  it('CMD_UNKNOWN: ViciUnknownCommandError, connection stays usable', async () => {
    client = mk();
    await client.connect();
    await assert.rejects(client.request('no-such-command'), (e: unknown) => e instanceof ViciUnknownCommandError && e.command === 'no-such-command');
    assert.equal((await client.version()).version, '5.9.8');
    assert.equal(fake.conns.length, 1);
  });

  it('EVENT_UNKNOWN: subscribe rejects with ViciUnknownEventError and leaves nothing behind', async () => {
    client = mk();
    await client.connect();
    await assert.rejects(client.onAlert(() => {}), (e: unknown) => e instanceof ViciUnknownEventError && e.event === 'alert');
    await assert.rejects(client.subscribe('nope', () => {}), ViciUnknownEventError);
    await assert.rejects(async () => {
      for await (const _ of client!.stream('list-sas', 'no-such-event')) void _;
    }, ViciUnknownEventError);
    // a reconnect does not try to register them again
    fake.conns[0]!.kill();
    await nextEvent(client, 'connect');
    assert.deepEqual(fake.conns[1]!.log, []);
  });

  it('timeout: the socket is closed, the next command gets its own reply on a new connection', async () => {
    let late: (() => void) | undefined;
    fake.on('slow', ({ conn }) => {
      late = () => conn.respond({ answer: 'to slow' }); // would arrive after the timeout
    });
    fake.on('echo', ({ conn, msg }) => conn.respond({ answer: asString(msg.x) ?? '' }));
    client = mk();
    await client.connect();
    const infos: CommandInfo[] = [];
    client.on('command', (i) => infos.push(i));
    const slow = client.request('slow', {}, { timeoutMs: 100 });
    const queued = client.request('echo', { x: 'queued' }); // waits behind `slow`
    const disconnected = nextEvent(client, 'disconnect');
    const resync = nextEvent(client, 'resync');
    await assert.rejects(slow, (e: unknown) => e instanceof ViciTimeoutError && e.command === 'slow' && e.timeoutMs === 100);
    const [err] = await disconnected;
    assert.ok(err instanceof ViciTimeoutError);
    late?.(); // the old socket is gone: this reply goes nowhere
    assert.equal(asString((await queued).answer), 'queued', 'the queued command ran on the new connection');
    assert.equal(asString((await client.request('echo', { x: 'next' })).answer), 'next');
    await resync;
    assert.equal(fake.conns.length, 2);
    assert.deepEqual(fake.conns[1]!.log, ['CMD_REQUEST echo', 'CMD_REQUEST echo']);
    assert.equal(client.reconnects, 1);
    assert.deepEqual(infos.map((i) => [i.name, i.result]), [['slow', 'timeout'], ['echo', 'ok'], ['echo', 'ok']]);
  });

  it('no response at all, reconnect: false: timeout, then an immediate reconnect anyway', async () => {
    fake.on('silent', () => {});
    client = mk({ reconnect: false, commandTimeoutMs: 80 });
    await client.connect();
    await assert.rejects(client.request('silent'), ViciTimeoutError);
    await nextEvent(client, 'connect');
    assert.equal((await client.version()).version, '5.9.8');
  });

  it('streamed command with other events interleaved; stream() and listSas()', async () => {
    fake.on('list-sas', ({ conn, msg }) => {
      conn.event('child-updown', updown(true)); // subscribed: to the subscriber
      conn.event('ike-rekey', { gw: {} }, true); // not subscribed: dropped
      for (let i = 1; i <= 3; i++) {
        conn.event('list-sa', ikeSa(`ike${i}`, i, i));
        conn.event('child-updown', updown(false, 'gw', 'net', 100 + i));
      }
      conn.event('log', { group: 'CFG', level: '1', msg: 'between' });
      conn.respond({});
      void msg;
    });
    client = mk();
    await client.connect();
    const seen: string[] = [];
    await client.onChildUpdown((e) => seen.push(`${e.up ? 'up' : 'down'} ${Object.keys(e.ike['child-sas']).join()}`));
    const sas = await client.listSas({ ike: 'x', noblock: true });
    assert.deepEqual(sas.map((s) => [s.name, s.uniqueid, Object.keys(s['child-sas']).length]), [['ike1', '1', 1], ['ike2', '2', 2], ['ike3', '3', 3]]);
    assert.equal(sas[2]!['child-sas']['scale-0003-1003']!.name, 'scale-0003');
    assert.deepEqual(sas[0]!['child-sas']['scale-0001-1001']!['remote-ts'], ['10.200.0.1/32']);
    const raw: ViciSection[] = [];
    for await (const ev of client.stream('list-sas', 'list-sa')) raw.push(ev);
    assert.deepEqual(raw.map((r) => Object.keys(r)[0]), ['ike1', 'ike2', 'ike3']);
    await until(() => seen.length === 8, 'child-updown events');
    assert.deepEqual(seen.slice(0, 4), ['up net-7', 'down net-101', 'down net-102', 'down net-103']);
    const log = fake.conns[0]!.log;
    // list-sa is registered once and stays: one exchange per later list-sas.
    assert.deepEqual(log, ['EVENT_REGISTER child-updown', 'EVENT_REGISTER list-sa', 'CMD_REQUEST list-sas', 'CMD_REQUEST list-sas']);
  });

  it('stream events stay registered per connection: registered again on a new socket, stray ones outside a stream dropped', async () => {
    fake.on('list-sas', ({ conn }) => {
      conn.event('list-sa', ikeSa('gw', 1, 1));
      conn.respond({});
    });
    client = mk();
    await client.connect();
    const events: string[] = [];
    client.on('event', (name: string) => events.push(name));
    assert.equal((await client.listSas()).length, 1);
    fake.emit('list-sa', ikeSa('stray', 2, 1)); // registered, but no stream runs: nobody's
    assert.equal((await client.version()).version, '5.9.8');
    assert.equal((await client.listSas()).length, 1, 'the stray event did not leak into the next stream');
    assert.deepEqual(fake.conns[0]!.log, ['EVENT_REGISTER list-sa', 'CMD_REQUEST list-sas', 'CMD_REQUEST version', 'CMD_REQUEST list-sas']);
    assert.deepEqual(events, [], 'no subscriber saw it');
    fake.conns[0]!.kill();
    await nextEvent(client, 'connect');
    assert.equal((await client.listSas()).length, 1);
    assert.deepEqual(fake.conns.at(-1)!.log, ['EVENT_REGISTER list-sa', 'CMD_REQUEST list-sas'], 'a new socket registers again');
  });

  it('stream: leaving the loop early; the command runs to its end, the connection stays in step', async () => {
    fake.on('list-sas', ({ conn }) => {
      for (let i = 1; i <= 5; i++) conn.event('list-sa', ikeSa(`ike${i}`, i, 0));
      conn.respond({});
    });
    client = mk();
    await client.connect();
    for await (const ev of client.stream('list-sas', 'list-sa')) {
      assert.ok(ev.ike1);
      break;
    }
    assert.equal((await client.version()).version, '5.9.8');
    assert.deepEqual(fake.conns[0]!.log, ['EVENT_REGISTER list-sa', 'CMD_REQUEST list-sas', 'CMD_REQUEST version']);
  });

  it('stream of an event that is also subscribed: no second registration, subscription survives', async () => {
    fake.on('list-conns', ({ conn }) => {
      conn.event('list-conn', { c1: { children: { net: { mode: 'TUNNEL', 'local-ts': ['10.0.0.0/8'] } } } });
      conn.respond({});
    });
    client = mk();
    await client.connect();
    const got: string[] = [];
    await client.subscribe('list-conn', (m) => got.push(Object.keys(m)[0]!));
    const conns = await client.listConns();
    assert.equal(conns[0]!.name, 'c1');
    assert.equal(conns[0]!.children.net!.mode, 'TUNNEL');
    assert.deepEqual(fake.conns[0]!.log, ['EVENT_REGISTER list-conn', 'CMD_REQUEST list-conns']);
    fake.emit('list-conn', { c2: {} });
    await until(() => got.length === 1, 'subscriber');
    assert.deepEqual(got, ['c2'], 'the stream took c1; the subscription is still registered');
  });

  it('event during unregister goes to the subscribers, unregister completes', async () => {
    await fake.close();
    fake = await FakeCharon.start({
      onUnregister: (event, conn) => {
        if (event === 'ike-updown') conn.event('child-updown', updown(true, 'gw', 'net', 42));
      },
    });
    fake.on('version', ({ conn }) => conn.respond({ daemon: 'charon', version: '5.9.8', sysname: 'Linux', release: '6.1', machine: 'x86_64' }));
    client = mk();
    await client.connect();
    const seen: string[] = [];
    const unsub = await client.onChildUpdown((e) => seen.push(Object.keys(e.ike['child-sas'])[0]!));
    const unsubIke = await client.subscribe('ike-updown', () => {});
    const log = fake.conns[0]!.log;
    await unsubIke();
    await until(() => seen.length === 1, 'event sent during the ike-updown unregister');
    assert.deepEqual(seen, ['net-42']);
    await unsub();
    assert.deepEqual(log.slice(-2), ['EVENT_UNREGISTER ike-updown', 'EVENT_UNREGISTER child-updown']);
    assert.equal(fake.conns[0]!.registered.has('child-updown'), false);
    await unsub(); // idempotent
    assert.equal((await client.version()).version, '5.9.8', 'in step after both unregisters');
    assert.deepEqual(seen, ['net-42'], 'nothing for an unsubscribed handler');
  });

  it('socket loss: disconnect, reconnect with backoff, subscriptions re-registered before connect, events flow', async () => {
    client = mk();
    await client.connect();
    const seen: boolean[] = [];
    await client.onIkeUpdown((e) => seen.push(e.up));
    await client.onChildUpdown(() => {});
    const order: string[] = [];
    client.on('disconnect', () => order.push('disconnect'));
    client.on('connect', () => order.push(`connect(${fake.open[0]?.log.join(',')})`));
    client.on('resync', () => order.push('resync'));
    await fake.stop();
    await until(() => order.includes('disconnect'), 'disconnect');
    assert.equal(client.connected, false);
    await assert.rejects(client.version(), (e: unknown) => e instanceof ViciConnectionError && e.socket === fake.uri);
    await fake.listen();
    await nextEvent(client, 'resync');
    assert.equal(order.filter((o) => o.startsWith('connect')).length, 1);
    assert.ok(order.at(-2)!.startsWith('connect(EVENT_REGISTER ike-updown,EVENT_REGISTER child-updown)'), order.join(' '));
    assert.equal(order.at(-1), 'resync');
    assert.equal(client.reconnects, 1);
    fake.emit('ike-updown', { up: 'yes', gw: { uniqueid: '9', state: 'ESTABLISHED' } });
    await until(() => seen.length === 1, 'event after reconnect');
    assert.deepEqual(seen, [true]);
  });

  it('charon shutdown: down events then close are all delivered, then reconnect', async () => {
    client = mk();
    await client.connect();
    const seen: string[] = [];
    await client.onChildUpdown((e) => seen.push(`${e.up} ${Object.keys(e.ike['child-sas'])[0]}`));
    const conn = fake.conns[0]!;
    for (let i = 1; i <= 3; i++) conn.event('child-updown', updown(false, 'gw', 'net', i));
    await fake.stop();
    await until(() => seen.length === 3, 'down events');
    assert.deepEqual(seen, ['false net-1', 'false net-2', 'false net-3']);
  });

  it('slow consumer: replies are not held up, oldest events dropped and counted, resync after catching up', async () => {
    fake.on('echo', ({ conn }) => conn.respond({ ok: 'yes' }));
    client = mk({ eventQueueLimit: 100 });
    await client.connect();
    let handled = 0;
    let firstSeen = -1;
    await client.subscribe('log', async (m) => {
      if (firstSeen < 0) firstSeen = Number(asString(m.n));
      handled++;
      await new Promise((r) => setTimeout(r, 1));
    });
    const resync = nextEvent(client, 'resync', 20_000);
    const conn = fake.conns[0]!;
    const burst = Buffer.concat(Array.from({ length: 2000 }, (_, n) => encodePacket(PacketType.EVENT, 'log', { n, msg: 'x'.repeat(50) })));
    conn.send(burst);
    await until(() => handled > 0, 'first event');
    const t0 = performance.now();
    await client.request('echo');
    const replyMs = performance.now() - t0;
    assert.ok(replyMs < 500, `reply took ${replyMs} ms while events queued`);
    await resync;
    assert.ok(client.droppedEvents >= 1800, `dropped ${client.droppedEvents}`);
    assert.equal(handled + client.droppedEvents, 2000);
  });

  it('connect(): waits for the socket to appear; reconnect:false rejects naming it; abort stops it', async () => {
    await fake.stop();
    const once = mk({ reconnect: false });
    await assert.rejects(once.connect(), (e: unknown) => e instanceof ViciConnectionError && e.message.includes(fake.path));
    assert.equal(existsSync(fake.path), false);
    const patient = mk();
    const failures: Error[] = [];
    patient.on('disconnect', (e) => failures.push(e));
    const p = patient.connect();
    await until(() => failures.length >= 2, 'a few failed attempts');
    await fake.listen();
    await p;
    assert.equal(patient.connected, true);
    await fake.stop();
    const ac = new AbortController();
    const aborted = mk();
    const q = aborted.connect({ signal: ac.signal });
    ac.abort(new Error('enough'));
    await assert.rejects(q, /enough/);
    const closed = mk();
    const r = closed.connect();
    await closed.close();
    await assert.rejects(r, /client closed/);
  });

  it("setLimits: a reload's higher limit lets waiting initiates go at once; a lower one holds from then on", async () => {
    const held = heldInitiates(fake);
    const { release } = held;
    client = mk({ maxConcurrentInitiates: 1 });
    await client.connect();
    const first = ['a', 'b', 'c'].map((child) => client!.initiate({ child, timeoutMs: 1000 }));
    await until(() => held.inFlight() === 1, 'one initiate in flight');
    client.setLimits({ commandTimeoutMs: 30_000, maxConcurrentInitiates: 3 });
    await until(() => held.inFlight() === 3, 'the waiting two go at once');
    client.setLimits({ commandTimeoutMs: 30_000, maxConcurrentInitiates: 1 });
    const later = ['d', 'e'].map((child) => client!.initiate({ child, timeoutMs: 1000 }));
    // Three in flight over the new limit of one: d and e wait until all three are done, then go one by one.
    for (const left of [2, 1]) {
      release.shift()!();
      await until(() => held.inFlight() === left, `${left} in flight`);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(held.inFlight(), left, 'nothing new starts while over the lowered limit');
    }
    release.shift()!();
    await until(() => release.length === 1, 'd starts alone');
    held.max.value = 0;
    release.shift()!();
    await until(() => release.length === 1, 'then e');
    release.shift()!();
    await Promise.all([...first, ...later]);
    assert.equal(held.max.value, 1);
  });

  it('initiate/terminate run on pool connections, at most maxConcurrentInitiates at once, main stays free', async () => {
    const args: Record<string, string | undefined>[] = [];
    const held = heldInitiates(fake, (msg) => args.push({ child: asString(msg.child), timeout: asString(msg.timeout), limits: asString(msg['init-limits']) }));
    const { release } = held;
    fake.on('terminate', ({ conn, msg }) => {
      args.push({ childId: asString(msg['child-id']), force: asString(msg.force), timeout: asString(msg.timeout) });
      conn.respond({ success: 'yes', matches: '1', terminated: '1' });
    });
    client = mk({ maxConcurrentInitiates: 2 });
    await client.connect();
    const inits = ['a', 'b', 'c'].map((child, i) => client!.initiate({ child, initLimits: i === 0 ? true : undefined }));
    await until(() => held.inFlight() === 2, 'two initiates in flight');
    assert.equal((await client.version()).version, '5.9.8', 'main connection not blocked');
    while (release.length || held.inFlight()) {
      await until(() => release.length > 0, 'an initiate to release');
      release.shift()!();
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(inits);
    assert.equal(held.max.value, 2);
    await client.terminate({ childId: 12, force: true });
    assert.deepEqual(args, [
      { child: 'a', timeout: '10000', limits: 'yes' },
      { child: 'b', timeout: '10000', limits: undefined },
      { child: 'c', timeout: '10000', limits: undefined },
      { childId: '12', force: 'yes', timeout: '10000' },
    ]);
    assert.equal(fake.conns.length, 3, 'main plus two pool connections, reused');
    assert.ok(fake.conns[0]!.log.every((l) => !/initiate|terminate/.test(l)));
    await assert.rejects(client.initiate({ child: 'x', timeoutMs: 0 }), /wait forever/);
  });

  it('initiate with timeout -1 (charon answers at once, no worker of its waits) runs on the main connection, outside the pool', async () => {
    const seen: string[] = [];
    fake.on('initiate', ({ conn, msg }) => {
      seen.push(`${asString(msg.child)} ${asString(msg.timeout)}`);
      conn.respond({ success: 'yes' });
    });
    client = mk({ maxConcurrentInitiates: 1 });
    await client.connect();
    await Promise.all(['a', 'b', 'c'].map((child) => client!.initiate({ child, timeoutMs: -1 })));
    assert.deepEqual(seen, ['a -1', 'b -1', 'c -1']);
    assert.equal(fake.conns.length, 1, 'no pool connection opened');
  });

  it('a blocking command that times out closes its pool connection only', async () => {
    fake.on('initiate', () => {}); // never answers
    fake.on('terminate', ({ conn }) => conn.respond({ success: 'yes' }));
    client = mk({ commandTimeoutMs: 100 });
    await client.connect();
    await assert.rejects(client.request('initiate', { child: 'x', timeout: 0 }, { timeoutMs: 100 }), ViciTimeoutError);
    await client.terminate({ child: 'x' });
    assert.equal(client.connected, true);
    assert.equal(client.reconnects, 0);
    assert.equal(fake.conns[1]!.closed, true);
    assert.deepEqual(fake.conns[2]!.log, ['EVENT_REGISTER control-log', 'CMD_REQUEST terminate']);
  });

  it("a failed initiate carries charon's control-log for it (what swanctl prints), and only its own", async () => {
    fake.on('initiate', ({ conn, msg }) => {
      conn.event('control-log', { group: 'IKE', level: '1', msg: `initiating IKE_SA for ${String(msg['child'])}` });
      conn.event('control-log', { group: 'IKE', level: '1', msg: 'received AUTHENTICATION_FAILED notify error' });
      conn.respond({ success: 'no', errmsg: `establishing CHILD_SA '${String(msg['child'])}' failed` });
    });
    client = mk();
    await client.connect();
    const err = await client.initiate({ child: 'a', timeoutMs: 1000 }).then(
      () => assert.fail('initiate should fail'),
      (e: unknown) => e as ViciCommandError,
    );
    assert.ok(err instanceof ViciCommandError);
    assert.deepEqual(err.charonLog, ['initiating IKE_SA for a', 'received AUTHENTICATION_FAILED notify error']);
    // The same pool connection, the next command: its own lines only.
    const again = await client.initiate({ child: 'b', timeoutMs: 1000 }).catch((e: unknown) => e as ViciCommandError);
    assert.deepEqual((again as ViciCommandError).charonLog, ['initiating IKE_SA for b', 'received AUTHENTICATION_FAILED notify error']);
  });

  it('logs commands by name, duration and result, never their contents', async () => {
    fake.on('load-shared', ({ conn }) => conn.respond({ success: 'no', errmsg: 'loading shared key failed' }));
    const lines: string[] = [];
    const logger = { debug: (o: object, m?: string) => lines.push(JSON.stringify([o, m])), warn: (o: object, m?: string) => lines.push(JSON.stringify([o, m])) };
    client = mk({ logger });
    await client.connect();
    await assert.rejects(client.loadShared({ type: 'IKE', data: 'TOP-SECRET-PSK', owners: ['me'] }), ViciCommandError);
    await client.version();
    const all = lines.join('\n');
    assert.ok(!all.includes('TOP-SECRET-PSK'));
    assert.match(all, /"cmd":"load-shared","ms":[\d.]+,"result":"error"\}/);
    assert.match(all, /"cmd":"version","ms":[\d.]+,"result":"ok"/);
  });

  it('encode errors reject before anything is sent', async () => {
    client = mk();
    await client.connect();
    await assert.rejects(client.request('version', { bad: [{ nested: 'no' }] }), ViciEncodeError);
    await assert.rejects(client.request('bad\ncommand'), ViciEncodeError);
    await assert.rejects(client.subscribe('bad\nevent', () => {}), ViciEncodeError);
    assert.deepEqual(fake.conns[0]!.log, []);
  });

  it('a server frame over 512 KiB drops the connection; the client reconnects', async () => {
    fake.on('huge', ({ conn }) => conn.send(Buffer.from([0x00, 0x08, 0x00, 0x01])));
    client = mk();
    await client.connect();
    await assert.rejects(client.request('huge'), (e: unknown) => e instanceof ViciConnectionError && /exceeds the 524288 byte limit/.test(e.message));
    await nextEvent(client, 'connect');
    assert.equal((await client.version()).version, '5.9.8');
  });

  it('a reply of the wrong kind or an unsolicited reply drops the connection', async () => {
    fake.on('confused', ({ conn }) => conn.send(encodePacket(PacketType.EVENT_CONFIRM)));
    client = mk();
    await client.connect();
    await assert.rejects(client.request('confused'), /protocol error: EVENT_CONFIRM in reply to command 'confused'/);
    await nextEvent(client, 'connect');
    fake.conns[1]!.respond({});
    const [err] = await nextEvent(client, 'disconnect');
    assert.match(err.message, /CMD_RESPONSE with nothing in flight/);
  });

  it('typed events: updown, rekeys, update, log; malformed ones are skipped', async () => {
    client = mk();
    await client.connect();
    const got: unknown[] = [];
    await client.onIkeUpdown((e) => got.push(['ike-updown', e.up, e.ikeName, e.ike.uniqueid, Object.keys(e.ike['child-sas']).length]));
    await client.onChildUpdown((e) => got.push(['child-updown', e.up, e.ikeName, Object.values(e.ike['child-sas']).map((c) => c.name)]));
    await client.onIkeRekey((e) => got.push(['ike-rekey', e.ikeName, e.old.uniqueid, e.new.uniqueid]));
    await client.onChildRekey((e) => got.push(['child-rekey', e.ikeName, e.child, e.old.uniqueid, e.new.uniqueid, Object.keys(e.ike['child-sas']).length, e.ike.uniqueid]));
    await client.onIkeUpdate((e) => got.push(['ike-update', e.ikeName, e['remote-host'], e.ike['remote-host']]));
    await client.onLog((e) => got.push(['log', e.group, e.msg]));
    const ike = { uniqueid: '3', state: 'ESTABLISHED', 'remote-host': '192.0.2.2' };
    fake.emit('ike-updown', { up: 'yes', gw: ike });
    fake.emit('ike-updown', { gw: { ...ike, state: 'DELETING' } });
    fake.emit('child-updown', updown(true));
    fake.emit('ike-rekey', { gw: { old: ike, new: { ...ike, uniqueid: '4' } } });
    fake.emit('child-rekey', { gw: { ...ike, 'child-sas': { net: { old: { name: 'net', uniqueid: '7', state: 'REKEYED' }, new: { name: 'net', uniqueid: '8', state: 'INSTALLED' } } } } });
    fake.emit('ike-update', { 'remote-host': '192.0.2.9', 'remote-port': '4500', gw: ike });
    fake.emit('child-updown', { up: 'yes' }); // no IKE_SA section: skipped
    fake.emit('ike-updown', { gw: { state: 'x' } }); // no uniqueid: skipped
    fake.emit('log', { group: 'DMN', level: '0', thread: '1', msg: 'SIGTERM received, shutting down' });
    await until(() => got.length === 7, 'typed events');
    assert.deepEqual(got, [
      ['ike-updown', true, 'gw', '3', 0],
      ['ike-updown', false, 'gw', '3', 0],
      ['child-updown', true, 'gw', ['net']],
      ['ike-rekey', 'gw', '3', '4'],
      ['child-rekey', 'gw', 'net', '7', '8', 0, '3'],
      ['ike-update', 'gw', '192.0.2.9', '192.0.2.2'],
      ['log', 'DMN', 'SIGTERM received, shutting down'],
    ]);
  });

  it("'event' sees every subscribed event raw; handler errors are contained", async () => {
    const warnings: string[] = [];
    client = mk({ logger: { debug: () => {}, warn: (_o, m) => warnings.push(m ?? '') } });
    await client.connect();
    const raw: string[] = [];
    client.on('event', (name, msg) => raw.push(`${name}:${Object.keys(msg).join()}`));
    let second = 0;
    await client.subscribe('log', () => {
      throw new Error('boom');
    });
    await client.subscribe('log', async () => {
      second++;
      throw new Error('async boom');
    });
    fake.emit('log', { group: 'x', level: '1', msg: 'hi' });
    await until(() => second === 1 && warnings.length === 2, 'both handlers');
    assert.deepEqual(raw, ['log:group,level,msg']);
  });

  it('subscribe while disconnected is registered on the next connect', async () => {
    client = mk();
    await fake.stop();
    const connecting = client.connect();
    const seen: string[] = [];
    await client.onLog((e) => seen.push(e.msg));
    await fake.listen();
    await connecting;
    assert.deepEqual(fake.open[0]!.log, ['EVENT_REGISTER log']);
    fake.emit('log', { group: 'x', level: '1', msg: 'flows' });
    await until(() => seen.length === 1, 'log');
  });

  it('close(): in-flight and queued calls fail with ViciConnectionError, no reconnect', async () => {
    fake.on('silent', () => {});
    client = mk();
    await client.connect();
    const a = assert.rejects(client.request('silent'), /client closed/);
    const b = assert.rejects(client.version(), /client closed/);
    await client.close();
    await a;
    await b;
    await assert.rejects(client.version(), /client closed/);
    await assert.rejects(client.connect(), /client closed/);
    await until(() => fake.open.length === 0, 'the fake to see the close');
  });

  it('close() while re-registering after a reconnect closes that connection too', async () => {
    await fake.close();
    let hang = false;
    fake = await FakeCharon.start({ onRegister: () => (hang ? new Promise<void>(() => {}) : undefined) });
    client = mk({ connectTimeoutMs: 60_000 });
    await client.connect();
    await client.onLog(() => {});
    hang = true;
    fake.conns[0]!.kill();
    await fake.waitFor(/EVENT_REGISTER log/, 2);
    await client.close();
    await until(() => fake.open.length === 0, 'every connection closed');
  });

  it('tcp:// and bad URIs', async () => {
    assert.throws(() => new ViciClient({ uri: 'http://x' }), RangeError);
    assert.throws(() => new ViciClient({ uri: 'tcp://host' }), RangeError);
    assert.equal(new ViciClient({ uri: 'tcp://[::1]:4502' }).uri, 'tcp://[::1]:4502');
    assert.equal(new ViciClient({ uri: '/run/x.vici' }).uri, 'unix:///run/x.vici');
    assert.equal(new ViciClient().uri, 'unix:///var/run/charon.vici');
    const c = mk({ uri: 'tcp://127.0.0.1:1', reconnect: false });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof ViciConnectionError && e.socket === 'tcp://127.0.0.1:1' && /ECONNREFUSED/.test(e.message));
  });
});
