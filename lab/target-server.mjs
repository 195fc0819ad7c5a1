// The TCP service behind the right gateway: node target-server.mjs PORT HOST...
// Listens on every HOST:PORT, answers "ok <host>\n" and closes. Prints "listening" once all are bound,
// which is what the lab waits for. Plain .mjs so it starts without tsx.
import net from 'node:net';

const [portArg, ...hosts] = process.argv.slice(2);
const port = Number(portArg);
let pending = hosts.length;
for (const host of hosts) {
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.end(`ok ${host}\n`);
  });
  server.on('error', (err) => {
    console.error(`target ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    pending -= 1;
    if (pending === 0) console.log('listening');
  });
}
process.on('SIGTERM', () => process.exit(0));
