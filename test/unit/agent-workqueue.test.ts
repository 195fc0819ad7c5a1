import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/agent/controller/workqueue.js';

describe('WorkQueue', () => {
  it('queues a name once and merges the reasons', async () => {
    const q = new WorkQueue();
    q.add('a', 'event');
    q.add('a', 'probe');
    q.add('b', 'event');
    assert.equal(q.length, 2);
    const first = await q.get();
    assert.equal(first?.name, 'a');
    assert.deepEqual([...(first?.reasons ?? [])].sort(), ['event', 'probe']);
    q.shutdown();
  });

  it('never hands out a name being processed; a trigger meanwhile requeues it on done', async () => {
    const q = new WorkQueue();
    q.add('a', 'event');
    const item = await q.get();
    q.add('a', 'probe');
    assert.equal(q.length, 0, 'not queued while processing');
    let second: string | undefined;
    const waiting = q.get().then((i) => (second = i?.name));
    await new Promise((r) => setImmediate(r));
    assert.equal(second, undefined);
    q.done(item!.name);
    await waiting;
    assert.equal(second, 'a');
    q.shutdown();
  });

  it('keeps the earliest timer per name', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 60_000, 'retry');
    q.addAfter('a', 5, 'retry');
    const due = q.dueAt('a');
    assert.ok(due !== undefined && due - Date.now() <= 5);
    // The queue's timers are unref'd (they must not keep the agent alive): hold the loop open.
    const keepAlive = setTimeout(() => undefined, 5000);
    const item = await q.get();
    clearTimeout(keepAlive);
    assert.equal(item?.name, 'a');
    q.shutdown();
  });

  it('wakes waiting workers with undefined on shutdown', async () => {
    const q = new WorkQueue();
    const w = q.get();
    q.shutdown();
    assert.equal(await w, undefined);
  });
});
