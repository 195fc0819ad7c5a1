// The Debian package under a booted systemd, checked the way an operator would: scripts/test-system.sh
// boots a fresh Debian 12 (systemd as PID 1, strongSwan's charon-systemd, Node 20 as a package) and
// runs this file on the host; every command here runs inside that container (nsenter into it).
// A second charon in a network namespace inside the container is the peer gateway.
// The steps build on each other, in order: install, configure, start, repair, restart charon,
// reload, journald, watchdog, security, purge.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { waitFor } from '../../lab/wait.js';

const PID = process.env['IK_SYSTEM_PID'];
const DEB = process.env['IK_SYSTEM_DEB'];
if (!PID || !DEB) throw new Error('run by scripts/test-system.sh: IK_SYSTEM_PID and IK_SYSTEM_DEB name the booted container and the package');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A shell command inside the container. */
function sh(script: string, opts: { input?: string; allowFail?: boolean; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', ['-t', PID!, '-a', '/bin/bash', '-c', script], { stdio: ['pipe', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 120_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.stdin.on('error', () => undefined); // a command that does not read its input
    p.on('close', (code) => {
      const r = { code, stdout, stderr };
      if (code !== 0 && !opts.allowFail) reject(new Error(`in the container: ${script}\nexit ${code}\n${stderr.slice(-2000)}${stdout.slice(-1000)}`));
      else resolve(r);
    });
    p.stdin.end(opts.input ?? '');
  });
}

async function out(script: string): Promise<string> {
  return (await sh(script)).stdout.trim();
}

async function unit(prop: string, name = 'ipsec-keepalive'): Promise<string> {
  return out(`systemctl show -p ${prop} --value ${name}`);
}

const PSK = 'system-test-psk-b7e0c2';
const CHILDREN = ['ikev2-vpn-140', 'ikev2-vpn-141'];
const TARGET = (c: string) => `198.51.100.${c.slice(-3)}`;
const PROPOSAL = 'aes256-sha256-modp2048';
/** The agent's side: charon-systemd as the operator runs it, its socket group the package's. */
const LEFT = { outer: '192.0.2.1', inside: '10.1.0.1' };
const RIGHT = { outer: '192.0.2.2', ns: 'peer', dir: '/etc/peer' };
// kernel-libipsec before kernel-netlink: this kernel's XFRM has no ESP (ESP-in-UDP in userspace).
const PLUGINS = 'random nonce aes sha1 sha2 hmac pem pkcs1 x509 revocation constraints pubkey openssl gmp kdf kernel-libipsec kernel-netlink socket-default vici updown';

function conn(local: string, remote: string, localTs: (c: string) => string, remoteTs: (c: string) => string): string {
  const kids = CHILDREN.map(
    (c) => `      ${c} {\n        local_ts = ${localTs(c)}\n        remote_ts = ${remoteTs(c)}\n        esp_proposals = ${PROPOSAL}\n      }`,
  ).join('\n');
  return `connections {
  ikev2-vpn {
    version = 2
    local_addrs = ${local}
    remote_addrs = ${remote}
    proposals = ${PROPOSAL}
    encap = yes
    local {
      auth = psk
      id = ${local}
    }
    remote {
      auth = psk
      id = ${remote}
    }
    children {
${kids}
    }
  }
}
secrets {
  ike-lab {
    id-l = ${LEFT.outer}
    id-r = ${RIGHT.outer}
    secret = "${PSK}"
  }
}
`;
}

function agentConfig(probeInterval: string): string {
  return `vici:
  socket: unix:///var/run/charon.vici
defaults:
  probe_interval: ${probeInterval}
  probe_timeout: 1s
tunnels:
${CHILDREN.map((c) => `  - child: ${c}\n    source: ${LEFT.inside}\n    probes:\n      - tcp: ${TARGET(c)}:9802\n      - icmp: ${TARGET(c)}`).join('\n')}
metrics:
  enabled: true
  listen: 127.0.0.1:9842
`;
}

async function installedChildren(child?: string): Promise<string[]> {
  const r = await sh(`swanctl --list-sas --raw ${child ? `--child ${child}` : ''}`, { allowFail: true });
  return [...r.stdout.matchAll(/\b(ikev2-vpn-\d+)-\d+ \{[^}]*?state=INSTALLED/g)].map((m) => m[1]!);
}

async function allUp(): Promise<boolean> {
  const up = await installedChildren();
  return CHILDREN.every((c) => up.includes(c));
}

/** The agent's own journal entries (its stdout; not systemd's lines about the unit, nor ExecReload's). */
async function journal(args: string): Promise<Array<{ PRIORITY: string; MESSAGE: string; _PID: string }>> {
  const text = await out(`journalctl --no-pager -o json -u ipsec-keepalive _TRANSPORT=stdout ${args}`);
  return text
    ? text
        .split('\n')
        .map((l) => JSON.parse(l) as { PRIORITY: string; MESSAGE: string; _PID: string })
        .filter((e) => typeof e.MESSAGE === 'string' && e.MESSAGE.startsWith('{'))
    : [];
}

function msgs(entries: Array<{ MESSAGE: string }>): string[] {
  return entries.map((e) => (JSON.parse(e.MESSAGE) as { msg: string }).msg);
}

describe('the Debian package under a booted systemd', () => {
  let mainPid = '';

  it('installs with apt-get: its user in the VICI group, the config root:ipsec-keepalive 0640, the unit not yet enabled', async () => {
    await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${DEB}`);
    assert.match(await out('id -nG ipsec-keepalive'), /\bipsec-vici\b/);
    assert.equal(await out('stat -c "%U:%G %a" /etc/ipsec-keepalive/config.yaml'), 'root:ipsec-keepalive 640');
    assert.equal((await sh('systemctl is-enabled ipsec-keepalive', { allowFail: true })).stdout.trim(), 'disabled');
    for (const f of ['/usr/bin/ipsec-keepalive', '/usr/share/man/man8/ipsec-keepalive.8.gz', '/usr/share/ipsec-keepalive/prometheus/alert-rules.yml', '/usr/share/ipsec-keepalive/grafana/dashboard.json', '/usr/share/bash-completion/completions/ipsec-keepalive', '/usr/share/doc/ipsec-keepalive/copyright']) {
      await sh(`test -e ${f}`);
    }
    assert.match(await out('ipsec-keepalive --version'), /^\d+\.\d+\.\d+$/);
    assert.match(await out('man -P cat ipsec-keepalive 2>/dev/null || zcat /usr/share/man/man8/ipsec-keepalive.8.gz'), /keeps strongSwan IPsec tunnels up/);
  });

  it('the lab: a peer gateway in a namespace, charon told the socket group, both charons with their tunnels', async () => {
    // The peer: its own network namespace, veth to the container, its own /run (charon's pid file).
    await sh(`set -e
      ip netns add ${RIGHT.ns}
      ip link add veth-l type veth peer name veth-r
      ip link set veth-r netns ${RIGHT.ns}
      ip addr add ${LEFT.outer}/24 dev veth-l && ip link set veth-l up && ip link set lo up
      ip addr add ${LEFT.inside}/32 dev lo
      ip -n ${RIGHT.ns} addr add ${RIGHT.outer}/24 dev veth-r && ip -n ${RIGHT.ns} link set veth-r up && ip -n ${RIGHT.ns} link set lo up
      ${CHILDREN.map((c) => `ip -n ${RIGHT.ns} addr add ${TARGET(c)}/32 dev lo`).join('\n')}
      mkdir -p ${RIGHT.dir}`);
    await sh(`cat > ${RIGHT.dir}/strongswan.conf`, {
      input: `charon {\n  load = ${PLUGINS}\n  plugins { vici { socket = unix://${RIGHT.dir}/charon.vici } }\n}\n`,
    });
    await sh(`cat > ${RIGHT.dir}/swanctl.conf`, { input: conn(RIGHT.outer, LEFT.outer, (c) => `${TARGET(c)}/32`, () => `${LEFT.inside}/32`) });
    await sh(`systemd-run --unit=peer-charon --property=Type=simple -E STRONGSWAN_CONF=${RIGHT.dir}/strongswan.conf \
      ip netns exec ${RIGHT.ns} unshare -m sh -c 'mount -t tmpfs tmpfs /run && exec /usr/lib/ipsec/charon'`);
    await sh(`systemd-run --unit=peer-target ip netns exec ${RIGHT.ns} /usr/bin/node /root/target-server.mjs 9802 ${CHILDREN.map(TARGET).join(' ')}`);
    await waitFor(async () => (await sh(`swanctl --load-all --uri unix://${RIGHT.dir}/charon.vici --file ${RIGHT.dir}/swanctl.conf`, { allowFail: true })).code === 0, {
      timeoutMs: 20_000,
      what: "the peer's charon loading its config",
    });
    // The operator's side, as the README says: charon gives its socket to the package's group.
    // kernel-libipsec (Debian ships it with load = no) ahead of kernel-netlink: this kernel's XFRM has no ESP.
    await sh('cat > /etc/strongswan.d/zz-lab.conf', {
      input: 'charon {\n  group = ipsec-vici\n  plugins {\n    kernel-libipsec {\n      load = 2\n    }\n  }\n}\n',
    });
    await sh('cat > /etc/swanctl/conf.d/lab.conf', { input: conn(LEFT.outer, RIGHT.outer, () => `${LEFT.inside}/32`, (c) => `${TARGET(c)}/32`) });
    await sh('chmod 600 /etc/swanctl/conf.d/lab.conf && systemctl restart strongswan');
    assert.equal(await out('stat -c "%G %a" /var/run/charon.vici'), 'ipsec-vici 770');
    assert.deepEqual(await installedChildren(), [], 'no tunnel up before the agent: start_action is none');
  });

  it('systemctl enable --now returns once the agent is READY; it runs as its user with only CAP_NET_RAW', async () => {
    await sh('cat > /etc/ipsec-keepalive/config.yaml', { input: agentConfig('2s') });
    await sh('systemctl enable --now ipsec-keepalive');
    // Type=notify: start returned, so READY=1 (sent together with the first STATUS=) has arrived.
    assert.equal(await unit('ActiveState'), 'active');
    assert.match(await unit('StatusText'), /tunnels up|waiting for charon/);
    mainPid = await unit('MainPID');
    const status = await out(`cat /proc/${mainPid}/status`);
    assert.equal(/^Uid:\s+(\d+)/m.exec(status)![1], await out('id -u ipsec-keepalive'));
    assert.equal(/^CapEff:\s+(\w+)/m.exec(status)![1], '0000000000002000', 'CAP_NET_RAW and nothing else');
    await waitFor(allUp, { timeoutMs: 20_000, intervalMs: 200, what: 'both tunnels up, initiated by the agent' });
    await waitFor(async () => (await unit('StatusText')) === '2/2 tunnels up', { timeoutMs: 15_000, intervalMs: 250, what: 'STATUS=2/2 tunnels up' });
  });

  it("ipsec-keepalive status shows the running agent's view, from its socket in the unit's RuntimeDirectory", async () => {
    assert.equal(await out('stat -c "%U %G %a" /run/ipsec-keepalive /run/ipsec-keepalive/status.sock'), 'ipsec-keepalive ipsec-keepalive 750\nipsec-keepalive ipsec-keepalive 660');
    const r = await sh('ipsec-keepalive status', { allowFail: true });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^agent view \\(pid ${mainPid}, .*; 2 tunnels: 2 up$`, 'm'));
    for (const c of CHILDREN) assert.match(r.stdout, new RegExp(`^${c} +up `, 'm'));
  });

  it('a CHILD_SA terminated with swanctl is back within a second', async () => {
    const r = await sh(`swanctl --terminate --child ${CHILDREN[0]} >/dev/null; t0=$(date +%s%N)
      for i in $(seq 1 400); do
        swanctl --list-sas --raw --child ${CHILDREN[0]} | grep -q state=INSTALLED && { echo $(( ($(date +%s%N) - t0) / 1000000 )); exit 0; }
        sleep 0.005
      done; echo never; exit 1`, { allowFail: true });
    assert.equal(r.code, 0, `not back: ${r.stdout}`);
    assert.ok(Number(r.stdout.trim()) < 1000, `back after ${r.stdout.trim()} ms`);
  });

  it('systemctl restart strongswan: the agent reconnects, resyncs and brings the tunnels back', async () => {
    const before = (await journal('')).length;
    await sh('systemctl restart strongswan');
    await waitFor(allUp, { timeoutMs: 30_000, intervalMs: 250, what: 'both tunnels back after the charon restart' });
    const since = msgs((await journal('')).slice(before));
    assert.ok(since.includes('VICI connection lost; events may be missed until it is back'), since.join('\n'));
    assert.ok(since.includes('connected to charon'), since.join('\n'));
    assert.equal(await unit('MainPID'), mainPid, 'the agent outlived charon');
  });

  it('systemctl reload with a good file applies it; with a broken one fails and the agent keeps the old', async () => {
    await sh('cat > /etc/ipsec-keepalive/config.yaml', { input: agentConfig('3s') });
    await sh('systemctl reload ipsec-keepalive');
    await waitFor(async () => msgs(await journal('')).includes('configuration reloaded'), { timeoutMs: 10_000, what: 'configuration reloaded' });
    const reloads = msgs(await journal('')).filter((m) => m === 'configuration reloaded').length;

    await sh('cat > /etc/ipsec-keepalive/config.yaml', { input: agentConfig('-5s') });
    const bad = await sh('systemctl reload ipsec-keepalive', { allowFail: true });
    assert.notEqual(bad.code, 0, 'systemctl reload must fail on a broken file');
    const why = await out('journalctl --no-pager -o cat -u ipsec-keepalive -n 20');
    assert.match(why, /probe_interval/, 'the validation error names the field');
    assert.equal(await unit('ActiveState'), 'active');
    assert.equal(await unit('MainPID'), mainPid, 'still the same agent');
    assert.equal(msgs(await journal('')).filter((m) => m === 'configuration reloaded').length, reloads, 'the broken file was never loaded');
    await sh('cat > /etc/ipsec-keepalive/config.yaml', { input: agentConfig('3s') });
  });

  it('discover: true, then systemctl restart strongswan (its configs loaded after its socket): every CHILD_SA back within 2 s', async () => {
    await sh('cat > /etc/ipsec-keepalive/config.yaml', { input: 'vici:\n  socket: unix:///var/run/charon.vici\ndiscover: true\nmetrics:\n  enabled: true\n  listen: 127.0.0.1:9842\n' });
    await sh('systemctl reload ipsec-keepalive');
    // status exits 1 while a tunnel is not up; its JSON is printed all the same.
    const discovered = async () => (JSON.parse((await sh('ipsec-keepalive status --json', { allowFail: true })).stdout) as { tunnels: Array<{ name: string; discovered: boolean }> }).tunnels.filter((t) => t.discovered).map((t) => t.name);
    await waitFor(async () => (await discovered()).length === CHILDREN.length, { timeoutMs: 10_000, intervalMs: 200, what: 'both tunnels discovered', seen: async () => JSON.stringify(await discovered()) });
    await waitFor(allUp, { timeoutMs: 10_000, intervalMs: 200, what: 'both tunnels up' });
    const before = (await journal('')).length;
    // charon-systemd first, then ExecStartPost's `swanctl --load-all`: restart returns once both ran.
    await sh('systemctl restart strongswan');
    const t0 = Date.now();
    await waitFor(allUp, { timeoutMs: 10_000, intervalMs: 100, what: 'both discovered tunnels back after the restart' });
    const ms = Date.now() - t0;
    assert.ok(ms < 2000, `back ${ms} ms after strongswan's restart returned`);
    const since = msgs((await journal('')).slice(before));
    assert.ok(since.includes('VICI connection lost; events may be missed until it is back'), since.join('\n'));
    assert.deepEqual(since.filter((m) => /forgotten|damping|did not hold/.test(m)), [], 'a restart forgets nothing and damps nothing');
    await sh('cat > /etc/ipsec-keepalive/config.yaml', { input: agentConfig('3s') });
    await sh('systemctl reload ipsec-keepalive');
    await waitFor(async () => (await unit('StatusText')) === '2/2 tunnels up', { timeoutMs: 15_000, intervalMs: 250, what: 'STATUS=2/2 tunnels up with the configured tunnels again' });
  });

  it('journalctl -p warning shows only warnings and worse; -o cat gives one JSON object a line', async () => {
    const warnings = await journal('-p warning');
    assert.ok(warnings.length > 0, 'the charon restart logged a warning');
    for (const e of warnings) assert.ok(Number(e.PRIORITY) <= 4, `priority ${e.PRIORITY}: ${e.MESSAGE}`);
    const info = await journal('-p info..info');
    assert.ok(msgs(info).includes('agent running'));
    for (const e of info) assert.equal(e.PRIORITY, '6');
    const lines = (await out('journalctl --no-pager -o cat -u ipsec-keepalive _PID=' + mainPid)).split('\n');
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), l);
    assert.ok(!lines.join('\n').includes(PSK), 'no secret in the journal');
  });

  it('a SIGSTOPped agent is restarted by the watchdog', async () => {
    const watchdogSec = Number((await unit('WatchdogUSec')).replace(/s$/, '')) || 20;
    await sh(`kill -STOP ${mainPid}`);
    await waitFor(async () => {
      const pid = await unit('MainPID');
      return pid !== mainPid && pid !== '0' && (await unit('ActiveState')) === 'active';
    }, { timeoutMs: (watchdogSec + 30) * 1000, intervalMs: 500, what: 'a new agent after the watchdog fired' });
    assert.match(await out('journalctl --no-pager -u ipsec-keepalive -o cat _PID=1 | grep -i watchdog'), /[Ww]atchdog timeout/);
    mainPid = await unit('MainPID');
    await waitFor(allUp, { timeoutMs: 20_000, intervalMs: 250, what: 'tunnels up under the new agent' });
  });

  it('systemd-analyze security rates the installed unit at most 2.5', async () => {
    const text = await out('systemd-analyze security ipsec-keepalive.service --no-pager');
    const m = /Overall exposure level for ipsec-keepalive\.service: ([\d.]+)/.exec(text);
    assert.ok(m && Number(m[1]) <= 2.5, text.slice(-400));
  });

  it('apt-get remove, then install again: the configuration kept, the service can be enabled again', async () => {
    await sh('DEBIAN_FRONTEND=noninteractive apt-get remove -y ipsec-keepalive');
    assert.equal(await unit('LoadState'), 'masked', 'as debhelper does: a removed unit is masked');
    await sh('test -f /etc/ipsec-keepalive/config.yaml');
    await sh(`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${DEB}`);
    await sh('systemctl enable --now ipsec-keepalive');
    assert.equal(await unit('ActiveState'), 'active');
    await waitFor(allUp, { timeoutMs: 20_000, intervalMs: 250, what: 'tunnels up under the reinstalled agent' });
  });

  it("apt-get purge removes the package and leaves charon's configuration and SAs as they were", async () => {
    const charonState = async () => ({
      files: await out('find /etc/strongswan.conf /etc/strongswan.d /etc/swanctl -type f | sort | xargs md5sum'),
      sas: await out(`swanctl --list-sas --raw | grep -o 'uniqueid=[0-9]*' | sort`),
    });
    const before = await charonState();
    assert.ok(before.sas.length > 0);
    await sh('DEBIAN_FRONTEND=noninteractive apt-get purge -y ipsec-keepalive');
    assert.equal((await sh('dpkg -s ipsec-keepalive', { allowFail: true })).code, 1);
    for (const gone of ['/etc/ipsec-keepalive', '/usr/lib/ipsec-keepalive', '/usr/bin/ipsec-keepalive', '/lib/systemd/system/ipsec-keepalive.service']) {
      assert.equal((await sh(`test -e ${gone}`, { allowFail: true })).code, 1, `${gone} is left`);
    }
    assert.equal(await unit('LoadState'), 'not-found');
    assert.deepEqual(await charonState(), before);
  });
});
