// A repair holds once its CHILD_SA has carried traffic, against real charon: a peer that deletes each
// new CHILD_SA of a tunnel some seconds after the tunnel's probes went through it is repaired from the
// event every time, and never damped (damping is for a peer that deletes each new CHILD_SA before it
// carries anything: agent-controller.test.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, type Lab } from '../../lab/lab.js';
import { waitFor } from '../../lab/wait.js';
import { everyTunnelOnce, labConfig, startAgent, watchLeft, type LogLine, type RunningAgent, type Watcher } from './agent-harness.js';

/** Event-driven repairs must be back within this, however many came before. */
const EVENT_BOUND_MS = 1000;
const T = 'ikev2-vpn-141';
const ROUNDS = 8;

const healthyRound = (l: LogLine) => l.tunnel === T && l.msg === 'probe round' && l['health'] === 'healthy';

describe('controller: a repair that carried traffic holds', () => {
  let lab: Lab;
  let agent: RunningAgent;
  let watch: Watcher;

  before(async () => {
    lab = await startLab({ initiate: false });
    // labConfig's default tunnels: every lab tunnel probed through itself (TCP and ICMP to its target).
    agent = await startAgent(lab, labConfig(lab));
    watch = await watchLeft(lab);
    await everyTunnelOnce(lab, 'all children up after agent start');
    // An initiate is over when the agent has heard its own CHILD_SA's up event, which can come a moment
    // after the SA shows as installed here: the start-up actions are over before the test counts actions.
    await Promise.all(lab.children.map((c) => agent.waitForLog((l) => l.tunnel === c && l.action === 'initiate' && l['result'] === 'ok', { what: `${c}'s start-up initiate over` })));
  });
  after(async () => {
    await watch?.close();
    await agent?.stop();
    await lab?.close();
  });

  /** The tunnel's INSTALLED CHILD_SA on the left with its packets-in, once `ok` says so. */
  async function installed(ok: (id: string, packetsIn: number) => boolean, what: string): Promise<{ id: string; packetsIn: number }> {
    return waitFor(
      async () => {
        const sas = await watch.vici.listSas({ ike: lab.ikeName, child: T });
        const c = sas.flatMap((sa) => Object.values(sa['child-sas'] ?? {})).find((x) => x.name === T && x.state === 'INSTALLED');
        const seen = c && { id: c.uniqueid, packetsIn: Number(c['packets-in'] ?? 0) };
        return seen && ok(seen.id, seen.packetsIn) ? seen : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50, what },
    );
  }

  /**
   * Waits until a new CHILD_SA of the tunnel (another than `last`) has carried the repair's verification
   * probes, and then a later, scheduled probe round of the agent has passed through it too: the peer's
   * delete then comes seconds after the CHILD_SA first carried traffic, as in the field.
   */
  async function carriedAndProbed(last: string | undefined, what: string): Promise<string> {
    const first = await installed((id, n) => id !== last && n > 0, `${what}: packets in on a new CHILD_SA of ${T}`);
    const from = agent.logs.length;
    await installed((id, n) => id !== first.id || n > first.packetsIn, `${what}: more packets in on it`);
    await agent.waitForLog(healthyRound, { from, what: `${what}: a later probe round of ${T} passing` });
    return first.id;
  }

  it(`the peer deletes each new CHILD_SA after it carried traffic, ${ROUNDS} times: repaired from the event within a second each time, never damped`, async () => {
    const from = agent.logs.length;
    let last: string | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      last = await carriedAndProbed(last, `round ${round}`);
      const at = watch.events.length;
      const actFrom = agent.logs.length;
      await lab.peerDeleteChild(T);
      const down = await watch.waitChild(T, false, { from: at });
      const up = await watch.waitChild(T, true, { from: watch.events.indexOf(down) });
      const ms = up.at - down.at;
      assert.ok(ms < EVENT_BOUND_MS, `round ${round}: back after ${ms.toFixed(0)} ms`);
      await agent.waitForLog((l) => l.tunnel === T && l.action === 'initiate' && l['result'] === 'ok' && l['reason'] === 'event', { from: actFrom, what: `round ${round}: ${T} re-initiated from the event` });
    }
    // The negative holds across a later probe round on the last repair.
    await carriedAndProbed(last, 'after the last repair');
    const said = agent.logs.slice(from).filter((l) => /damping|backing off/.test(String(l.msg)));
    assert.deepEqual(said.map((l) => l.msg), [], 'nothing was damped or backed off');
    assert.ok(agent.actions(from).every((l) => l.tunnel === T && l.action === 'initiate' && l['reason'] === 'event'), JSON.stringify(agent.actions(from).map((l) => `${String(l.tunnel)} ${String(l.action)} ${String(l['reason'])}`)));
  });
});
