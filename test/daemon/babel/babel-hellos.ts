// Listens to babeld's own packets on a host (run inside its namespace with
// `ip netns exec`) and prints each Hello TLV as a JSON line: who sent it and the
// hello interval that babeld puts in it. Tests read babeld's real hello interval
// from the wire this way, not from the daemon. babeld binds its port with
// SO_REUSEADDR, so a second socket on it receives the multicast hellos too.
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

export const BABEL_PORT = 6696;
const HELLO_TLV = 4;
const PAD1_TLV = 0;
const UNICAST_FLAG = 0x8000;

export interface BabelHello {
  /** Hello interval in centiseconds (RFC 8966 §4.6.5), 0 when the sender schedules no further hello. */
  intervalCs: number;
  unicast: boolean;
  seqno: number;
}

/** The Hello TLVs of one Babel packet (magic 42, version 2); [] for anything else. */
export function babelHellos(packet: Buffer): BabelHello[] {
  if (packet.length < 4 || packet[0] !== 42 || packet[1] !== 2) return [];
  const end = Math.min(packet.length, 4 + packet.readUInt16BE(2));
  const out: BabelHello[] = [];
  for (let i = 4; i < end; ) {
    const type = packet[i]!;
    if (type === PAD1_TLV) {
      i += 1;
      continue;
    }
    if (i + 2 > end) break;
    const len = packet[i + 1]!;
    if (type === HELLO_TLV && len >= 6 && i + 2 + len <= end) {
      const flags = packet.readUInt16BE(i + 2);
      out.push({ unicast: (flags & UNICAST_FLAG) !== 0, seqno: packet.readUInt16BE(i + 4), intervalCs: packet.readUInt16BE(i + 6) });
    }
    i += 2 + len;
  }
  return out;
}

function main(): void {
  const socket = createSocket({ type: 'udp6', reuseAddr: true });
  socket.on('message', (msg, rinfo) => {
    for (const h of babelHellos(msg)) process.stdout.write(`${JSON.stringify({ from: rinfo.address, atMs: Date.now(), ...h })}\n`);
  });
  socket.on('error', (err) => {
    process.stderr.write(`babel-hellos: ${err.message}\n`);
    process.exit(1);
  });
  socket.bind(BABEL_PORT, '::', () => process.stderr.write('listening\n'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
