// What a peer-protocol endpoint refuses to do for frames anyone can send or
// copy: spend more than a rationed budget on certificates and signatures,
// answer a copied hello with more bytes than it carried, take the address it
// came from as the sender's, or act again on a frame made before a restart.
// In-memory UDP and a fake clock (fixture.ts); the attacker is a bare socket.
import test from 'ava';
import { PeerProtocol, type HelloEvent, type PeerProtocolOptions, type PeerProtoClock } from '../../../daemon/peerproto/index.js';
import { decodePacket, encodePacket, type Packet, type PeerMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { waitFor } from '../../fixtures/wait.js';
import { FakeUdpNetwork, captureLog, makePki, rawSender, type TestNode } from './fixture.js';

const PORT = 1194;
const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';
const C = 'fd5e:1:0:c::/64';
const ATTACKER = '10.0.0.66';

async function net3() {
  const clock = new FakeClock(1_765_000_000_000);
  const net = new FakeUdpNetwork();
  const pki = await makePki(clock.nowMs());
  const endpoint = async (node: TestNode, host: string, options: PeerProtocolOptions = {}, ownClock: PeerProtoClock = clock): Promise<PeerProtocol> => {
    const p = new PeerProtocol({ clock: ownClock, self: node, verifyPeerCert: pki.verifyPeerCert, log: captureLog(), socketFactory: net.factory(host), configVersion: () => 1 }, options);
    await p.start({ port: PORT });
    return p;
  };
  const [nodeA, nodeB, nodeC] = await Promise.all([pki.node(A, 'a1'), pki.node(B, 'b1'), pki.node(C, 'c1')]);
  return { clock, net, pki, endpoint, nodeA, nodeB, nodeC };
}

/** The bytes an endpoint at `from` sent to `to` (host), all datagrams together. */
function bytesSent(net: FakeUdpNetwork, from: string, to: string): number {
  return net.sentLog.filter((s) => s.from.host === from && s.to.host === to).reduce((n, s) => n + s.data.length, 0);
}

let seq = 5000;
function signedBy(node: TestNode, clock: FakeClock, message: PeerMessage, extra: Partial<Packet> = {}): Buffer {
  return encodePacket({ sender: node.prefix, recipient: undefined, timestampMs: clock.nowMs(), seq: seq++, certDer: node.certDer, requestId: seq, message, ...extra }, node.sign);
}

const hello = (clock: FakeClock): PeerMessage => ({ kind: 'hello', myTimestampMs: clock.nowMs() });

test('a first-contact hello copied from A to B and sent to C from another address gets no more bytes back than it had, and C does not take that address as A\'s', async (t) => {
  const n = await net3();
  const a = await n.endpoint(n.nodeA, '10.0.0.1');
  await n.endpoint(n.nodeB, '10.0.0.2');
  const c = await n.endpoint(n.nodeC, '10.0.0.3');
  const hellosAtC: HelloEvent[] = [];
  c.on('hello', (ev) => void hellosAtC.push(ev));
  await a.hello({ host: '10.0.0.2', port: PORT }, { timeoutMs: 5000 }); // to anyone at B's address
  const captured = n.net.sentLog.find((s) => s.from.host === '10.0.0.1' && decodePacket(s.data).recipient === undefined)!.data;
  t.is(captured.length, 1224, 'a hello request is padded (P1363 signature: 8 bytes under the limit)');

  const send = await rawSender(n.net, ATTACKER);
  await send(captured, { host: '10.0.0.3', port: PORT });
  await waitFor(() => c.stats().challengesSent === 1, { what: 'C challenges the address' });
  // An old node's request, not padded: any answer would be larger, so there is none.
  const unpadded = signedBy(n.nodeA, n.clock, hello(n.clock));
  await send(unpadded, { host: '10.0.0.3', port: PORT });
  await waitFor(() => c.stats().refusals['reply-larger-than-request'] === 1, { what: 'C refuses to answer the unpadded copy' });
  t.true(bytesSent(n.net, '10.0.0.3', ATTACKER) <= captured.length, `C sent ${bytesSent(n.net, '10.0.0.3', ATTACKER)} bytes for ${captured.length + unpadded.length} received`);
  t.is(n.net.sentLog.filter((s) => s.from.host === '10.0.0.3' && s.to.host === ATTACKER).length, 1);
  t.deepEqual(hellosAtC, [], 'no hello event: nothing learns the address');
  t.is(c.stats().endpointsConfirmed, 0);

  // A itself, from its own address: the challenge is answered and the hello counts.
  await a.hello({ host: '10.0.0.3', port: PORT, prefix: C }, { timeoutMs: 5000 });
  await waitFor(() => hellosAtC.length === 1, { what: 'C\'s hello event once A answered the challenge' });
  t.like(hellosAtC[0]!.from, { prefix: A, host: '10.0.0.1', port: PORT });
  t.is(c.stats().endpointsConfirmed, 1);
});

test('a drain captured before the receiver restarted is refused after the restart, even once the sender is known again', async (t) => {
  const n = await net3();
  const a = await n.endpoint(n.nodeA, '10.0.0.1');
  let b = await n.endpoint(n.nodeB, '10.0.0.2');
  const toB = { host: '10.0.0.2', port: PORT, prefix: B };
  await a.hello(toB, { timeoutMs: 5000 });
  await waitFor(() => b.stats().endpointsConfirmed === 1, { what: 'B confirms A' });
  const drains: unknown[] = [];
  b.on('drain', (ev) => void drains.push(ev));
  await a.send(toB, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 });
  await waitFor(() => drains.length === 1, { what: 'the drain is accepted' });
  const captured = n.net.sentLog.filter((s) => s.from.host === '10.0.0.1').at(-1)!.data;
  t.is(decodePacket(captured).message.kind, 'drain');

  await n.clock.advance(60_000);
  await b.stop();
  b = await n.endpoint(n.nodeB, '10.0.0.2');
  const drainsAfter: unknown[] = [];
  b.on('drain', (ev) => void drainsAfter.push(ev));
  await a.hello(toB, { timeoutMs: 5000 }); // A and the new B meet again: certificates, link key
  await waitFor(() => b.stats().endpointsConfirmed === 1, { what: 'the new B confirms A' });
  const send = await rawSender(n.net, ATTACKER);
  await send(captured, toB);
  await waitFor(() => b.stats().refusals['before-start'] === 1, { what: 'the old drain refused' });
  await a.send(toB, { kind: 'drain', phase: 'down', tunnelPort: 1196, closeInMs: 0 });
  await waitFor(() => drainsAfter.length === 1, { what: 'a new drain is accepted' });
  t.like(drainsAfter[0], { msg: { tunnelPort: 1196 } });
});

test('a sender whose clock is a minute behind is refused after our start until a round trip with it, then accepted', async (t) => {
  const n = await net3();
  const b = await n.endpoint(n.nodeB, '10.0.0.2');
  const behind: PeerProtoClock = { nowMs: () => n.clock.nowMs() - 60_000, setTimeout: (fn, ms) => n.clock.setTimeout(fn, ms) };
  const slow = await n.endpoint(n.nodeA, '10.0.0.1', {}, behind);
  const lists: unknown[] = [];
  b.on('peer-list', (ev) => void lists.push(ev));
  const toB = { host: '10.0.0.2', port: PORT, prefix: B };
  await slow.send(toB, { kind: 'hello', myTimestampMs: behind.nowMs() });
  await waitFor(() => b.stats().refusals['before-start'] === 1, { what: 'its frame looks older than B\'s start' });
  // B asks; the answer is fresh whatever its timestamp, and shows the offset.
  const { from } = await b.hello({ host: '10.0.0.1', port: PORT, prefix: A }, { timeoutMs: 5000 });
  t.is(from.prefix, A);
  await slow.send(toB, { kind: 'peer-list', entries: [] });
  await waitFor(() => lists.length === 1, { what: 'its next frame is accepted' });
  t.is(b.stats().refusals['before-start'], 1);
});

test('the N+1th full certificate check from one source address is refused unchecked; another source still gets its checks', async (t) => {
  const n = await net3();
  const b = await n.endpoint(n.nodeB, '10.0.0.2', { certCheckRation: { perSourcePerSec: 0, perSourceBurst: 3, totalPerSec: 0, totalBurst: 100 } });
  const toB = { host: '10.0.0.2', port: PORT };
  const strangers = await Promise.all([1, 2, 3, 4, 5].map((i) => n.pki.node(`fd5e:1:0:${i}0::/64`, `d${i}`)));
  const send = await rawSender(n.net, ATTACKER);
  for (const s of strangers.slice(0, 4)) await send(signedBy(s, n.clock, hello(n.clock), { padToBytes: 1232 }), toB);
  await waitFor(() => b.stats().received === 4, { what: 'four hellos received' });
  t.is(b.stats().accepted, 3);
  t.deepEqual(b.stats().refusals, { 'cert-checks-rate-limited': 1 });
  t.is(b.stats().dropped.rateLimited, 1);
  const other = await rawSender(n.net, '10.0.0.77');
  await other(signedBy(strangers[4]!, n.clock, hello(n.clock), { padToBytes: 1232 }), toB);
  await waitFor(() => b.stats().accepted === 4, { what: 'a hello from another source is checked' });
});

test('a source that sent bad signatures gets no more signatures checked until its budget refills', async (t) => {
  const n = await net3();
  const b = await n.endpoint(n.nodeB, '10.0.0.2', { badSignatureRation: { perSourcePerSec: 1, perSourceBurst: 2, totalPerSec: 100, totalBurst: 100 } });
  const toB = { host: '10.0.0.2', port: PORT };
  const send = await rawSender(n.net, ATTACKER);
  const forged = (): Buffer => encodePacket({ sender: A, recipient: undefined, timestampMs: n.clock.nowMs(), seq: seq++, certDer: n.nodeA.certDer, requestId: 1, message: hello(n.clock) }, () => Buffer.alloc(64, 7));
  for (let i = 0; i < 3; i++) await send(forged(), toB);
  await waitFor(() => b.stats().received === 3, { what: 'three forged hellos received' });
  t.deepEqual(b.stats().refusals, { 'bad-signature': 2, 'bad-signatures-rate-limited': 1 });
  // Even a genuine frame from that address waits for the budget…
  await send(signedBy(n.nodeA, n.clock, hello(n.clock), { padToBytes: 1232 }), toB);
  await waitFor(() => b.stats().refusals['bad-signatures-rate-limited'] === 2, { what: 'refused while the budget is spent' });
  // …which refills with time.
  await n.clock.advance(1000);
  await send(signedBy(n.nodeA, n.clock, hello(n.clock), { padToBytes: 1232 }), toB);
  await waitFor(() => b.stats().accepted === 1, { what: 'accepted once a token is back' });
});
