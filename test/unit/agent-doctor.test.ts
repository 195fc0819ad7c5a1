import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { diagnose, formatFindings } from '../../src/cli/doctor.js';
import type { Conn } from '../../src/vici/index.js';

// Shapes as charon 5.9.8 answers list-conns (seen in the lab): no start_action, no dpd_delay.
const conn = (children: Record<string, Record<string, unknown>>, extra: Record<string, unknown> = {}): Conn =>
  ({ name: 'ikev2-vpn', local_addrs: ['192.0.2.1'], remote_addrs: ['192.0.2.2'], version: 'IKEv2', unique: 'UNIQUE_NO', children, ...extra }) as unknown as Conn;

describe('doctor', () => {
  it('flags the duplicate-CHILD_SA recipe trap + dpd_action=restart', () => {
    const f = diagnose([conn({ a: { mode: 'TUNNEL', start_action: 'trap', dpd_action: 'restart', close_action: 'none', rekey_time: '3600' } })], new Set(['a']));
    assert.ok(f.some((x) => x.severity === 'warn' && x.key === 'start_action+dpd_action'), formatFindings(f));
  });

  it('warns when nothing restores an unmanaged child, informs when the agent does', () => {
    const children = { a: { mode: 'TUNNEL', dpd_action: 'none', close_action: 'none', rekey_time: '3600' } };
    const unmanaged = diagnose([conn(children)]);
    assert.ok(unmanaged.some((x) => x.severity === 'warn' && x.key === 'close_action'));
    const managed = diagnose([conn(children)], new Set(['a']));
    assert.ok(!managed.some((x) => x.severity === 'warn' && x.child === 'a' && x.key !== 'rekey_time'), formatFindings(managed));
  });

  it('reports DPD off and missing rekeying', () => {
    const f = diagnose([conn({ a: { rekey_time: '0' } }, { dpd_delay: '0' })], new Set(['a']));
    assert.ok(f.some((x) => x.key === 'dpd_delay' && x.severity === 'warn'));
    assert.ok(f.some((x) => x.key === 'rekey_time' && x.severity === 'warn'));
  });
});
