// TCP probe against real listeners on loopback. The timeout case runs in a child process inside its
// own user+network namespace (unshare -rn) with an nft rule that drops SYNs: nothing on the host
// changes, and the namespace is gone when the child exits, also on failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { probeTcp } from '../../src/probes/tcp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const INDEX = new URL('../../src/probes/index.ts', import.meta.url).href;

/** Runs `script` (an ES module body) under tsx in a fresh namespace after `setup` (sh); returns its JSON output. */
async function inNetns(setup: string, script: string, arg: unknown): Promise<unknown> {
  const child = spawn('unshare', ['-rn', 'sh', '-c', `set -e; ip link set lo up; ${setup}; exec node --import tsx --input-type=module -e "$0" "$1"`, script, JSON.stringify(arg)], {
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

const NFT_DROP_SYN_TO_9 =
  "nft add table inet t; nft add chain inet t in '{ type filter hook input priority 0; }'; nft add rule inet t in tcp dport 9 drop";

async function listen(server: Server, host: string): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe('probeTcp', () => {
  // Recorded before the socket is destroyed (remoteAddress is gone after that).
  const peers: (string | undefined)[] = [];
  const server = createServer((s) => {
    peers.push(s.remoteAddress);
    s.destroy();
  });
  let port = 0;
  let closedPort = 0;

  before(async () => {
    port = await listen(server, '127.0.0.1');
    // A port that was just ours and is now closed: connecting to it is refused.
    const tmp = createServer();
    closedPort = await listen(tmp, '127.0.0.1');
    tmp.close();
    await once(tmp, 'close');
  });
  after(() => server.close());

  it('succeeds with resolve and connect phases', async () => {
    const r = await probeTcp({ kind: 'tcp', host: '127.0.0.1', port }, { timeoutMs: 2000 });
    assert.equal(r.success, true, r.error);
    assert.equal(r.kind, 'tcp');
    assert.equal(r.target, `127.0.0.1:${port}`);
    assert.equal(r.error, undefined);
    assert.equal(r.errorCode, undefined);
    assert.deepEqual(Object.keys(r.phases).sort(), ['connect', 'resolve']);
    assert.ok(r.phases.connect! >= 0 && r.durationMs >= r.phases.connect!);
  });

  it('resolves names through the system resolver', async () => {
    const r = await probeTcp({ kind: 'tcp', host: 'localhost', port }, { timeoutMs: 2000, sourceAddr: '127.0.0.1' });
    assert.equal(r.success, true, r.error);
    assert.equal(r.target, `localhost:${port}`);
  });

  it('binds the source address (seen by the server)', async () => {
    const conn = once(server, 'connection');
    const r = await probeTcp({ kind: 'tcp', host: '127.0.0.1', port }, { timeoutMs: 2000, sourceAddr: '127.0.0.2' });
    assert.equal(r.success, true, r.error);
    await conn;
    assert.equal(peers.at(-1), '127.0.0.2');
  });

  it('reports a refused connection', async () => {
    const r = await probeTcp({ kind: 'tcp', host: '127.0.0.1', port: closedPort }, { timeoutMs: 2000 });
    assert.equal(r.success, false);
    assert.equal(r.errorCode, 'refused');
    assert.equal(r.error, `connect ECONNREFUSED 127.0.0.1:${closedPort}`);
  });

  it('reports a name that does not resolve', async () => {
    const r = await probeTcp({ kind: 'tcp', host: 'no-such-host.invalid', port: 80 }, { timeoutMs: 5000 });
    assert.equal(r.success, false);
    assert.equal(r.errorCode, 'resolve');
    assert.match(r.error ?? '', /^E[A-Z_]+ no-such-host\.invalid$/);
    assert.equal(r.phases.connect, undefined);
  });

  it('reports a source address that is not local', async () => {
    // 192.0.2.0/24 is TEST-NET-1; binding to it fails locally, nothing is sent.
    const r = await probeTcp({ kind: 'tcp', host: '127.0.0.1', port }, { timeoutMs: 2000, sourceAddr: '192.0.2.254' });
    assert.equal(r.success, false);
    assert.equal(r.errorCode, 'other');
    assert.match(r.error ?? '', /EADDRNOTAVAIL/);
  });

  it('rejects a target without a port as a failed result', async () => {
    const r = await probeTcp({ kind: 'tcp', host: '127.0.0.1' }, { timeoutMs: 2000 });
    assert.equal(r.success, false);
    assert.equal(r.errorCode, 'other');
    assert.match(r.error ?? '', /needs a port/);
  });

  it("stops when the caller's signal aborts", async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await probeTcp({ kind: 'tcp', host: '127.0.0.1', port }, { timeoutMs: 2000, signal: ac.signal });
    assert.equal(r.success, false);
    assert.equal(r.error, 'aborted');
  });

  it('times out on a port whose SYNs are dropped', async () => {
    const script = `
      const { runProbe } = await import(${JSON.stringify(INDEX)});
      const opts = JSON.parse(process.argv[1]);
      console.log(JSON.stringify(await runProbe({ kind: 'tcp', host: '127.0.0.1', port: 9 }, opts)));`;
    const r = (await inNetns(NFT_DROP_SYN_TO_9, script, { timeoutMs: 300 })) as Record<string, unknown>;
    assert.equal(r.success, false);
    assert.equal(r.errorCode, 'timeout');
    assert.equal(r.error, 'timeout after 300 ms');
    assert.ok((r.durationMs as number) >= 299, `durationMs ${String(r.durationMs)}`);
    assert.ok((r.durationMs as number) < 1300, `durationMs ${String(r.durationMs)}`);
  });
});
