// Starts bench/lib/worker.ts in a lab's left namespace and talks to it (JSON lines).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../lab/lab.js';
import { built } from './build.js';
import type { RecoveryRequest, RecoveryResult, WatchRequest, WatchResult, WorkerInit } from './worker.js';
import { onLines } from '../../lab/json-lines.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.ts');

export interface Worker {
  recovery(r: RecoveryRequest): Promise<RecoveryResult>;
  settle(o: { children: string[]; timeoutMs: number; quietMs: number }): Promise<{ ms: number; ikeSas: number }>;
  watch(w: WatchRequest): Promise<WatchResult>;
  check(o: { children: string[]; timeoutMs: number }): Promise<{ child: string; ok: boolean; err?: string }[]>;
  close(): Promise<void>;
}

export async function startWorker(lab: Lab): Promise<Worker> {
  const init: WorkerInit = {
    leftVici: lab.left.viciUri,
    rightVici: lab.right.viciUri,
    src: lab.leftInsideAddr,
    targets: lab.targets.map((t) => ({ child: t.child, host: t.host, port: t.port })),
    viciModule: built().url('vici/index.js'),
  };
  const proc = lab.spawnIn('left', [process.execPath, '--import', 'tsx', WORKER, JSON.stringify(init)]);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let stderr = '';
  let ready: () => void;
  let failed: (e: Error) => void;
  const readyP = new Promise<void>((res, rej) => {
    ready = res;
    failed = rej;
  });
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  onLines(proc.stdout, (line) => {
    const m = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
    if (m.id === 0) {
      ready();
      return;
    }
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (!p) return;
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`worker: ${m.error}`));
  });
  proc.once('exit', (code) => {
    const err = new Error(`worker exited ${code}: ${stderr.slice(-1500)}`);
    failed(err);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  // Every request has its own deadline (its timeout plus a margin): a lost reply must fail the trial, not hang the run.
  const call = <T>(cmd: string, args: { timeoutMs?: number }): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      const limit = (args.timeoutMs ?? 10_000) + 15_000;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker: no reply to ${cmd} after ${limit} ms; worker stderr: ${stderr.slice(-500)}`));
      }, limit);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (process.env['BENCH_DEBUG']) process.stderr.write(`worker ${lab.id} <- ${cmd} ${JSON.stringify(args).slice(0, 120)}\n`);
      proc.stdin?.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  const timer = setTimeout(() => failed(new Error(`worker not ready after 30 s: ${stderr.slice(-1500)}`)), 30_000);
  try {
    await readyP;
  } finally {
    clearTimeout(timer);
  }
  return {
    recovery: (r) => call('recovery', r),
    settle: (o) => call('settle', o),
    watch: (w) => call('watch', w),
    check: (o) => call('check', o),
    async close() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.stdin?.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
