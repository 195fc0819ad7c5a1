// The scenarios behind fixtures/vici/*.jsonl. scripts/record-fixtures.ts runs each against the lab through
// the recorder; test/unit/vici-replay.test.ts runs the same code against the recording
// (test/support/vici-replay.ts), where the `World` actions do nothing and charon's side comes from the file.
// The client must then send byte for byte what it sent when recorded, and every assertion here must hold
// both times.
import assert from 'node:assert/strict';
import type { ViciClient, ViciClientOptions } from '../../src/vici/client.js';
import { ViciCommandError, ViciUnknownCommandError, ViciUnknownEventError } from '../../src/vici/errors.js';
import type { ChildRekey, ChildUpdown, IkeRekey, IkeUpdown } from '../../src/vici/types.js';

/** Things that happen to charon from outside the recorded client. No-ops in replay. */
export interface World {
  readonly replay: boolean;
  /** swanctl on a gateway: a VICI client other than ours. */
  swanctl(side: 'left' | 'right', args: string[]): Promise<void>;
  stopLocalCharon(): Promise<void>;
  startLocalCharon(): Promise<void>;
  peerDeleteChild(child: string): Promise<void>;
  /** A second IKE_SA (own identities and CHILD_SAs) between the gateways. */
  addSecondIkeSa(): Promise<void>;
}

export interface Scenario {
  /** Fixture file: fixtures/vici/<name>.jsonl */
  name: string;
  description: string;
  lab: { frontEnd?: 'swanctl' | 'ipsec.conf'; initiate?: boolean };
  run(client: ViciClient, world: World): Promise<void>;
}

/** Options the client uses in both recording and replay (they shape what goes on the wire). */
export const SCENARIO_CLIENT_OPTIONS: ViciClientOptions = { reconnect: { baseMs: 20, capMs: 200 }, commandTimeoutMs: 20_000, maxConcurrentInitiates: 1 };

async function until<T>(fn: () => T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`scenario: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const childNames = (e: ChildUpdown) => Object.values(e.ike['child-sas']).map((c) => c.name);

class Events {
  child: ChildUpdown[] = [];
  ike: IkeUpdown[] = [];
  childRekey: ChildRekey[] = [];
  ikeRekey: IkeRekey[] = [];
  async updown(c: ViciClient): Promise<void> {
    await c.onChildUpdown((e) => void this.child.push(e));
    await c.onIkeUpdown((e) => void this.ike.push(e));
  }
  childEvent(child: string, up: boolean, from = 0): Promise<ChildUpdown> {
    return until(() => this.child.slice(from).find((e) => e.up === up && childNames(e).includes(child)), `child-updown ${up ? 'up' : 'down'} ${child}`);
  }
  ikeEvent(up: boolean, from = 0): Promise<IkeUpdown> {
    return until(() => this.ike.slice(from).find((e) => e.up === up), `ike-updown ${up ? 'up' : 'down'}`);
  }
}

const LAB_CHILDREN = ['ikev2-vpn-140', 'ikev2-vpn-141', 'ikev2-vpn-142'];

export const SCENARIOS: Scenario[] = [
  {
    name: 'version',
    description: 'version',
    lab: {},
    async run(c) {
      const v = await c.version();
      assert.equal(v.daemon, 'charon');
      assert.match(v.version, /^\d+\.\d+\.\d+/);
    },
  },
  {
    name: 'stats',
    description: 'stats on a charon with one IKE_SA',
    lab: { initiate: true },
    async run(c) {
      const s = await c.stats();
      assert.ok(s.plugins?.includes('vici'));
      assert.equal(s.ikesas?.total, '1');
    },
  },
  {
    name: 'list-sas',
    description: 'list-sas with two IKE_SAs and five CHILD_SAs, unfiltered and filtered',
    lab: { initiate: true },
    async run(c, world) {
      await world.addSecondIkeSa();
      const sas = await c.listSas();
      assert.deepEqual(sas.map((s) => s.name).sort(), ['gw2', 'ikev2-vpn']);
      assert.equal(sas.reduce((n, s) => n + Object.keys(s['child-sas']).length, 0), 5);
      const one = await c.listSas({ ike: 'gw2' });
      assert.deepEqual(one.map((s) => s.name), ['gw2']);
      const child = await c.listSas({ child: 'ikev2-vpn-141' });
      assert.deepEqual(child.flatMap((s) => Object.values(s['child-sas']).map((k) => k.name)), ['ikev2-vpn-141']);
    },
  },
  {
    name: 'list-conns',
    description: 'list-conns and get-conns',
    lab: {},
    async run(c) {
      const conns = await c.listConns();
      assert.deepEqual(conns.map((x) => x.name), ['ikev2-vpn']);
      assert.deepEqual(Object.keys(conns[0]!.children).sort(), LAB_CHILDREN);
      assert.deepEqual(await c.getConns(), ['ikev2-vpn']);
    },
  },
  {
    name: 'initiate-terminate',
    description: 'terminate/initiate a CHILD_SA and the IKE_SA with child-updown and ike-updown events, up and down',
    lab: { initiate: true },
    async run(c) {
      const ev = new Events();
      await ev.updown(c);
      await c.terminate({ child: 'ikev2-vpn-140' });
      await ev.childEvent('ikev2-vpn-140', false);
      let from = ev.child.length;
      await c.initiate({ child: 'ikev2-vpn-140' });
      const up = await ev.childEvent('ikev2-vpn-140', true, from);
      assert.equal(Object.values(up.ike['child-sas'])[0]!.state, 'INSTALLED');
      from = ev.child.length;
      const ikeFrom = ev.ike.length;
      await c.terminate({ ike: 'ikev2-vpn' });
      await ev.ikeEvent(false, ikeFrom);
      for (const child of LAB_CHILDREN) await ev.childEvent(child, false, from);
      await c.initiate({ child: 'ikev2-vpn-141' });
      await ev.ikeEvent(true, ikeFrom);
      await ev.childEvent('ikev2-vpn-141', true, from);
    },
  },
  {
    name: 'rekey',
    description: 'rekey a CHILD_SA and the IKE_SA; child-rekey and ike-rekey events',
    lab: { initiate: true },
    async run(c) {
      const ev = new Events();
      await c.onChildRekey((e) => void ev.childRekey.push(e));
      await c.onIkeRekey((e) => void ev.ikeRekey.push(e));
      await c.rekey({ child: 'ikev2-vpn-142' });
      const cr = await until(() => ev.childRekey[0], 'child-rekey');
      assert.equal(cr.child, 'ikev2-vpn-142');
      assert.notEqual(cr.old.uniqueid, cr.new.uniqueid);
      await c.rekey({ ike: 'ikev2-vpn' });
      const ir = await until(() => ev.ikeRekey[0], 'ike-rekey');
      assert.notEqual(ir.old.uniqueid, ir.new.uniqueid);
    },
  },
  {
    name: 'unknown',
    description: 'an unknown command (CMD_UNKNOWN) and an unknown event (alert is 6.0.3+: EVENT_UNKNOWN)',
    lab: {},
    async run(c) {
      await assert.rejects(c.request('no-such-command'), ViciUnknownCommandError);
      await assert.rejects(c.onAlert(() => {}), ViciUnknownEventError);
      assert.equal((await c.version()).daemon, 'charon');
    },
  },
  {
    name: 'failed-initiate',
    description: 'initiate and terminate that charon refuses (success = no)',
    lab: {},
    async run(c) {
      await assert.rejects(c.initiate({ child: 'nope' }), (e: unknown) => e instanceof ViciCommandError && /CHILD_SA config 'nope' not found/.test(e.errmsg));
      await assert.rejects(c.terminate({ child: 'ikev2-vpn-140' }), (e: unknown) => e instanceof ViciCommandError && /no matching SAs/.test(e.errmsg));
    },
  },
  {
    name: 'peer-events',
    description: 'events for a terminate by another client (swanctl) and a delete by the peer',
    lab: { initiate: true },
    async run(c, world) {
      const ev = new Events();
      await ev.updown(c);
      await world.swanctl('left', ['--terminate', '--child', 'ikev2-vpn-141']);
      await ev.childEvent('ikev2-vpn-141', false);
      await world.peerDeleteChild('ikev2-vpn-142');
      await ev.childEvent('ikev2-vpn-142', false);
    },
  },
  {
    name: 'shutdown',
    description: 'charon stopped mid-session (down events, then the socket closes), restarted; the client reconnects and re-registers',
    lab: { initiate: true },
    async run(c, world) {
      const ev = new Events();
      await ev.updown(c);
      let resyncs = 0;
      c.on('resync', () => void resyncs++);
      await world.stopLocalCharon();
      for (const child of LAB_CHILDREN) await ev.childEvent(child, false);
      await ev.ikeEvent(false);
      await until(() => !c.connected || world.replay, 'disconnect');
      await world.startLocalCharon();
      await until(() => resyncs === 1, 'reconnect and resync');
      assert.equal(c.reconnects, 1);
      assert.equal((await c.version()).daemon, 'charon');
      assert.deepEqual(await c.listSas(), []);
    },
  },
  {
    name: 'ipsec-conf',
    description: 'the ipsec.conf (stroke) front end: list-conns, get-conns, list-sas, terminate/initiate with events',
    lab: { frontEnd: 'ipsec.conf', initiate: true },
    async run(c) {
      const ev = new Events();
      await ev.updown(c);
      assert.equal((await c.version()).daemon, 'charon');
      const conns = await c.listConns();
      assert.deepEqual(conns.map((x) => x.name), ['ikev2-vpn-140']);
      assert.deepEqual(Object.keys(conns[0]!.children).sort(), LAB_CHILDREN);
      assert.deepEqual(await c.getConns(), []);
      const sas = await c.listSas();
      assert.equal(sas[0]!.name, 'ikev2-vpn-140');
      await c.terminate({ child: 'ikev2-vpn-141' });
      await ev.childEvent('ikev2-vpn-141', false);
      await c.initiate({ child: 'ikev2-vpn-141' });
      await ev.childEvent('ikev2-vpn-141', true);
    },
  },
];
