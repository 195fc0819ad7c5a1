// The fault soak in CI: 20 seeded faults (every kind at least twice) against the real agent on the
// lab, with CI timing (1 s probe interval, 8 s link cuts), in about two minutes. Every fault must
// heal within its bound with no duplicate CHILD_SA, no agent death, no unhandled error and, at the
// end, no secret in anything the agent wrote or serves. SOAK_SEED picks another seed; the seed is
// printed either way, and `npm run soak -- --ci --faults 20 --seed N` replays a failure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../soak/runner.js';
import { formatRss } from '../soak/report.js';
import { FAULT_KINDS } from '../soak/schedule.js';

const SEED = process.env.SOAK_SEED === undefined ? 20_251_127 : Number(process.env.SOAK_SEED);
const FAULTS = 20;

describe('fault soak (CI: 20 faults)', () => {
  it(`seed ${SEED}: every tunnel back within its bound after every fault, no duplicates, no errors, no secrets`, async (t) => {
    const r = await runSoak({ seed: SEED, faults: FAULTS, mode: 'ci', log: (l) => t.diagnostic(l) });
    for (const line of [`seed ${SEED}, ${r.records.length} faults in ${(r.durationMs / 1000).toFixed(0)} s`, ...r.table.split('\n'), ...formatRss(r.rss).split('\n')]) t.diagnostic(line);
    assert.deepEqual(r.violations, [], `seed ${SEED} (replay: npm run soak -- --ci --faults ${FAULTS} --seed ${SEED})`);
    assert.equal(r.completed, true);
    assert.equal(r.records.length, FAULTS);
    for (const k of FAULT_KINDS) assert.ok(r.records.some((x) => x.fault.kind === k), `${k} ran`);
    // Every fault measured at least one recovery (for the interval-only reload: how long it took to apply).
    assert.ok(r.records.every((x) => x.recoveries.length > 0), 'every fault measured a recovery');
    // The secrets check looked at something: every agent's output, status --json, /metrics, /healthz.
    const sources = r.secretsChecked.map((s) => s.source);
    for (const s of ['status --json', '/metrics', '/healthz']) assert.ok(sources.includes(s), s);
    assert.ok(r.secretsChecked.filter((s) => s.source.startsWith('agent')).length >= 2, 'the restarted agents too');
    assert.ok(r.secretsChecked.every((s) => s.bytes > 0), JSON.stringify(r.secretsChecked));
  });
});
