// The reason and hint for an unreachable VICI socket, from the errors the VICI layer really throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { viciDown, type ViciDownReason } from '../../src/agent/observability/vici-down.js';
import { ViciConnectionError, ViciTimeoutError } from '../../src/vici/errors.js';

const URI = 'unix:///var/run/charon.vici';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`connect ${code} /var/run/charon.vici`), { code });
}

/** As openSocket reports a failed connect: the socket's error as the cause. */
function connectFailed(code: string): ViciConnectionError {
  return new ViciConnectionError(URI, `cannot connect: ${code}`, { cause: errno(code) });
}

describe('viciDown: errno to reason and hint', () => {
  const table: Array<[string, unknown, ViciDownReason, string | RegExp]> = [
    ['EACCES', connectFailed('EACCES'), 'permission', 'permission denied: this user is not in the group of charon\'s socket (README, "Troubleshooting")'],
    ['EPERM', connectFailed('EPERM'), 'permission', /^permission denied: /],
    ['ENOENT', connectFailed('ENOENT'), 'missing', 'no socket there: charon is not running, or its VICI socket is elsewhere (set vici.socket or --socket)'],
    ['ECONNREFUSED', connectFailed('ECONNREFUSED'), 'refused', 'connection refused: charon is not accepting connections (stopped or restarting)'],
    ['a bare errno error', errno('ENOENT'), 'missing', /^no socket there/],
    ['another errno', connectFailed('EHOSTUNREACH'), 'other', 'cannot connect: EHOSTUNREACH'],
    ['a connect timeout', new ViciConnectionError(URI, 'no connection within 5000 ms'), 'other', 'no connection within 5000 ms'],
    ['a lost connection', new ViciConnectionError(URI, 'connection lost: ECONNRESET', { cause: errno('ECONNRESET') }), 'other', 'connection lost: ECONNRESET'],
    ['a command timeout', new ViciTimeoutError('list-sas', 1000), 'other', 'vici list-sas: no reply within 1000 ms'],
    ['not an Error', 'boom', 'other', 'boom'],
  ];
  for (const [what, err, reason, hint] of table) {
    it(`${what}: ${reason}`, () => {
      const got = viciDown(err);
      assert.equal(got.reason, reason);
      if (typeof hint === 'string') assert.equal(got.hint, hint);
      else assert.match(got.hint, hint);
    });
  }
});
