// The demo's timeline and fault table (scripts/demo/timeline.ts), on log lines written the way
// src/agent/controller/agent.ts writes them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { LogLine } from '../../lab/json-lines.js';
import { allUp, faultTable, lastRepairAt, formatAgentLine, formatTable, isShown, logTime, repairAfter, Timeline, type FaultWindow } from '../../scripts/demo/timeline.js';

const T0 = Date.parse('2025-01-10T12:00:00.000Z');
/** An agent line `ms` after T0, as pino writes it (ISO time from our logger). */
const at = (ms: number, level: number, msg: string, fields: Record<string, unknown> = {}): { at: number; line: LogLine } => ({
  at: T0 + ms,
  line: { level, time: new Date(T0 + ms).toISOString(), name: 'ipsec-keepalive', msg, ...fields },
});
const down = (ms: number, t: string, charonRecovers = false) =>
  at(ms, 40, `tunnel ${t} down: no CHILD_SA installed`, { tunnel: t, ike: 'ikev2-vpn', child: t, why: 'no CHILD_SA installed', charonRecovers });
const repaired = (ms: number, t: string, downMs: number) => at(ms, 30, `tunnel ${t} repaired after ${downMs} ms`, { tunnel: t, downMs });
const action = (ms: number, t: string, kind: string, reason: string, took = 30) =>
  at(ms, 30, `tunnel ${t}: ${kind} ok`, { tunnel: t, action: kind, reason, result: 'ok', ms: took, why: 'no CHILD_SA installed' });
const failed = (ms: number, t: string, kind: string, reason: string) =>
  at(ms, 40, `tunnel ${t}: ${kind} failed (peer-delete: received DELETE for ESP CHILD_SA with SPI 17e88550)`, {
    tunnel: t, action: kind, reason, result: 'error', ms: 8, err: 'CHILD_SA delete not answered', failure: 'peer-delete', charon: 'received DELETE for ESP CHILD_SA with SPI 17e88550', why: 'probes fail through an installed CHILD_SA',
  });
const healthy = (ms: number, t: string) => at(ms, 30, `tunnel ${t}: probes healthy`, { tunnel: t, health: 'healthy', previous: 'unknown', attempts: 1, results: [] });
const failing = (ms: number, t: string) =>
  at(ms, 30, `tunnel ${t}: probes failing`, { tunnel: t, health: 'failing', previous: 'healthy', attempts: 3, results: [{ kind: 'tcp', target: '198.51.100.140:9802', ok: false, ms: 1000, error: 'timeout after 1000 ms' }] });
const round = (ms: number, t: string, health = 'healthy') => at(ms, 20, 'probe round', { tunnel: t, health, attempts: 1 });
const reconcile = (ms: number, t: string) => at(ms, 20, 'reconcile', { tunnel: t, status: 'up', decision: 'none', why: 'installed', reasons: ['verify'], up: 1, busy: false });

describe('Timeline', () => {
  it('holds entries for the watermark and releases them in time order, also when they arrived out of order', () => {
    const tl = new Timeline<string>(300);
    tl.add(1000, 'agent b');
    tl.add(900, 'agent a (arrived after b)');
    tl.add(1100, 'agent c');
    assert.deepEqual(tl.release(1250).map((r) => r.item), ['agent a (arrived after b)']);
    assert.deepEqual(tl.release(1400).map((r) => r.item), ['agent b', 'agent c']);
    assert.equal(tl.size, 0);
  });

  it("puts a demo mark between the agent lines stamped before and after it, whichever arrives first", () => {
    const tl = new Timeline<string>(300);
    // The demo stamps its mark at 2000; the agent's lines from 1990 and 2010 reach the demo 40 ms later.
    tl.add(2000, '=== repaired');
    tl.add(1990, 'agent: tunnel x repaired after 46 ms');
    tl.add(2010, 'agent: tunnel y: probes healthy');
    assert.deepEqual(tl.release(2400).map((r) => r.item), ['agent: tunnel x repaired after 46 ms', '=== repaired', 'agent: tunnel y: probes healthy']);
  });

  it('keeps the order in which entries with the same time were added', () => {
    const tl = new Timeline<string>(0);
    for (const s of ['first', 'second', 'third']) tl.add(5, s);
    assert.deepEqual(tl.drain().map((r) => r.item), ['first', 'second', 'third']);
  });

  it('flags an entry that arrives after a later one was already printed, and still prints it', () => {
    const tl = new Timeline<string>(100);
    tl.add(1000, 'early');
    assert.deepEqual(tl.release(1200), [{ at: 1000, item: 'early', late: false }]);
    tl.add(950, 'very late');
    tl.add(1150, 'next');
    assert.deepEqual(tl.release(1300), [
      { at: 950, item: 'very late', late: true },
      { at: 1150, item: 'next', late: false },
    ]);
  });
});

describe('agent lines', () => {
  it("reads the agent's own time: ISO text, epoch ms, or the fallback for an unparsed line", () => {
    assert.equal(logTime(down(1234, 'x').line, 0), T0 + 1234);
    assert.equal(logTime({ level: 30, time: T0 as unknown as string, msg: 'm' }, 0), T0);
    assert.equal(logTime({ level: 60, time: '', msg: 'unparsed: boom' }, 42), 42);
  });

  it('hides the routine debug lines and shows what explains a repair', () => {
    assert.equal(isShown(round(0, 'x').line), false);
    assert.equal(isShown(reconcile(0, 'x').line), false);
    assert.equal(isShown(at(0, 20, 'vici command', { cmd: 'list-sas' }).line), false);
    for (const l of [
      at(0, 40, 'tunnel x: 2 repairs in a row were lost before they carried traffic; damping the next by 4000 ms', { tunnel: 'x', unheldRepairs: 2, delayMs: 4000 }),
      at(0, 40, 'IKE_SA ikev2-vpn: backing off 961 ms after 1 failed attempts (peer-delete: received DELETE)', { tunnel: 'x', failures: 1, delayMs: 961 }),
      at(0, 30, 'tunnel x: escalating to an IKE_SA restart at once', { tunnel: 'x' }),
      at(0, 30, 'charon is shutting down; ignoring its down events'),
      at(0, 40, 'VICI connection lost; events may be missed until it is back', { err: 'socket closed' }),
      at(0, 30, 'VICI connection restored, resyncing every tunnel', { downMs: 812 }),
      at(0, 20, 'terminate of the stale IKE_SA did not complete', { tunnel: 'x', err: 'timeout' }),
      down(0, 'x'), repaired(0, 'x', 10), action(0, 'x', 'initiate', 'event'), failed(0, 'x', 'restart-child', 'probe'),
    ]) {
      assert.equal(isShown(l.line), true, l.line.msg);
    }
  });

  it("shows an action's reason, time and charon's answer, and why a down waits for charon", () => {
    assert.equal(formatAgentLine(action(0, 'x', 'initiate', 'event', 34).line), 'agent       tunnel x: initiate ok  [reason event; 34 ms; why: no CHILD_SA installed]');
    const f = formatAgentLine(failed(0, 'x', 'restart-child', 'probe').line);
    assert.match(f, /^agent WARN {2}tunnel x: restart-child failed \(peer-delete: received DELETE for ESP CHILD_SA with SPI 17e88550\)/);
    assert.match(f, /reason probe; 8 ms; err: CHILD_SA delete not answered/);
    assert.match(formatAgentLine(down(0, 'x', true).line), /waiting for charon first/);
    assert.match(formatAgentLine(failing(0, 'x').line), /tcp 198\.51\.100\.140:9802: timeout after 1000 ms; 3 attempts/);
    assert.equal(formatAgentLine(at(0, 20, 'terminate of the stale IKE_SA did not complete', { tunnel: 'x', err: 'timeout' }).line), 'agent       terminate of the stale IKE_SA did not complete  [tunnel x; err: timeout]');
    assert.match(formatAgentLine(at(0, 40, 'VICI connection lost; events may be missed until it is back', { err: 'socket closed' }).line), /err: socket closed/);
  });
});

describe('faultTable', () => {
  const win = (title: string, tunnel: string, injectedAt: number, endAt: number): FaultWindow => ({ title, tunnel, injectedAt: T0 + injectedAt, endAt: T0 + endAt });

  it('an event repair: detected at the down line, repaired at the repaired line, by the event initiate', () => {
    const lines = [round(900, 'a'), down(1045, 'a'), reconcile(1045, 'a'), action(1080, 'a', 'initiate', 'event'), healthy(1130, 'a'), repaired(1130, 'a', 85)];
    assert.deepEqual(faultTable([win('peer deletes a', 'a', 1000, 5000)], lines), [{ fault: 'peer deletes a', tunnel: 'a', detectedMs: 45, repairedMs: 130, by: 'event (initiate)', downsAgain: 0 }]);
  });

  it("charon's close_action restored it: no agent action in the episode", () => {
    const lines = [down(1020, 'a', true), at(1030, 20, 'reconcile', { tunnel: 'a', status: 'waiting-for-charon' }), healthy(1600, 'a'), repaired(1600, 'a', 580)];
    assert.equal(faultTable([win('f', 'a', 1000, 5000)], lines)[0]?.by, 'charon');
  });

  it('a stale tunnel: detected by failing probes, repaired by the restart-ike the probes asked for; an earlier failed action does not count', () => {
    const lines = [
      failing(9500, 'a'), at(9500, 40, 'tunnel a down: probes fail: tcp 198.51.100.140:9802: timeout after 1000 ms', { tunnel: 'a', why: 'probes fail' }),
      failed(9520, 'a', 'restart-child', 'probe'), action(9900, 'a', 'restart-ike', 'probe', 24), healthy(10_400, 'a'), repaired(10_400, 'a', 900),
    ];
    assert.deepEqual(faultTable([win('blackhole', 'a', 1000, 20_000)], lines)[0], { fault: 'blackhole', tunnel: 'a', detectedMs: 8500, repairedMs: 9400, by: 'probe (restart-ike)', downsAgain: 0 });
  });

  it('a repair that did not hold: the first repair is reported, and the downs after it are counted', () => {
    const lines = [
      down(1040, 'a'), action(1070, 'a', 'initiate', 'event'), repaired(1120, 'a', 80),
      down(1300, 'a'), action(1330, 'a', 'initiate', 'event'), repaired(1380, 'a', 80),
      down(1500, 'a'), at(1500, 40, 'tunnel a: 2 repairs in a row were lost before they carried traffic; damping the next by 4000 ms', { tunnel: 'a', unheldRepairs: 2, delayMs: 4000 }),
      action(5500, 'a', 'initiate', 'retry'), repaired(5560, 'a', 4060),
    ];
    assert.deepEqual(faultTable([win('flap', 'a', 1000, 9000)], lines)[0], { fault: 'flap', tunnel: 'a', detectedMs: 40, repairedMs: 120, by: 'event (initiate)', downsAgain: 2 });
  });

  it('the repair is credited to the action after the last down before it, not to one from an earlier episode', () => {
    const lines = [failing(1100, 'a'), action(1200, 'a', 'restart-child', 'probe'), down(1250, 'a', true), healthy(1900, 'a'), repaired(1900, 'a', 650)];
    assert.equal(faultTable([win('f', 'a', 1000, 5000)], lines)[0]?.by, 'charon');
  });

  it("adds a row for every other tunnel lost in the window, and each row only sees its fault's window", () => {
    const lines = [
      down(1040, 'c'), down(1040, 'a'), down(1041, 'b'),
      action(1080, 'a', 'initiate', 'event'), action(1090, 'b', 'initiate', 'event'), action(1095, 'c', 'initiate', 'event'),
      repaired(1140, 'a', 100), repaired(1150, 'b', 110), repaired(1160, 'c', 120),
      down(3010, 'b'), action(3040, 'b', 'initiate', 'event'), // the next fault's
    ];
    const rows = faultTable([win('peer deletes the IKE_SA', 'c', 1000, 3000), win('operator terminates b', 'b', 3000, 3100)], lines);
    assert.deepEqual(rows.map((r) => [r.fault, r.tunnel, r.detectedMs, r.repairedMs, r.by]), [
      ['peer deletes the IKE_SA', 'c', 40, 160, 'event (initiate)'],
      ['peer deletes the IKE_SA', 'a', 40, 140, 'event (initiate)'],
      ['peer deletes the IKE_SA', 'b', 41, 150, 'event (initiate)'],
      ['operator terminates b', 'b', 10, undefined, undefined],
    ]);
    const table = formatTable(rows);
    assert.match(table[0] as string, /^fault\s+tunnel\s+detected after\s+repaired after\s+by$/);
    assert.match(table.at(-1) as string, /operator terminates b\s+b\s+0\.010 s\s+NOT repaired\s+-$/);
  });
});

describe('allUp and repairAfter', () => {
  const l = (xs: Array<{ line: LogLine }>) => xs.map((x) => x.line);
  it('a tunnel is up once repaired since its last loss, or probed healthy and never lost', () => {
    assert.equal(allUp(l([round(10, 'a'), round(10, 'b')]), ['a', 'b']), true);
    assert.equal(allUp(l([down(5, 'a'), round(10, 'a'), round(10, 'b')]), ['a', 'b']), false);
    assert.equal(allUp(l([down(5, 'a'), repaired(9, 'a', 4), round(10, 'b')]), ['a', 'b']), true);
    assert.equal(allUp(l([round(1, 'a'), failing(5, 'a'), round(10, 'b')]), ['a', 'b']), false);
    assert.equal(allUp(l([round(1, 'a')]), ['a', 'b']), false);
  });

  it('repairAfter wants the repair of a loss seen since `from`, not a repair left over from before', () => {
    const lines = l([down(1, 'a'), repaired(2, 'a', 1), repaired(3, 'b', 5), down(4, 'a'), action(5, 'a', 'initiate', 'event'), repaired(6, 'a', 2)]);
    assert.equal(repairAfter(lines, 'a', 2), 5);
    assert.equal(repairAfter(lines, 'b', 0), -1);
  });

  it('lastRepairAt is the time of the latest repaired line of any tunnel', () => {
    assert.equal(lastRepairAt([down(1, 'a'), repaired(20, 'a', 19), repaired(12, 'b', 3), round(30, 'a')]), T0 + 20);
    assert.equal(lastRepairAt([round(30, 'a')]), -Infinity);
  });
});
