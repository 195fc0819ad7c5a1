// The shipped unit passes `systemd-analyze verify` and scores "OK" (<= 2.5) in
// `systemd-analyze security`, and keeps the properties the README promises.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const unitPath = fileURLToPath(new URL('../../systemd/ipsec-keepalive.service', import.meta.url));
const binPath = fileURLToPath(new URL('../../bin/ipsec-keepalive.js', import.meta.url));
const manDir = fileURLToPath(new URL('../../man', import.meta.url));
const unit = readFileSync(unitPath, 'utf8');

describe('systemd unit', () => {
  it('passes systemd-analyze verify', () => {
    // verify insists that ExecStart exists and that the Documentation= man page opens: point it at
    // the repo's own entry point and man page.
    const dir = mkdtempSync(join(tmpdir(), 'ik-unit-'));
    try {
      const copy = join(dir, 'ipsec-keepalive.service');
      writeFileSync(copy, unit.replaceAll('/usr/bin/ipsec-keepalive', binPath));
      const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', env: { ...process.env, MANPATH: manDir } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '');
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

  it('orders after either strongSwan front end without starting one, notifies, has a watchdog, restarts always', () => {
    assert.match(unit, /^After=.*strongswan\.service.*strongswan-starter\.service/m);
    assert.doesNotMatch(unit, /^(Wants|Requires|BindsTo)=.*strongswan/m, 'an operator may have disabled one front end');
    assert.match(unit, /^Wants=network-online\.target$/m);
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^WatchdogSec=\d+s$/m);
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^RestartPreventExitStatus=78$/m);
  });

  it('reload checks the new file first, then signals the agent', () => {
    const reloads = [...unit.matchAll(/^ExecReload=(.*)$/gm)].map((m) => m[1]);
    assert.deepEqual(reloads, ['/usr/bin/ipsec-keepalive validate --config /etc/ipsec-keepalive/config.yaml', '/bin/kill -HUP $MAINPID']);
  });

  it('runs as its own user with only CAP_NET_RAW and a read-only system', () => {
    assert.match(unit, /^User=ipsec-keepalive$/m);
    assert.match(unit, /^SupplementaryGroups=ipsec-vici$/m);
    assert.match(unit, /^CapabilityBoundingSet=CAP_NET_RAW$/m);
    assert.match(unit, /^NoNewPrivileges=yes$/m);
    assert.match(unit, /^ProtectSystem=strict$/m);
  });
});
