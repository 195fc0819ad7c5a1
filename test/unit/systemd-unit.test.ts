// The shipped unit passes `systemd-analyze verify` and scores "OK" (<= 2.5) in
// `systemd-analyze security`, and keeps the properties the README promises.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const unitPath = fileURLToPath(new URL('../../systemd/ipsec-keepalive.service', import.meta.url));
const binPath = fileURLToPath(new URL('../../bin/ipsec-keepalive.js', import.meta.url));
const unit = readFileSync(unitPath, 'utf8');

describe('systemd unit', () => {
  it('passes systemd-analyze verify', () => {
    // verify insists that ExecStart exists: point it at the repo's own entry point.
    const dir = mkdtempSync(join(tmpdir(), 'ik-unit-'));
    try {
      const copy = join(dir, 'ipsec-keepalive.service');
      writeFileSync(copy, unit.replace('/usr/bin/ipsec-keepalive', binPath));
      const out = execFileSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(out.trim(), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has an exposure score of at most 2.5 ("OK")', () => {
    const out = execFileSync('systemd-analyze', ['security', '--offline=yes', unitPath], { encoding: 'utf8', cwd: tmpdir() });
    const m = /Overall exposure level for ipsec-keepalive\.service: ([\d.]+)/.exec(out);
    assert.ok(m, out.slice(-500));
    assert.ok(Number(m[1]) <= 2.5, `exposure ${m[1]}`);
  });

  it('starts after strongSwan, restarts always, reloads with SIGHUP, keeps only CAP_NET_RAW', () => {
    assert.match(unit, /^Wants=.*strongswan\.service.*strongswan-starter\.service/m);
    assert.match(unit, /^After=.*strongswan\.service.*strongswan-starter\.service/m);
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(unit, /^CapabilityBoundingSet=CAP_NET_RAW$/m);
    assert.match(unit, /^NoNewPrivileges=yes$/m);
    assert.match(unit, /^ProtectSystem=strict$/m);
  });
});
