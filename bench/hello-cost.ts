// CPU cost of one link hello, sent and received, signed with ECDSA (how every
// frame went before link MACs, and still goes to a peer that lacks our
// certificate) and with a link MAC. Two rows per mode: the pure path (encode,
// authenticate, decode, check) and two PeerProtocol endpoints on real UDP
// sockets on loopback in this process (all of send and receive, sockets included).
//
//   node --import tsx bench/hello-cost.ts [hellos=5000]
//
// Prints a table of µs of CPU per hello and a final JSON line.
import { createPublicKey, sign, verify } from 'node:crypto';
import { PeerProtocol, type PeerProtocolDeps } from '../daemon/peerproto/index.js';
import { derSignature } from '../daemon/peerproto/signature.js';
import { certFingerprint, deriveLinkKey, linkTag, linkTagValid } from '../daemon/peerproto/link-keys.js';
import { systemClock } from '../daemon/sys/clock.js';
import { decodePacket, encodePacket, type Packet } from '../wire/messages.js';
import { captureLog, makePki, type TestNode } from '../test/daemon/peerproto/fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';
const BATCH = 50;

type Mode = 'ecdsa' | 'mac';

interface Row {
  mode: Mode;
  path: 'pure' | 'loopback';
  hellos: number;
  cpuUsPerHello: number;
}

export async function main(argv: string[]): Promise<number> {
  const hellos = Number(argv[0] ?? 5000);
  const pki = await makePki(Date.now());
  const nodeA = await pki.node(A, 'a1');
  const nodeB = await pki.node(B, 'b1');
  const rows: Row[] = [];
  for (const mode of ['ecdsa', 'mac'] as const) rows.push({ mode, path: 'pure', hellos, cpuUsPerHello: purePath(mode, nodeA, nodeB, hellos) });
  for (const mode of ['ecdsa', 'mac'] as const) rows.push({ mode, path: 'loopback', hellos, cpuUsPerHello: await loopback(mode, nodeA, nodeB, pki.verifyPeerCert, hellos) });

  console.log('mode   path      µs CPU per hello (sent + received)');
  for (const r of rows) console.log(`${r.mode.padEnd(6)} ${r.path.padEnd(9)} ${r.cpuUsPerHello.toFixed(1).padStart(8)}`);
  const per = (mode: Mode, path: Row['path']): number => rows.find((r) => r.mode === mode && r.path === path)!.cpuUsPerHello;
  console.log(JSON.stringify({
    bench: 'hello-cost',
    hellos,
    cpuUsPerHello: Object.fromEntries(rows.map((r) => [`${r.mode}_${r.path}`, round1(r.cpuUsPerHello)])),
    loopbackSpeedup: round1(per('ecdsa', 'loopback') / per('mac', 'loopback')),
  }));
  return 0;
}

/** Encode, authenticate, decode and check N hellos without sockets or caches. */
function purePath(mode: Mode, nodeA: TestNode, nodeB: TestNode, n: number): number {
  const key = deriveLinkKey(nodeA.privateKey, certFingerprint(nodeA.certDer), createPublicKey(nodeB.privateKey), certFingerprint(nodeB.certDer));
  const publicA = createPublicKey(nodeA.privateKey);
  let accepted = 0;
  const started = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const now = Date.now();
    const packet: Packet = { sender: A, recipient: B, timestampMs: now, seq: i, message: { kind: 'hello', myTimestampMs: now } };
    const bytes = mode === 'mac'
      ? encodePacket(packet, (d) => linkTag(key, d), 'mac')
      : encodePacket(packet, (d) => sign('sha256', d, { key: nodeA.privateKey, dsaEncoding: 'ieee-p1363' }));
    const d = decodePacket(bytes);
    const ok = d.auth === 'mac' ? linkTagValid(key, d.signedData, d.signature) : verify('sha256', d.signedData, publicA, derSignature(d.signature));
    if (ok) accepted++;
  }
  const used = process.cpuUsage(started);
  if (accepted !== n) throw new Error(`pure path: only ${accepted} of ${n} hellos verified`);
  return (used.user + used.system) / n;
}

/** Two endpoints on loopback UDP: N link hellos from A to B, in batches B acknowledges by receiving them. */
async function loopback(mode: Mode, nodeA: TestNode, nodeB: TestNode, verifyPeerCert: PeerProtocolDeps['verifyPeerCert'], n: number): Promise<number> {
  const self = (node: TestNode): PeerProtocolDeps['self'] => (mode === 'mac' ? node : { prefix: node.prefix, certDer: node.certDer, sign: node.sign });
  const a = new PeerProtocol({ clock: systemClock, self: self(nodeA), verifyPeerCert, log: captureLog() });
  const b = new PeerProtocol({ clock: systemClock, self: self(nodeB), verifyPeerCert, log: captureLog() });
  try {
    await a.start({ port: 0, host: '::1' });
    const bAt = await b.start({ port: 0, host: '::1' });
    const toB = { host: '::1', port: bAt.port, prefix: B };
    let received = 0;
    let waiter: (() => void) | undefined;
    let want = 0;
    b.on('hello', () => {
      received++;
      if (received >= want) waiter?.();
    });
    const sendBatch = async (count: number): Promise<void> => {
      want = received + count;
      const arrived = new Promise<void>((resolve) => (waiter = resolve));
      for (let i = 0; i < count; i++) await a.send(toB, { kind: 'hello', myTimestampMs: Date.now() }, { withCert: false });
      await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error(`loopback ${mode}: ${want - received} hellos lost (stats ${JSON.stringify(b.stats().dropped)})`)), 30_000))]);
    };
    // Warm up: certificates exchanged, link keys derived (mac), code compiled.
    await a.hello(toB, { timeoutMs: 5000 });
    await sendBatch(200);
    if (mode === 'mac' && !a.hasLinkKey(B)) throw new Error('loopback mac: no link key after the warm-up');
    const macBefore = a.stats().sentMac;
    const started = process.cpuUsage();
    for (let done = 0; done < n; done += BATCH) await sendBatch(Math.min(BATCH, n - done));
    const used = process.cpuUsage(started);
    const macSent = a.stats().sentMac - macBefore;
    if (macSent !== (mode === 'mac' ? n : 0)) throw new Error(`loopback ${mode}: ${macSent} of ${n} hellos went with a MAC`);
    return (used.user + used.system) / n;
  } finally {
    await a.stop();
    await b.stop();
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
