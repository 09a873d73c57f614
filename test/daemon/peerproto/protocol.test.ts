// Two PeerProtocol endpoints on the in-memory UDP network of fixture.ts, on a
// fake clock, with throwaway certificates, plus a bare socket that plays the
// attacker. The real socket is tested in socket.test.ts.
import test from 'ava';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { PeerProtocol, type HelloEvent, type Incoming, type NetworkConfigEvent } from '../../../daemon/peerproto/index.js';
import { encodePacket, type Packet, type PeerListMessage } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { FakeUdpNetwork, captureLog, makePki, rawSender, type TestNode, type TestPki } from './fixture.js';
import { waitFor } from '../../fixtures/wait.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';
const HOST_A = '10.0.0.1';
const HOST_B = '10.0.0.2';
const PORT = 1194;
const TO_B = { host: HOST_B, port: PORT, prefix: B };

interface Pair {
  clock: FakeClock;
  net: FakeUdpNetwork;
  pki: TestPki;
  a: PeerProtocol;
  b: PeerProtocol;
  nodeA: TestNode;
  nodeB: TestNode;
  logA: ReturnType<typeof captureLog>;
  logB: ReturnType<typeof captureLog>;
}

async function pair(): Promise<Pair> {
  const clock = new FakeClock(1_765_000_000_000);
  const net = new FakeUdpNetwork();
  const pki = await makePki(clock.nowMs());
  const nodeA = await pki.node(A, 'a1');
  const nodeB = await pki.node(B, 'b1');
  const logA = captureLog();
  const logB = captureLog();
  const deps = { clock, verifyPeerCert: pki.verifyPeerCert };
  const a = new PeerProtocol({ ...deps, self: nodeA, log: logA, configVersion: () => 3, socketFactory: net.factory(HOST_A) });
  const b = new PeerProtocol({ ...deps, self: nodeB, log: logB, configVersion: () => 4, socketFactory: net.factory(HOST_B) });
  await a.start({ port: PORT });
  await b.start({ port: PORT });
  return { clock, net, pki, a, b, nodeA, nodeB, logA, logB };
}

/** A's hello to B, and A's answer to B's challenge: B has confirmed A's address. */
async function helloConfirmed(p: Pair): Promise<void> {
  await p.a.hello(TO_B, { timeoutMs: 5000 });
  await waitFor(() => p.b.stats().endpointsConfirmed === 1, { what: 'B confirms A\'s address' });
}

let seq = 1000;
function packetFrom(p: Pair, node: TestNode, extra: Partial<Packet> = {}): Packet {
  return {
    sender: node.prefix,
    recipient: B,
    timestampMs: p.clock.nowMs(),
    seq: seq++,
    message: { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:c::/64', addresses: ['10.9.0.3:1194'] }] },
    ...extra,
  };
}

test('hello measures the RTT on the sender\'s clock and both sides learn each other', async (t) => {
  const p = await pair();
  const seenByB: HelloEvent[] = [];
  p.b.on('hello', (ev) => void seenByB.push(ev));
  // Hold B's answer while 7 ms pass.
  const held: { data: Buffer; from: { host: string; port: number }; to: { host: string; port: number } }[] = [];
  p.net.drop = (data, from, to) => from.host === HOST_B && held.push({ data, from, to }) > 0;
  const hello = p.a.hello(TO_B, { timeoutMs: 5000 });
  await waitFor(() => held.length === 1, { what: 'B answers' });
  await p.clock.advance(7);
  p.net.drop = () => false;
  for (const h of held) p.net.deliver(h.data, h.from, h.to);
  const { rttMs, from } = await hello;
  t.is(rttMs, 7);
  t.deepEqual(from, { prefix: B, serial: 'b1', host: HOST_B, port: PORT });
  // B's hello event waits for A's answer to its challenge: a round trip from A's address.
  await waitFor(() => seenByB.length === 1, { what: 'B\'s hello event' });
  t.is(seenByB[0]!.from.prefix, A);
  t.is(seenByB[0]!.from.host, HOST_A);
  t.is(seenByB[0]!.msg.configVersion, 3);
  t.is(seenByB[0]!.rttMs, 7);
  t.deepEqual(p.a.knownPeers(), [{ prefix: B, serial: 'b1' }]);
  t.deepEqual(p.b.knownPeers(), [{ prefix: A, serial: 'a1' }]);
});

test('the hello reply is also an event, with the RTT and the peer\'s config version', async (t) => {
  const p = await pair();
  const replies: HelloEvent[] = [];
  p.a.on('hello', (ev) => void replies.push(ev));
  await p.a.hello(TO_B, { timeoutMs: 5000 });
  t.is(replies.length, 1);
  t.is(replies[0]!.rttMs, 0);
  t.is(replies[0]!.msg.configVersion, 4);
});

test('a first hello may go to a bare address without knowing the prefix', async (t) => {
  const p = await pair();
  const { from } = await p.a.hello({ host: HOST_B, port: PORT }, { timeoutMs: 5000 });
  t.is(from.prefix, B);
});

test('a link hello carries how late its sender ran', async (t) => {
  const p = await pair();
  const seen: HelloEvent[] = [];
  p.b.on('hello', (ev) => void seen.push(ev));
  await p.a.send(TO_B, { kind: 'hello', myTimestampMs: p.clock.nowMs(), lateMs: 1_250 });
  await waitFor(() => seen.length === 1, { what: 'B sees the hello' });
  t.is(seen[0]!.msg.lateMs, 1_250);
});

test('peer-list exchange: a request answered from an event listener', async (t) => {
  const p = await pair();
  await p.a.hello(TO_B, { timeoutMs: 5000 });
  p.b.on('peer-list', (ev) => {
    if (ev.msg.requestCount !== undefined) {
      void p.b.reply(ev, { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:c::/64', addresses: ['10.9.0.3:1194', '[fd00::3]:1194'] }] });
    }
  });
  const reply = await p.a.request(TO_B, { kind: 'peer-list', entries: [], requestCount: 10 }, { timeoutMs: 5000 });
  t.deepEqual(reply.msg, { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:c::/64', addresses: ['10.9.0.3:1194', '[fd00::3]:1194'] }] });
  // Messages after the hello carry no certificate: B knows A from its cache.
  const lists: Incoming<PeerListMessage>[] = [];
  p.b.on('peer-list', (ev) => void lists.push(ev));
  const sentBefore = p.net.sentLog.length;
  await p.a.send(TO_B, { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:d::/64', addresses: [] }] });
  await waitFor(() => lists.length === 1, { what: 'B receives the peer list' });
  t.is(lists[0]!.from.prefix, A);
  t.true(p.net.sentLog[sentBefore]!.data.length < 400, 'no certificate in the frame');
});

test('a network config larger than a datagram is reassembled', async (t) => {
  const p = await pair();
  await p.a.hello(TO_B, { timeoutMs: 5000 });
  const configs: NetworkConfigEvent[] = [];
  p.b.on('network-config', (ev) => void configs.push(ev));
  const bytes = Buffer.from(JSON.stringify({ config: 'x'.repeat(3000), signature: randomBytes(64).toString('base64') }));
  await p.a.sendNetworkConfig(TO_B, 7, bytes);
  await waitFor(() => configs.length === 1, { what: 'B reassembles the config' });
  t.is(configs[0]!.version, 7);
  t.true(configs[0]!.bytes.equals(bytes));
  t.is(configs[0]!.from.prefix, A);
});

test('tunnel request is answered by the handler; without one it is refused', async (t) => {
  const p = await pair();
  const refused = await p.a.request(TO_B, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 5000 });
  t.deepEqual(refused.msg, { kind: 'tunnel-refuse', reason: 'unsupported' });

  const asked: string[] = [];
  p.b.setHandler('tunnel-request', async (ev) => {
    asked.push(`${ev.from.prefix} ${ev.msg.role} ${ev.msg.proto}`);
    return { kind: 'tunnel-accept', port: 1195 };
  });
  const accepted = await p.a.request(TO_B, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 5000 });
  t.deepEqual(accepted.msg, { kind: 'tunnel-accept', port: 1195 });
  t.is(accepted.from.prefix, B);
  t.deepEqual(asked, [`${A} client udp`]);

  p.b.setHandler('tunnel-request', () => {
    throw new Error('openvpn would not start');
  });
  const failed = await p.a.request(TO_B, { kind: 'tunnel-request', role: 'client', proto: 'tcp' }, { timeoutMs: 5000 });
  t.deepEqual(failed.msg, { kind: 'tunnel-refuse', reason: 'error' });
  t.is(p.b.stats().handlerErrors, 1);
});

test('a request addressed to another prefix is dropped by the receiver', async (t) => {
  const p = await pair();
  const reply = p.a.request({ host: HOST_B, port: PORT, prefix: 'fd5e:1:0:e::/64' }, { kind: 'hello', myTimestampMs: p.clock.nowMs() }, { timeoutMs: 300 });
  // B drops it as misaddressed (recipient is not B), so nothing comes back.
  await waitFor(() => p.b.stats().dropped.misaddressed === 1, { what: 'B counts the misaddressed frame' });
  await p.clock.advance(300);
  t.is(((await t.throwsAsync(reply)) as { code?: string }).code, 'RN_PEERPROTO_TIMEOUT');
});

test('every authenticated frame, of any kind, is announced with its sender; dropped ones are not', async (t) => {
  const p = await pair();
  const send = await rawSender(p.net, '10.0.0.66');
  const seenByB: string[] = [];
  p.b.on('authenticated', (ev) => void seenByB.push(`${ev.from.prefix} ${ev.from.host}:${ev.from.port} ${ev.msg.kind}`));
  const seenByA: string[] = [];
  p.a.on('authenticated', (ev) => void seenByA.push(`${ev.from.prefix} ${ev.msg.kind}${ev.inReplyTo !== undefined ? ' reply' : ''}`));
  await helloConfirmed(p);
  await p.a.send(TO_B, { kind: 'addresses', public: [], internal: ['10.0.0.1:1194'], upnp: [] });
  await waitFor(() => seenByB.length === 3, { what: 'B saw all three frames' });
  // An unknown sender's frame is not proof of anything.
  const nodeC = await p.pki.node('fd5e:1:0:c::/64', 'c1');
  await send(encodePacket(packetFrom(p, nodeC), nodeC.sign), TO_B);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 1, { what: 'frame from an unknown sender dropped' });
  t.deepEqual(seenByB, [`${A} ${HOST_A}:${PORT} hello`, `${A} ${HOST_A}:${PORT} hello`, `${A} ${HOST_A}:${PORT} addresses`]);
  t.deepEqual(seenByA, [`${B} hello reply`]);
});

test('a refused send keeps the socket error as cause and its errno in details', async (t) => {
  const p = await pair();
  p.net.sendError = () => Object.assign(new Error('send ENETUNREACH 10.0.0.2:1194'), { code: 'ENETUNREACH', errno: -101, syscall: 'send' });
  const err = (await t.throwsAsync(p.a.send(TO_B, { kind: 'hello', myTimestampMs: 1 }))) as Error & { code?: string; details?: Record<string, unknown>; cause?: unknown };
  t.is(err.code, 'RN_PEERPROTO_SEND');
  t.is((err.cause as { code?: string }).code, 'ENETUNREACH');
  t.like(err.details, { errno: 'ENETUNREACH', peer: B, remote: `${HOST_B}:${PORT}`, kind: 'hello' });
  t.is(p.a.stats().sendErrors, 1);
  // A request whose first send fails rejects with the same error at once.
  const reqErr = (await t.throwsAsync(p.a.request(TO_B, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 5000 }))) as { code?: string; details?: Record<string, unknown> };
  t.is(reqErr.code, 'RN_PEERPROTO_SEND');
  t.is(reqErr.details?.errno, 'ENETUNREACH');
  t.is(p.clock.pendingTimers(), 0);
});

test('forged signature, unknown sender, bad certificate: dropped and counted', async (t) => {
  const p = await pair();
  const send = await rawSender(p.net, '10.0.0.66');
  const events: unknown[] = [];
  p.b.on('peer-list', (ev) => void events.push(ev));

  // A's certificate, but signed by a key that is not A's.
  const { privateKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const forged = encodePacket(packetFrom(p, p.nodeA, { certDer: p.nodeA.certDer }), (d) => sign('sha256', d, { key: otherKey, dsaEncoding: 'ieee-p1363' }));
  await send(forged, TO_B);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 1, { what: 'forged frame counted' });

  // No certificate and B has never heard of A.
  await send(encodePacket(packetFrom(p, p.nodeA), p.nodeA.sign), TO_B);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 2, { what: 'unknown sender counted' });

  // A certificate for C presented by a frame that claims to be A.
  const nodeC = await p.pki.node('fd5e:1:0:c::/64', 'c1');
  await send(encodePacket(packetFrom(p, p.nodeA, { certDer: nodeC.certDer }), nodeC.sign), TO_B);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 3, { what: 'prefix mismatch counted' });

  // A revoked certificate.
  p.pki.revoked.add('a1');
  await send(encodePacket(packetFrom(p, p.nodeA, { certDer: p.nodeA.certDer }), p.nodeA.sign), TO_B);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 4, { what: 'revoked certificate counted' });

  t.deepEqual(events, []);
  t.is(p.b.stats().accepted, 0);
  t.deepEqual(p.b.stats().refusals, { 'bad-signature': 1, 'unknown-sender': 1, 'cert-for-other-prefix': 1, 'cert-refused': 1 });
  t.true(p.logB.entries.some((e) => e.msg === 'peer message dropped' && e.obj.why === 'bad-signature' && e.obj.reason === 'unauthenticated'));
});

test('a replayed or stale frame is dropped; a fresh one gets through', async (t) => {
  const p = await pair();
  const send = await rawSender(p.net, '10.0.0.66');
  const lists: unknown[] = [];
  p.b.on('peer-list', (ev) => void lists.push(ev));
  const frame = encodePacket(packetFrom(p, p.nodeA, { certDer: p.nodeA.certDer }), p.nodeA.sign);
  await send(frame, TO_B);
  await waitFor(() => lists.length === 1, { what: 'first copy accepted' });
  await send(frame, TO_B);
  await waitFor(() => p.b.stats().dropped.replayed === 1, { what: 'second copy counted as replayed' });
  const stale = encodePacket(packetFrom(p, p.nodeA, { timestampMs: p.clock.nowMs() - 3_600_000 }), p.nodeA.sign);
  await send(stale, TO_B);
  await waitFor(() => p.b.stats().dropped.replayed === 2, { what: 'stale frame counted' });
  await send(encodePacket(packetFrom(p, p.nodeA), p.nodeA.sign), TO_B);
  await waitFor(() => lists.length === 2, { what: 'a new frame is accepted' });
  t.is(p.b.stats().accepted, 2);
});

test('garbage and oversize datagrams are dropped and the endpoint keeps working', async (t) => {
  const p = await pair();
  const send = await rawSender(p.net, '10.0.0.66');
  for (let i = 0; i < 50; i++) await send(randomBytes(1 + (i * 37) % 900), TO_B);
  await send(Buffer.concat([Buffer.from([1, 1]), randomBytes(1400)]), TO_B);
  await waitFor(() => p.b.stats().received === 51, { what: 'all garbage received' });
  const s = p.b.stats();
  t.is(s.dropped.oversize, 1);
  t.is(s.dropped.malformed + s.dropped.unauthenticated + s.dropped.misaddressed + s.dropped.replayed, 50);
  t.is(s.accepted, 0);
  const { from } = await p.a.hello(TO_B, { timeoutMs: 5000 });
  t.is(from.prefix, B);
});

test('revalidateCerts drops a peer whose certificate was revoked since', async (t) => {
  const p = await pair();
  await helloConfirmed(p);
  t.deepEqual(p.b.knownPeers().map((k) => k.prefix), [A]);
  p.pki.revoked.add('a1');
  t.deepEqual(p.b.revalidateCerts(), [A]);
  t.deepEqual(p.b.knownPeers(), []);
  await p.a.send(TO_B, { kind: 'peer-list', entries: [] });
  await waitFor(() => p.b.stats().dropped.unauthenticated === 1, { what: 'frame from the revoked peer counted' });
});

test('trace logging shows every message in and out', async (t) => {
  const p = await pair();
  await helloConfirmed(p);
  const traces = (log: typeof p.logA) => log.entries.filter((e) => e.level === 'trace').map((e) => `${String(e.obj.dir)} ${String(e.obj.kind)}`);
  // The hello, B's answer (which challenges A's address) and A's answer to the challenge.
  t.deepEqual(traces(p.logA), ['out hello', 'in hello', 'out hello']);
  t.deepEqual(traces(p.logB), ['in hello', 'out hello', 'in hello']);
});

test('binding a taken port fails with RN_PEERPROTO_BIND, and the endpoint does not send', async (t) => {
  const p = await pair();
  const c = new PeerProtocol({ clock: p.clock, self: await p.pki.node('fd5e:1:0:c::/64', 'c1'), verifyPeerCert: p.pki.verifyPeerCert, log: captureLog(), socketFactory: p.net.factory(HOST_B) });
  const err = await t.throwsAsync(c.start({ port: PORT }));
  t.is((err as { code?: string }).code, 'RN_PEERPROTO_BIND');
  t.regex((err as Error).message, /udp \[::\]:1194 \(address in use\)/);
  await t.throwsAsync(c.send(TO_B, { kind: 'hello', myTimestampMs: 1 }), { message: /not running/ });
});

test('a DER (not P1363) signature from pki signBytes is accepted too', async (t) => {
  const p = await pair();
  const derSigner = { ...p.nodeA, sign: (d: Buffer) => sign('sha256', d, p.nodeA.key) };
  const a2 = new PeerProtocol({ clock: p.clock, self: derSigner, verifyPeerCert: p.pki.verifyPeerCert, log: captureLog(), socketFactory: p.net.factory('10.0.0.3') });
  await a2.start({ port: PORT });
  const { from } = await a2.hello(TO_B, { timeoutMs: 5000 });
  t.is(from.prefix, B);
  t.is(p.b.stats().dropped.unauthenticated, 0);
});
