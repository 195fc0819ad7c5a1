// Just enough VICI for the lab to initiate hundreds of CHILD_SAs without a swanctl process each.
// Deliberately independent of src/vici: the lab is the world the product is tested against.
import net from 'node:net';

const CMD_REQUEST = 0;
const CMD_RESPONSE = 1;
const CMD_UNKNOWN = 2;
const KEY_VALUE = 3;

function encodeRequest(command: string, kv: Record<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.from([CMD_REQUEST, command.length]), Buffer.from(command, 'ascii')];
  for (const [k, v] of Object.entries(kv)) {
    const val = Buffer.from(v);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(val.length);
    parts.push(Buffer.from([KEY_VALUE, k.length]), Buffer.from(k, 'ascii'), len, val);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** Top-level key/values of a response (what initiate/terminate answer: success, errmsg). */
function decodeFlat(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 1; // packet type already checked
  while (i < body.length) {
    const type = body[i++]!;
    if (type === KEY_VALUE) {
      const nl = body[i++]!;
      const name = body.toString('ascii', i, i + nl);
      i += nl;
      const vl = body.readUInt16BE(i);
      i += 2;
      out[name] = body.toString('utf8', i, i + vl);
      i += vl;
    } else {
      break; // sections and lists are not needed here
    }
  }
  return out;
}

/**
 * Sends `requests` in order on one connection, one at a time (charon answers strictly in order),
 * and resolves with each response's top-level key/values.
 */
export async function viciCommands(
  socketPath: string,
  command: string,
  requests: Record<string, string>[],
): Promise<Record<string, string>[]> {
  const sock = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const results: Record<string, string>[] = [];
  let buf = Buffer.alloc(0);
  let waiter: ((b: Buffer) => void) | undefined;
  let failure: Error | undefined;
  const packets: Buffer[] = [];
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0);
      packets.push(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
    }
    if (waiter && packets.length) {
      const w = waiter;
      waiter = undefined;
      w(packets.shift()!);
    }
  });
  const closed = new Promise<never>((_, reject) => {
    const fail = (err?: Error) => {
      failure = err ?? new Error('VICI connection closed');
      reject(failure);
    };
    sock.once('error', fail);
    sock.once('close', () => fail());
  });
  closed.catch(() => {});
  const next = (): Promise<Buffer> =>
    packets.length
      ? Promise.resolve(packets.shift()!)
      : Promise.race([new Promise<Buffer>((r) => (waiter = r)), closed]);
  try {
    for (const req of requests) {
      if (failure) throw failure;
      sock.write(encodeRequest(command, req));
      const reply = await next();
      if (reply[0] === CMD_UNKNOWN) throw new Error(`VICI: unknown command ${command}`);
      if (reply[0] !== CMD_RESPONSE) throw new Error(`VICI: unexpected packet type ${reply[0]}`);
      results.push(decodeFlat(reply));
    }
  } finally {
    sock.destroy();
  }
  return results;
}
