// Runs the CLI from source (through tsx), the way an operator would run the installed one, and keeps what
// it printed: the tests assert exit codes and exact one-line messages.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI from source, through tsx. */
export const SOURCE_ENTRY = [process.execPath, '--import', 'tsx', CLI_MAIN];

/**
 * `prefix` runs it through another command first: `['ip', 'netns', 'exec', ns]`, `['setpriv', ..., '--']`;
 * `entry` runs another build of the CLI (the installed product) instead of the source.
 */
export function runCli(args: string[], opts: { prefix?: string[]; entry?: string[]; timeoutMs?: number } = {}): Promise<CliRun> {
  const argv = [...(opts.prefix ?? []), ...(opts.entry ?? SOURCE_ENTRY), ...args];
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The prefix that runs a command in a network namespace. */
export function inNetns(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}
