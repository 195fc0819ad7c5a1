// Probes that cannot run are no evidence about the tunnel. A target whose DNS name does not resolve,
// or ICMP without CAP_NET_RAW, sends nothing through it: calling the tunnel stale on that account made
// the agent restart its CHILD_SA, then (escalating) the IKE_SA with every other tunnel on it, over and
// over at backoff pace. (Regression: found by the reliability tests' unresolvable probe target on the lab.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classify, HealthChecker, type HealthReport } from '../../src/agent/controller/health.js';
import type { TunnelConfig } from '../../src/agent/config/load.js';
import { BUILTIN_TUNING } from '../../src/agent/config/load.js';
import type { ProbeErrorCode, ProbeResult, ProbeTarget } from '../../src/probes/types.js';
import { runProbe } from '../../src/probes/index.js';

const ok = (kind: 'tcp' | 'icmp' = 'tcp'): ProbeResult => ({ kind, target: 't', success: true, durationMs: 1, phases: {} });
const fail = (code: ProbeErrorCode, kind: 'tcp' | 'icmp' = 'tcp'): ProbeResult => ({ kind, target: 't', success: false, durationMs: 1, phases: {}, error: code, errorCode: code });

describe('classify: only failures that sent something count against the tunnel', () => {
  it('a name that does not resolve, or no CAP_NET_RAW, alone: no verdict (unknown), never failing', () => {
    assert.equal(classify([fail('resolve')]), 'unknown');
    assert.equal(classify([fail('permission', 'icmp')]), 'unknown');
    assert.equal(classify([fail('resolve'), fail('permission', 'icmp')]), 'unknown');
  });

  it('beside a real path failure it is still failing; beside a success or a refusal, target-down', () => {
    assert.equal(classify([fail('resolve'), fail('timeout', 'icmp')]), 'failing');
    assert.equal(classify([fail('permission', 'icmp'), fail('unreachable')]), 'failing');
    assert.equal(classify([fail('resolve'), ok('icmp')]), 'target-down');
    assert.equal(classify([fail('resolve'), fail('refused')]), 'target-down');
  });

  it('the rest as before', () => {
    assert.equal(classify([]), 'unknown');
    assert.equal(classify([ok(), ok('icmp')]), 'healthy');
    assert.equal(classify([fail('timeout'), fail('timeout', 'icmp')]), 'failing');
    assert.equal(classify([fail('other')]), 'failing');
    assert.equal(classify([fail('refused')]), 'target-down');
  });

  it('the real prober reports an unresolvable name as a resolve error', async () => {
    const r = await runProbe({ kind: 'tcp', host: 'does-not-resolve.invalid', port: 9802 }, { timeoutMs: 3000 });
    // With no DNS at all the resolver may only time out; with one it says the name does not exist.
    assert.ok(r.errorCode === 'resolve' || r.errorCode === 'timeout', JSON.stringify(r));
    if (r.errorCode === 'resolve') assert.match(r.error!, /does-not-resolve\.invalid/);
  });

  it('the health checker reports such a round once, without re-probing it as a stale tunnel', async () => {
    const reports: HealthReport[] = [];
    let probes = 0;
    const tunnel: TunnelConfig = { name: 'a', child: 'a', enabled: true, discovered: false, probes: [{ kind: 'tcp', host: 'does-not-resolve.invalid', port: 1 }], ...BUILTIN_TUNING, probeIntervalMs: 60_000, reprobeIntervalMs: 1 };
    const checker = new HealthChecker(
      async (t: ProbeTarget) => {
        probes++;
        return { ...fail('resolve'), target: `${t.host}:${t.port}` };
      },
      { generation: () => 0, report: (r) => reports.push(r) },
    );
    try {
      checker.set([tunnel]);
      const deadline = Date.now() + 5000;
      while (reports.length === 0) {
        assert.ok(Date.now() < deadline, 'a report');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      checker.stop();
    }
    assert.equal(reports[0]!.health, 'unknown');
    assert.equal(reports[0]!.attempts, 1);
    assert.equal(probes, 1, 'no re-probes');
  });
});
