import test from 'ava';
import { decodeAnnouncement, encodeAnnouncement, MAX_ANNOUNCEMENT_BYTES } from '../../../daemon/lan/announcement.js';
import { WireDecodeError } from '../../../wire/errors.js';
import { announcementBy, makeNetwork, NOW_MS } from './fixture.js';

const netP = makeNetwork('fd5e:1::/48');

test('an announcement round-trips, certificate and all, within 1232 bytes', async (t) => {
  const net = await netP;
  const node = await net.node('fd5e:1:0:2::/64', '2');
  const peers = [
    { prefix: 'fd5e:1:0:3::/64', addresses: ['10.1.1.3:1194', '[2001:db8::3]:1194'] },
    { prefix: 'fd5e:1:0:4::/64', addresses: ['10.1.1.4:1194'] },
  ];
  const bytes = announcementBy(net, node, { endpoints: ['192.168.7.2:1194', '[fd00:7::2]:1194'], peers });
  t.true(bytes.length <= MAX_ANNOUNCEMENT_BYTES, `${bytes.length} bytes`);
  const a = decodeAnnouncement(bytes);
  t.is(a.timestampMs, NOW_MS);
  t.deepEqual(a.certDer, node.certDer);
  t.deepEqual(a.caFingerprint, net.caFingerprint);
  t.deepEqual(a.endpoints, ['192.168.7.2:1194', '[fd00:7::2]:1194']);
  t.is(a.registryUrl, 'https://10.1.0.2:8443');
  t.deepEqual(a.peers, peers);
  t.is(a.signature.length, 64);
  t.deepEqual(a.signedData, bytes.subarray(0, bytes.length - 64));
});

test('peers that do not fit are left out; the datagram stays within 1232 bytes', async (t) => {
  const net = await netP;
  const node = await net.node('fd5e:1:0:2::/64', '2');
  const many = Array.from({ length: 8 }, (_, i) => ({ prefix: `fd5e:1:0:${i + 10}::/64`, addresses: ['[2001:db8::1]:1194', '[2001:db8::2]:1194', '[2001:db8::3]:1194', '[2001:db8::4]:1194'] }));
  const endpoints = Array.from({ length: 8 }, (_, i) => `[fd00:7::${i + 1}]:1194`);
  const bytes = announcementBy(net, node, { endpoints, peers: many });
  t.true(bytes.length <= MAX_ANNOUNCEMENT_BYTES, `${bytes.length} bytes`);
  const a = decodeAnnouncement(bytes);
  t.true(a.peers.length < many.length);
  t.deepEqual(a.peers, many.slice(0, a.peers.length));
});

test('the encoder refuses what it cannot send', async (t) => {
  const net = await netP;
  const node = await net.node('fd5e:1:0:2::/64', '2');
  t.throws(() => announcementBy(net, node, { endpoints: [] }), { message: /1-8 LAN endpoints/ });
  t.throws(() => announcementBy(net, node, { endpoints: ['eth0:1194'] }), { message: /not an "IP:PORT"/ });
  t.throws(() => announcementBy(net, node, { registryUrl: 'ftp://x' }), { message: /registry URL/ });
  t.throws(() => announcementBy(net, node, { certDer: Buffer.alloc(1200) }), { message: /exceeds 1232/ });
  t.throws(() => encodeAnnouncement({ timestampMs: 1, nonce: Buffer.alloc(3), caFingerprint: net.caFingerprint, certDer: node.certDer, endpoints: ['1.2.3.4:1'], peers: [] }, node.sign), { message: /nonce/ });
});

/** Rewrites the items of a valid announcement (the signature no longer matters to the decoder). */
function withItems(base: Buffer, items: Buffer): Buffer {
  const head = Buffer.from(base.subarray(0, 53));
  const len = Buffer.alloc(2);
  len.writeUInt16BE(items.length);
  return Buffer.concat([head, len, items, Buffer.alloc(64, 1)]);
}

function tlv(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(3);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(value.length, 1);
  return Buffer.concat([h, value]);
}

test('malformed input is a WireDecodeError with a reason, never another exception', async (t) => {
  const net = await netP;
  const node = await net.node('fd5e:1:0:2::/64', '2');
  const good = announcementBy(net, node);
  const cert = tlv(1, node.certDer);
  const ep = tlv(2, Buffer.from([4, 192, 168, 7, 2, 0x04, 0xaa]));
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /truncated/],
    ['other magic', Buffer.concat([Buffer.from('XXXX'), good.subarray(4)]), /magic/],
    ['other version', Buffer.concat([good.subarray(0, 4), Buffer.from([2]), good.subarray(5)]), /version 2/],
    ['oversize', Buffer.alloc(1233), /exceeds 1232/],
    ['header only', good.subarray(0, 40), /truncated/],
    ['items length past the end', Buffer.concat([good.subarray(0, 53), Buffer.from([0xff, 0xff])]), /truncated/],
    ['no signature', good.subarray(0, good.length - 64), /signature of 0 bytes/],
    ['signature too long', Buffer.concat([good, Buffer.alloc(20)]), /signature of 84 bytes/],
    ['no certificate', withItems(good, ep), /without a certificate/],
    ['no endpoint', withItems(good, cert), /without a LAN endpoint/],
    ['two certificates', withItems(good, Buffer.concat([cert, cert, ep])), /second certificate/],
    ['unknown item', withItems(good, Buffer.concat([cert, ep, tlv(9, Buffer.alloc(2))])), /unknown announcement item type 9/],
    ['bad address family', withItems(good, Buffer.concat([cert, tlv(2, Buffer.from([5, 1, 2, 3, 4, 0, 1]))])), /address family 5/],
    ['bytes after an endpoint', withItems(good, Buffer.concat([cert, tlv(2, Buffer.from([4, 1, 2, 3, 4, 0, 1, 9]))])), /bytes after a LAN endpoint/],
    ['item longer than the items', withItems(good, Buffer.concat([cert, Buffer.from([2, 0, 50, 4])])), /truncated/],
    ['registry URL not http', withItems(good, Buffer.concat([cert, ep, tlv(3, Buffer.from('javascript:alert(1)'))])), /registry URL/],
    ['registry URL with a control byte', withItems(good, Buffer.concat([cert, ep, tlv(3, Buffer.from('https://a\n'))])), /registry URL/],
    ['peer with host bits', withItems(good, Buffer.concat([cert, ep, tlv(4, Buffer.concat([Buffer.from([64]), Buffer.alloc(16, 0xff), Buffer.from([1, 4, 1, 2, 3, 4, 0, 1])]))])), /host bits/],
    ['peer without addresses', withItems(good, Buffer.concat([cert, ep, tlv(4, Buffer.concat([Buffer.from([64, 0xfd]), Buffer.alloc(15), Buffer.from([0])]))])), /0 addresses/],
  ];
  for (const [name, bytes, want] of cases) {
    const err = t.throws(() => decodeAnnouncement(bytes), { instanceOf: WireDecodeError }, name);
    t.regex(err?.message ?? '', want, name);
  }
});

test('every truncation and every single-byte corruption of a valid datagram decodes or fails cleanly', async (t) => {
  const net = await netP;
  const node = await net.node('fd5e:1:0:2::/64', '2');
  const good = announcementBy(net, node, { peers: [{ prefix: 'fd5e:1:0:3::/64', addresses: ['10.1.1.3:1194'] }] });
  let failures = 0;
  const attempt = (bytes: Buffer) => {
    try {
      decodeAnnouncement(bytes);
    } catch (err) {
      if (!(err instanceof WireDecodeError)) throw err;
      failures++;
    }
  };
  for (let n = 0; n < good.length; n++) attempt(good.subarray(0, n));
  for (let i = 0; i < good.length; i += 3) {
    const bad = Buffer.from(good);
    bad[i] = bad[i]! ^ 0xa5;
    attempt(bad);
  }
  t.true(failures >= good.length - 64, `${failures} clean failures`);
});
