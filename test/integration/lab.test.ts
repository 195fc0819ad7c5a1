// Proves the test lab itself: tunnels come up, traffic passes, every fault injection has its effect,
// both front ends work, it scales, and it leaves nothing behind. Needs root (network namespaces).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { cleanupStaleLabs, startLab, type Lab } from '../../lab/lab.js';
import { pingCheck, tcpCheck } from '../../lab/net-check.js';
import { parseListConns, parseListSas, parseRawMessages, type RawSection } from '../../lab/swanctl-raw.js';
import { waitFor } from '../../lab/wait.js';

const tcp = (lab: Lab, host: string, timeoutMs = 1000) =>
  tcpCheck(lab, 'left', host, 9802, { sourceAddr: lab.leftInsideAddr, timeoutMs });
const ping = (lab: Lab, host: string) => pingCheck(lab, 'left', host, { sourceAddr: lab.leftInsideAddr });

function sorted(m: Map<string, number>): [string, number][] {
  return [...m].sort(([a], [b]) => a.localeCompare(b));
}
const oneEach = (names: string[]): [string, number][] => names.map((n) => [n, 1] as [string, number]).sort(([a], [b]) => a.localeCompare(b));

async function ikeSas(lab: Lab, side: 'left' | 'right') {
  return parseListSas(await lab.swanctl(side, ['--list-sas', '--raw']));
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Everything a lab owns on the machine, to prove it is gone after close. */
function footprint(lab: Lab): { dir: string; namespaces: string[] } {
  return { dir: lab.dir, namespaces: [lab.left.ns, lab.right.ns] };
}

function namespaceExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

function pidsIn(namespaces: string[]): Promise<number[]> {
  return Promise.all(
    namespaces.map(
      (ns) =>
        new Promise<number[]>((resolve) => {
          const p = spawn('ip', ['netns', 'pids', ns]);
          let s = '';
          p.stdout.on('data', (d) => (s += d));
          p.on('close', () => resolve(s.split('\n').filter(Boolean).map(Number)));
        }),
    ),
  ).then((l) => l.flat());
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
  } catch {
    return false;
  }
}

async function assertGone(fp: { dir: string; namespaces: string[] }, pids: number[]) {
  assert.equal(existsSync(fp.dir), false, `${fp.dir} removed`);
  for (const ns of fp.namespaces) assert.equal(namespaceExists(ns), false, `namespace ${ns} removed`);
  await waitFor(() => pids.every((p) => !pidAlive(p)), { timeoutMs: 3000, what: `lab processes ${pids.join(',')} gone` });
}

/** Brings a shared lab back to: everything running, no faults, every child INSTALLED exactly once on both sides. */
async function restore(lab: Lab): Promise<void> {
  await lab.healEsp();
  await lab.restoreLink();
  await lab.startTarget();
  await lab.peerStart();
  await lab.startLocalCharon();
  const [l, r] = await Promise.all([lab.installedChildren('left'), lab.installedChildren('right')]);
  if (JSON.stringify(sorted(l)) !== JSON.stringify(sorted(r)) || [...l.values()].some((n) => n !== 1)) {
    // e.g. the peer lost its state: the left's SAs are dead but it does not know yet.
    await lab.swanctl('left', ['--terminate', '--ike', lab.ikeName, '--force', '--timeout', '2']).catch(() => '');
    await waitFor(async () => (await ikeSas(lab, 'left')).length === 0, { what: 'left IKE_SA gone' });
  }
  await lab.initiateAll();
  await waitFor(async () => (await lab.installedChildren('right')).size === lab.children.length, {
    what: 'right has every child',
  });
}

describe('lab: shared swanctl lab', () => {
  let lab: Lab;
  before(async () => {
    await cleanupStaleLabs();
    const t0 = Date.now();
    lab = await startLab({ initiate: true });
    console.log(`# lab up with 3 children initiated in ${Date.now() - t0} ms`);
  });
  after(async () => {
    await lab?.close();
  });
  afterEach(async () => {
    await restore(lab);
  });

  it('brings all three children up on both sides; TCP and ICMP pass through the tunnel', async () => {
    assert.deepEqual(lab.children, ['ikev2-vpn-140', 'ikev2-vpn-141', 'ikev2-vpn-142']);
    assert.deepEqual(sorted(await lab.installedChildren('left')), oneEach(lab.children));
    assert.deepEqual(sorted(await lab.installedChildren('right')), oneEach(lab.children));
    const left = await ikeSas(lab, 'left');
    assert.equal(left.length, 1, 'one IKE_SA carries all children');
    assert.equal(left[0]!.name, lab.ikeName);
    for (const t of lab.targets) {
      assert.deepEqual((await tcp(lab, t.host)).detail, 'connected', `TCP ${t.host}:${t.port}`);
      assert.equal((await ping(lab, t.host)).ok, true, `ICMP ${t.host}`);
    }
    // Only the local TS is protected: from the outer address the same target is not reachable.
    const outside = await tcpCheck(lab, 'left', lab.targets[0]!.host, 9802, { sourceAddr: lab.left.outerAddr, timeoutMs: 500 });
    assert.equal(outside.ok, false);
    assert.ok(readFileSync(lab.left.logPath, 'utf8').includes('established with SPIs'), 'left log readable at once');
  });

  it('traffic fails when the CHILD_SA is down (local terminate)', async () => {
    const [t140, t141] = lab.targets;
    await lab.swanctl('left', ['--terminate', '--child', t140!.child]);
    assert.equal((await tcp(lab, t140!.host)).ok, false);
    assert.equal((await ping(lab, t140!.host)).ok, false);
    assert.equal((await tcp(lab, t141!.host)).ok, true, 'other children unaffected');
  });

  it('peerDeleteChild: the child is gone on the left, the others stay', async () => {
    await lab.peerDeleteChild('ikev2-vpn-141');
    const left = await waitFor(async () => {
      const m = await lab.installedChildren('left');
      return !m.has('ikev2-vpn-141') && m;
    }, { what: 'ikev2-vpn-141 gone on the left' });
    assert.deepEqual(sorted(left), oneEach(['ikev2-vpn-140', 'ikev2-vpn-142']));
    assert.equal((await tcp(lab, '198.51.100.141')).ok, false);
  });

  it('peerDeleteIke: every child is gone on the left', async () => {
    await lab.peerDeleteIke();
    await waitFor(async () => (await ikeSas(lab, 'left')).length === 0, { what: 'left IKE_SA gone' });
    assert.equal((await lab.installedChildren('left')).size, 0);
  });

  it('peerKillAndRestart: the peer has no SAs while the left still thinks its SAs are installed', async () => {
    await lab.peerKillAndRestart();
    assert.equal((await ikeSas(lab, 'right')).length, 0, 'restarted peer has no IKE_SA');
    const conns = parseListConns(await lab.swanctl('right', ['--list-conns', '--raw']));
    assert.equal(conns.get('ikev2-vpn')?.length, 3, 'peer config loaded again');
    assert.deepEqual(sorted(await lab.installedChildren('left')), oneEach(lab.children), 'left unaware (DPD off)');
    assert.equal((await tcp(lab, lab.targets[0]!.host)).ok, false, 'traffic dies at the peer');
  });

  it('peerKill / peerStart: the peer and its VICI socket go away and come back', async () => {
    await lab.peerKill();
    assert.equal(await canConnect(lab.right.viciPath), false);
    await lab.peerStart();
    assert.equal(await canConnect(lab.right.viciPath), true);
  });

  it('blackholeEsp: SAs stay INSTALLED on both sides and IKE still answers, traffic fails; healEsp restores it', async () => {
    const target = lab.targets[0]!.host;
    await lab.blackholeEsp();
    assert.equal((await tcp(lab, target)).ok, false, 'ESP dropped');
    assert.equal((await ping(lab, target)).ok, false, 'ESP dropped (ICMP)');
    assert.deepEqual(sorted(await lab.installedChildren('left')), oneEach(lab.children));
    assert.deepEqual(sorted(await lab.installedChildren('right')), oneEach(lab.children));
    // A full IKE exchange still completes: rekey the IKE_SA and see its SPIs change.
    const before = (await ikeSas(lab, 'left'))[0]!;
    await lab.swanctl('left', ['--rekey', '--ike', lab.ikeName]);
    const rekeyed = await waitFor(
      async () => {
        const s = (await ikeSas(lab, 'left'))[0];
        return s && s.state === 'ESTABLISHED' && s.spiI !== before.spiI && s;
      },
      { what: 'IKE_SA rekeyed through the ESP blackhole' },
    );
    assert.equal(rekeyed.children.length, 3, 'children moved to the new IKE_SA');
    await lab.healEsp();
    assert.equal((await tcp(lab, target)).ok, true, 'healed');
  });

  it('cutLink: traffic and the outer path fail; restoreLink brings them back with the same SAs', async () => {
    const target = lab.targets[0]!.host;
    const sasBefore = JSON.stringify((await ikeSas(lab, 'left')).map((s) => s.spiI));
    await lab.cutLink();
    assert.equal((await tcp(lab, target)).ok, false);
    assert.equal((await pingCheck(lab, 'left', lab.right.outerAddr)).ok, false, 'outer address unreachable');
    await lab.restoreLink();
    await waitFor(async () => (await tcp(lab, target)).ok, { timeoutMs: 5000, what: 'TCP after restoreLink' });
    assert.equal(JSON.stringify((await ikeSas(lab, 'left')).map((s) => s.spiI)), sasBefore);
  });

  it('stopLocalCharon: the VICI socket disappears; startLocalCharon: it is back with the config loaded', async () => {
    await lab.stopLocalCharon();
    assert.equal(existsSync(lab.left.viciPath), false, 'socket file gone');
    assert.equal(await canConnect(lab.left.viciPath), false);
    await lab.startLocalCharon();
    assert.equal(await canConnect(lab.left.viciPath), true);
    const conns = parseListConns(await lab.swanctl('left', ['--list-conns', '--raw']));
    assert.deepEqual(conns.get(lab.ikeName), lab.children);
    assert.equal((await ikeSas(lab, 'left')).length, 0, 'a fresh charon has no SAs');
  });

  it('stopTarget: TCP is refused while ICMP passes; startTarget: TCP passes again', async () => {
    const target = lab.targets[1]!.host;
    await lab.stopTarget();
    const r = await tcp(lab, target);
    assert.equal(r.detail, 'ECONNREFUSED', 'RST through the tunnel');
    assert.equal((await ping(lab, target)).ok, true);
    await lab.startTarget();
    assert.equal((await tcp(lab, target)).ok, true);
  });

  it('exec and spawnIn run inside the namespaces; spawnIn processes die at close', async () => {
    const addrs = (await lab.exec('right', ['ip', '-o', 'addr', 'show', 'dev', 'lo'])).stdout;
    for (const t of lab.targets) assert.ok(addrs.includes(t.host));
    // exec enters the daemon's mount namespace: its private /run holds charon's pid file
    assert.match((await lab.exec('left', ['cat', '/run/charon.pid'])).stdout, /^\d+/);
    assert.equal(existsSync('/run/charon.pid') && readFileSync('/run/charon.pid', 'utf8').length > 0 ? 'host' : 'none', 'none');
    const p = lab.spawnIn('left', [process.execPath, '-e', 'console.log(require("os").networkInterfaces().lo.map(a=>a.address).join(" ")); setInterval(()=>{}, 1000)']);
    const line = await new Promise<string>((resolve) => p.stdout!.once('data', (d: Buffer) => resolve(String(d))));
    assert.ok(line.includes(lab.leftInsideAddr));
    assert.equal(p.exitCode, null);
  });
});

describe('lab: options and front ends', () => {
  it('passes the left/right actions and DPD to charon', async () => {
    const lab = await startLab({
      startAction: 'trap',
      closeAction: 'start',
      dpdAction: 'restart',
      dpdDelaySec: 7,
      rightCloseAction: 'trap',
      children: [140],
    });
    try {
      const conn = (raw: string) => parseRawMessages(raw, 'list-conn event')[0]!['ikev2-vpn'] as RawSection;
      const left = conn(await lab.swanctl('left', ['--list-conns', '--raw']));
      assert.equal(left.dpd_delay, '7');
      // 5.9.8's list-conns names the actions none|trap|start (restart shows as start) and omits start_action;
      // a trap start action shows as an installed trap policy instead.
      const lc = (left.children as RawSection)['ikev2-vpn-140'] as RawSection;
      assert.equal(lc.close_action, 'start');
      assert.equal(lc.dpd_action, 'start');
      assert.match(await lab.swanctl('left', ['--list-pols', '--raw']), /list-policy event \{ikev2-vpn\/ikev2-vpn-140 /);
      const rc = ((conn(await lab.swanctl('right', ['--list-conns', '--raw'])).children as RawSection)[
        'ikev2-vpn-140'
      ] as RawSection);
      assert.equal(rc.close_action, 'trap');
    } finally {
      await lab.close();
    }
  });

  it('fast retransmits: with DPD on, the left declares a killed peer dead within seconds', async () => {
    const lab = await startLab({ children: [140], dpdDelaySec: 1, dpdAction: 'clear', initiate: true });
    try {
      await lab.peerKill();
      const t0 = Date.now();
      // dpd_delay 1 s + retransmits at 1, 1.4, 1.96 s (tries 2, timeout 1, base 1.4) ~ 5.4 s
      await waitFor(async () => (await ikeSas(lab, 'left')).length === 0, { timeoutMs: 12_000, what: 'DPD to clear the IKE_SA' });
      console.log(`# DPD cleared the dead peer's IKE_SA ${Date.now() - t0} ms after the kill`);
      assert.match(readFileSync(lab.left.logPath, 'utf8'), /giving up after 2 retransmits/);
    } finally {
      await lab.close();
    }
  });

  it('ipsec.conf (plain, auto=add): starter loads it, stroke names the IKE config after the first conn', async () => {
    const lab = await startLab({ frontEnd: 'ipsec.conf', initiate: true });
    try {
      assert.equal(lab.ikeName, 'ikev2-vpn-140');
      const conns = parseListConns(await lab.swanctl('left', ['--list-conns', '--raw']));
      assert.deepEqual([...conns], [['ikev2-vpn-140', ['ikev2-vpn-140', 'ikev2-vpn-141', 'ikev2-vpn-142']]]);
      assert.deepEqual(sorted(await lab.installedChildren('left')), oneEach(lab.children));
      assert.deepEqual(sorted(await lab.installedChildren('right')), oneEach(lab.children));
      const sas = await ikeSas(lab, 'left');
      assert.deepEqual(sas.map((s) => s.name), ['ikev2-vpn-140']);
      for (const t of lab.targets) assert.equal((await tcp(lab, t.host)).ok, true, `TCP ${t.host}`);
      // the stroke socket lives in the left's private /run
      assert.equal((await lab.exec('left', ['test', '-S', '/run/charon.ctl'], { allowFail: true })).code, 0);
      // local charon restart through starter
      await lab.stopLocalCharon();
      assert.equal(await canConnect(lab.left.viciPath), false);
      await lab.startLocalCharon();
      assert.equal(parseListConns(await lab.swanctl('left', ['--list-conns', '--raw'])).get(lab.ikeName)?.length, 3);
    } finally {
      await lab.close();
    }
  });

  it('ipsec.conf (hardened): auto=start brings everything up, closeaction=restart re-establishes a deleted child', async () => {
    const lab = await startLab({ frontEnd: 'ipsec.conf', hardened: true, initiate: true });
    try {
      assert.deepEqual(sorted(await lab.installedChildren('left')), oneEach(lab.children));
      const conn = parseRawMessages(await lab.swanctl('left', ['--list-conns', '--raw']), 'list-conn event')[0]![
        lab.ikeName
      ] as RawSection;
      assert.equal(conn.dpd_delay, '30');
      const child = (conn.children as RawSection)['ikev2-vpn-141'] as RawSection;
      assert.equal(child.close_action, 'start', 'closeaction=restart');
      assert.equal(child.dpd_action, 'start', 'dpdaction=restart');
      await lab.peerDeleteChild('ikev2-vpn-141');
      await waitFor(async () => (await lab.installedChildren('right')).get('ikev2-vpn-141') === 1, {
        what: 'closeaction=restart to bring ikev2-vpn-141 back',
      });
      assert.equal((await tcp(lab, '198.51.100.141')).ok, true);
    } finally {
      await lab.close();
    }
  });
});

describe('lab: scale', () => {
  it('400 children establish under one IKE_SA', async () => {
    const t0 = Date.now();
    const lab = await startLab({ children: [], scaleChildren: 400, initiate: true });
    try {
      console.log(`# 400 children up in ${Date.now() - t0} ms`);
      assert.equal(lab.children.length, 400);
      assert.equal(lab.children[0], 'scale-0001');
      assert.equal(lab.targets.length, 0);
      const left = await lab.installedChildren('left');
      assert.equal(left.size, 400);
      assert.ok([...left.values()].every((n) => n === 1), 'no duplicates');
      assert.equal((await lab.installedChildren('right')).size, 400);
      assert.equal((await ikeSas(lab, 'left')).length, 1);
    } finally {
      await lab.close();
    }
  });
});

describe('lab: lifecycle', () => {
  it('close removes namespaces, processes and files, and is idempotent', async () => {
    const lab = await startLab({ initiate: true });
    const fp = footprint(lab);
    lab.spawnIn('right', ['sleep', '300']);
    const pids = await pidsIn(fp.namespaces);
    assert.ok(pids.length >= 4, `charons, target server and sleep: ${pids.join(',')}`);
    await lab.close();
    await lab.close();
    await assertGone(fp, pids);
  });

  it('a test body that throws still leaves nothing behind (close in finally)', async () => {
    let fp: ReturnType<typeof footprint> | undefined;
    let pids: number[] = [];
    await assert.rejects(async () => {
      const lab = await startLab();
      try {
        fp = footprint(lab);
        pids = await pidsIn(fp!.namespaces);
        throw new Error('test body failed');
      } finally {
        await lab.close();
      }
    }, /test body failed/);
    await assertGone(fp!, pids);
  });

  for (const how of ['uncaught exception', 'SIGTERM', 'SIGINT'] as const) {
    it(`a process that dies by ${how} cleans up its lab`, async () => {
      const script = `
        import { startLab } from ${JSON.stringify(new URL('../../lab/lab.ts', import.meta.url).pathname)};
        const lab = await startLab();
        console.log(JSON.stringify({ dir: lab.dir, namespaces: [lab.left.ns, lab.right.ns] }));
        ${how === 'uncaught exception' ? "setTimeout(() => { throw new Error('boom'); }, 50);" : 'setInterval(() => {}, 1000);'}
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`child exited ${code} before the lab was up`)));
      });
      const fp = JSON.parse(line) as { dir: string; namespaces: string[] };
      const pids = await pidsIn(fp.namespaces);
      if (how !== 'uncaught exception') child.kill(how);
      await new Promise((r) => child.once('exit', r));
      await assertGone(fp, pids);
    });
  }

  it('cleanupStaleLabs removes the leftovers of a SIGKILLed owner and spares live labs', async () => {
    const live = await startLab();
    try {
      const script = `
        import { startLab } from ${JSON.stringify(new URL('../../lab/lab.ts', import.meta.url).pathname)};
        const lab = await startLab();
        console.log(JSON.stringify({ dir: lab.dir, namespaces: [lab.left.ns, lab.right.ns] }));
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((resolve) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
      });
      const fp = JSON.parse(line) as { dir: string; namespaces: string[] };
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      assert.equal(existsSync(fp.dir), true, 'SIGKILL leaves the lab behind');
      await cleanupStaleLabs();
      await assertGone(fp, []);
      assert.equal(existsSync(live.dir), true, 'live lab untouched');
      assert.equal(namespaceExists(live.left.ns), true);
      assert.equal(await canConnect(live.left.viciPath), true);
    } finally {
      await live.close();
    }
  });

  it('two labs run at once with their own names and tunnels', async () => {
    const [a, b] = await Promise.all([startLab({ initiate: true }), startLab({ initiate: true, children: [150] })]);
    try {
      assert.notEqual(a.id, b.id);
      assert.notEqual(a.left.ns, b.left.ns);
      assert.notEqual(a.left.vethName, b.left.vethName);
      for (const l of [a, b]) {
        assert.ok(l.left.vethName.length <= 15 && l.right.vethName.length <= 15);
        assert.ok(l.left.viciPath.startsWith(l.dir));
      }
      assert.equal((await tcp(a, '198.51.100.140')).ok, true);
      assert.equal((await tcp(b, '198.51.100.150')).ok, true);
      assert.equal((await tcp(b, '198.51.100.140', 500)).ok, false, 'b has no .140 target');
      await a.peerDeleteIke();
      await waitFor(async () => (await a.installedChildren('left')).size === 0, { what: 'a down' });
      assert.equal((await b.installedChildren('left')).get('ikev2-vpn-150'), 1, 'b unaffected');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
