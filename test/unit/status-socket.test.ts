// The agent's status socket on a real unix socket: served 0660, a file left by a killed agent is
// replaced, and another live agent's socket is left alone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStatusSocket } from '../../src/agent/observability/status-socket.js';
import { askAgent } from '../../src/cli/status.js';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'ik-status-'));
}

describe('status socket', () => {
  it('serves the document over HTTP on a 0660 socket in a directory it creates', async () => {
    const d = dir();
    const path = join(d, 'run', 'status.sock');
    const s = await startStatusSocket(path, () => ({ view: 'agent', tunnels: [] }));
    try {
      assert.equal(statSync(path).mode & 0o777, 0o660);
      assert.equal(statSync(join(d, 'run')).mode & 0o777, 0o750);
      const answer = await askAgent(path);
      assert.deepEqual(answer, { doc: { view: 'agent', tunnels: [] } });
    } finally {
      await s.close();
      rmSync(d, { recursive: true, force: true });
    }
    assert.throws(() => statSync(path), /ENOENT/, 'closing removes its own socket');
  });

  it("replaces a file left behind, and leaves a live agent's socket alone", async () => {
    const d = dir();
    const path = join(d, 'status.sock');
    writeFileSync(path, 'left by a killed agent');
    const first = await startStatusSocket(path, () => ({ who: 'first' }));
    try {
      await assert.rejects(startStatusSocket(path, () => ({ who: 'second' })), /status socket .* is already served by another running agent/);
      assert.deepEqual(await askAgent(path), { doc: { who: 'first' } });
    } finally {
      await first.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a status that throws is a 500 and reported, not a crash', async () => {
    const d = dir();
    const path = join(d, 'status.sock');
    const errors: unknown[] = [];
    const s = await startStatusSocket(path, () => { throw new Error('bug'); }, (e) => errors.push(e));
    try {
      const answer = await askAgent(path);
      assert.match('why' in answer ? answer.why : '', /gave no status \(HTTP 500\)/);
      assert.equal(errors.length, 1);
    } finally {
      await s.close();
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('no agent: the reason says so, naming the socket', async () => {
    assert.deepEqual(await askAgent('/nonexistent/status.sock'), { why: 'no agent answers at /nonexistent/status.sock' });
  });
});
