// What `run` logs while charon's socket cannot be reached: first failure, reason changes, bounded reminders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VICI_DOWN_REMINDER_MS, ViciDownNotes, viciDownMessage } from '../../src/cli/vici-waiting.js';
import { ViciConnectionError } from '../../src/vici/errors.js';

const URI = 'unix:///var/run/charon.vici';
const fail = (code: string): ViciConnectionError =>
  new ViciConnectionError(URI, `cannot connect: ${code}`, { cause: Object.assign(new Error(code), { code }) });
const lost = new ViciConnectionError(URI, 'connection closed by charon');

/** Feeds [ms, event] steps; returns "ms kind reason" for every note said. */
function said(steps: Array<[number, Error | 'connect']>): string[] {
  const notes = new ViciDownNotes();
  const out: string[] = [];
  for (const [ms, e] of steps) {
    if (e === 'connect') {
      notes.connected();
      continue;
    }
    const n = notes.failed(e, ms);
    if (n) out.push(`${ms} ${n.kind} ${n.reason}`);
  }
  return out;
}

const R = VICI_DOWN_REMINDER_MS;

describe('run: what it says while the socket is unreachable', () => {
  const table: Array<[string, Array<[number, Error | 'connect']>, string[]]> = [
    ['the first failure, then silence for retries of the same reason', [[0, fail('EACCES')], [100, fail('EACCES')], [5000, fail('EACCES')]], ['0 first permission']],
    ['a reminder once the period has passed, then again a period later', [[0, fail('EACCES')], [R - 1, fail('EACCES')], [R, fail('EACCES')], [R + 5000, fail('EACCES')], [2 * R, fail('EACCES')]], ['0 first permission', `${R} reminder permission`, `${2 * R} reminder permission`]],
    ['a changed reason at once', [[0, fail('ENOENT')], [100, fail('ECONNREFUSED')], [200, fail('EACCES')]], ['0 first missing', '100 changed refused', '200 changed permission']],
    ['a reason flipping on every attempt: each said once per period', [[0, fail('ENOENT')], [100, fail('ECONNREFUSED')], [200, fail('ENOENT')], [300, fail('ECONNREFUSED')], [R + 100, fail('ENOENT')]], ['0 first missing', '100 changed refused', `${R + 100} changed missing`]],
    ['the loss of a connection is the agent\'s to say; the attempts after it are said here', [[0, 'connect'], [10, lost], [20, fail('ENOENT')], [30, fail('ENOENT')]], ['20 first missing']],
    ['connected again: the next outage starts afresh', [[0, fail('EACCES')], [50, 'connect'], [60, lost], [70, fail('EACCES')]], ['0 first permission', '70 first permission']],
    ['a loss that reconnects at once says nothing', [[0, 'connect'], [10, lost], [20, 'connect']], []],
  ];
  for (const [what, steps, expected] of table) {
    it(what, () => assert.deepEqual(said(steps), expected));
  }

  it('the lines name the socket and the hint', () => {
    const n = new ViciDownNotes();
    const first = n.failed(fail('EACCES'), 0)!;
    assert.equal(viciDownMessage(URI, first), `charon's VICI socket ${URI} is not reachable: permission denied: this user is not in the group of charon's socket (README, "Troubleshooting"); waiting for it`);
    const changed = n.failed(fail('ENOENT'), 1000)!;
    assert.match(viciDownMessage(URI, changed), /^charon's VICI socket \S+ is still not reachable, now: no socket there: /);
    const reminder = n.failed(fail('ENOENT'), 1000 + R)!;
    assert.match(viciDownMessage(URI, reminder), /^charon's VICI socket \S+ is still not reachable after 5 min: no socket there: /);
  });
});
