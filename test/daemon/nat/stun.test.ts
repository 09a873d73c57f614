// The STUN binding codec: the request's bytes, responses built by hand per
// RFC 5389 (XOR-MAPPED-ADDRESS for IPv4 and IPv6, MAPPED-ADDRESS,
// CHANGED-ADDRESS), and malformed or foreign messages refused with a reason.
import test from 'ava';
import { encodeBindingRequest, parseBindingResponse, STUN_MAGIC_COOKIE, StunParseError } from '../../../daemon/nat/stun.js';

const TX = Buffer.from('0102030405060708090a0b0c', 'hex');

function attr(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

function message(type: number, attrs: Buffer[], tx: Buffer = TX): Buffer {
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(body.length, 2);
  head.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  tx.copy(head, 8);
  return Buffer.concat([head, body]);
}

function ipv4Value(address: string, port: number, xor: boolean): Buffer {
  const v = Buffer.alloc(8);
  v.writeUInt8(0x01, 1);
  v.writeUInt16BE(xor ? port ^ (STUN_MAGIC_COOKIE >>> 16) : port, 2);
  const octets = address.split('.').map(Number);
  const cookie = Buffer.alloc(4);
  cookie.writeUInt32BE(STUN_MAGIC_COOKIE, 0);
  octets.forEach((o, i) => v.writeUInt8(xor ? o ^ cookie[i]! : o, 4 + i));
  return v;
}

test('a binding request is 20 bytes: type 0x0001, length 0, the cookie and our transaction id', (t) => {
  const req = encodeBindingRequest(TX);
  t.is(req.length, 20);
  t.is(req.toString('hex'), `00010000${STUN_MAGIC_COOKIE.toString(16)}${TX.toString('hex')}`);
  t.throws(() => encodeBindingRequest(Buffer.alloc(11)), { instanceOf: RangeError });
});

test('XOR-MAPPED-ADDRESS (IPv4) is decoded and preferred over MAPPED-ADDRESS; CHANGED-ADDRESS is read', (t) => {
  const msg = message(0x0101, [
    attr(0x0001, ipv4Value('10.9.9.9', 1111, false)),
    attr(0x0020, ipv4Value('192.0.2.7', 40123, true)),
    attr(0x0005, ipv4Value('198.51.100.2', 3479, false)),
  ]);
  t.deepEqual(parseBindingResponse(msg, TX), {
    mapped: { family: 'IPv4', address: '192.0.2.7', port: 40123 },
    source: 'xor-mapped-address',
    changed: { family: 'IPv4', address: '198.51.100.2', port: 3479 },
  });
});

test('the RFC 3489-era attribute number 0x8020 counts as XOR-MAPPED-ADDRESS', (t) => {
  const r = parseBindingResponse(message(0x0101, [attr(0x8020, ipv4Value('203.0.113.5', 5000, true))]), TX);
  t.deepEqual(r.mapped, { family: 'IPv4', address: '203.0.113.5', port: 5000 });
});

test('MAPPED-ADDRESS alone is used when there is no XOR form', (t) => {
  const r = parseBindingResponse(message(0x0101, [attr(0x0001, ipv4Value('203.0.113.9', 6000, false))]), TX);
  t.is(r.source, 'mapped-address');
  t.deepEqual(r.mapped, { family: 'IPv4', address: '203.0.113.9', port: 6000 });
});

test('XOR-MAPPED-ADDRESS for IPv6 is XORed with the cookie and the transaction id', (t) => {
  const addr = Buffer.from('20010db8000000000000000000000042', 'hex');
  const key = Buffer.concat([Buffer.from(STUN_MAGIC_COOKIE.toString(16), 'hex'), TX]);
  const v = Buffer.alloc(20);
  v.writeUInt8(0x02, 1);
  v.writeUInt16BE(443 ^ (STUN_MAGIC_COOKIE >>> 16), 2);
  for (let i = 0; i < 16; i++) v[4 + i] = addr[i]! ^ key[i]!;
  const r = parseBindingResponse(message(0x0101, [attr(0x0020, v)]), TX);
  t.deepEqual(r.mapped, { family: 'IPv6', address: '2001:db8::42', port: 443 });
});

const ok = message(0x0101, [attr(0x0020, ipv4Value('192.0.2.7', 40123, true))]);
const malformed: [string, Buffer, RegExp][] = [
  ['empty', Buffer.alloc(0), /too short/],
  ['19 bytes', ok.subarray(0, 19), /too short/],
  ['length field longer than the datagram', Buffer.concat([ok.subarray(0, 2), Buffer.from([0, 16]), ok.subarray(4)]), /length field/],
  ['trailing bytes after the message', Buffer.concat([ok, Buffer.alloc(4)]), /length field/],
  ['length not a multiple of 4', (() => { const b = Buffer.from(ok); b.writeUInt16BE(10, 2); return Buffer.concat([b.subarray(0, 30)]); })(), /multiple of 4/],
  ['wrong cookie', (() => { const b = Buffer.from(ok); b.writeUInt32BE(0xdeadbeef, 4); return b; })(), /cookie/],
  ['another transaction', message(0x0101, [attr(0x0020, ipv4Value('192.0.2.7', 1, true))], Buffer.alloc(12, 9)), /transaction/],
  ['a request, not a response', message(0x0001, []), /not a binding success/],
  ['first bits set (e.g. RTP)', (() => { const b = Buffer.from(ok); b.writeUInt8(0x80, 0); return b; })(), /not a STUN message/],
  ['an error response', message(0x0111, [attr(0x0009, Buffer.from([0, 0, 4, 0, ...Buffer.from('Bad Request')]))]), /error: 400 Bad Request/],
  ['no address attribute', message(0x0101, [attr(0x8022, Buffer.from('stund'))]), /without XOR-MAPPED-ADDRESS/],
  ['IPv4 address of 7 bytes', message(0x0101, [attr(0x0020, ipv4Value('1.2.3.4', 5, true).subarray(0, 7))]), /must be 8 bytes/],
  ['IPv4 family with 20 bytes', message(0x0101, [attr(0x0020, Buffer.concat([ipv4Value('1.2.3.4', 5, true), Buffer.alloc(12)]))]), /must be 8 bytes/],
  ['unknown family', (() => { const v = ipv4Value('1.2.3.4', 5, true); v.writeUInt8(0x03, 1); return message(0x0101, [attr(0x0020, v)]); })(), /unknown address family/],
  ['port 0', message(0x0101, [attr(0x0001, ipv4Value('1.2.3.4', 0, false))]), /port 0/],
  ['attribute running past the end', (() => { const m = message(0x0101, [attr(0x0020, ipv4Value('1.2.3.4', 5, true))]); m.writeUInt16BE(12, 22); return m; })(), /runs past the end/],
];

for (const [name, input, why] of malformed) {
  test(`refused: ${name}`, (t) => {
    const err = t.throws(() => parseBindingResponse(input, TX), { instanceOf: StunParseError });
    t.regex(err?.message ?? '', why);
  });
}
