// Two PeerProtocol endpoints on loopback with real UDP sockets and throwaway
// certificates, plus a raw socket that plays the attacker.
import test from 'ava';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { systemClock } from '../../../daemon/sys/clock.js';
import { PeerProtocol, type Incoming, type NetworkConfigEvent, type HelloEvent } from '../../../daemon/peerproto/index.js';
import { encodePacket, type PeerListMessage, type Packet } from '../../../wire/messages.js';
import { waitFor } from '../../fixtures/wait.js';
import { captureLog, makePki, type TestNode, type TestPki } from './fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';

interface Pair {
  pki: TestPki;
  a: PeerProtocol;
  b: PeerProtocol;
  nodeA: TestNode;
  nodeB: TestNode;
  portA: number;
  portB: number;
  logA: ReturnType<typeof captureLog>;
  logB: ReturnType<typeof captureLog>;
}

async function pair(t: { teardown(fn: () => unknown): void }): Promise<Pair> {
  const pki = await makePki(Date.now());
  const nodeA = await pki.node(A, 'a1');
  const nodeB = await pki.node(B, 'b1');
  const logA = captureLog();
  const logB = captureLog();
  const a = new PeerProtocol({ clock: systemClock, self: nodeA, verifyPeerCert: pki.verifyPeerCert, log: logA, configVersion: () => 3 });
  const b = new PeerProtocol({ clock: systemClock, self: nodeB, verifyPeerCert: pki.verifyPeerCert, log: logB, configVersion: () => 4 });
  const ctl = new AbortController();
  t.teardown(() => ctl.abort());
  const { port: portA } = await a.start({ port: 0, signal: ctl.signal });
  const { port: portB } = await b.start({ port: 0, signal: ctl.signal });
  return { pki, a, b, nodeA, nodeB, portA, portB, logA, logB };
}

/** A raw UDP socket that sends hand-made datagrams. */
async function rawSender(t: { teardown(fn: () => unknown): void }): Promise<(data: Buffer, port: number) => Promise<void>> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  t.teardown(() => s.close());
  return (data, port) => new Promise((resolve, reject) => s.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

function packetFrom(node: TestNode, extra: Partial<Packet> = {}): Packet {
  return {
    sender: node.prefix,
    recipient: B,
    timestampMs: Date.now(),
    seq: 1000 + Math.floor(Math.random() * 1e6),
    message: { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:c::/64', addresses: ['10.9.0.3:1194'] }] },
    ...extra,
  };
}

test('hello over IPv4 loopback measures an RTT and both sides learn each other', async (t) => {
  const p = await pair(t);
  const seenByB: HelloEvent[] = [];
  p.b.on('hello', (ev) => void seenByB.push(ev));
  const { rttMs, from } = await p.a.hello({ host: '127.0.0.1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  t.true(rttMs >= 0 && Number.isFinite(rttMs));
  t.deepEqual({ prefix: from.prefix, serial: from.serial, host: from.host, port: from.port }, { prefix: B, serial: 'b1', host: '127.0.0.1', port: p.portB });
  await waitFor(() => seenByB.length === 1, { what: 'B sees the hello' });
  t.is(seenByB[0]!.from.prefix, A);
  t.is(seenByB[0]!.msg.configVersion, 3);
  t.deepEqual(p.a.knownPeers(), [{ prefix: B, serial: 'b1' }]);
  t.deepEqual(p.b.knownPeers(), [{ prefix: A, serial: 'a1' }]);
});

test('hello over IPv6 loopback on the same dual-stack socket', async (t) => {
  const p = await pair(t);
  const replies: HelloEvent[] = [];
  p.a.on('hello', (ev) => void replies.push(ev));
  const { from } = await p.a.hello({ host: '::1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  t.is(from.host, '::1');
  // The reply is also emitted as an event carrying the RTT and B's config version.
  await waitFor(() => replies.length === 1, { what: 'hello reply event' });
  t.is(typeof replies[0]!.rttMs, 'number');
  t.is(replies[0]!.msg.configVersion, 4);
});

test('a first hello may go to a bare address without knowing the prefix', async (t) => {
  const p = await pair(t);
  const { from } = await p.a.hello({ host: '127.0.0.1', port: p.portB }, { timeoutMs: 5000 });
  t.is(from.prefix, B);
});

test('peer-list exchange: a request answered from an event listener', async (t) => {
  const p = await pair(t);
  await p.a.hello({ host: '127.0.0.1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  p.b.on('peer-list', (ev) => {
    if (ev.msg.requestCount !== undefined) {
      void p.b.reply(ev, { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:c::/64', addresses: ['10.9.0.3:1194', '[fd00::3]:1194'] }] });
    }
  });
  const reply = await p.a.request({ host: '127.0.0.1', port: p.portB, prefix: B }, { kind: 'peer-list', entries: [], requestCount: 10 }, { timeoutMs: 5000 });
  t.deepEqual(reply.msg, { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:c::/64', addresses: ['10.9.0.3:1194', '[fd00::3]:1194'] }] });
  // Messages after the hello carry no certificate: B knows A from its cache.
  const lists: Incoming<PeerListMessage>[] = [];
  p.b.on('peer-list', (ev) => void lists.push(ev));
  await p.a.send({ host: '127.0.0.1', port: p.portB, prefix: B }, { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:0:d::/64', addresses: [] }] });
  await waitFor(() => lists.length === 1, { what: 'B receives the peer list' });
  t.is(lists[0]!.from.prefix, A);
});

test('a network config larger than a datagram is reassembled', async (t) => {
  const p = await pair(t);
  await p.a.hello({ host: '127.0.0.1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  const configs: NetworkConfigEvent[] = [];
  p.b.on('network-config', (ev) => void configs.push(ev));
  const bytes = Buffer.from(JSON.stringify({ config: 'x'.repeat(3000), signature: randomBytes(64).toString('base64') }));
  await p.a.sendNetworkConfig({ host: '127.0.0.1', port: p.portB, prefix: B }, 7, bytes);
  await waitFor(() => configs.length === 1, { what: 'B reassembles the config' });
  t.is(configs[0]!.version, 7);
  t.true(configs[0]!.bytes.equals(bytes));
  t.is(configs[0]!.from.prefix, A);
});

test('tunnel request is answered by the handler; without one it is refused', async (t) => {
  const p = await pair(t);
  const to = { host: '127.0.0.1', port: p.portB, prefix: B };
  const refused = await p.a.request(to, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 5000 });
  t.deepEqual(refused.msg, { kind: 'tunnel-refuse', reason: 'unsupported' });

  const asked: string[] = [];
  p.b.setHandler('tunnel-request', async (ev) => {
    asked.push(`${ev.from.prefix} ${ev.msg.role} ${ev.msg.proto}`);
    return { kind: 'tunnel-accept', port: 1195 };
  });
  const accepted = await p.a.request(to, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 5000 });
  t.deepEqual(accepted.msg, { kind: 'tunnel-accept', port: 1195 });
  t.is(accepted.from.prefix, B);
  t.deepEqual(asked, [`${A} client udp`]);

  p.b.setHandler('tunnel-request', () => {
    throw new Error('openvpn would not start');
  });
  const failed = await p.a.request(to, { kind: 'tunnel-request', role: 'client', proto: 'tcp' }, { timeoutMs: 5000 });
  t.deepEqual(failed.msg, { kind: 'tunnel-refuse', reason: 'error' });
  t.is(p.b.stats().handlerErrors, 1);
});

test('a request addressed to another prefix is dropped by the receiver', async (t) => {
  const p = await pair(t);
  const err = await t.throwsAsync(
    p.a.request({ host: '127.0.0.1', port: p.portB, prefix: 'fd5e:1:0:e::/64' }, { kind: 'hello', myTimestampMs: Date.now() }, { timeoutMs: 300 }),
  );
  // B drops it as misaddressed (recipient is not B), so nothing comes back.
  t.is((err as { code?: string }).code, 'RN_PEERPROTO_TIMEOUT');
  await waitFor(() => p.b.stats().dropped.misaddressed === 1, { what: 'B counts the misaddressed frame' });
});

test('forged signature, unknown sender, bad certificate: dropped and counted', async (t) => {
  const p = await pair(t);
  const send = await rawSender(t);
  const events: unknown[] = [];
  p.b.on('peer-list', (ev) => void events.push(ev));

  // A's certificate, but signed by a key that is not A's.
  const { privateKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const forged = encodePacket(packetFrom(p.nodeA, { certDer: p.nodeA.certDer }), (d) => sign('sha256', d, { key: otherKey, dsaEncoding: 'ieee-p1363' }));
  await send(forged, p.portB);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 1, { what: 'forged frame counted' });

  // No certificate and B has never heard of A.
  await send(encodePacket(packetFrom(p.nodeA), p.nodeA.sign), p.portB);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 2, { what: 'unknown sender counted' });

  // A certificate for C presented by a frame that claims to be A.
  const nodeC = await p.pki.node('fd5e:1:0:c::/64', 'c1');
  await send(encodePacket(packetFrom(p.nodeA, { certDer: nodeC.certDer }), nodeC.sign), p.portB);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 3, { what: 'prefix mismatch counted' });

  // A revoked certificate.
  p.pki.revoked.add('a1');
  await send(encodePacket(packetFrom(p.nodeA, { certDer: p.nodeA.certDer }), p.nodeA.sign), p.portB);
  await waitFor(() => p.b.stats().dropped.unauthenticated === 4, { what: 'revoked certificate counted' });

  t.deepEqual(events, []);
  t.is(p.b.stats().accepted, 0);
  t.true(p.logB.entries.some((e) => e.msg === 'peer message dropped' && e.obj.why === 'bad signature'));
});

test('a replayed or stale frame is dropped; a fresh one gets through', async (t) => {
  const p = await pair(t);
  const send = await rawSender(t);
  const lists: unknown[] = [];
  p.b.on('peer-list', (ev) => void lists.push(ev));
  const frame = encodePacket(packetFrom(p.nodeA, { certDer: p.nodeA.certDer }), p.nodeA.sign);
  await send(frame, p.portB);
  await waitFor(() => lists.length === 1, { what: 'first copy accepted' });
  await send(frame, p.portB);
  await waitFor(() => p.b.stats().dropped.replayed === 1, { what: 'second copy counted as replayed' });
  const stale = encodePacket(packetFrom(p.nodeA, { timestampMs: Date.now() - 3_600_000 }), p.nodeA.sign);
  await send(stale, p.portB);
  await waitFor(() => p.b.stats().dropped.replayed === 2, { what: 'stale frame counted' });
  await send(encodePacket(packetFrom(p.nodeA), p.nodeA.sign), p.portB);
  await waitFor(() => lists.length === 2, { what: 'a new frame is accepted' });
  t.is(p.b.stats().accepted, 2);
});

test('garbage and oversize datagrams are dropped and the endpoint keeps working', async (t) => {
  const p = await pair(t);
  const send = await rawSender(t);
  for (let i = 0; i < 50; i++) await send(randomBytes(1 + (i * 37) % 900), p.portB);
  await send(Buffer.concat([Buffer.from([1, 1]), randomBytes(1400)]), p.portB);
  await waitFor(() => p.b.stats().received === 51, { what: 'all garbage received' });
  const s = p.b.stats();
  t.is(s.dropped.oversize, 1);
  t.is(s.dropped.malformed + s.dropped.unauthenticated + s.dropped.misaddressed + s.dropped.replayed, 50);
  t.is(s.accepted, 0);
  const { from } = await p.a.hello({ host: '127.0.0.1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  t.is(from.prefix, B);
});

test('revalidateCerts drops a peer whose certificate was revoked since', async (t) => {
  const p = await pair(t);
  await p.a.hello({ host: '127.0.0.1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  t.deepEqual(p.b.knownPeers().map((k) => k.prefix), [A]);
  p.pki.revoked.add('a1');
  t.deepEqual(p.b.revalidateCerts(), [A]);
  t.deepEqual(p.b.knownPeers(), []);
  await p.a.send({ host: '127.0.0.1', port: p.portB, prefix: B }, { kind: 'peer-list', entries: [] });
  await waitFor(() => p.b.stats().dropped.unauthenticated === 1, { what: 'frame from the revoked peer counted' });
});

test('trace logging shows every message in and out', async (t) => {
  const p = await pair(t);
  await p.a.hello({ host: '127.0.0.1', port: p.portB, prefix: B }, { timeoutMs: 5000 });
  const traces = (log: typeof p.logA) => log.entries.filter((e) => e.level === 'trace').map((e) => `${String(e.obj.dir)} ${String(e.obj.kind)}`);
  t.deepEqual(traces(p.logA), ['out hello', 'in hello']);
  await waitFor(() => traces(p.logB).length === 2, { what: 'B logged both' });
  t.deepEqual(traces(p.logB), ['in hello', 'out hello']);
});

test('binding a taken port fails with RN_PEERPROTO_BIND', async (t) => {
  const p = await pair(t);
  const pki = p.pki;
  const c = new PeerProtocol({ clock: systemClock, self: await pki.node('fd5e:1:0:c::/64', 'c1'), verifyPeerCert: pki.verifyPeerCert, log: captureLog() });
  const err = await t.throwsAsync(c.start({ port: p.portB }));
  t.is((err as { code?: string }).code, 'RN_PEERPROTO_BIND');
  await t.throwsAsync(c.send({ host: '127.0.0.1', port: p.portB }, { kind: 'hello', myTimestampMs: 1 }), { message: /not running/ });
});

test('a DER (not P1363) signature from pki/signBytes is accepted too', async (t) => {
  const pki = await makePki(Date.now());
  const nodeA = await pki.node(A, 'a1');
  const nodeB = await pki.node(B, 'b1');
  const derSigner = { ...nodeA, sign: (d: Buffer) => sign('sha256', d, nodeA.key) };
  const a = new PeerProtocol({ clock: systemClock, self: derSigner, verifyPeerCert: pki.verifyPeerCert, log: captureLog() });
  const b = new PeerProtocol({ clock: systemClock, self: nodeB, verifyPeerCert: pki.verifyPeerCert, log: captureLog() });
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  await a.start({ port: 0, host: '127.0.0.1' });
  const { port } = await b.start({ port: 0 });
  const { from } = await a.hello({ host: '127.0.0.1', port, prefix: B }, { timeoutMs: 5000 });
  t.is(from.prefix, B);
  // Keys in the fixture are real P-256 keys.
  t.is(createPublicKey(createPrivateKey(nodeA.key.export({ type: 'pkcs8', format: 'pem' }))).asymmetricKeyDetails?.namedCurve, 'prime256v1');
});
