// The one reading of list-conns' children (child -> the IKE connection holding it, with charon's
// own actions) and the one answer to "which IKE connection is this tunnel's".
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { childConfigs, childConnMap, tunnelIke } from '../../src/agent/controller/conns.js';
import type { Conn } from '../../src/vici/index.js';

const conn = (name: string, children: Record<string, Record<string, unknown>> | undefined): Conn => ({ name, children }) as unknown as Conn;

describe('list-conns children', () => {
  it('names the IKE connection of every child, with the actions charon reports as strings', () => {
    const conns = [conn('ike-a', { a1: { close_action: 'start', dpd_action: 'restart', start_action: 'trap' }, a2: { close_action: ['x'] } }), conn('ike-b', { b1: {} })];
    assert.deepEqual(childConfigs(conns), [
      ['a1', { ike: 'ike-a', closeAction: 'start', dpdAction: 'restart', startAction: 'trap' }],
      ['a2', { ike: 'ike-a' }],
      ['b1', { ike: 'ike-b' }],
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
