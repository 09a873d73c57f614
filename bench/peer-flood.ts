// What refusing costs: the real peer-protocol receive path (PeerProtocol with
// the real certificate verifier, fed through a fake socket, no network) under a
// flood of certificate-bearing garbage, in µs of CPU per dropped frame:
//   bad-sig-known  hello requests to anyone with the certificate of a peer the node knows, wrong signature
//   bad-sig-new    the same with public certificates of peers it has not met yet
//   random-cert    random bytes where the certificate goes
//   foreign-cert   a certificate of another CA, the frame correctly signed with its key
//   replay         one captured valid frame sent again and again
// Frames are built before the CPU clock starts; each comes from one of `sources`
// addresses (a flood from a few addresses, or spread over many), and the
// endpoint's clock moves on by 1/rate per frame (budgets refill as in a real flood).
//
//   node --import tsx bench/peer-flood.ts [frames per kind=20000] [sources=16] [rate=20000 frames/s]
//
// Prints a table and a final JSON line; exits 1 if a garbage frame was accepted.
import { randomBytes } from 'node:crypto';
import { PeerProtocol, type PeerProtoLog } from '../daemon/peerproto/index.js';
import { encodePacket, type Packet } from '../wire/messages.js';
import { MAX_MESSAGE_BYTES } from '../wire/tlv.js';
import { DirectSocket, makePki, type TestNode } from '../test/daemon/peerproto/fixture.js';

const VICTIM = 'fd5e:1:0:1::/64';
const KNOWN = 'fd5e:1:0:2::/64';
const GOAL_US = 20;

const KINDS = ['bad-sig-known', 'bad-sig-new', 'random-cert', 'foreign-cert', 'replay'] as const;
type FloodKind = (typeof KINDS)[number];

interface Row {
  kind: FloodKind;
  frames: number;
  cpuUsPerFrame: number;
}

export async function main(argv: string[]): Promise<number> {
  const perKind = Number(argv[0] ?? 20_000);
  const sourceCount = Number(argv[1] ?? 16);
  const rate = Number(argv[2] ?? 20_000);
  let now = Date.now();
  const clock = { nowMs: () => now, setTimeout: () => () => {} };
  const pki = await makePki(clock.nowMs());
  const foreign = await makePki(clock.nowMs());
  const victim = await pki.node(VICTIM, 'a1');
  const known = await pki.node(KNOWN, 'b1');
  const strangers = await Promise.all(Array.from({ length: 8 }, (_, i) => pki.node(`fd5e:1:0:${(0x100 + i).toString(16)}::/64`, (0xc0 + i).toString(16))));
  const outsider = await foreign.node('fd5e:1:0:ff::/64', 'f1');

  const socket = new DirectSocket();
  const endpoint = new PeerProtocol({ clock, self: victim, verifyPeerCert: pki.verifyPeerCert, log: silentLog, socketFactory: () => socket });
  await endpoint.start({ port: 1194 });
  const sources = Array.from({ length: sourceCount }, (_, i) => ({ host: `10.66.${i >> 8}.${i & 0xff}`, port: 40_000 + (i % 1000) }));

  // The known peer asks for a hello once, properly: it is cached and its frame is the one replayed.
  let seq = 1;
  const frame = (node: TestNode, certDer: Buffer, sign: (d: Buffer) => Buffer): Buffer => {
    const at = Math.floor(clock.nowMs());
    const p: Packet = { sender: node.prefix, recipient: undefined, timestampMs: at, seq: seq++, requestId: seq, padToBytes: MAX_MESSAGE_BYTES, certDer, message: { kind: 'hello', myTimestampMs: at } };
    return encodePacket(p, sign);
  };
  const captured = frame(known, known.certDer, known.sign);
  socket.deliver(captured, { host: '10.0.0.2', port: 1194 });
  if (endpoint.stats().accepted !== 1) throw new Error(`the legitimate hello was not accepted: ${JSON.stringify(endpoint.stats().dropped)}`);

  const badSig = (): Buffer => randomBytes(64);
  const build: Record<FloodKind, (i: number) => Buffer> = {
    'bad-sig-known': () => frame(known, known.certDer, badSig),
    'bad-sig-new': (i) => {
      const s = strangers[i % strangers.length]!;
      return frame(s, s.certDer, badSig);
    },
    'random-cert': () => frame(known, randomBytes(known.certDer.length), badSig),
    'foreign-cert': () => frame(outsider, outsider.certDer, outsider.sign),
    replay: () => captured,
  };

  const rows: Row[] = [];
  for (const kind of KINDS) {
    const frames = Array.from({ length: perKind }, (_, i) => build[kind](i));
    const acceptedBefore = endpoint.stats().accepted;
    const started = process.cpuUsage();
    for (let i = 0; i < frames.length; i++) {
      now += 1000 / rate;
      socket.deliver(frames[i]!, sources[i % sources.length]!);
    }
    const used = process.cpuUsage(started);
    const accepted = endpoint.stats().accepted - acceptedBefore;
    if (accepted !== 0) {
      console.log(`FAIL ${kind}: ${accepted} garbage frames accepted`);
      return 1;
    }
    rows.push({ kind, frames: perKind, cpuUsPerFrame: (used.user + used.system) / perKind });
  }
  await endpoint.stop();

  const average = rows.reduce((a, r) => a + r.cpuUsPerFrame, 0) / rows.length;
  console.log(`kind           frames   µs CPU per dropped frame (${sourceCount} source addresses, ${rate} frames/s)`);
  for (const r of rows) console.log(`${r.kind.padEnd(14)} ${String(r.frames).padStart(6)} ${r.cpuUsPerFrame.toFixed(1).padStart(9)}`);
  console.log(`average                 ${average.toFixed(1).padStart(9)}   (goal ≤ ${GOAL_US})`);
  console.log(`dropped by reason: ${JSON.stringify(endpoint.stats().dropped)}`);
  console.log(JSON.stringify({
    bench: 'peer-flood',
    framesPerKind: perKind,
    sources: sourceCount,
    framesPerSec: rate,
    cpuUsPerDroppedFrame: Object.fromEntries(rows.map((r) => [r.kind, round1(r.cpuUsPerFrame)])),
    averageUs: round1(average),
    goalUs: GOAL_US,
    dropped: endpoint.stats().dropped,
    refusals: endpoint.stats().refusals,
    bytesSent: socket.bytesSent,
  }));
  return 0;
}

const silent = (): void => {};
/** Logging off, as at the daemon's default level (drops are logged at debug). */
const silentLog: PeerProtoLog = { trace: silent, debug: silent, info: silent, warn: silent };

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
