// The per-channel delivery queue on its own, with a scripted channel: rate limit and summary,
// retries, bounds, shutdown. (Real receivers: alerts-delivery.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ChannelQueue } from '../../src/agent/observability/alerts/queue.js';
import type { Alert, Channel } from '../../src/agent/observability/alerts/types.js';
import type { AlertCounters, AlertDropReason } from '../../src/agent/observability/alert-counters.js';
import { waitFor } from '../../lab/wait.js';

const silent = pino({ level: 'silent' });

class Counts implements AlertCounters {
  readonly sentBy: string[] = [];
  failures = 0;
  readonly drops = new Map<AlertDropReason, number>();
  sent(_c: string, event: string): void {
    this.sentBy.push(event);
  }
  failed(): void {
    this.failures++;
  }
  dropped(_c: string, reason: AlertDropReason, n = 1): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + n);
  }
}

function alert(tunnel: string, event: Alert['event'] = 'tunnel-down'): Alert {
  return { event, severity: 'critical', message: `${event} ${tunnel}`, at: Date.now(), tunnel };
}

function channel(deliver: Channel['deliver']): Channel {
  return { name: 'test', target: 'test://receiver', secrets: [], deliver };
}

describe('alert queue', () => {
  it('rate limit: the excess is counted, then summarised in one message when the window has room', async () => {
    const got: Alert[] = [];
    const counts = new Counts();
    const q = new ChannelQueue(channel(async (a) => void got.push(a)), { ratePerMinute: 3, retries: 0, windowMs: 300 }, counts, silent);
    for (let i = 0; i < 10; i++) q.push(alert(`t${i}`, i % 2 ? 'tunnel-repaired' : 'tunnel-down'));
    await q.drained();
    assert.deepEqual(got.map((a) => a.tunnel), ['t0', 't1', 't2']);
    assert.equal(counts.drops.get('rate-limit'), 7);
    await waitFor(() => got.length === 4, { timeoutMs: 3000, what: 'the summary' });
    const summary = got[3]!;
    assert.equal(summary.event, 'suppressed');
    assert.match(summary.message, /^rate limit \(3\/min\) held back 7 alerts in the last \d+ ms: 4 tunnel-repaired \(t3, t5, t7, t9\); 3 tunnel-down \(t4, t6, t8\)$/);
    assert.equal(summary.details?.['held_back'], 7);
    await q.close();
  });

  it('retries with backoff until delivered, in order', async () => {
    const got: string[] = [];
    let attempts = 0;
    const counts = new Counts();
    const q = new ChannelQueue(
      channel(async (a) => {
        if (a.tunnel === 'first' && ++attempts <= 2) throw new Error('HTTP 500 Internal Server Error');
        got.push(a.tunnel!);
      }),
      { ratePerMinute: 100, retries: 3, retryBaseMs: 10 },
      counts,
      silent,
    );
    q.push(alert('first'));
    q.push(alert('second'));
    await q.drained();
    assert.deepEqual(got, ['first', 'second']);
    assert.equal(counts.failures, 2);
    assert.deepEqual(counts.sentBy, ['tunnel-down', 'tunnel-down']);
    await q.close();
  });

  it('gives up after the configured retries and goes on with the next message', async () => {
    const got: string[] = [];
    const counts = new Counts();
    const q = new ChannelQueue(
      channel(async (a) => {
        if (a.tunnel === 'doomed') throw new Error('connect ECONNREFUSED');
        got.push(a.tunnel!);
      }),
      { ratePerMinute: 100, retries: 2, retryBaseMs: 5 },
      counts,
      silent,
    );
    q.push(alert('doomed'));
    q.push(alert('fine'));
    await q.drained();
    assert.deepEqual(got, ['fine']);
    assert.equal(counts.failures, 3);
    assert.equal(counts.drops.get('retries-exhausted'), 1);
    await q.close();
  });

  it('never blocks the caller; bounded: the oldest waiting messages make room', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const got: string[] = [];
    const counts = new Counts();
    const q = new ChannelQueue(
      channel(async (a) => {
        await gate;
        got.push(a.tunnel!);
      }),
      { ratePerMinute: 100, retries: 0, maxQueue: 2 },
      counts,
      silent,
    );
    const t0 = performance.now();
    for (const t of ['m1', 'm2', 'm3', 'm4', 'm5']) q.push(alert(t));
    assert.ok(performance.now() - t0 < 50, 'push waited for delivery');
    assert.equal(counts.drops.get('queue-full'), 2);
    release();
    await q.drained();
    assert.deepEqual(got, ['m1', 'm4', 'm5']);
    await q.close();
  });

  it('close: a grace period, then what is left is aborted and counted', async () => {
    const counts = new Counts();
    const q = new ChannelQueue(
      channel((_a, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))),
      { ratePerMinute: 100, retries: 5 },
      counts,
      silent,
    );
    q.push(alert('hung'));
    q.push(alert('waiting'));
    await q.close(50);
    assert.equal(counts.drops.get('closed'), 2);
    q.push(alert('late'));
    assert.equal(counts.drops.get('closed'), 3);
  });
});
