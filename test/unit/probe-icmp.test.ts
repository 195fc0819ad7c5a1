// ICMP probe. Every case runs in a child process: the raw-socket cases inside a fresh user+network
// namespace (unshare -rn: the child has CAP_NET_RAW there even when the test runner is not root, can
// add addresses and nft rules without touching the host, and the namespace dies with the child);
// the permission case with CAP_NET_RAW dropped.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ProbeResult } from '../../src/probes/types.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INDEX = new URL('../../src/probes/index.ts', import.meta.url).href;
const POOL = new URL('../support/probe-pool.ts', import.meta.url).href;

/** Runs `script` (an ES module body; `arg` is JSON in process.argv[1]) under tsx; returns its last stdout line as JSON. */
async function runChild(wrapper: string[], setup: string, script: string, arg: unknown): Promise<unknown> {
  const sh = ['set -e', setup, 'exec node --import tsx --input-type=module -e "$0" "$1"'].filter((c) => c !== '').join('; ');
  const child = spawn(wrapper[0]!, [...wrapper.slice(1), 'sh', '-c', sh, script, JSON.stringify(arg)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  assert.equal(code, 0, `child failed (${code}): ${err}`);
  return JSON.parse(out.trim().split('\n').pop() ?? 'null');
}

const inNetns = (setup: string, script: string, arg: unknown = null): Promise<unknown> =>
  runChild(['unshare', '-rn'], ['ip link set lo up', setup].filter((c) => c !== '').join('; '), script, arg);

/** Probes each [host, sourceAddr?] concurrently, prints the results in order. */
const PROBE_ALL = `
  const { runProbe } = await import(${JSON.stringify(INDEX)});
  const { targets, timeoutMs } = JSON.parse(process.argv[1]);
  const rs = await Promise.all(targets.map(([host, sourceAddr]) =>
    runProbe({ kind: 'icmp', host }, sourceAddr ? { timeoutMs, sourceAddr } : { timeoutMs })));
  console.log(JSON.stringify(rs));`;

function nft(...rules: string[]): string {
  return [
    'nft add table inet t',
    "nft add chain inet t in '{ type filter hook input priority 0; }'",
    ...rules.map((r) => `nft add rule inet t in ${r}`),
  ].join('; ');
}

describe('probeIcmp', () => {
  it('echoes 127.0.0.1 with an rtt phase', async () => {
    const [r] = (await inNetns('', PROBE_ALL, { targets: [['127.0.0.1']], timeoutMs: 2000 })) as ProbeResult[];
    assert.equal(r?.success, true, r?.error);
    assert.equal(r.kind, 'icmp');
    assert.equal(r.target, '127.0.0.1');
    assert.deepEqual(Object.keys(r.phases).sort(), ['resolve', 'rtt']);
    assert.ok(r.phases.rtt! >= 0 && r.phases.rtt! <= r.durationMs);
  });

  it('matches concurrent replies to their requests; a silent address times out, a rejecting one is unreachable', async () => {
    const setup = nft('ip daddr 127.0.0.3 icmp type echo-request drop', 'ip daddr 127.0.0.4 icmp type echo-request reject with icmp type host-unreachable');
    const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '::1'];
    const rs = (await inNetns(setup, PROBE_ALL, { targets: hosts.map((h) => [h]), timeoutMs: 500 })) as ProbeResult[];
    assert.deepEqual(
      rs.map((r) => [r.target, r.success, r.errorCode ?? 'ok']),
      [
        ['127.0.0.1', true, 'ok'],
        ['127.0.0.2', true, 'ok'],
        ['127.0.0.3', false, 'timeout'],
        ['127.0.0.4', false, 'unreachable'],
        ['127.0.0.5', true, 'ok'],
        ['127.0.0.6', true, 'ok'],
        ['::1', true, 'ok'],
      ],
    );
    assert.equal(rs[2]?.error, 'timeout after 500 ms');
    assert.equal(rs[3]?.error, 'ICMP host unreachable');
  });

  it('sends from the source address (IPv4 and IPv6)', async () => {
    // Requests from .9 / ::9 are dropped, so only a probe that really used that source times out.
    const setup = [
      'ip addr add fd00:77::1/64 dev lo nodad',
      'ip addr add fd00:77::8/64 dev lo nodad',
      'ip addr add fd00:77::9/64 dev lo nodad',
      nft('ip saddr 127.0.0.9 icmp type echo-request drop', 'ip6 saddr fd00:77::9 icmpv6 type echo-request drop'),
    ].join('; ');
    const targets = [
      ['127.0.0.1', '127.0.0.8'],
      ['127.0.0.1', '127.0.0.9'],
      ['127.0.0.1'],
      ['fd00:77::1', 'fd00:77::8'],
      ['fd00:77::1', 'fd00:77::9'],
      ['fd00:77::1'],
      ['127.0.0.1', '10.66.0.1'],
    ];
    const rs = (await inNetns(setup, PROBE_ALL, { targets, timeoutMs: 500 })) as ProbeResult[];
    assert.deepEqual(
      rs.map((r) => r.errorCode ?? 'ok'),
      ['ok', 'timeout', 'ok', 'ok', 'timeout', 'ok', 'other'],
    );
    assert.match(rs[6]?.error ?? '', /^source 10\.66\.0\.1: .*EADDRNOTAVAIL/);
  });

  it('matches 1000 concurrent echoes through the shared socket', async () => {
    const script = `
      const { probeAll } = await import(${JSON.stringify(POOL)});
      const targets = Array.from({ length: 1000 }, (_, i) => ({ kind: 'icmp', host: '127.1.' + (i >> 8) + '.' + (i & 255) }));
      const rs = await probeAll(targets, { timeoutMs: 3000 }, { concurrency: 1000 });
      console.log(JSON.stringify({ n: rs.length, bad: rs.filter((r, i) => !r.success || r.target !== targets[i].host).slice(0, 5) }));`;
    const r = (await inNetns('', script)) as { n: number; bad: ProbeResult[] };
    assert.equal(r.n, 1000);
    assert.deepEqual(r.bad, []);
  });

  it('without CAP_NET_RAW: icmpAvailable says so in one line, probes fail with permission', async () => {
    const script = `
      const { icmpAvailable, runProbe } = await import(${JSON.stringify(INDEX)});
      const tcp = await runProbe({ kind: 'tcp', host: '127.0.0.1', port: 9 }, { timeoutMs: 1000 });
      console.log(JSON.stringify({ avail: icmpAvailable(), icmp: await runProbe({ kind: 'icmp', host: '127.0.0.1' }, { timeoutMs: 1000 }), tcp }));`;
    // As root: drop CAP_NET_RAW from every set; as another user there is none to drop.
    const wrapper = process.getuid?.() === 0 ? ['setpriv', '--inh-caps=-net_raw', '--ambient-caps=-net_raw', '--bounding-set=-net_raw', '--'] : ['env'];
    const r = (await runChild(wrapper, 'true', script, null)) as { avail: { ok: boolean; reason?: string }; icmp: ProbeResult; tcp: ProbeResult };
    assert.equal(r.avail.ok, false);
    assert.match(r.avail.reason ?? '', /^ICMP probes need CAP_NET_RAW: [^\n]+$/);
    assert.equal(r.icmp.success, false);
    assert.equal(r.icmp.errorCode, 'permission');
    assert.equal(r.icmp.error, r.avail.reason);
    // TCP probes keep working: a refused port is an answer, not a permission problem.
    assert.equal(r.tcp.errorCode, 'refused');
  });
});
