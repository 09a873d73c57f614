// Every kind's largest frame fits one UDP payload of 1,232 bytes (1280, the
// IPv6 minimum MTU, less the IPv6 and UDP headers), signed with the longest
// signature a node makes (DER, 72 bytes: pki signBytes), with every common item
// a reply or request adds; and a decoder refuses one byte more.
import test from 'ava';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createCa, issueNodeCertificate, loadCaSigner } from '../../pki/ca.js';
import { pemToDer } from '../../pki/der.js';
import { generateKeyPem } from '../../pki/keys.js';
import { WireDecodeError } from '../../wire/errors.js';
import { CONFIG_CHUNK_BYTES, LINK_FLAGS, chunkNetworkConfig, decodePacket, encodePacket, packPeerList, type Packet, type PeerMessage } from '../../wire/messages.js';
import { MAX_DER_SIGNATURE_BYTES, MAX_MESSAGE_BYTES } from '../../wire/tlv.js';

const DER_SIGNATURE = (): Buffer => Buffer.alloc(MAX_DER_SIGNATURE_BYTES, 0x30);
const LONGEST_PREFIX = 'fd5e:ffff:ffff:ffff::/64';

/** A node certificate as the registry issues it, with the longest prefix text and a 20-byte serial. */
async function largestNodeCert(): Promise<Buffer> {
  const now = Date.UTC(2026, 0, 1);
  const { certPem, keyPem } = await createCa({ networkPrefix: 'fd5e::/16', notBeforeMs: now, days: 3650 });
  const ca = await loadCaSigner(certPem, keyPem);
  const spki = createPublicKey(createPrivateKey(generateKeyPem())).export({ type: 'spki', format: 'der' });
  const pem = await issueNodeCertificate(ca, { prefix: LONGEST_PREFIX, serial: '7f'.repeat(20), publicKeySpki: spki, notBeforeMs: now, notAfterMs: now + 365 * 86_400_000 });
  return pemToDer(pem, 'CERTIFICATE');
}

function frame(message: PeerMessage, extra: Partial<Packet>): Buffer {
  const p: Packet = { sender: LONGEST_PREFIX, recipient: 'fd5e:ffff:ffff:fffe::/64', timestampMs: Number.MAX_SAFE_INTEGER, seq: 0xffffffff, requestId: 0xffffffff, inReplyTo: 0xffffffff, linkFlags: LINK_FLAGS.macCapable | LINK_FLAGS.holdsYourCert, message, ...extra };
  return encodePacket(p, DER_SIGNATURE);
}

test('the largest frame of each kind fits in 1,232 bytes', async (t) => {
  const certDer = await largestNodeCert();
  const max = 0xffffffff;
  const sizes: Record<string, number> = {};
  const hello: PeerMessage = { kind: 'hello', myTimestampMs: Number.MAX_SAFE_INTEGER, yourTimestampMs: Number.MAX_SAFE_INTEGER, configVersion: max, lateMs: max, takesBeats: true, probes: true, probe: true, busy: true, idlePace: 16 };
  sizes.hello = frame(hello, { certDer }).length;
  sizes['hello request (padded)'] = frame(hello, { certDer, inReplyTo: undefined, padToBytes: MAX_MESSAGE_BYTES }).length;
  sizes['tunnel-request'] = frame({ kind: 'tunnel-request', role: 'server', proto: 'tcp' }, { certDer }).length;
  const chunks = chunkNetworkConfig(max, Buffer.alloc(CONFIG_CHUNK_BYTES * 3, 0x7b));
  sizes['config-chunk'] = Math.max(...chunks.map((c) => frame({ ...c, index: c.index, count: c.count }, {}).length));
  const peers = Array.from({ length: 300 }, (_, i) => ({ prefix: `fd5e:ffff:ffff:${i.toString(16)}::/64`, addresses: [`[2001:db8:ffff:ffff:ffff:ffff:ffff:${i.toString(16)}]:65535`, `203.0.113.${i % 250}:65535`] }));
  const groups = packPeerList(peers);
  t.deepEqual(groups.flat(), peers, 'every entry is sent');
  sizes['peer-list'] = Math.max(...groups.map((g) => frame({ kind: 'peer-list', entries: g, requestCount: 0xffff }, {}).length));
  sizes['tunnel-accept'] = frame({ kind: 'tunnel-accept', port: 0xffff }, {}).length;
  sizes['tunnel-refuse'] = frame({ kind: 'tunnel-refuse', reason: 'not-allowed' }, {}).length;
  sizes.drain = frame({ kind: 'drain', phase: 'down', tunnelPort: 0xffff, closeInMs: max }, {}).length;
  sizes['reach-request'] = frame({ kind: 'reach-request', endpoint: '255.255.255.255:65535', nonce: Buffer.alloc(16, 0xff) }, { certDer }).length;
  sizes['reach-probe'] = frame({ kind: 'reach-probe', nonce: Buffer.alloc(16, 0xff) }, { certDer }).length;
  sizes['reach-reply'] = frame({ kind: 'reach-reply', outcome: 'not-your-address' }, { certDer }).length;
  t.log(JSON.stringify(sizes));
  for (const [kind, bytes] of Object.entries(sizes)) t.true(bytes <= MAX_MESSAGE_BYTES, `${kind}: ${bytes} bytes`);
  // A hello request is padded to the limit (less the bytes a shorter signature saves), so any answer fits in it.
  t.is(sizes['hello request (padded)'], MAX_MESSAGE_BYTES);
  t.true(sizes['peer-list']! > MAX_MESSAGE_BYTES - 60, 'peer lists use the room there is');
});

test('1,232 bytes is the limit: the encoder refuses one more, the decoder refuses a longer datagram', (t) => {
  t.is(MAX_MESSAGE_BYTES, 1280 - 40 - 8);
  const body = (n: number): PeerMessage => ({ kind: 'config-chunk', version: 1, index: 0, count: 1, bytes: Buffer.alloc(n) });
  // Envelope 49 + signature 72 + four chunk items (3 + 4, 3 + 2, 3 + 2, 3 + n) = 141 + n.
  const plain = (n: number): Buffer => encodePacket({ sender: LONGEST_PREFIX, recipient: undefined, timestampMs: 1, seq: 1, message: body(n) }, DER_SIGNATURE);
  const exact = plain(MAX_MESSAGE_BYTES - 141);
  t.is(exact.length, MAX_MESSAGE_BYTES);
  t.throws(() => plain(MAX_MESSAGE_BYTES - 140), { code: 'RN_WIRE_TOO_LARGE' } as never);
  t.notThrows(() => decodePacket(exact));
  const longer = Buffer.concat([exact, Buffer.alloc(1)]);
  const err = t.throws(() => decodePacket(longer));
  t.true(err instanceof WireDecodeError);
  t.is((err as WireDecodeError).code, 'RN_WIRE_OVERSIZE');
});
