// Listens to babeld's own packets on a host (run inside its namespace with
// `ip netns exec`) and prints each Hello TLV as a JSON line: who sent it and the
// hello interval that babeld puts in it. Tests read babeld's real hello interval
// from the wire this way, not from the daemon. babeld binds its port with
// SO_REUSEADDR, so a second socket on it receives the multicast hellos too.
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { parseBabelHellos } from '../../fixtures/babel-hellos.js';

export const BABEL_PORT = 6696;

function main(): void {
  const socket = createSocket({ type: 'udp6', reuseAddr: true });
  socket.on('message', (msg, rinfo) => {
    for (const h of parseBabelHellos(msg)) process.stdout.write(`${JSON.stringify({ from: rinfo.address, atMs: Date.now(), ...h })}\n`);
  });
  socket.on('error', (err) => {
    process.stderr.write(`babel-hellos: ${err.message}\n`);
    process.exit(1);
  });
  socket.bind(BABEL_PORT, '::', () => process.stderr.write('listening\n'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
