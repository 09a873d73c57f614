import test from 'ava';
import { WireDecodeError, WireEncodeError } from '../../wire/errors.js';
import {
  CONFIG_CHUNK_BYTES,
  chunkNetworkConfig,
  decodePacket,
  encodePacket,
  packPeerList,
  type Packet,
  WIRE_NAT_CLASSES,
  type PeerListEntry,
  type PeerMessage,
} from '../../wire/messages.js';
import { MAX_MESSAGE_BYTES, decodeFrame, encodeItems, item } from '../../wire/tlv.js';
import { mulberry32 } from '../fixtures/seeded-rand.js';

const SIG = Buffer.from('5151', 'hex'); // a 2-byte stand-in keeps the golden hex short
const sign = (): Buffer => SIG;

function packet(message: PeerMessage, extra: Partial<Packet> = {}): Packet {
  return { sender: 'fd5e:1:2:7::/64', recipient: 'fd5e:1:2:9::/64', timestampMs: 1_700_000_000_000, seq: 7, message, ...extra };
}

// Envelope of every golden below: version 1, kind, sender /64, recipient /64,
// timestamp 1700000000000 (0x18bcfe56800), seq 7, signature length 2, "5151".
const ENVELOPE_TAIL = '40fd5e0001000200070000000000000000' + '40fd5e0001000200090000000000000000' + '0000018bcfe56800' + '00000007' + '02' + '5151';

const golden: { name: string; message: PeerMessage; kind: string; items: string }[] = [
  {
    name: 'hello: my, your, config version',
    message: { kind: 'hello', myTimestampMs: 1_700_000_000_123, yourTimestampMs: 1_700_000_000_001, configVersion: 3 },
    kind: '01',
    items: '01 0008 0000018bcfe5687b  02 0008 0000018bcfe56801  03 0004 00000003',
  },
  {
    name: 'hello: my, and how late the sender ran (1500 ms)',
    message: { kind: 'hello', myTimestampMs: 1_700_000_000_123, lateMs: 1500 },
    kind: '01',
    items: '01 0008 0000018bcfe5687b  04 0004 000005dc',
  },
  {
    name: 'hello: my, and the sender takes link beats',
    message: { kind: 'hello', myTimestampMs: 1_700_000_000_123, takesBeats: true },
    kind: '01',
    items: '01 0008 0000018bcfe5687b  05 0001 01',
  },
  {
    name: 'addresses: public v4, internal v4, upnp v6, want reply',
    message: { kind: 'addresses', public: ['198.51.100.7:1194'], internal: ['10.0.0.2:1194'], upnp: ['[fd00::1]:1195'], wantReply: true },
    kind: '02',
    items: '01 0007 04 c6336407 04aa  02 0007 04 0a000002 04aa  03 0013 06 fd000000000000000000000000000001 04ab  04 0001 01',
  },
  {
    name: 'peer-list: one entry, request count',
    message: { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:2:8::/64', addresses: ['10.1.0.8:1194'] }], requestCount: 16 },
    kind: '03',
    items: '01 0018 40 fd5e0001000200080000000000000000 04 0a010008 04aa  02 0002 0010',
  },
  {
    name: 'config-chunk: version 5, chunk 1 of 2',
    message: { kind: 'config-chunk', version: 5, index: 1, count: 2, bytes: Buffer.from('{"a":1}') },
    kind: '04',
    items: '01 0004 00000005  02 0002 0001  03 0002 0002  04 0007 7b2261223a317d',
  },
  { name: 'tunnel-request: client over udp', message: { kind: 'tunnel-request', role: 'client', proto: 'udp' }, kind: '05', items: '01 0001 01  02 0001 01' },
  { name: 'tunnel-request: client over udp, from behind an eim NAT', message: { kind: 'tunnel-request', role: 'client', proto: 'udp', natClass: 'eim' }, kind: '05', items: '01 0001 01  02 0001 01  03 0001 03' },
  { name: 'tunnel-refuse: unsupported, the refuser is eim', message: { kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'eim' }, kind: '07', items: '01 0001 03  02 0001 03' },
  { name: 'tunnel-accept: port 1195', message: { kind: 'tunnel-accept', port: 1195 }, kind: '06', items: '01 0002 04ab' },
  { name: 'tunnel-refuse: full', message: { kind: 'tunnel-refuse', reason: 'full' }, kind: '07', items: '01 0001 01' },
  {
    name: 'drain: announce, port 1196, in 5000 ms',
    message: { kind: 'drain', phase: 'announce', tunnelPort: 1196, closeInMs: 5000 },
    kind: '08',
    items: '01 0001 01  02 0002 04ac  03 0004 00001388',
  },
  {
    name: 'punch-request: endpoint 198.51.100.7:1195, eim',
    message: { kind: 'punch-request', endpoint: '198.51.100.7:1195', natClass: 'eim' },
    kind: '09',
    items: '01 0007 04 c6336407 04ab  02 0001 03',
  },
  {
    name: 'punch-accept: endpoint 203.0.113.9:1196, eim',
    message: { kind: 'punch-accept', endpoint: '203.0.113.9:1196', natClass: 'eim' },
    kind: '0a',
    items: '01 0007 04 cb007109 04ac  02 0001 03',
  },
  {
    name: 'reach-request: endpoint 198.51.100.7:1194, nonce',
    message: { kind: 'reach-request', endpoint: '198.51.100.7:1194', nonce: Buffer.alloc(16, 0xab) },
    kind: '0b',
    items: '01 0007 04 c6336407 04aa  02 0010 ' + 'ab'.repeat(16),
  },
  { name: 'reach-probe: nonce', message: { kind: 'reach-probe', nonce: Buffer.alloc(16, 0xcd) }, kind: '0c', items: '02 0010 ' + 'cd'.repeat(16) },
  { name: 'reach-reply: sent', message: { kind: 'reach-reply', outcome: 'sent' }, kind: '0d', items: '03 0001 01' },
  { name: 'reach-reply: not-your-address', message: { kind: 'reach-reply', outcome: 'not-your-address' }, kind: '0d', items: '03 0001 03' },
  { name: 'tunnel-refuse: unsupported, by an apdm node', message: { kind: 'tunnel-refuse', reason: 'unsupported', natClass: 'apdm' }, kind: '07', items: '01 0001 03  02 0001 04' },
];

for (const g of golden) {
  test(`golden: ${g.name}`, (t) => {
    const want = ('01' + g.kind + ENVELOPE_TAIL + g.items).replace(/\s+/g, '');
    const bytes = encodePacket(packet(g.message), sign);
    t.is(bytes.toString('hex'), want);
    t.deepEqual(decodePacket(bytes).message, g.message);
  });
}

test('golden: common items (cert, request id) and the "anyone" recipient', (t) => {
  const bytes = encodePacket(packet({ kind: 'tunnel-accept', port: 1195 }, { recipient: undefined, requestId: 9, certDer: Buffer.from('c0ffee', 'hex') }), sign);
  const want =
    '01 06 40fd5e0001000200070000000000000000 00' + '00'.repeat(16) + ' 0000018bcfe56800 00000007 02 5151' +
    ' 01 0002 04ab  f0 0003 c0ffee  f1 0004 00000009';
  t.is(bytes.toString('hex'), want.replace(/\s+/g, ''));
  const back = decodePacket(bytes);
  t.is(back.recipient, undefined);
  t.is(back.requestId, 9);
  t.deepEqual(back.certDer, Buffer.from('c0ffee', 'hex'));
});

test('the signature covers every byte except itself', (t) => {
  let signed: Buffer | undefined;
  const bytes = encodePacket(packet({ kind: 'tunnel-accept', port: 1195 }, { inReplyTo: 4 }), (data) => {
    signed = Buffer.from(data);
    return Buffer.alloc(64, 0xab);
  });
  const d = decodePacket(bytes);
  t.deepEqual(d.signedData, signed);
  t.deepEqual(d.signature, Buffer.alloc(64, 0xab));
  t.deepEqual(d.signedData, Buffer.concat([bytes.subarray(0, 48), bytes.subarray(49 + 64)]));
});

test('unknown item types are skipped, extra value bytes and a short tail are ignored', (t) => {
  const base = encodePacket(packet({ kind: 'tunnel-accept', port: 1195 }), sign);
  const header = base.subarray(0, 51);
  const items = encodeItems([
    item(0x33, Buffer.from('future field')),
    item(0x01, Buffer.from('04ab0000', 'hex')), // a newer node appended 2 bytes to the port field
    item(0x01, Buffer.from('0001', 'hex')), // a repeated singular field: the first counts
  ]);
  const withTail = Buffer.concat([header, items, Buffer.from('ffff', 'hex')]);
  t.deepEqual(decodePacket(withTail).message, { kind: 'tunnel-accept', port: 1195 });
});

test('a hello from an older node (no lateness item) decodes without lateMs; an older node skips the item', (t) => {
  const old = ('01' + '01' + ENVELOPE_TAIL + '01 0008 0000018bcfe5687b  03 0004 00000003').replace(/\s+/g, '');
  t.deepEqual(decodePacket(Buffer.from(old, 'hex')).message, { kind: 'hello', myTimestampMs: 1_700_000_000_123, configVersion: 3 });
  // Item 4 is what an older decoder sees as an unknown type: skipped like any other.
  const withLate = encodePacket(packet({ kind: 'hello', myTimestampMs: 1, lateMs: 7 }), sign);
  t.deepEqual(decodeFrame(withLate).items.map((i) => i.type), [1, 4]);
});

test('a hello whose takesBeats item is 0 does not take beats; an older node skips the item', (t) => {
  const zero = ('01' + '01' + ENVELOPE_TAIL + '01 0008 0000018bcfe5687b  05 0001 00').replace(/\s+/g, '');
  t.deepEqual(decodePacket(Buffer.from(zero, 'hex')).message, { kind: 'hello', myTimestampMs: 1_700_000_000_123 });
  const withBeats = encodePacket(packet({ kind: 'hello', myTimestampMs: 1, takesBeats: true }), sign);
  t.deepEqual(decodeFrame(withBeats).items.map((i) => i.type), [1, 5]);
});

test('hello flags of link liveness: probes (item 6), probe (7), busy (8); 0 or absent (an older node) is no', (t) => {
  for (const [flag, type] of [['probes', 6], ['probe', 7], ['busy', 8]] as const) {
    const flagged = encodePacket(packet({ kind: 'hello', myTimestampMs: 1, takesBeats: true, [flag]: true }), sign);
    t.deepEqual(decodeFrame(flagged).items.map((i) => i.type), [1, 5, type]);
    t.deepEqual(decodePacket(flagged).message, { kind: 'hello', myTimestampMs: 1, takesBeats: true, [flag]: true });
    const zero = ('01' + '01' + ENVELOPE_TAIL + `01 0008 0000018bcfe5687b  0${type} 0001 00`).replace(/\s+/g, '');
    t.deepEqual(decodePacket(Buffer.from(zero, 'hex')).message, { kind: 'hello', myTimestampMs: 1_700_000_000_123 });
  }
});

test('hello idle pace (item 9): carried as a byte; 0 or 1 is none, above 16 reads as 16 (beating more often than asked is safe)', (t) => {
  const paced = encodePacket(packet({ kind: 'hello', myTimestampMs: 1, takesBeats: true, idlePace: 4 }), sign);
  t.deepEqual(decodeFrame(paced).items.map((i) => i.type), [1, 5, 9]);
  t.deepEqual(decodePacket(paced).message, { kind: 'hello', myTimestampMs: 1, takesBeats: true, idlePace: 4 });
  const of = (byte: string) => decodePacket(Buffer.from(('01' + '01' + ENVELOPE_TAIL + `01 0008 0000018bcfe5687b  09 0001 ${byte}`).replace(/\s+/g, ''), 'hex')).message;
  t.deepEqual(of('00'), { kind: 'hello', myTimestampMs: 1_700_000_000_123 });
  t.deepEqual(of('01'), { kind: 'hello', myTimestampMs: 1_700_000_000_123 });
  t.deepEqual(of('ff'), { kind: 'hello', myTimestampMs: 1_700_000_000_123, idlePace: 16 });
  // A pace of 1 (or none) is not sent at all.
  t.deepEqual(decodeFrame(encodePacket(packet({ kind: 'hello', myTimestampMs: 1, idlePace: 1 }), sign)).items.map((i) => i.type), [1]);
});

test('a tunnel-request from an older node (no NAT class) decodes without natClass; an older node skips the item', (t) => {
  const old = ('01' + '05' + ENVELOPE_TAIL + '01 0001 01  02 0001 01').replace(/\s+/g, '');
  t.deepEqual(decodePacket(Buffer.from(old, 'hex')).message, { kind: 'tunnel-request', role: 'client', proto: 'udp' });
  // Item 3 is what an older decoder sees as an unknown type: skipped like any other.
  const withClass = encodePacket(packet({ kind: 'tunnel-request', role: 'client', proto: 'udp', natClass: 'apdm' }), sign);
  t.deepEqual(decodeFrame(withClass).items.map((i) => i.type), [1, 2, 3]);
  t.deepEqual(decodePacket(withClass).message, { kind: 'tunnel-request', role: 'client', proto: 'udp', natClass: 'apdm' });
});

test('reasons this version does not know decode as "other"', (t) => {
  const base = encodePacket(packet({ kind: 'tunnel-refuse', reason: 'full' }), sign);
  const bytes = Buffer.from(base);
  bytes[bytes.length - 1] = 0x42;
  t.deepEqual(decodePacket(bytes).message, { kind: 'tunnel-refuse', reason: 'other' });
});

test('punch messages: an endpoint with port 0 or without an endpoint is refused; an unknown NAT class code is "unknown"', (t) => {
  const frame = (items: string): Buffer => Buffer.from(('01' + '09' + ENVELOPE_TAIL + items).replace(/\s+/g, ''), 'hex');
  t.is(decodeError(frame('01 0007 04 c6336407 0000  02 0001 03')).code, 'RN_WIRE_BAD_VALUE');
  t.is(decodeError(frame('02 0001 03')).code, 'RN_WIRE_MISSING_FIELD');
  t.is(decodeError(frame('01 0007 04 c6336407 04ab')).code, 'RN_WIRE_MISSING_FIELD');
  t.deepEqual(decodePacket(frame('01 0007 04 c6336407 04ab  02 0001 09')).message, { kind: 'punch-request', endpoint: '198.51.100.7:1195', natClass: 'unknown' });
});

test('a tunnel-refuse from an older node (no NAT class) decodes without one', (t) => {
  const old = ('01' + '07' + ENVELOPE_TAIL + '01 0001 03').replace(/\s+/g, '');
  t.deepEqual(decodePacket(Buffer.from(old, 'hex')).message, { kind: 'tunnel-refuse', reason: 'unsupported' });
});

function decodeError(bytes: Buffer): WireDecodeError {
  const err = (() => {
    try {
      decodePacket(bytes);
      return undefined;
    } catch (e) {
      return e;
    }
  })();
  if (!(err instanceof WireDecodeError)) throw new Error(`expected WireDecodeError, got ${String(err)}`);
  return err;
}

test('decode failures name code, offset and item type', (t) => {
  const good = encodePacket(packet({ kind: 'drain', phase: 'ack', tunnelPort: 1196, closeInMs: 10 }), sign);

  const wrongVersion = Buffer.from(good);
  wrongVersion[0] = 3;
  t.like(decodeError(wrongVersion), { code: 'RN_WIRE_VERSION', offset: 0, tlvType: undefined });

  const unknownKind = Buffer.from(good);
  unknownKind[1] = 0x77;
  t.like(decodeError(unknownKind), { code: 'RN_WIRE_UNKNOWN_KIND', offset: 1 });

  t.like(decodeError(Buffer.concat([good, Buffer.alloc(MAX_MESSAGE_BYTES)])), { code: 'RN_WIRE_OVERSIZE' });

  // Cut inside the last item's value: its header claims 4 bytes.
  t.like(decodeError(good.subarray(0, good.length - 1)), { code: 'RN_WIRE_TRUNCATED', tlvType: 3, offset: good.length - 6 });

  // Cut inside the envelope.
  t.like(decodeError(good.subarray(0, 30)), { code: 'RN_WIRE_TRUNCATED', tlvType: undefined });

  // Drop the last item entirely: close-in is mandatory.
  t.like(decodeError(good.subarray(0, good.length - 7)), { code: 'RN_WIRE_MISSING_FIELD', tlvType: 3 });

  const badPhase = Buffer.from(good);
  badPhase[51 + 3] = 9;
  t.like(decodeError(badPhase), { code: 'RN_WIRE_BAD_VALUE', tlvType: 1, offset: 54 });

  const hostBits = Buffer.from(good);
  hostBits[2] = 16; // sender /16 with bits set past 16
  t.like(decodeError(hostBits), { code: 'RN_WIRE_BAD_VALUE', offset: 2 });
});

test('encoding refuses what cannot go on the wire', (t) => {
  const tooBig = { kind: 'config-chunk' as const, version: 1, index: 0, count: 1, bytes: Buffer.alloc(1200) };
  t.like(t.throws(() => encodePacket(packet(tooBig), sign), { instanceOf: WireEncodeError }), { code: 'RN_WIRE_TOO_LARGE' });
  const badAddr = { kind: 'addresses' as const, public: ['fd00::1:1194'], internal: [], upnp: [] };
  t.like(t.throws(() => encodePacket(packet(badAddr), sign), { instanceOf: WireEncodeError }), { code: 'RN_WIRE_BAD_FIELD' });
  t.like(t.throws(() => encodePacket(packet({ kind: 'tunnel-accept', port: 70000 }), sign), { instanceOf: WireEncodeError }), { code: 'RN_WIRE_BAD_FIELD' });
  t.like(t.throws(() => encodePacket(packet({ kind: 'hello', myTimestampMs: 1 }, { sender: 'fd5e:1::7/32' }), sign), { instanceOf: WireEncodeError }), { code: 'RN_WIRE_BAD_FIELD' });
});

function randomMessage(rand: () => number): PeerMessage {
  const int = (max: number): number => Math.floor(rand() * (max + 1));
  const v4 = (): string => `${int(255)}.${int(255)}.${int(255)}.${int(255)}:${1 + int(65534)}`;
  const v6 = (): string => `[fd${int(255).toString(16).padStart(2, '0')}::${int(0xffff).toString(16)}]:${1 + int(65534)}`;
  const addrs = (): string[] => Array.from({ length: int(3) }, () => (rand() < 0.5 ? v4() : v6()));
  const prefix = (): string => `fd5e:1:2:${int(0xffff).toString(16)}::/64`;
  switch (int(10)) {
    case 0: {
      const m: PeerMessage = { kind: 'hello', myTimestampMs: int(2 ** 48) };
      if (rand() < 0.5) m.yourTimestampMs = int(2 ** 48);
      if (rand() < 0.5) m.configVersion = int(1000);
      if (rand() < 0.5) m.lateMs = int(60_000);
      return m;
    }
    case 1: {
      const m: PeerMessage = { kind: 'addresses', public: addrs(), internal: addrs(), upnp: addrs() };
      if (rand() < 0.5) m.wantReply = true;
      return m;
    }
    case 2: {
      const m: PeerMessage = { kind: 'peer-list', entries: Array.from({ length: int(5) }, () => ({ prefix: prefix(), addresses: addrs() })) };
      if (rand() < 0.5) m.requestCount = int(100);
      return m;
    }
    case 3: {
      const count = 1 + int(5);
      return { kind: 'config-chunk', version: int(1e6), index: int(count - 1), count, bytes: Buffer.from(Array.from({ length: int(300) }, () => int(255))) };
    }
    case 4: return { kind: 'tunnel-request', role: rand() < 0.5 ? 'client' : 'server', proto: rand() < 0.5 ? 'udp' : 'tcp', ...(rand() < 0.5 ? { natClass: WIRE_NAT_CLASSES[Math.floor(rand() * WIRE_NAT_CLASSES.length)]! } : {}) };
    case 5: return { kind: 'tunnel-accept', port: 1 + int(65534) };
    case 6: return { kind: 'tunnel-refuse', reason: (['full', 'duplicate', 'unsupported', 'not-allowed', 'error'] as const)[int(4)]! };
    case 7: return { kind: 'drain', phase: (['announce', 'ack', 'cancel'] as const)[int(2)]!, tunnelPort: 1 + int(65534), closeInMs: int(1e6) };
    case 8: return { kind: rand() < 0.5 ? 'punch-request' : 'punch-accept', endpoint: v4(), natClass: (['public', 'upnp', 'eim', 'apdm', 'unknown'] as const)[int(4)]! };
    case 9: return { kind: 'reach-request', endpoint: v4(), nonce: Buffer.from(Array.from({ length: 16 }, () => int(255))) };
    case 10: return rand() < 0.5 ? { kind: 'reach-probe', nonce: Buffer.alloc(16, int(255)) } : { kind: 'reach-reply', outcome: (['sent', 'rate-limited', 'not-your-address', 'bad-endpoint', 'error'] as const)[int(4)]! };
    default: return { kind: 'drain', phase: (['announce', 'ack', 'cancel'] as const)[int(2)]!, tunnelPort: 1 + int(65534), closeInMs: int(1e6) };
  }
}

test('round trip: 2000 random packets decode to what was encoded', (t) => {
  const rand = mulberry32(42);
  for (let i = 0; i < 2000; i++) {
    const p: Packet = packet(randomMessage(rand), { seq: Math.floor(rand() * 2 ** 32), recipient: rand() < 0.3 ? undefined : 'fd5e:1:2:9::/64' });
    if (rand() < 0.3) p.requestId = Math.floor(rand() * 2 ** 32);
    if (rand() < 0.3) p.inReplyTo = Math.floor(rand() * 2 ** 32);
    if (rand() < 0.3) p.certDer = Buffer.alloc(Math.floor(rand() * 500), 7);
    const bytes = encodePacket(p, () => Buffer.alloc(64, 1));
    const { signature, signedData, auth, ...back } = decodePacket(bytes);
    t.is(auth, 'signature');
    t.is(signature.length, 64);
    t.true(signedData.length < bytes.length);
    // A recipient of undefined must survive, and optional fields stay absent.
    t.deepEqual(back, p, `case ${i}`);
  }
});

test('every truncation of a valid packet is a value or a WireDecodeError', (t) => {
  const rand = mulberry32(7);
  let errors = 0;
  for (let i = 0; i < 100; i++) {
    const bytes = encodePacket(packet(randomMessage(rand), { certDer: Buffer.alloc(40, 3), requestId: 1 }), () => Buffer.alloc(64, 1));
    for (let cut = 0; cut < bytes.length; cut++) {
      try {
        decodePacket(bytes.subarray(0, cut));
      } catch (err) {
        t.true(err instanceof WireDecodeError, `cut ${cut}: ${String(err)}`);
        errors++;
      }
    }
  }
  t.true(errors > 0);
});

test('random and mutated bytes give a value or a WireDecodeError, nothing else', (t) => {
  const rand = mulberry32(1234);
  const outcomes = { value: 0, error: 0 };
  const valid = Array.from({ length: 50 }, () => encodePacket(packet(randomMessage(rand)), () => Buffer.alloc(64, 1)));
  for (let i = 0; i < 20_000; i++) {
    let bytes: Buffer;
    if (i % 2 === 0) {
      bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 1400) }, () => Math.floor(rand() * 256)));
      if (bytes.length > 0 && rand() < 0.7) bytes[0] = 1; // get past the version check most of the time
    } else {
      bytes = Buffer.from(valid[i % valid.length]!);
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    }
    try {
      decodePacket(bytes);
      outcomes.value++;
    } catch (err) {
      if (!(err instanceof WireDecodeError)) t.fail(`input ${bytes.toString('hex')} threw ${String(err)}`);
      outcomes.error++;
    }
  }
  t.true(outcomes.value > 0 && outcomes.error > 0, JSON.stringify(outcomes));
});

test('a network config larger than a datagram splits into chunks that each fit', (t) => {
  const config = Buffer.from('x'.repeat(CONFIG_CHUNK_BYTES * 2 + 10));
  const chunks = chunkNetworkConfig(12, config);
  t.is(chunks.length, 3);
  t.deepEqual(Buffer.concat(chunks.map((c) => c.bytes)), config);
  for (const c of chunks) t.true(encodePacket(packet(c, { requestId: 1, inReplyTo: 2 }), () => Buffer.alloc(64)).length <= MAX_MESSAGE_BYTES);
  t.is(chunkNetworkConfig(1, Buffer.alloc(0)).length, 1);
});

test('peer lists are packed into messages that each fit', (t) => {
  const entries: PeerListEntry[] = Array.from({ length: 200 }, (_, i) => ({
    prefix: `fd5e:1:2:${i.toString(16)}::/64`,
    addresses: [`10.0.${i % 256}.1:1194`, `[fd00::${i.toString(16)}]:1194`],
  }));
  const groups = packPeerList(entries);
  t.true(groups.length > 1);
  t.deepEqual(groups.flat(), entries);
  for (const g of groups) {
    const bytes = encodePacket(packet({ kind: 'peer-list', entries: g, requestCount: 10 }, { requestId: 1, inReplyTo: 2 }), () => Buffer.alloc(64));
    t.true(bytes.length <= MAX_MESSAGE_BYTES);
  }
});

test('one unusable address is skipped and counted; it never stops the peer list', (t) => {
  const bad = ['[fe80::1%eth0]:1194', '127.0.0.1:1194', '[::1]:1194', '169.254.3.4:1194', '[ff02::1]:1194', 'nonsense'];
  const entries: PeerListEntry[] = [
    { prefix: 'fd5e:1:2:1::/64', addresses: ['10.0.0.1:1194', ...bad] },
    { prefix: 'fd5e:1:2:2::/64', addresses: ['[fe80::2%eth1]:1194'] },
    { prefix: 'fd5e:1:2:3::/64', addresses: ['[fd00::3]:1195'] },
  ];
  const skipped: string[] = [];
  const groups = packPeerList(entries, (_prefix, address) => skipped.push(address));
  t.deepEqual(groups.flat(), [
    { prefix: 'fd5e:1:2:1::/64', addresses: ['10.0.0.1:1194'] },
    { prefix: 'fd5e:1:2:3::/64', addresses: ['[fd00::3]:1195'] },
  ]);
  t.deepEqual(skipped, [...bad, '[fe80::2%eth1]:1194']);
  for (const g of groups) t.notThrows(() => encodePacket(packet({ kind: 'peer-list', entries: g, requestCount: 10 }, { requestId: 1, inReplyTo: 2 }), () => Buffer.alloc(64)));
});

test('decodeFrame alone reports item offsets in the frame', (t) => {
  const bytes = encodePacket(packet({ kind: 'tunnel-accept', port: 1195 }), sign);
  const frame = decodeFrame(bytes);
  t.deepEqual(frame.items.map((i) => ({ type: i.type, offset: i.offset })), [{ type: 1, offset: 54 }]);
});

test('reach: a nonce of another length is refused on both ends', (t) => {
  const e = t.throws(() => encodePacket(packet({ kind: 'reach-probe', nonce: Buffer.alloc(8) }), sign));
  t.is((e as { code?: string }).code, 'RN_WIRE_BAD_FIELD');
  // A hand-made frame: the nonce item 15 bytes long.
  const good = encodePacket(packet({ kind: 'reach-probe', nonce: Buffer.alloc(16, 1) }), sign).toString('hex');
  const bad = Buffer.from(good.replace('020010' + '01'.repeat(16), '02000f' + '01'.repeat(15)), 'hex');
  const d = t.throws(() => decodePacket(bad));
  t.is((d as { code?: string }).code, 'RN_WIRE_BAD_VALUE');
  t.regex(d!.message, /reach nonce of 15 bytes/);
});
