// The one reading of list-conns' children (child -> the IKE connection holding it, with charon's
// own actions) and the one answer to "which IKE connection is this tunnel's".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { childConfigs, childConnMap, initiable, responderConns, tunnelIke } from '../../src/agent/controller/conns.js';
import { connsKey, connsStep, settleConns, SETTLE_MS, SETTLE_POLL_MS, type ConnsWatch } from '../../src/agent/controller/conns-watch.js';
import type { Conn } from '../../src/vici/index.js';

const conn = (name: string, children: Record<string, Record<string, unknown>> | undefined, remote: string[] = ['192.0.2.2']): Conn =>
  ({ name, children, remote_addrs: remote }) as unknown as Conn;
const AT = { initiable: true, remoteAddrs: ['192.0.2.2'] };

describe('list-conns children', () => {
  it('names the IKE connection of every child, with the actions charon reports as strings', () => {
    const conns = [conn('ike-a', { a1: { close_action: 'start', dpd_action: 'restart', start_action: 'trap' }, a2: { close_action: ['x'] } }), conn('ike-b', { b1: {} })];
    assert.deepEqual(childConfigs(conns), [
      ['a1', { ike: 'ike-a', ...AT, closeAction: 'start', dpdAction: 'restart', startAction: 'trap' }],
      ['a2', { ike: 'ike-a', ...AT }],
      ['b1', { ike: 'ike-b', ...AT }],
    ]);
    assert.deepEqual([...childConnMap(conns).keys()], ['a1', 'a2', 'b1']);
  });

  it('lists a child name two connections share twice; the map keeps the last', () => {
    const conns = [conn('ike-a', { net: {} }), conn('ike-b', { net: {} }), conn('ike-c', undefined)];
    assert.deepEqual(childConfigs(conns).map(([child, i]) => `${child}@${i.ike}`), ['net@ike-a', 'net@ike-b']);
    assert.equal(childConnMap(conns).get('net')?.ike, 'ike-b');
  });
});

describe('tunnelIke', () => {
  it('prefers the configured IKE connection, else the one list-conns holds the child in', () => {
    assert.equal(tunnelIke({ ike: 'cfg' }, { ike: 'charon' }), 'cfg');
    assert.equal(tunnelIke({}, { ike: 'charon' }), 'charon');
    assert.equal(tunnelIke({ ike: undefined }, undefined), undefined);
  });
});

describe('which connections charon can initiate', () => {
  const ROWS: Array<[string, string[], boolean]> = [
    ['one address', ['192.0.2.2'], true],
    ['a DNS name (dashes and all)', ['vpn-gw-1.example.net'], true],
    ['an IPv6 address', ['2001:db8::2'], true],
    ['%any (a road-warrior responder)', ['%any'], false],
    ['%any6', ['%any6'], false],
    ['nothing listed (charon means %any)', [], false],
    ['a subnet', ['10.0.0.0/8'], false],
    ['a range', ['10.0.0.1-10.0.0.9'], false],
    ['a subnet beside one peer: charon tries the peer', ['10.0.0.0/8', '192.0.2.2'], true],
  ];
  for (const [what, remote, want] of ROWS) {
    it(`${what}: ${want ? 'initiable' : 'responder'}`, () => assert.equal(initiable(remote), want));
  }
  it('lists the responder connections with their children, and marks their children', () => {
    const conns = [conn('site', { net: {} }), conn('rw', { 'rw-net': {}, 'rw-v6': {} }, ['%any'])];
    assert.deepEqual(responderConns(conns), [{ ike: 'rw', children: ['rw-net', 'rw-v6'], remoteAddrs: ['%any'] }]);
    assert.deepEqual([...childConnMap(conns)].map(([c, i]) => `${c}:${i.initiable}`), ['net:true', 'rw-net:false', 'rw-v6:false']);
  });
});

describe('the config source: when list-conns is read again', () => {
  const T = 100_000;
  const EVERY = 30_000;
  const settling = (over: Partial<ConnsWatch> = {}): ConnsWatch => ({ ...settleConns(undefined, T), ...over });
  const ROWS: Array<[string, ConnsWatch, string | undefined, number, { changed: boolean; settled: boolean; delayMs: number | undefined }]> = [
    ['a reconnect, charon has loaded nothing yet: read again soon', settling(), '', T, { changed: true, settled: false, delayMs: SETTLE_POLL_MS }],
    ['configs arrive while settling: changed, still settling', settling({ key: '' }), 'a', T + 1000, { changed: true, settled: false, delayMs: SETTLE_POLL_MS }],
    ['the same answer for less than the settle time: still settling', settling({ key: 'a', changedAt: T }), 'a', T + SETTLE_MS - 1, { changed: false, settled: false, delayMs: SETTLE_POLL_MS }],
    ['the same answer for the settle time: settled, the interval from now on', settling({ key: 'a', changedAt: T }), 'a', T + SETTLE_MS, { changed: false, settled: true, delayMs: EVERY }],
    ['settled and unchanged: the interval', { key: 'a', changedAt: T, settling: false }, 'a', T + 60_000, { changed: false, settled: true, delayMs: EVERY }],
    ['settled, then a config loaded later: settling again', { key: 'a', changedAt: T, settling: false }, 'a\nb', T + 60_000, { changed: true, settled: false, delayMs: SETTLE_POLL_MS }],
    ['a failed read while settling: no change, read again soon', settling({ key: 'a' }), undefined, T + SETTLE_MS, { changed: false, settled: false, delayMs: SETTLE_POLL_MS }],
    ['a failed read once settled: the interval', { key: 'a', changedAt: T, settling: false }, undefined, T + 60_000, { changed: false, settled: true, delayMs: EVERY }],
  ];
  for (const [what, w, key, now, want] of ROWS) {
    it(what, () => {
      const step = connsStep(w, key, now, EVERY);
      assert.deepEqual({ changed: step.changed, settled: step.settled, delayMs: step.delayMs }, want);
      assert.equal(step.watch.key, key ?? w.key, 'a failed read keeps the last answer');
    });
  }
  it('with the interval 0 a settled source reads again only at the next (re)connect or reload', () => {
    assert.equal(connsStep({ key: 'a', changedAt: T, settling: false }, 'a', T + 60_000, 0).delayMs, undefined);
    assert.equal(connsStep(settling({ key: 'a' }), 'a', T + 1, 0).delayMs, SETTLE_POLL_MS, 'settling reads on regardless');
  });
  it('a reconnect settles again even when the answer is the same as before', () => {
    const w = settleConns({ key: 'a', changedAt: T, settling: false }, T + 60_000);
    assert.deepEqual(w, { key: 'a', changedAt: T + 60_000, settling: true });
    assert.equal(connsStep(w, 'a', T + 60_500, EVERY).settled, false);
  });
  it('the key changes with what the agent uses of a config, not with the order charon lists them in', () => {
    const m = (rows: Array<[string, string, string?]>) => new Map(rows.map(([child, ike, start]) => [child, { ike, ...AT, ...(start ? { startAction: start } : {}) }]));
    assert.equal(connsKey(m([['a', 'x'], ['b', 'x']])), connsKey(m([['b', 'x'], ['a', 'x']])));
    assert.notEqual(connsKey(m([['a', 'x']])), connsKey(m([['a', 'y']])), 'moved to another connection');
    assert.notEqual(connsKey(m([['a', 'x']])), connsKey(m([['a', 'x', 'start']])), 'start_action changed');
    assert.notEqual(connsKey(m([['a', 'x']])), connsKey(m([['a', 'x'], ['b', 'x']])), 'one more child');
  });
});
