// The two-gateway strongSwan lab: two real charons in two network namespaces joined by a veth pair.
//
//   left ns  (lo 10.1.0.1/32)             right ns (lo 198.51.100.<n>/32, TCP :9802 service)
//   charon/starter  192.0.2.1 ===veth=== 192.0.2.2  charon
//
// Each charon runs with a private /run (its pid file and stroke socket are compiled in under /run) and a
// VICI socket in the lab directory, which the root namespace can reach because unix socket paths are not
// network-namespace scoped. ESP is userspace (kernel-libipsec, ESP-in-UDP/4500): this kernel's XFRM has none.
//
// How the stroke backend (ipsec.conf) names configs, which the agent depends on: starter sends one `conn`
// at a time; stroke merges a conn into an existing peer config when the IKE parameters are equal (same
// peers, ids, auth, proposals), logging "added child to existing configuration '<first>'". So with conns
// ikev2-vpn-140/141/142 to one peer, list-conns shows ONE IKE config named after the FIRST conn
// ("ikev2-vpn-140") whose children are named after each conn ("ikev2-vpn-140", "ikev2-vpn-141", ...);
// list-sas shows one IKE_SA of that name carrying all CHILD_SAs. Conn names are CHILD names there, IKE
// names are an accident of ordering. `Lab.ikeName` carries the observed name; the lab test asserts it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, openSync, closeSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ipsecSecrets,
  leftIpsecConf,
  leftSwanctlConf,
  leftSwanctlConns,
  rightSwanctlConf,
  strongswanConf,
  type ChildPlan,
  type CloseAction,
  type DpdAction,
  type LabPlan,
  type StartAction,
} from './config.js';
import { childPidsOf, exited, isAlive, run, startTimeOf, type RunResult } from './proc.js';
import { parseListConns, parseListSas } from './swanctl-raw.js';
import { cleanupStaleLabs, LAB_PREFIX, LAB_ROOT, nsPids, teardownSync, type OwnerRecord } from './teardown.js';
import { viciCommands } from './vici-lite.js';
import { waitFor } from './wait.js';

export { cleanupStaleLabs };

export type FrontEnd = 'swanctl' | 'ipsec.conf';
export interface LabOptions {
  frontEnd?: FrontEnd;
  /** the operators' variant: start/restart/restart and DPD 30 s (ipsec.conf also keyingtries=%forever, inactivity=0);
   * explicit options below still win */
  hardened?: boolean;
  children?: number[];
  scaleChildren?: number;
  startAction?: StartAction;
  closeAction?: CloseAction;
  dpdAction?: DpdAction;
  dpdDelaySec?: number;
  rightCloseAction?: CloseAction;
  retransmit?: { tries: number; timeoutSec: number; base: number };
  initiate?: boolean;
}
export interface Gateway {
  name: 'left' | 'right';
  ns: string;
  viciUri: string;
  viciPath: string;
  logPath: string;
  dir: string;
  outerAddr: string;
  vethName: string;
}
export interface Target {
  child: string;
  host: string;
  port: number;
}
export interface Lab {
  id: string;
  dir: string;
  left: Gateway;
  right: Gateway;
  /** IKE config name on the left as list-conns/list-sas show it: 'ikev2-vpn' (swanctl), the first conn (ipsec.conf) */
  ikeName: string;
  children: string[];
  targets: Target[];
  leftInsideAddr: string;
  psk: string;
  frontEnd: FrontEnd;
  /** inside the gateway's netns; inside its daemon's mount ns (private /run) while the daemon runs */
  exec(side: Side, argv: string[], opts?: { allowFail?: boolean }): Promise<RunResult>;
  /** args start with the command option (swanctl wants --uri after it); throws on a non-zero exit */
  swanctl(side: Side, args: string[]): Promise<string>;
  /** env is merged over process.env; stdout/stderr are also copied to `<dir>/spawn-<n>.log` */
  spawnIn(side: Side, argv: string[], opts?: { env?: NodeJS.ProcessEnv; cwd?: string }): ChildProcess;
  /** initiates the children not INSTALLED on the left (do not race charon's own start/close actions with it) */
  initiateAll(): Promise<void>;
  installedChildren(side: Side): Promise<Map<string, number>>;
  /** CHILD_SAs with a route in kernel-libipsec's table 220 (works at any scale; no duplicates counted). */
  routedChildren(side: Side): Promise<number>;
  peerDeleteChild(child: string): Promise<void>;
  peerDeleteIke(): Promise<void>;
  /** SIGKILL: no DELETE reaches the left, which keeps its SAs until DPD (if any) gives up */
  peerKill(): Promise<void>;
  peerStart(): Promise<void>;
  peerKillAndRestart(): Promise<void>;
  /**
   * drops ESP-in-UDP arriving at the right; IKE (and so DPD, rekeying) keeps working. With `spi` (the
   * left's spi-out of one CHILD_SA, hex) only that SA's packets: a stale SA that a new one replaces.
   */
  blackholeEsp(spi?: string): Promise<void>;
  /** The left's spi-out of the child's newest INSTALLED CHILD_SA (hex, as swanctl prints it). */
  spiOut(child: string): Promise<string>;
  healEsp(): Promise<void>;
  /**
   * Sets the right's veth down: the right charon sees its interface go ("MOBIKE update deferred"), the left sees
   * no carrier; SAs survive a short cut and both sides exchange MOBIKE address updates on restore. Any IKE
   * exchange attempted meanwhile (DPD, rekey) gives up after the lab's retransmits (~4.4 s) and kills the IKE_SA.
   */
  cutLink(): Promise<void>;
  restoreLink(): Promise<void>;
  /** SIGTERM: charon (or starter and its charon) sends DELETE for its IKE_SAs first, so the peer clears them too */
  stopLocalCharon(): Promise<void>;
  /** `load: false`: the socket only, no config loaded yet (strongswan.service loads them after the socket appears). */
  startLocalCharon(opts?: { load?: boolean }): Promise<void>;
  /** Loads the left's config (credentials and connections), as `swanctl --load-all` does (swanctl front end). */
  loadLocalConfig(): Promise<void>;
  /**
   * `swanctl --load-conns` on the left with the lab's connection less the children `without`, and with
   * `responder` a road-warrior connection beside it (swanctl front end). Connections not in the file are unloaded.
   */
  loadLocalConns(o?: { without?: readonly string[]; responder?: boolean }): Promise<void>;
  stopTarget(port?: number): Promise<void>;
  startTarget(port?: number): Promise<void>;
  close(): Promise<void>;
}
type Side = 'left' | 'right';

const TARGET_PORT = 9802;
const LEFT_INSIDE = '10.1.0.1';
const RIGHT_IKE_NAME = 'ikev2-vpn';
const CHARON = '/usr/lib/ipsec/charon';
const STARTER = '/usr/lib/ipsec/starter';
const TARGET_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'target-server.mjs');
const FAULT_TABLE = 'ik_fault';
/** Above this many children the lab counts routes, not list-sas (see routedChildren). */
const SCALE_BY_ROUTES = 900;

// Labs still open in this process, for the signal/exit handlers.
const openLabs = new Map<string, () => void>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const closeAllSync = () => {
    for (const f of [...openLabs.values()]) f();
  };
  process.on('exit', closeAllSync);
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    const handler = () => {
      closeAllSync();
      // Someone else listening (the demo) decides when to exit; alone, behave like the default action.
      if (process.listenerCount(sig) === 1) process.exit(code);
    };
    process.on(sig, handler);
  }
}

function scaleTs(i: number): string {
  return `10.200.${i >> 8}.${i & 255}/32`;
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface Daemon {
  proc: ChildProcess;
  /** the process to enter for the gateway's namespaces (charon, or starter for ipsec.conf) */
  pid: number;
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const t0 = Date.now();
  installHandlers();
  // Cheap (a readdir and `ip netns list`), and spares every lab whose owner still runs.
  await cleanupStaleLabs();
  const frontEnd: FrontEnd = opts.frontEnd ?? 'swanctl';
  const hardened = opts.hardened ?? false;
  const childNums = opts.children ?? [140, 141, 142];
  for (const n of childNums) {
    if (!Number.isInteger(n) || n < 1 || n > 254) throw new Error(`startLab: child ${n} must be 1..254`);
  }
  const scale = opts.scaleChildren ?? 0;
  const childPlans: ChildPlan[] = [
    ...childNums.map((n) => ({ name: `ikev2-vpn-${n}`, leftTs: `${LEFT_INSIDE}/32`, rightTs: `198.51.100.${n}/32` })),
    ...Array.from({ length: scale }, (_, k) => ({
      name: `scale-${String(k + 1).padStart(4, '0')}`,
      leftTs: `${LEFT_INSIDE}/32`,
      rightTs: scaleTs(k + 1),
    })),
  ];

  // Unique id; mkdir without `recursive` fails on a collision with another lab.
  let id = '';
  let dir = '';
  for (;;) {
    id = randomBytes(3).toString('hex');
    dir = `${LAB_ROOT}/${LAB_PREFIX}${id}`;
    try {
      mkdirSync(dir, { mode: 0o700 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const nsL = `ik-${id}-l`;
  const nsR = `ik-${id}-r`;
  const owner: OwnerRecord = { pid: process.pid, startTime: startTimeOf(process.pid), namespaces: [nsL, nsR] };
  writeFileSync(`${dir}/owner.json`, JSON.stringify(owner));

  const psk = `lab-psk-${randomBytes(12).toString('hex')}`;
  const ikeName = frontEnd === 'ipsec.conf' ? (childPlans[0]?.name ?? RIGHT_IKE_NAME) : RIGHT_IKE_NAME;
  const plan: LabPlan = {
    ikeName,
    psk,
    leftOuter: '192.0.2.1',
    rightOuter: '192.0.2.2',
    children: childPlans,
    startAction: opts.startAction ?? (hardened ? 'start' : 'none'),
    closeAction: opts.closeAction ?? (hardened ? 'start' : 'none'),
    dpdAction: opts.dpdAction ?? (hardened ? 'restart' : 'clear'),
    dpdDelaySec: opts.dpdDelaySec ?? (hardened ? 30 : 0),
    hardened,
    rightCloseAction: opts.rightCloseAction ?? 'none',
    retransmit: opts.retransmit ?? { tries: 2, timeoutSec: 1, base: 1.4 },
  };

  const gw = (name: Side, ns: string, outerAddr: string, vethName: string): Gateway => {
    const gdir = `${dir}/${name}`;
    mkdirSync(gdir);
    const viciPath = `${gdir}/charon.vici`;
    return { name, ns, viciUri: `unix://${viciPath}`, viciPath, logPath: `${gdir}/charon.log`, dir: gdir, outerAddr, vethName };
  };
  const left = gw('left', nsL, plan.leftOuter, `ik${id}l`);
  const right = gw('right', nsR, plan.rightOuter, `ik${id}r`);
  const conf = (g: Gateway, f: string) => `${g.dir}/${f}`;
  const leftStroke = frontEnd === 'ipsec.conf';
  writeFileSync(
    conf(left, 'strongswan.conf'),
    strongswanConf({
      viciPath: left.viciPath,
      logPath: left.logPath,
      retransmit: plan.retransmit,
      ...(leftStroke ? { stroke: { secretsPath: conf(left, 'ipsec.secrets') } } : {}),
    }),
  );
  writeFileSync(
    conf(right, 'strongswan.conf'),
    strongswanConf({ viciPath: right.viciPath, logPath: right.logPath, retransmit: plan.retransmit }),
  );
  if (leftStroke) {
    writeFileSync(conf(left, 'ipsec.conf'), leftIpsecConf(plan));
    writeFileSync(conf(left, 'ipsec.secrets'), ipsecSecrets(plan), { mode: 0o600 });
  } else {
    writeFileSync(conf(left, 'swanctl.conf'), leftSwanctlConf(plan), { mode: 0o600 });
  }
  writeFileSync(conf(right, 'swanctl.conf'), rightSwanctlConf(plan, RIGHT_IKE_NAME), { mode: 0o600 });

  const targets: Target[] = childNums.map((n) => ({ child: `ikev2-vpn-${n}`, host: `198.51.100.${n}`, port: TARGET_PORT }));
  const daemons: Record<Side, Daemon | undefined> = { left: undefined, right: undefined };
  const targetProcs = new Map<number, ChildProcess>();
  const spawned = new Set<ChildProcess>();
  let spawnCount = 0;
  let closed = false;
  let connsFiles = 0;
  const gwOf = (side: Side) => (side === 'left' ? left : right);

  const closeSyncNow = () => {
    openLabs.delete(id);
    closed = true;
    const pids = [...spawned, ...targetProcs.values(), ...Object.values(daemons).map((d) => d?.proc)]
      .map((p) => p?.pid)
      .filter((p): p is number => p !== undefined);
    teardownSync(dir, [nsL, nsR], pids);
  };
  openLabs.set(id, closeSyncNow);

  const logTail = (g: Gateway) =>
    run(['tail', '-n', '15', g.logPath, `${g.dir}/charon.out`], { allowFail: true }).then(
      (r) => r.stdout,
      () => '',
    );

  // Enter the daemon's own mount namespace when it runs (its /run holds the pid file and stroke socket).
  const nsArgv = (side: Side, argv: string[]): string[] => {
    const d = daemons[side];
    if (d && isAlive(d.pid)) return ['nsenter', '-t', String(d.pid), '-n', '-m', '--', ...argv];
    return ['ip', 'netns', 'exec', gwOf(side).ns, ...argv];
  };
  const exec = (side: Side, argv: string[], o: { allowFail?: boolean } = {}) => run(nsArgv(side, argv), o);
  // swanctl wants the command option first and --uri after it; its own strongswan.conf keeps the plugin
  // list short (the system one names plugins Debian does not ship, one stderr line each).
  const swanctlConfPath = `${dir}/swanctl-client.conf`;
  writeFileSync(swanctlConfPath, 'swanctl {\n  load = random nonce openssl pem pkcs1 x509 pubkey\n}\n');
  const swanctlEnv = { ...process.env, STRONGSWAN_CONF: swanctlConfPath };
  const swanctl = async (side: Side, args: string[]) => {
    const [cmd, ...rest] = args;
    if (!cmd) throw new Error('swanctl: no command');
    return (await run(['swanctl', cmd, '--uri', gwOf(side).viciUri, ...rest], { env: swanctlEnv })).stdout;
  };

  const startDaemon = async (side: Side): Promise<void> => {
    const g = gwOf(side);
    if (existsSync(g.viciPath)) unlinkSync(g.viciPath); // left behind by a SIGKILL
    const inner = side === 'left' && leftStroke ? [STARTER, '--nofork', '--conf', conf(g, 'ipsec.conf')] : [CHARON];
    const out = openSync(`${g.dir}/charon.out`, 'a');
    const proc = spawn(
      'ip',
      [
        'netns', 'exec', g.ns,
        'unshare', '-m', '--propagation', 'private',
        'sh', '-c', 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$@"', 'sh', ...inner,
      ],
      // starter hands its environment to the charon it forks, so STRONGSWAN_CONF reaches both.
      { env: { ...process.env, STRONGSWAN_CONF: conf(g, 'strongswan.conf') }, stdio: ['ignore', out, out] },
    );
    closeSync(out);
    if (proc.pid === undefined) throw new Error(`${side}: could not spawn ${inner[0]}`);
    daemons[side] = { proc, pid: proc.pid };
    try {
      await waitFor(
        async () => {
          if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${inner[0]} exited`);
          return canConnect(g.viciPath);
        },
        { timeoutMs: 10_000, intervalMs: 20, what: `${side} VICI socket ${g.viciPath}` },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await logTail(g)}`, { cause: err });
    }
  };

  const loadConfig = async (side: Side): Promise<void> => {
    const g = gwOf(side);
    if (side === 'left' && leftStroke) {
      // starter feeds the conns to charon over stroke after charon is up: wait until VICI lists them all.
      await waitFor(
        async () => {
          const conns = parseListConns(await swanctl('left', ['--list-conns', '--raw']));
          const n = [...conns.values()].reduce((a, c) => a + c.length, 0);
          return n >= childPlans.length;
        },
        { timeoutMs: 20_000, intervalMs: 50, what: 'starter to load ipsec.conf into charon' },
      );
      return;
    }
    await swanctl(side, ['--load-all', '--file', conf(g, 'swanctl.conf')]);
  };

  const stopDaemon = async (side: Side, signal: NodeJS.Signals): Promise<void> => {
    const d = daemons[side];
    if (!d) return;
    const kids = childPidsOf(d.pid, 'charon'); // starter's charon
    d.proc.kill(signal);
    await exited(d.proc);
    await waitFor(() => kids.every((p) => !isAlive(p)), { timeoutMs: 10_000, what: `${side} charon to exit` });
    daemons[side] = undefined;
    const g = gwOf(side);
    if (existsSync(g.viciPath)) unlinkSync(g.viciPath);
  };

  const startTarget = async (port = TARGET_PORT): Promise<void> => {
    if (targets.length === 0 || targetProcs.has(port)) return;
    const proc = spawn('ip', ['netns', 'exec', nsR, process.execPath, TARGET_SERVER, String(port), ...targets.map((t) => t.host)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    targetProcs.set(port, proc);
    let err = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('listening\n')) resolve();
      });
      proc.once('exit', (code) => {
        targetProcs.delete(port);
        reject(new Error(`target server exited ${code}: ${err}`));
      });
    });
  };
  const stopTarget = async (port = TARGET_PORT): Promise<void> => {
    const proc = targetProcs.get(port);
    if (!proc) return;
    proc.kill('SIGKILL');
    await exited(proc);
    targetProcs.delete(port);
  };

  const installedChildren = async (side: Side): Promise<Map<string, number>> => {
    const m = new Map<string, number>();
    for (const ike of parseListSas(await swanctl(side, ['--list-sas', '--raw']))) {
      for (const c of ike.children) if (c.state === 'INSTALLED') m.set(c.name, (m.get(c.name) ?? 0) + 1);
    }
    return m;
  };
  const allNames = childPlans.map((c) => c.name);
  // Beyond ~1000 CHILD_SAs one IKE_SA's list-sas dump exceeds charon's 512 KiB message limit and is
  // discarded: count the routes kernel-libipsec installs (table 220, one per installed CHILD_SA) instead.
  const routedChildren = async (side: Side): Promise<number> => {
    const out = (await run(['ip', '-n', gwOf(side).ns, 'route', 'show', 'table', '220'], { allowFail: true })).stdout;
    return out.split('\n').filter((l) => l.includes(' dev ipsec0 ')).length;
  };
  const waitAllInstalled = (timeoutMs: number) =>
    waitFor(
      async () => {
        if (allNames.length > SCALE_BY_ROUTES) return (await routedChildren('left')) >= allNames.length;
        const m = await installedChildren('left');
        return allNames.every((n) => m.has(n));
      },
      // Each poll is a swanctl process and a full list-sas: do not steal the CPU from charon at scale.
      { timeoutMs, intervalMs: allNames.length > 100 ? 250 : 50, what: `all ${allNames.length} children INSTALLED on the left` },
    );

  const initiateAll = async (): Promise<void> => {
    const have = await installedChildren('left');
    const todo = allNames.filter((n) => !have.has(n));
    if (todo.length === 0) return;
    const ikeUp = parseListSas(await swanctl('left', ['--list-sas', '--raw'])).some(
      (s) => s.name === ikeName && s.state === 'ESTABLISHED',
    );
    // The first child alone, so every other one reuses its IKE_SA instead of racing to create their own.
    if (!ikeUp) await swanctl('left', ['--initiate', '--child', todo.shift()!, '--timeout', '20']);
    // The rest over a few VICI connections: one swanctl process per child would cost seconds at 1000.
    const lanes = Math.min(4, todo.length);
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        const mine = todo.filter((_c, i) => i % lanes === lane);
        const res = await viciCommands(
          left.viciPath,
          'initiate',
          mine.map((child) => ({ child, timeout: '30000' })),
        );
        res.forEach((r, i) => {
          if (r.success !== 'yes') failures.push(`${mine[i]}: ${r.errmsg ?? 'failed'}`);
        });
      }),
    );
    if (failures.length) throw new Error(`initiate failed: ${failures.slice(0, 5).join('; ')}`);
    await waitAllInstalled(30_000 + allNames.length * 100);
  };

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    openLabs.delete(id);
    const procs = [...spawned];
    for (const p of procs) p.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map(exited)), new Promise((r) => setTimeout(r, 1000))]);
    const all = [...spawned, ...targetProcs.values(), ...Object.values(daemons).map((d) => d?.proc)].filter(
      (p): p is ChildProcess => p !== undefined,
    );
    for (const p of all) p.kill('SIGKILL');
    const strays = [nsL, nsR].flatMap(nsPids);
    for (const pid of strays) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await Promise.all(all.map(exited));
    await waitFor(() => strays.every((p) => !isAlive(p)), { timeoutMs: 5000, what: 'lab processes to exit' }).catch(
      () => {},
    );
    teardownSync(dir, [nsL, nsR]);
  };

  const lab: Lab = {
    id,
    dir,
    left,
    right,
    ikeName,
    children: allNames,
    targets,
    leftInsideAddr: LEFT_INSIDE,
    psk,
    frontEnd,
    exec,
    swanctl,
    spawnIn(side, argv, o = {}) {
      const n = ++spawnCount;
      const proc = spawn('ip', ['netns', 'exec', gwOf(side).ns, ...argv], {
        env: { ...process.env, ...o.env },
        ...(o.cwd ? { cwd: o.cwd } : {}),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      spawned.add(proc);
      // Copying the output also keeps the pipes drained when the caller does not read them.
      const log = createWriteStream(`${dir}/spawn-${n}.log`);
      log.on('error', () => {});
      proc.stdout?.on('data', (d: Buffer) => log.write(d));
      proc.stderr?.on('data', (d: Buffer) => log.write(d));
      proc.once('exit', () => {
        spawned.delete(proc);
        log.end();
      });
      return proc;
    },
    initiateAll,
    installedChildren,
    routedChildren,
    async peerDeleteChild(child) {
      await swanctl('right', ['--terminate', '--child', child, '--timeout', '10']);
    },
    async peerDeleteIke() {
      await swanctl('right', ['--terminate', '--ike', RIGHT_IKE_NAME, '--timeout', '10']);
    },
    async peerKill() {
      await stopDaemon('right', 'SIGKILL');
    },
    async peerStart() {
      if (daemons.right) return;
      await startDaemon('right');
      await loadConfig('right');
    },
    async peerKillAndRestart() {
      await lab.peerKill();
      await lab.peerStart();
    },
    async blackholeEsp(spi) {
      // ESP-in-UDP carries a non-zero SPI where IKE on 4500 has the four-zero-byte non-ESP marker.
      const match = spi ? `== 0x${spi}` : '!= 0';
      await run(['ip', 'netns', 'exec', nsR, 'nft', '-f', '-'], {
        input: `table inet ${FAULT_TABLE} {\n chain in {\n  type filter hook input priority 0; policy accept;\n  udp dport 4500 @th,64,32 ${match} drop\n }\n}\n`,
      });
    },
    async spiOut(child) {
      const out = await swanctl('left', ['--list-sas', '--raw', '--child', child]);
      const spis = [...out.matchAll(/state=INSTALLED [^}]*?spi-out=([0-9a-f]+)/g)].map((m) => m[1]!);
      if (spis.length === 0) throw new Error(`no INSTALLED CHILD_SA ${child} on the left`);
      return spis.at(-1)!;
    },
    async healEsp() {
      await run(['ip', 'netns', 'exec', nsR, 'nft', 'delete', 'table', 'inet', FAULT_TABLE], { allowFail: true });
    },
    async cutLink() {
      await run(['ip', '-n', nsR, 'link', 'set', right.vethName, 'down']);
    },
    async restoreLink() {
      await run(['ip', '-n', nsR, 'link', 'set', right.vethName, 'up']);
    },
    async stopLocalCharon() {
      await stopDaemon('left', 'SIGTERM');
    },
    async startLocalCharon(opts = {}) {
      if (daemons.left) return;
      await startDaemon('left');
      if (opts.load !== false) await loadConfig('left');
    },
    loadLocalConfig: () => loadConfig('left'),
    async loadLocalConns(o = {}) {
      if (leftStroke) throw new Error('loadLocalConns: the swanctl front end only');
      const file = `${left.dir}/conns-${++connsFiles}.conf`;
      writeFileSync(file, leftSwanctlConns(plan, o));
      await swanctl('left', ['--load-conns', '--file', file]);
    },
    stopTarget,
    startTarget,
    close,
  };

  try {
    await run(['ip', 'netns', 'add', nsL]);
    await run(['ip', 'netns', 'add', nsR]);
    await run(['ip', 'link', 'add', left.vethName, 'netns', nsL, 'type', 'veth', 'peer', 'name', right.vethName, 'netns', nsR]);
    await Promise.all([
      run(['ip', '-n', nsL, '-batch', '-'], {
        input: [
          'link set lo up',
          `addr add ${LEFT_INSIDE}/32 dev lo`,
          `addr add ${left.outerAddr}/24 dev ${left.vethName}`,
          `link set ${left.vethName} up`,
        ].join('\n'),
      }),
      run(['ip', '-n', nsR, '-batch', '-'], {
        input: [
          'link set lo up',
          ...targets.map((t) => `addr add ${t.host}/32 dev lo`),
          // Not reachable services, but kernel-libipsec installs each child's route with its local TS address
          // as source and fails the CHILD_SA ("error installing route") when that address is not local.
          ...childPlans.slice(childNums.length).map((c) => `addr add ${c.rightTs} dev lo`),
          `addr add ${right.outerAddr}/24 dev ${right.vethName}`,
          `link set ${right.vethName} up`,
        ].join('\n'),
      }),
    ]);
    // The left may initiate on its own (start_action, auto=start), so it loads only once the right can answer;
    // a swanctl charon can start meanwhile, starter cannot (it loads ipsec.conf the moment charon is up).
    const leftDaemon = leftStroke ? undefined : startDaemon('left');
    leftDaemon?.catch(() => {});
    await Promise.all([
      (async () => {
        await startDaemon('right');
        await loadConfig('right');
      })(),
      startTarget(),
    ]);
    await (leftDaemon ?? startDaemon('left'));
    await loadConfig('left');
    if (opts.initiate) {
      if (plan.startAction === 'start') await waitAllInstalled(30_000 + childPlans.length * 50);
      else await initiateAll();
    }
  } catch (err) {
    await close();
    throw err;
  }
  if (process.env.IK_LAB_DEBUG) console.error(`lab ${id} up in ${Date.now() - t0} ms`);
  return lab;
}
