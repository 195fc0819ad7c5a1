// Small shared pieces of the benchmark scripts: options, timing helpers, running a script directly.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface BenchOptions {
  quick: boolean;
}

export function parseBenchArgs(argv: string[] = process.argv.slice(2)): BenchOptions & { only?: string[] } {
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',').filter(Boolean);
  for (const a of argv) {
    if (a !== '--quick' && !a.startsWith('--only=')) {
      console.error(`bench: unknown argument ${a} (use --quick, --only=a,b)`);
      process.exit(64);
    }
  }
  return { quick: argv.includes('--quick'), ...(only ? { only } : {}) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether this module is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const arg = process.argv[1];
  return arg !== undefined && metaUrl === pathToFileURL(path.resolve(arg)).href;
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    console.error(`${what}: needs root (network namespaces, charon); run it as root`);
    process.exit(69);
  }
}

/** Runs `fn` with a deadline; rejects with `what` when it passes (the work itself is not cancelled). */
export async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Step-by-step trace when BENCH_DEBUG is set. */
export function dbg(msg: string): void {
  if (process.env['BENCH_DEBUG']) process.stderr.write(`  [${(performance.now() / 1000).toFixed(2)}] ${msg}\n`);
}
