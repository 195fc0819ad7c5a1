// probeAll: one result per target, in order, and a round bounded by the timeout however many
// targets there are. The 1000-target rounds run in a child inside a fresh user+network namespace
// (unshare -rn) so the listener can take every loopback address and nft can drop SYNs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { probeAll } from '../support/probe-pool.js';
import type { ProbeOptions, ProbeResult, ProbeTarget } from '../../src/probes/types.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const POOL = new URL('../support/probe-pool.ts', import.meta.url).href;
/** Slack over the timeout for a whole round: scheduling, not waiting. */
const ROUND_SLACK_MS = 1000;

async function inNetns(setup: string, script: string, arg: unknown): Promise<unknown> {
  const sh = ['set -e', 'ip link set lo up', setup, 'exec node --import tsx --input-type=module -e "$0" "$1"'].filter((c) => c !== '').join('; ');
  const child = spawn('unshare', ['-rn', 'sh', '-c', sh, script, JSON.stringify(arg)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, `child failed (${code}): ${err}`);
  return JSON.parse(out.trim().split('\n').pop() ?? 'null');
}

/** 1000 targets 127.1.x.y:port against one listener on the namespace's 0.0.0.0. */
const ROUND = `
  const { createServer } = await import('node:net');
  const { performance } = await import('node:perf_hooks');
  const { probeAll } = await import(${JSON.stringify(POOL)});
  const { port, timeoutMs, listen } = JSON.parse(process.argv[1]);
  const server = createServer((s) => s.destroy());
  if (listen) await new Promise((r) => server.listen(port, '0.0.0.0', r));
  const targets = Array.from({ length: 1000 }, (_, i) => ({ kind: 'tcp', host: '127.1.' + (i >> 8) + '.' + (i & 255), port }));
  const t0 = performance.now();
  const rs = await probeAll(targets, { timeoutMs }, { concurrency: 1000 });
  const elapsedMs = performance.now() - t0;
  server.close();
  const codes = {};
  for (const r of rs) codes[r.errorCode ?? 'ok'] = (codes[r.errorCode ?? 'ok'] ?? 0) + 1;
  const misplaced = rs.filter((r, i) => r.target !== targets[i].host + ':' + port).length;
  console.log(JSON.stringify({ n: rs.length, codes, misplaced, elapsedMs }));`;

interface RoundReport {
  n: number;
  codes: Record<string, number>;
  misplaced: number;
  elapsedMs: number;
}

describe('probeAll', () => {
  it('returns all 1000 TCP results, in order, when every target answers', async () => {
    const r = (await inNetns('', ROUND, { port: 8080, timeoutMs: 3000, listen: true })) as RoundReport;
    assert.equal(r.n, 1000);
    assert.equal(r.misplaced, 0);
    assert.deepEqual(r.codes, { ok: 1000 });
    assert.ok(r.elapsedMs < 3000 + ROUND_SLACK_MS, `round took ${r.elapsedMs} ms`);
  });

  it('ends a round of 1000 silent targets within timeout + slack, none lost', async () => {
    const drop = "nft add table inet t; nft add chain inet t in '{ type filter hook input priority 0; }'; nft add rule inet t in tcp dport 8080 drop";
    const r = (await inNetns(drop, ROUND, { port: 8080, timeoutMs: 1000, listen: true })) as RoundReport;
    assert.equal(r.n, 1000);
    assert.equal(r.misplaced, 0);
    assert.deepEqual(r.codes, { timeout: 1000 });
    assert.ok(r.elapsedMs < 1000 + ROUND_SLACK_MS, `round took ${r.elapsedMs} ms`);
  });

  it('reports targets it had no budget left for instead of dropping them', async () => {
    // Each fake probe uses its whole budget; with 2 at a time only the first 2 can run.
    const seen: number[] = [];
    const slow = async (t: ProbeTarget, o: ProbeOptions): Promise<ProbeResult> => {
      seen.push(o.timeoutMs);
      await new Promise((r) => setTimeout(r, o.timeoutMs));
      return { kind: t.kind, target: t.host, success: false, durationMs: o.timeoutMs, phases: {}, error: `timeout after ${o.timeoutMs} ms`, errorCode: 'timeout' };
    };
    const targets: ProbeTarget[] = Array.from({ length: 6 }, (_, i) => ({ kind: 'icmp', host: `10.0.0.${i}` }));
    const rs = await probeAll(targets, { timeoutMs: 100 }, { concurrency: 2, probe: slow });
    assert.deepEqual(
      rs.map((r) => r.target),
      targets.map((t) => t.host),
    );
    assert.deepEqual(
      rs.map((r) => r.errorCode),
      ['timeout', 'timeout', 'other', 'other', 'other', 'other'],
    );
    assert.match(rs[5]?.error ?? '', /^not probed: round budget of 100 ms spent before start \(concurrency 2\)$/);
    assert.equal(seen.length, 2);
    assert.ok(seen.every((t) => t <= 100));
  });

  it('passes the remaining budget on and keeps a throwing prober from losing a result', async () => {
    const targets: ProbeTarget[] = [
      { kind: 'tcp', host: '127.0.0.1', port: 1 },
      { kind: 'tcp', host: '::1', port: 2 },
    ];
    const flaky = async (t: ProbeTarget): Promise<ProbeResult> => {
      if (t.port === 1) throw new Error('boom');
      return { kind: 'tcp', target: `[${t.host}]:${t.port}`, success: true, durationMs: 0, phases: {} };
    };
    const rs = await probeAll(targets, { timeoutMs: 1000 }, { probe: flaky });
    assert.equal(rs.length, 2);
    assert.equal(rs[0]?.target, '127.0.0.1:1');
    assert.equal(rs[0]?.error, 'not probed: boom');
    assert.equal(rs[1]?.success, true);
  });
});
