// `ipsec-keepalive record --listen PATH --upstream URI --out FILE`: argument parsing and wiring for the
// recording VICI proxy (src/vici/recorder.ts). Runs until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { openSocket, parseViciUri } from '../vici/uri.js';
import { startRecorder } from '../vici/recorder.js';

const USAGE = 'Usage: ipsec-keepalive record --listen PATH --upstream URI --out FILE';

export async function runRecord(argv: string[]): Promise<number> {
  let values: { listen?: string; upstream?: string; out?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { listen: { type: 'string' }, upstream: { type: 'string' }, out: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`ipsec-keepalive record: ${(err as Error).message}\n${USAGE}`);
    return 64;
  }
  const { listen, upstream, out } = values;
  if (!listen || !upstream || !out) {
    console.error(`ipsec-keepalive record: --listen, --upstream and --out are all required\n${USAGE}`);
    return 64;
  }
  let target;
  try {
    target = parseViciUri(upstream);
  } catch (err) {
    console.error(`ipsec-keepalive record: ${(err as Error).message}`);
    return 64;
  }
  // Fail now, not on the first client, when charon is not there.
  try {
    (await openSocket(target, 5000)).destroy();
  } catch (err) {
    console.error(`ipsec-keepalive record: ${(err as Error).message}`);
    return 69;
  }
  const rec = await startRecorder({ listen, upstream, out });
  console.error(`recording: clients on ${listen} -> ${target.uri}, writing ${out}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await rec.close();
  console.error(`recorded ${rec.connections} connection(s) into ${out}`);
  return 0;
}
