// Removing labs: synchronous teardown (usable from signal and exit handlers, where nothing async runs)
// and the sweep of labs whose owner process died without cleaning up.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isAlive, startTimeOf } from './proc.js';

export const LAB_ROOT = '/tmp';
export const LAB_PREFIX = 'ik-lab-';
/** Namespace names are `ik-<id>-l` / `ik-<id>-r`; the id is 6 hex digits. */
const NS_RE = /^ik-([0-9a-f]{6})-[lr]$/;

export interface OwnerRecord {
  pid: number;
  startTime: string | undefined;
  namespaces: string[];
}

export function nsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Kills everything in the namespaces, deletes them and the lab directory. Never throws. */
export function teardownSync(dir: string | undefined, namespaces: string[], pids: number[] = []): void {
  for (const pid of [...pids, ...namespaces.flatMap(nsPids)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const ns of namespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // not there
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}

function ownerOf(dir: string): OwnerRecord | undefined {
  try {
    return JSON.parse(readFileSync(`${dir}/owner.json`, 'utf8')) as OwnerRecord;
  } catch {
    return undefined;
  }
}

function ownerAlive(o: OwnerRecord): boolean {
  return isAlive(o.pid) && (o.startTime === undefined || startTimeOf(o.pid) === o.startTime);
}

/**
 * Removes what dead labs left behind: lab directories whose owner process is gone (or that never got an
 * owner record and are over a minute old), and lab namespaces without a directory (a lab deletes its
 * namespaces before its directory, and creates the directory first).
 */
export async function cleanupStaleLabs(): Promise<void> {
  let entries: string[] = [];
  try {
    entries = readdirSync(LAB_ROOT).filter((e) => e.startsWith(LAB_PREFIX));
  } catch {
    // no /tmp?
  }
  for (const e of entries) {
    const dir = `${LAB_ROOT}/${e}`;
    const id = e.slice(LAB_PREFIX.length);
    const owner = ownerOf(dir);
    let stale: boolean;
    if (owner) stale = !ownerAlive(owner);
    else {
      try {
        stale = Date.now() - statSync(dir).mtimeMs > 60_000;
      } catch {
        stale = false;
      }
    }
    if (stale) teardownSync(dir, owner?.namespaces ?? [`ik-${id}-l`, `ik-${id}-r`]);
  }
  for (const ns of listNamespaces()) {
    const m = NS_RE.exec(ns);
    // Checked now, not from the listing above: a lab started since then has its directory already.
    if (m && !existsSync(`${LAB_ROOT}/${LAB_PREFIX}${m[1]}`)) teardownSync(undefined, [ns]);
  }
}
