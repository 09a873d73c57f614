// Link MACs through two real PeerProtocol endpoints on the fake UDP network: the
// switch from signatures after the first exchange, what stays signed, forged and
// replayed MAC'd frames, a restart and a new certificate on one side, revocation,
// and the hello budget at the fastest link-hello rate.
import test from 'ava';
import { PeerProtocol, type PeerProtocolOptions } from '../../../daemon/peerproto/index.js';
import { decodePacket, type HelloMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { waitFor } from '../../fixtures/wait.js';
import { captureLog, FakeUdpNetwork, makePki, rawSender, type TestNode, type TestPki } from './fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';
const C = 'fd5e:1:0:c::/64';
const HOST_A = '10.0.0.1';
const HOST_B = '10.0.0.2';
const PORT = 1194;
const TO_A = { host: HOST_A, port: PORT, prefix: A };
const TO_B = { host: HOST_B, port: PORT, prefix: B };

interface Link {
  clock: FakeClock;
  net: FakeUdpNetwork;
  pki: TestPki;
  nodeA: TestNode;
  nodeB: TestNode;
  a: PeerProtocol;
  b: PeerProtocol;
  endpoint(node: TestNode, host: string): Promise<PeerProtocol>;
}

async function link(options: PeerProtocolOptions = {}): Promise<Link> {
  const clock = new FakeClock(1_765_000_000_000);
  const net = new FakeUdpNetwork();
  const pki = await makePki(clock.nowMs());
  const endpoint = async (node: TestNode, host: string): Promise<PeerProtocol> => {
    const p = new PeerProtocol({ clock, self: node, verifyPeerCert: pki.verifyPeerCert, log: captureLog(), socketFactory: net.factory(host) }, options);
    await p.start({ port: PORT });
    return p;
  };
  const nodeA = await pki.node(A, 'a1');
  const nodeB = await pki.node(B, 'b1');
  return { clock, net, pki, nodeA, nodeB, a: await endpoint(nodeA, HOST_A), b: await endpoint(nodeB, HOST_B), endpoint };
}

/** A link hello as the link monitor sends it: no certificate unless asked. */
const linkHello = (l: Link): HelloMessage => ({ kind: 'hello', myTimestampMs: l.clock.nowMs() });

/** How the last datagram from `host` was authenticated, and its tag or signature length. */
function lastAuth(l: Link, host: string): string {
  const last = l.net.sentLog.filter((s) => s.from.host === host).at(-1);
  if (last === undefined) return 'nothing sent';
  const d = decodePacket(last.data);
  return `${d.message.kind} ${d.auth} ${d.signature.length}${d.certDer ? ' +cert' : ''}`;
}

/** A hello round trip, then one frame each way: from then on both sides use link MACs. */
async function keyed(l: Link): Promise<void> {
  await l.a.hello(TO_B, { timeoutMs: 5000 });
  await l.a.send(TO_B, linkHello(l), { withCert: false });
  await waitFor(() => l.b.hasLinkKey(A), { what: 'B learns that A holds its certificate' });
  await waitFor(() => l.a.hasLinkKey(B), { what: 'A learns that B holds its certificate' });
}

test('after one hello round trip frames go with a 16-byte link MAC both ways; tunnel requests and certificate-bearing frames stay signed', async (t) => {
  const l = await link();
  await l.a.hello(TO_B, { timeoutMs: 5000 });
  t.is(lastAuth(l, HOST_A), 'hello signature 64 +cert');
  t.is(lastAuth(l, HOST_B), 'hello signature 64 +cert', 'the reply introduces B');
  t.true(l.a.hasLinkKey(B), 'B\'s reply said it holds A\'s certificate');
  t.false(l.b.hasLinkKey(A), 'A\'s first hello could not say so');

  const seenByB: string[] = [];
  l.b.on('authenticated', (ev) => void seenByB.push(ev.msg.kind));
  await l.a.send(TO_B, { kind: 'addresses', public: [], internal: ['10.0.0.1:1194'], upnp: [] });
  t.is(lastAuth(l, HOST_A), 'addresses mac 16');
  await waitFor(() => seenByB.includes('addresses'), { what: 'B accepts the MAC\'d frame' });
  t.true(l.b.hasLinkKey(A), 'a MAC\'d frame proves the sender holds the key');

  await l.b.send(TO_A, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_B), 'hello mac 16');
  await l.b.send(TO_A, linkHello(l), { withCert: true });
  t.is(lastAuth(l, HOST_B), 'hello signature 64 +cert');
  l.a.setHandler('tunnel-request', () => ({ kind: 'tunnel-accept', port: 1195 }));
  const reply = await l.b.request(TO_A, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 5000 });
  t.deepEqual(reply.msg, { kind: 'tunnel-accept', port: 1195 });
  t.is(decodePacket(l.net.sentLog.filter((s) => s.from.host === HOST_B).at(-1)!.data).auth, 'signature', 'the tunnel request is signed');
  t.is(lastAuth(l, HOST_A), 'tunnel-accept mac 16', 'the accept is MAC\'d');
  await waitFor(() => l.a.stats().acceptedMac === 1 && l.b.stats().acceptedMac === 2, { what: 'MAC\'d frames counted' });
  t.is(l.a.stats().sentMac, 2);
  t.is(l.b.stats().sentMac, 1);
  t.is(l.a.stats().linkKeys, 1);
});

test('a MAC\'d frame with a flipped bit, under another pair\'s key, with a cut tag, to anyone, or replayed is dropped', async (t) => {
  const l = await link();
  await keyed(l);
  const nodeC = await l.pki.node(C, 'c1');
  const c = await l.endpoint(nodeC, '10.0.0.3');
  await c.hello(TO_B, { timeoutMs: 5000 });
  await c.send(TO_B, linkHello(l), { withCert: false });
  await waitFor(() => c.hasLinkKey(B), { what: 'C and B keyed' });
  const send = await rawSender(l.net, '10.0.0.66');
  await l.a.send(TO_B, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 });
  const good = l.net.sentLog.filter((s) => s.from.host === HOST_A).at(-1)!.data;
  t.is(decodePacket(good).auth, 'mac');
  const drains: unknown[] = [];
  l.b.on('drain', (ev) => void drains.push(ev));
  await waitFor(() => drains.length === 1, { what: 'the genuine frame is accepted' });
  const before = l.b.stats().dropped;
  const seenBefore = l.b.stats().refusals['seen-before'] ?? 0;

  // A copy of an accepted frame is refused before any crypto, whatever was changed in it.
  const copy = Buffer.from(good);
  copy[copy.length - 1]! ^= 1;
  await send(copy, TO_B);
  await waitFor(() => l.b.stats().refusals['seen-before'] === seenBefore + 1, { what: 'an altered copy refused as seen before' });
  await l.a.send({ ...TO_B, host: '10.0.0.99' }, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 }); // captured, not delivered
  const flipped = Buffer.from(l.net.sentLog.filter((s) => s.from.host === HOST_A).at(-1)!.data);
  flipped[flipped.length - 1]! ^= 1; // the drain's closeInMs
  await send(flipped, TO_B);
  // C knows B's key with C, not A's: a frame claiming to come from A under it.
  await l.clock.advance(1); // a timestamp A has not used: not a copy of one of A's frames
  await c.send({ ...TO_B, host: '10.0.0.99' }, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 }); // captured, not delivered
  const fromC = Buffer.from(l.net.sentLog.filter((s) => s.from.host === '10.0.0.3').at(-1)!.data);
  t.is(decodePacket(fromC).auth, 'mac');
  fromC.set(good.subarray(2, 19), 2); // sender prefix: A
  await send(fromC, TO_B);
  await waitFor(() => l.b.stats().dropped.unauthenticated === before.unauthenticated + 2, { what: 'flipped bit and wrong key refused' });

  const cut = Buffer.concat([good.subarray(0, 48), Buffer.from([15]), good.subarray(49, 64), good.subarray(65)]);
  await send(cut, TO_B);
  await waitFor(() => l.b.stats().dropped.malformed === before.malformed + 1, { what: 'a 15-byte tag is malformed' });

  const toAnyone = Buffer.from(good);
  toAnyone.fill(0, 19, 36);
  await send(toAnyone, TO_B);
  await waitFor(() => l.b.stats().dropped.misaddressed === before.misaddressed + 1, { what: 'a MAC\'d drain to anyone refused' });

  await send(good, TO_B);
  await waitFor(() => l.b.stats().dropped.replayed === before.replayed + 2, { what: 'the replay refused' });
  t.is(drains.length, 1);
});

test('a restarted peer drops MAC\'d frames until the next hello brings the certificate back, then both sides use MACs again', async (t) => {
  const l = await link();
  await keyed(l);
  await l.b.stop();
  await l.clock.advance(1000); // a restart takes time: the new process's (timestamp, seq) pairs are new
  const b2 = await l.endpoint(l.nodeB, HOST_B);
  const hellos: string[] = [];
  b2.on('hello', (ev) => void hellos.push(ev.from.prefix));

  // A still thinks B holds the key: its link hello is MAC'd and b2, knowing nobody, drops it before any crypto.
  await l.a.send(TO_B, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_A), 'hello mac 16');
  await waitFor(() => b2.stats().dropped.unauthenticated === 1, { what: 'b2 drops the MAC\'d hello' });

  // b2's first link hello carries its certificate and says it lacks A's.
  await b2.send(TO_A, linkHello(l), { withCert: true });
  await waitFor(() => !l.a.hasLinkKey(B), { what: 'A learns that b2 lacks its certificate' });
  await l.a.send(TO_B, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_A), 'hello signature 64 +cert', 'A adds its certificate by itself');
  await waitFor(() => hellos.length === 1, { what: 'b2 accepts A\'s hello' });
  t.true(b2.hasLinkKey(A), 'the hello said A holds b2\'s certificate');
  await b2.send(TO_A, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_B), 'hello mac 16');
  await waitFor(() => l.a.hasLinkKey(B), { what: 'A back to MACs' });
  await l.a.send(TO_B, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_A), 'hello mac 16');
  await waitFor(() => hellos.length === 2, { what: 'b2 accepts A\'s MAC\'d hello' });
});

test('a peer with a new certificate gets a new link key: frames under the old one are refused', async (t) => {
  const l = await link();
  await keyed(l);
  await l.a.send(TO_B, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 });
  const underOldKey = l.net.sentLog.filter((s) => s.from.host === HOST_A).at(-1)!.data;
  await l.b.stop();
  await l.clock.advance(1000);
  const renewedB = await l.pki.node(B, 'b2'); // same prefix, new key and certificate
  const b2 = await l.endpoint(renewedB, HOST_B);
  await b2.send(TO_A, linkHello(l), { withCert: true });
  await waitFor(() => l.a.knownPeers()[0]?.serial === 'b2', { what: 'A adopts the new certificate' });
  t.false(l.a.hasLinkKey(B));
  t.is(l.a.stats().linkKeys, 0, 'the old key is forgotten');
  await l.a.send(TO_B, linkHello(l), { withCert: false }); // signed, with A's certificate
  await waitFor(() => b2.hasLinkKey(A), { what: 'b2 keyed with A' });
  await b2.send(TO_A, linkHello(l), { withCert: false });
  await waitFor(() => l.a.hasLinkKey(B), { what: 'A keyed with b2' });
  const drains: unknown[] = [];
  b2.on('drain', (ev) => void drains.push(ev));
  const send = await rawSender(l.net, '10.0.0.66');
  await send(underOldKey, TO_B);
  await waitFor(() => b2.stats().dropped.unauthenticated === 1, { what: 'the frame under the old key is refused' });
  await l.a.send(TO_B, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 });
  t.is(lastAuth(l, HOST_A), 'drain mac 16');
  await waitFor(() => drains.length === 1, { what: 'a frame under the new key is accepted' });
});

test('a revoked peer loses its link key: MAC\'d frames from it are refused', async (t) => {
  const l = await link();
  await keyed(l);
  l.pki.revoked.add('a1');
  t.deepEqual(l.b.revalidateCerts(), [A]);
  t.false(l.b.hasLinkKey(A));
  t.is(l.b.stats().linkKeys, 0);
  await l.a.send(TO_B, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_A), 'hello mac 16');
  await waitFor(() => l.b.stats().dropped.unauthenticated === 1, { what: 'MAC\'d hello from a revoked peer refused' });
});

test('an endpoint without a private key signs everything and is never sent MACs', async (t) => {
  const l = await link();
  const { privateKey: _unused, ...signOnly } = l.nodeB;
  await l.b.stop();
  const b2 = await l.endpoint(signOnly as TestNode, HOST_B);
  await l.a.hello(TO_B, { timeoutMs: 5000 });
  await b2.send(TO_A, linkHello(l), { withCert: false });
  await l.a.send(TO_B, linkHello(l), { withCert: false });
  t.is(lastAuth(l, HOST_A), 'hello signature 64');
  t.is(lastAuth(l, HOST_B), 'hello signature 64');
  // The hello, A's answer to b2's challenge, the link hello.
  await waitFor(() => b2.stats().accepted === 3, { what: 'b2 accepts A\'s signed frames' });
  t.false(l.a.hasLinkKey(B));
  t.false(b2.hasLinkKey(A));
});

test('ten minutes of link hellos at 20/s from one peer are all accepted; a replayed one is still refused', async (t) => {
  const l = await link();
  await keyed(l);
  let hellos = 0;
  l.b.on('hello', () => void hellos++);
  const send = await rawSender(l.net, '10.0.0.66');
  const total = 10 * 60 * 20;
  let sample: Buffer | undefined;
  for (let i = 0; i < total; i++) {
    await l.clock.advance(50);
    await l.a.send(TO_B, linkHello(l), { withCert: false });
    if (i === total - 100) sample = l.net.sentLog.at(-1)!.data;
    if (i % 500 === 499) await waitFor(() => hellos === i + 1 || undefined, { what: `hello ${i + 1} accepted`, intervalMs: 20 });
  }
  await waitFor(() => hellos === total, { what: 'every hello accepted' });
  t.is(l.b.stats().dropped.replayed, 0);
  t.is(decodePacket(sample!).auth, 'mac');
  await send(sample!, TO_B);
  await waitFor(() => l.b.stats().dropped.replayed === 1, { what: 'the replayed hello refused' });
  t.is(hellos, total);
});
