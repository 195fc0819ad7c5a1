// The in-namespace trial worker: runs inside the lab's LEFT network namespace, so one process (one clock)
// injects the fault, sees charon's child-updown events and sends TCP through the tunnel.
//
//   node --import tsx bench/lib/worker.ts '<json WorkerInit>'
//
// Protocol: one JSON request per stdin line ({id, cmd, ...}), one JSON reply per stdout line ({id, ok, result|error}).
// Times in replies are ms relative to the trial's t0 (performance.now() when the fault was issued), plus
// `t0Epoch` (performance.timeOrigin + t0, sub-ms) to line trials up with the agent's ISO-ms log times.
//
// Faults are issued over VICI (a pre-connected client per charon), not through a swanctl process, so t0 is the
// moment the command leaves, not ~20 ms of process start earlier.
import net from 'node:net';
import { createInterface } from 'node:readline';

export interface WorkerInit {
  leftVici: string;
  rightVici: string;
  /** the tunnel's inside source address on the left (the local traffic selector) */
  src: string;
  targets: { child: string; host: string; port: number }[];
  /** file URL of the benchmark build's vici/index.js: the product's client, from the run's snapshot */
  viciModule: string;
}

export type FaultKind = 'peer-delete-child' | 'peer-delete-ike' | 'local-terminate-child';

export interface RecoveryRequest {
  fault: FaultKind;
  child: string;
  /** children the fault takes down (all of them for an IKE_SA delete) */
  affected: string[];
  timeoutMs: number;
  /** spacing of TCP attempts once a child is down (ms) */
  spacingMs?: number;
}

export interface RecoveryResult {
  t0Epoch: number;
  /** the fault command's own reply (the DELETE exchange) */
  faultDoneMs?: number;
  down: Record<string, number>;
  up: Record<string, number>;
  traffic: Record<string, number>;
  timedOut: boolean;
}

export interface WatchRequest {
  child: string;
  spacingMs: number;
  attemptTimeoutMs: number;
  timeoutMs: number;
}

export interface WatchResult {
  /** epoch ms (sub-ms) of the start of the first attempt that failed, and of the first success after it */
  firstFailEpoch?: number;
  passEpoch?: number;
  attempts: number;
}

interface Ev {
  at: number;
  up: boolean;
  children: string[];
}

const epoch = (t: number) => performance.timeOrigin + t;
const trace = (m: string) => {
  if (process.env['BENCH_DEBUG']) process.stderr.write(`w ${performance.now().toFixed(1)} ${m}\n`);
};

function tcpAttempt(host: string, port: number, src: string, timeoutMs: number): Promise<{ ok: boolean; at: number; err?: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress: src });
    let done = false;
    const finish = (ok: boolean, err?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      resolve({ ok, at: performance.now(), ...(err ? { err } : {}) });
    };
    const timer = setTimeout(() => finish(false, 'ETIMEDOUT'), timeoutMs);
    s.once('connect', () => finish(true));
    s.once('error', (e: NodeJS.ErrnoException) => finish(false, e.code ?? e.message));
  });
}

/**
 * Launches an attempt every `spacingMs` until one connects; resolves with the time of the first connect.
 * Several attempts are in flight at once, so a SYN lost before the SA was up (TCP would retransmit it only
 * after 1 s) never hides the moment traffic passes.
 */
function firstPass(host: string, port: number, src: string, o: { spacingMs: number; attemptTimeoutMs: number; deadline: number }): Promise<number | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let inFlight = 0;
    const settle = (v: number | undefined) => {
      if (settled) return;
      settled = true;
      clearInterval(iv);
      resolve(v);
    };
    const launch = () => {
      if (settled) return;
      if (performance.now() > o.deadline) {
        if (inFlight === 0) settle(undefined);
        return;
      }
      inFlight++;
      void tcpAttempt(host, port, src, o.attemptTimeoutMs).then((r) => {
        inFlight--;
        if (r.ok) settle(r.at);
        else if (performance.now() > o.deadline && inFlight === 0) settle(undefined);
      });
    };
    const iv = setInterval(launch, o.spacingMs);
    launch();
  });
}

async function main(): Promise<void> {
  const init = JSON.parse(process.argv[2] ?? '{}') as WorkerInit;
  const { ViciClient } = (await import(init.viciModule)) as typeof import('../../src/vici/index.js');
  const left = new ViciClient({ uri: init.leftVici, reconnect: { baseMs: 20, capMs: 200 } });
  const right = new ViciClient({ uri: init.rightVici, reconnect: { baseMs: 20, capMs: 200 } });
  await left.connect();
  await right.connect();
  const events: Ev[] = [];
  const waiters = new Set<() => void>();
  await left.onChildUpdown((e) => {
    events.push({ at: performance.now(), up: e.up, children: Object.values(e.ike['child-sas'] ?? {}).map((c) => c.name) });
    for (const w of [...waiters]) w();
  });
  const targetOf = (child: string) => {
    const t = init.targets.find((x) => x.child === child);
    if (!t) throw new Error(`no target for ${child}`);
    return t;
  };
  /** First event at index >= from for `child` with `up`, or undefined at the deadline. */
  const nextEvent = (from: number, child: string, up: boolean, deadline: number): Promise<Ev | undefined> =>
    new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const e = events.slice(from).find((x) => x.up === up && x.children.includes(child));
        if (e || performance.now() > deadline) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(e);
        }
      };
      // libuv timers run on a cached loop clock and may fire a little before performance.now() passes the
      // deadline: re-arm until it has.
      const arm = () => {
        timer = setTimeout(() => {
          check();
          if (waiters.has(check)) arm();
        }, Math.max(0, deadline - performance.now()) + 2);
      };
      arm();
      waiters.add(check);
      check();
    });

  const recovery = async (r: RecoveryRequest): Promise<RecoveryResult> => {
    const from = events.length;
    const t0 = performance.now();
    const deadline = t0 + r.timeoutMs;
    let faultDoneMs: number | undefined;
    const fault =
      r.fault === 'peer-delete-child'
        ? right.terminate({ child: r.child, timeoutMs: 5000 })
        : r.fault === 'peer-delete-ike'
          ? right.terminate({ ike: 'ikev2-vpn', timeoutMs: 5000 })
          : left.terminate({ child: r.child, timeoutMs: 5000 });
    const faultP = fault.then(
      () => {
        faultDoneMs = performance.now() - t0;
      },
      (err: unknown) => {
        faultDoneMs = performance.now() - t0;
        process.stderr.write(`fault ${r.fault}: ${String(err)}\n`);
      },
    );
    const res: RecoveryResult = { t0Epoch: epoch(t0), down: {}, up: {}, traffic: {}, timedOut: false };
    await Promise.all(
      r.affected.map(async (child) => {
        const down = await nextEvent(from, child, false, deadline);
        trace(`down ${child} ${down ? 'seen' : 'missing'}`);
        if (!down) return;
        res.down[child] = down.at - t0;
        const t = targetOf(child);
        // Probing starts at the down event: before it, the old SA may still carry the SYN.
        const [up, pass] = await Promise.all([
          nextEvent(from, child, true, deadline),
          firstPass(t.host, t.port, init.src, { spacingMs: r.spacingMs ?? 2, attemptTimeoutMs: 300, deadline }),
        ]);
        trace(`up/pass ${child} ${up ? 'up' : '-'} ${pass ?? '-'}`);
        if (up) res.up[child] = up.at - t0;
        if (pass !== undefined) res.traffic[child] = pass - t0;
      }),
    );
    await Promise.race([faultP, new Promise((r2) => setTimeout(r2, 100))]);
    if (faultDoneMs !== undefined) res.faultDoneMs = faultDoneMs;
    res.timedOut = r.affected.some((c) => res.up[c] === undefined || res.traffic[c] === undefined);
    return res;
  };

  /** Every affected child INSTALLED exactly once, nothing else in flight, then `quietMs` without events. */
  const settle = async (o: { children: string[]; timeoutMs: number; quietMs: number }) => {
    const t0 = performance.now();
    for (;;) {
      const sas = await left.listSas();
      const counts = new Map<string, number>();
      let busy = false;
      for (const ike of sas) {
        if (ike.state !== 'ESTABLISHED') busy = true;
        for (const k of ['tasks-queued', 'tasks-active', 'tasks-passive']) {
          const v = ike[k];
          if (Array.isArray(v) && v.length > 0) busy = true;
        }
        for (const c of Object.values(ike['child-sas'] ?? {})) {
          if (c.state === 'INSTALLED') counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
          else busy = true;
        }
      }
      const ok = !busy && o.children.every((c) => counts.get(c) === 1);
      if (ok) {
        const n = events.length;
        await new Promise((r) => setTimeout(r, o.quietMs));
        if (events.length === n) return { ms: performance.now() - t0, ikeSas: sas.length };
      } else if (performance.now() - t0 > o.timeoutMs) {
        throw new Error(`not settled after ${o.timeoutMs} ms: ${JSON.stringify([...counts])} busy=${busy} ikes=${sas.length}`);
      } else {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };

  /** Polls one target: when does traffic first fail, and when does it pass again after that. */
  const watch = async (w: WatchRequest): Promise<WatchResult> => {
    const t = targetOf(w.child);
    const deadline = performance.now() + w.timeoutMs;
    let firstFail: number | undefined;
    let attempts = 0;
    const pass = await new Promise<number | undefined>((resolve) => {
      let settled = false;
      const iv = setInterval(() => {
        if (settled) return;
        if (performance.now() > deadline) {
          settled = true;
          clearInterval(iv);
          resolve(undefined);
          return;
        }
        const started = performance.now();
        attempts++;
        void tcpAttempt(t.host, t.port, init.src, w.attemptTimeoutMs).then((r) => {
          if (settled) return;
          if (!r.ok) {
            if (firstFail === undefined || started < firstFail) firstFail = started;
          } else if (firstFail !== undefined && started > firstFail) {
            settled = true;
            clearInterval(iv);
            resolve(r.at);
          }
        });
      }, w.spacingMs);
    });
    const out: WatchResult = { attempts };
    if (firstFail !== undefined) out.firstFailEpoch = epoch(firstFail);
    if (pass !== undefined) out.passEpoch = epoch(pass);
    return out;
  };

  /** One TCP attempt per listed child's target. */
  const check = async (o: { children: string[]; timeoutMs: number }) =>
    Promise.all(
      o.children.map(async (c) => {
        const t = targetOf(c);
        const r = await tcpAttempt(t.host, t.port, init.src, o.timeoutMs);
        return { child: c, ok: r.ok, err: r.err };
      }),
    );

  const reply = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    const req = JSON.parse(line) as { id: number; cmd: string; [k: string]: unknown };
    const handlers: Record<string, (a: never) => Promise<unknown>> = {
      recovery: recovery as (a: never) => Promise<unknown>,
      settle: settle as (a: never) => Promise<unknown>,
      watch: watch as (a: never) => Promise<unknown>,
      check: check as (a: never) => Promise<unknown>,
      ping: async () => 'pong',
    };
    const h = handlers[req.cmd];
    if (!h) {
      reply({ id: req.id, ok: false, error: `unknown command ${req.cmd}` });
      return;
    }
    h(req as never).then(
      (result) => reply({ id: req.id, ok: true, result }),
      (err: unknown) => reply({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  rl.on('close', () => {
    void Promise.allSettled([left.close(), right.close()]).then(() => process.exit(0));
  });
  reply({ id: 0, ok: true, result: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`worker: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
