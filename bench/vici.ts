// `npm run bench:vici`: how fast src/vici decodes and lists, against swanctl on the same charon.
//
// 1. Decode throughput on a ~400 KB list-sa event (1000 CHILD_SAs, charon's keys): framing + packet +
//    message with the hand-written reader, the same with binary-parser, the text values listSas() decodes
//    (also with CHILD_SA names the decoder has not seen before), and the whole typed path (zod checks).
//    bench/vici-decode.ts gives the spread of the decode figures and compares with another revision.
// 2. list-sas wall time on the lab with 400 and 1000 CHILD_SAs under one IKE_SA, beside
//    `swanctl --list-sas --raw` on the same charon in the same run (whole process, as an operator runs it).
//    "warm" reuses a connected client; "cold" connects, lists and closes like a one-shot tool.
// Targets: list-sas <= swanctl (the same listing, same run), decode >= 100 MB/s. Prints a table, writes bench/results/vici.json.
// The lab part needs root; without it (or with --no-lab) only the decode figures are taken.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FrameDecoder } from '../src/vici/frame.js';
import { decodeMessage, decodeMessagePlain } from '../src/vici/message.js';
import { parsePacket } from '../src/vici/packet.js';
import { ikeSasFromListSa } from '../src/vici/types.js';
import { ViciClient } from '../src/vici/client.js';
import { decodeMessageBinaryParser } from './vici-binary-parser.js';
import { listSaFrame, renamedListSaFrames } from './vici-data.js';

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results', 'vici.json');

/** One line of bench/results/vici.json (bench/vici-report.ts reads them back). */
export interface ViciRow {
  what: string;
  value: number;
  unit: string;
  reference?: number;
  ratio?: number;
  target?: string;
  ok?: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median ms per call of `fn` over `rounds` rounds of `per` calls, after a warm-up. */
function timeSync(fn: () => void, rounds = 60, per = 5): number {
  for (let k = 0; k < per * 5; k++) fn();
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let k = 0; k < per; k++) fn();
    times.push((performance.now() - t0) / per);
  }
  return median(times);
}

async function timeAsync(fn: () => Promise<unknown>, runs: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function decodeFigures(rows: ViciRow[]): void {
  const frame = listSaFrame(1000);
  const mb = frame.length / 1e6;
  const fullPath = () => {
    const d = new FrameDecoder();
    d.push(frame, (f) => {
      const p = parsePacket(f);
      decodeMessage(p.payload, p.payloadOffset);
    });
  };
  const pkt = parsePacket(frame.subarray(4));
  const hand = timeSync(fullPath);
  const bp = timeSync(() => decodeMessageBinaryParser(pkt.payload));
  const text = timeSync(() => decodeMessagePlain(pkt.payload, pkt.payloadOffset));
  // Every call brings 1000 CHILD_SA names the decoder has not seen (its key table knows only charon's own
  // key names), as the first list-sa after a restart would.
  const renamed = renamedListSaFrames(1000, 8).map((f) => parsePacket(f.subarray(4)));
  let next = 0;
  const textCold = timeSync(() => {
    const p = renamed[next++ % renamed.length]!;
    decodeMessagePlain(p.payload, p.payloadOffset);
  });
  const typed = timeSync(() => ikeSasFromListSa(decodeMessagePlain(pkt.payload, pkt.payloadOffset)));
  const chunked = timeSync(() => {
    const d = new FrameDecoder();
    for (let k = 0; k < frame.length; k += 65536) {
      d.push(frame.subarray(k, k + 65536), (f) => {
        const p = parsePacket(f);
        decodeMessage(p.payload, p.payloadOffset);
      });
    }
  });
  // What this machine does at best: one pass over the same bytes, touching each once.
  let sink = 0;
  const scan = timeSync(() => {
    let acc = 0;
    for (let k = 0, n = frame.length; k < n; k++) acc = (acc + frame[k]!) | 0;
    sink ^= acc;
  });
  if (sink < 0) console.log(sink);
  rows.push(
    { what: 'calibration: a byte-summing loop over the same frame', value: mb / (scan / 1000), unit: 'MB/s' },
    { what: `decode list-sa ${(frame.length / 1024).toFixed(0)} KiB, hand-written (one chunk)`, value: mb / (hand / 1000), unit: 'MB/s', target: '>= 100', ok: mb / (hand / 1000) >= 100 },
    { what: 'decode list-sa, hand-written (64 KiB socket chunks)', value: mb / (chunked / 1000), unit: 'MB/s' },
    { what: 'decode list-sa to text values (what listSas uses)', value: mb / (text / 1000), unit: 'MB/s', target: '>= 100', ok: mb / (text / 1000) >= 100 },
    { what: 'decode list-sa to text values, new CHILD_SA names each call', value: renamed[0]!.payload.length / 1e6 / (textCold / 1000), unit: 'MB/s' },
    { what: 'decode list-sa, binary-parser element stream', value: mb / (bp / 1000), unit: 'MB/s', reference: mb / (hand / 1000), ratio: hand / bp },
    { what: 'decode to text + typed IkeSa (zod checks), 1000 CHILD_SAs', value: typed, unit: 'ms' },
  );
}

async function labFigures(rows: ViciRow[], sizes: number[]): Promise<void> {
  const { cleanupStaleLabs, startLab } = await import('../lab/lab.js');
  await cleanupStaleLabs();
  for (const total of sizes) {
    const t0 = Date.now();
    const lab = await startLab({ scaleChildren: total - 3, initiate: true });
    try {
      console.error(`lab with ${total} CHILD_SAs up in ${Date.now() - t0} ms`);
      const client = new ViciClient({ uri: lab.left.viciUri, reconnect: false });
      await client.connect();
      let n = 0;
      const warm = await timeAsync(async () => {
        const sas = await client.listSas();
        n = Object.keys(sas[0]!['child-sas']).length;
      }, 20);
      await client.close();
      if (n !== total) throw new Error(`list-sas saw ${n} CHILD_SAs, expected ${total}`);
      const cold = await timeAsync(async () => {
        const c = new ViciClient({ uri: lab.left.viciUri, reconnect: false });
        await c.connect();
        await c.listSas();
        await c.close();
      }, 10);
      const swanctl = await timeAsync(() => lab.swanctl('left', ['--list-sas', '--raw']), 10);
      rows.push(
        { what: `list-sas ${total} CHILD_SAs, ViciClient warm`, value: warm, unit: 'ms', reference: swanctl, ratio: warm / swanctl, target: '<= swanctl', ok: warm / swanctl <= 1 },
        { what: `list-sas ${total} CHILD_SAs, ViciClient cold (connect+list+close)`, value: cold, unit: 'ms', reference: swanctl, ratio: cold / swanctl, target: '<= swanctl', ok: cold / swanctl <= 1 },
        { what: `swanctl --list-sas --raw, ${total} CHILD_SAs (whole process)`, value: swanctl, unit: 'ms' },
      );
    } finally {
      await lab.close();
    }
  }
}

function table(rows: ViciRow[]): string {
  const head = ['what', 'value', 'swanctl/ref', 'ratio', 'target', ''];
  const body = rows.map((r) => [
    r.what,
    `${r.value.toFixed(r.unit === 'MB/s' ? 1 : 2)} ${r.unit}`,
    r.reference === undefined ? '' : r.reference.toFixed(r.unit === 'MB/s' ? 1 : 2),
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    r.target ?? '',
    r.ok === undefined ? '' : r.ok ? 'ok' : 'MISSED',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const rows: ViciRow[] = [];
  decodeFigures(rows);
  const noLab = process.argv.includes('--no-lab') || process.getuid?.() !== 0;
  if (noLab) console.error('bench: skipping the lab figures (needs root; --no-lab given or not root)');
  else await labFigures(rows, [400, 1000]);
  console.log(table(rows));
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, rows }, null, 2)}\n`,
  );
  console.error(`written ${path.relative(process.cwd(), RESULTS)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
