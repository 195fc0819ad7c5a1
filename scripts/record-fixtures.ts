// Re-records fixtures/vici/*.jsonl from the lab: for each scenario in test/support/fixture-scenarios.ts,
// a fresh lab, the recording proxy (src/vici/recorder.ts) in front of the left charon, and the VICI client
// running the scenario through it. Needs root (the lab uses network namespaces).
//
//   node --import tsx scripts/record-fixtures.ts            # all of them
//   node --import tsx scripts/record-fixtures.ts rekey list-sas
import { mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROPOSAL } from '../lab/config.js';
import { cleanupStaleLabs, startLab, type Lab } from '../lab/lab.js';
import { ViciClient } from '../src/vici/client.js';
import { startRecorder } from '../src/vici/recorder.js';
import { SCENARIO_CLIENT_OPTIONS, SCENARIOS, type World } from '../test/support/fixture-scenarios.js';

const OUT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'vici');

/** A second IKE_SA with two CHILD_SAs: own identities and PSK, loaded over VICI on both sides. */
async function addSecondIkeSa(lab: Lab): Promise<void> {
  const sides = { left: { me: 'gw2-left', peer: 'gw2-right' }, right: { me: 'gw2-right', peer: 'gw2-left' } } as const;
  const remoteTs = ['10.250.0.1/32', '10.250.0.2/32'];
  // kernel-libipsec installs each CHILD_SA's route with its local TS address as source: it must exist.
  for (const a of remoteTs) await lab.exec('right', ['ip', 'addr', 'add', a, 'dev', 'lo']);
  for (const side of ['left', 'right'] as const) {
    const v = new ViciClient({ uri: lab[side].viciUri, reconnect: false });
    await v.connect();
    try {
      const { me, peer } = sides[side];
      const other = side === 'left' ? lab.right : lab.left;
      await v.loadShared({ id: 'gw2', type: 'IKE', data: `gw2-${lab.psk}`, owners: [me, peer] });
      const children: Record<string, unknown> = {};
      remoteTs.forEach((ts, i) => {
        const pair = side === 'left' ? [`${lab.leftInsideAddr}/32`, ts] : [ts, `${lab.leftInsideAddr}/32`];
        children[`gw2-${'ab'[i]}`] = { local_ts: [pair[0]], remote_ts: [pair[1]], esp_proposals: [PROPOSAL] };
      });
      await v.loadConn('gw2', {
        version: 2,
        local_addrs: [lab[side].outerAddr],
        remote_addrs: [other.outerAddr],
        proposals: [PROPOSAL],
        encap: true,
        local: { auth: 'psk', id: me },
        remote: { auth: 'psk', id: peer },
        children,
      });
      if (side === 'right') continue;
    } finally {
      await v.close();
    }
  }
  const v = new ViciClient({ uri: lab.left.viciUri, reconnect: false });
  await v.connect();
  try {
    await v.initiate({ child: 'gw2-a', ike: 'gw2' });
    await v.initiate({ child: 'gw2-b', ike: 'gw2' });
  } finally {
    await v.close();
  }
}

function worldOf(lab: Lab): World {
  return {
    replay: false,
    swanctl: async (side, args) => void (await lab.swanctl(side, args)),
    stopLocalCharon: () => lab.stopLocalCharon(),
    startLocalCharon: () => lab.startLocalCharon(),
    peerDeleteChild: (child) => lab.peerDeleteChild(child),
    addSecondIkeSa: () => addSecondIkeSa(lab),
  };
}

async function record(name: string): Promise<void> {
  const scenario = SCENARIOS.find((s) => s.name === name);
  if (!scenario) throw new Error(`no scenario ${name}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const t0 = Date.now();
  const lab = await startLab(scenario.lab);
  const out = path.join(OUT_DIR, `${name}.jsonl`);
  const tmp = `${out}.tmp`;
  try {
    const listen = path.join(lab.dir, 'record.vici');
    const rec = await startRecorder({ listen, upstream: lab.left.viciUri, out: tmp });
    const client = new ViciClient({ ...SCENARIO_CLIENT_OPTIONS, uri: `unix://${listen}` });
    try {
      await client.connect();
      await scenario.run(client, worldOf(lab));
    } finally {
      await client.close();
      await rec.close();
    }
    renameSync(tmp, out);
    console.log(`${name}: ${rec.connections} connection(s), ${Date.now() - t0} ms -> ${path.relative(process.cwd(), out)}`);
  } finally {
    await lab.close();
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  await cleanupStaleLabs();
  const names = process.argv.slice(2);
  for (const name of names.length ? names : SCENARIOS.map((s) => s.name)) await record(name);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
