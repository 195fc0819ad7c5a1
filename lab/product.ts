// The product as an operator installs it: the Debian package built by `npm run package` and
// unpacked (dpkg-deb -x) into a world-readable directory under /tmp. Tests that run the agent as
// an unprivileged user run this tree, which that user can read wherever the checkout lives (a
// clone under /root is mode 700 on Debian).
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface InstalledProduct {
  /** argv that runs the installed CLI: node and /usr/lib/ipsec-keepalive/bin/ipsec-keepalive.js under `dir`. */
  entry: string[];
  dir: string;
  remove(): void;
}

export async function installedProduct(): Promise<InstalledProduct> {
  const dir = mkdtempSync('/tmp/ik-product-');
  try {
    chmodSync(dir, 0o755);
    const { stdout } = await run('bash', ['scripts/package.sh', `${dir}/deb`], { cwd: ROOT, maxBuffer: 16 << 20 });
    const deb = stdout.trim().split('\n').at(-1)!;
    await run('dpkg-deb', ['-x', deb, `${dir}/root`]);
    chmodSync(`${dir}/root`, 0o755);
    return {
      entry: [process.execPath, `${dir}/root/usr/lib/ipsec-keepalive/bin/ipsec-keepalive.js`],
      dir,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
