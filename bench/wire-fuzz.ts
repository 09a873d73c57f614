// Fuzz harness for the peer protocol, in two parts:
// - the decoder: random datagrams, valid packets with bytes flipped, truncated,
//   with an item's length field changed, with a length inside an item's value
//   changed (a peer-list entry, an endpoint, the certificate's DER), and with
//   items duplicated. The only allowed outcomes are a decoded packet or a
//   WireDecodeError;
// - the receive path: the same mutations of correctly signed frames fed to a
//   PeerProtocol endpoint with the real certificate verifier through a fake
//   socket (budgets raised so every frame goes as deep as it can). Nothing may
//   escape the endpoint and no altered frame may be accepted.
//
//   node --import tsx bench/wire-fuzz.ts [iterations=200000] [seed] [receive iterations=iterations/10]
//
// Prints the outcomes per mutation and a JSON summary line; exit code 1 on any crash or forgery.
import { randomInt } from 'node:crypto';
import { PeerProtocol } from '../daemon/peerproto/index.js';
import { mulberry32 } from '../test/fixtures/seeded-rand.js';
import { DirectSocket, captureLog, makePki } from '../test/daemon/peerproto/fixture.js';
import { WireDecodeError } from '../wire/errors.js';
import { decodePacket, encodePacket, type Packet, type PeerMessage } from '../wire/messages.js';
import { decodeFrame } from '../wire/tlv.js';

export const MUTATIONS = ['random', 'flip', 'truncate', 'item-length', 'nested-length', 'duplicate-item'] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface FuzzResult {
  seed: number;
  iterations: number;
  receiveIterations: number;
  /** Decoder outcomes per mutation: 'value' or a WireDecodeError code. */
  decode: Record<Mutation, Record<string, number>>;
  /** Receive-path outcomes: accepted, and dropped by reason. */
  receive: { delivered: number; accepted: number; refusals: Record<string, number> };
  crashes: string[];
  /** Altered frames the endpoint accepted (must be none). */
  forgeries: number;
}

const SENDER = 'fd5e:1:2:7::/64';
const RECIPIENT = 'fd5e:1:2:9::/64';

export async function fuzz(options: { iterations: number; seed: number; receiveIterations: number }): Promise<FuzzResult> {
  const rand = mulberry32(options.seed);
  const crashes: string[] = [];
  const decode = Object.fromEntries(MUTATIONS.map((m) => [m, {} as Record<string, number>])) as FuzzResult['decode'];
  const seeds = messages().map((message, i) =>
    encodePacket({ sender: SENDER, recipient: RECIPIENT, timestampMs: 1_700_000_000_000, seq: i, message, requestId: i, certDer: Buffer.alloc(300, 0x30) }, () => Buffer.alloc(64, 0x5a)),
  );
  for (let i = 0; i < options.iterations; i++) {
    const mutation = MUTATIONS[i % MUTATIONS.length]!;
    const input = mutate(seeds[Math.floor(i / MUTATIONS.length) % seeds.length]!, mutation, rand);
    const counts = decode[mutation];
    try {
      decodePacket(input);
      counts.value = (counts.value ?? 0) + 1;
    } catch (err) {
      if (err instanceof WireDecodeError) counts[err.code] = (counts[err.code] ?? 0) + 1;
      else crashes.push(`decode ${mutation} ${input.toString('hex')}: ${String(err)}`);
    }
  }
  const receive = await fuzzReceivePath(options.receiveIterations, rand, crashes);
  return { seed: options.seed, iterations: options.iterations, receiveIterations: options.receiveIterations, decode, receive: receive.outcome, crashes, forgeries: receive.forgeries };
}

/** Mutated copies of frames a real node signed, into a real endpoint: counts what it accepted and refused. */
async function fuzzReceivePath(iterations: number, rand: () => number, crashes: string[]): Promise<{ outcome: FuzzResult['receive']; forgeries: number }> {
  const nowMs = Date.now();
  const clock = { nowMs: () => nowMs, setTimeout: () => () => {} };
  const pki = await makePki(nowMs);
  const [self, peer] = await Promise.all([pki.node(RECIPIENT, 'a9'), pki.node(SENDER, 'a7')]);
  const socket = new DirectSocket();
  const log = captureLog();
  const many = { perSourcePerSec: 1e6, perSourceBurst: 1e6, totalPerSec: 1e6, totalBurst: 1e6 };
  const endpoint = new PeerProtocol({ clock, self, verifyPeerCert: pki.verifyPeerCert, log, socketFactory: () => socket }, { certCheckRation: many, badSignatureRation: many });
  await endpoint.start({ port: 1194 });
  const from = { host: '10.0.0.7', port: 1194 };
  let seq = 1;
  const signed = (message: PeerMessage, recipient: string | undefined): Buffer => {
    const p: Packet = { sender: SENDER, recipient, timestampMs: nowMs, seq: seq++, message, certDer: peer.certDer, requestId: seq };
    return encodePacket(p, peer.sign);
  };
  let forgeries = 0;
  for (let i = 0; i < iterations; i++) {
    const kinds = messages();
    const original = signed(kinds[i % kinds.length]!, i % 2 === 0 ? RECIPIENT : undefined);
    const mutation = MUTATIONS[i % MUTATIONS.length]!;
    const input = mutate(original, mutation, rand);
    const before = endpoint.stats().accepted;
    socket.deliver(input, from);
    if (endpoint.stats().accepted > before && !input.equals(original)) {
      forgeries++;
      crashes.push(`receive ${mutation}: an altered frame was accepted: ${input.toString('hex')}`);
    }
  }
  for (const e of log.entries) if (e.obj.unexpected === true) crashes.push(`receive: ${String(e.obj.err)}`);
  const stats = endpoint.stats();
  await endpoint.stop();
  const refusals = Object.fromEntries(Object.entries(stats.refusals).map(([k, v]) => [k, v ?? 0]));
  return { outcome: { delivered: iterations, accepted: stats.accepted, refusals }, forgeries };
}

function messages(): PeerMessage[] {
  return [
    { kind: 'hello', myTimestampMs: 1_700_000_000_123, yourTimestampMs: 1_700_000_000_001, configVersion: 3, lateMs: 20 },
    { kind: 'addresses', public: ['198.51.100.7:1194'], internal: ['10.0.0.2:1194'], upnp: ['[fd00::1]:1195'], wantReply: true },
    { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:2:8::/64', addresses: ['10.1.0.8:1194', '[fd00::8]:1194'] }, { prefix: 'fd5e:1:2:a::/64', addresses: ['10.1.0.10:1194'] }], requestCount: 16 },
    { kind: 'config-chunk', version: 5, index: 1, count: 2, bytes: Buffer.from('{"version":5}') },
    { kind: 'tunnel-request', role: 'client', proto: 'udp' },
    { kind: 'tunnel-accept', port: 1195 },
    { kind: 'tunnel-refuse', reason: 'full' },
    { kind: 'drain', phase: 'announce', tunnelPort: 1196, closeInMs: 5000 },
  ];
}

export function mutate(valid: Buffer, mutation: Mutation, rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  switch (mutation) {
    case 'random': {
      const b = Buffer.from(Array.from({ length: int(1400) }, () => int(256)));
      if (b.length > 1 && rand() < 0.8) {
        b[0] = 1 + int(2);
        b[1] = 1 + int(8);
      }
      return b;
    }
    case 'flip': {
      const b = Buffer.from(valid);
      for (let k = 0, n = 1 + int(6); k < n; k++) b[int(b.length)] = int(256);
      return b;
    }
    case 'truncate':
      return valid.subarray(0, int(valid.length + 1));
    case 'item-length': {
      // An item header's u16 length: zero, one off, the largest, or anything.
      const items = decodeFrame(valid).items;
      const it = items[int(items.length)]!;
      const b = Buffer.from(valid);
      const choices = [0, it.value.length - 1, it.value.length + 1, 0xffff, int(0x10000), b.length - it.offset];
      b.writeUInt16BE(Math.max(0, Math.min(0xffff, choices[int(choices.length)]!)), it.offset - 2);
      return b;
    }
    case 'nested-length': {
      // A length or count inside an item's value: a prefix length, an endpoint family, a DER length byte.
      const items = decodeFrame(valid).items.filter((i) => i.value.length > 0);
      const it = items[int(items.length)]!;
      const b = Buffer.from(valid);
      const at = it.offset + Math.min(it.value.length - 1, [0, 1, 2, 3, 17, 18, int(it.value.length)][int(7)]!);
      const values = [0, 1, 4, 6, 0x7f, 0x80, 0x81, 0x82, 0xff, 129, int(256)];
      b[at] = values[int(values.length)]!;
      return b;
    }
    case 'duplicate-item': {
      // An item repeated (right after itself, or at the end), or every item twice.
      const items = decodeFrame(valid).items;
      const it = items[int(items.length)]!;
      const whole = valid.subarray(it.offset - 3, it.offset + it.value.length);
      const bodyStart = items[0]!.offset - 3;
      if (rand() < 0.2) return Buffer.concat([valid, valid.subarray(bodyStart)]);
      if (rand() < 0.5) return Buffer.concat([valid, whole]);
      const end = it.offset + it.value.length;
      return Buffer.concat([valid.subarray(0, end), whole, valid.subarray(end)]);
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const iterations = Number(argv[0] ?? 200_000);
  const seed = Number(argv[1] ?? randomInt(2 ** 31));
  const receiveIterations = Number(argv[2] ?? Math.ceil(iterations / 10));
  const started = process.hrtime.bigint();
  const r = await fuzz({ iterations, seed, receiveIterations });
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  for (const m of MUTATIONS) {
    for (const [outcome, n] of Object.entries(r.decode[m]).sort()) console.log(`decode  ${m.padEnd(15)} ${outcome.padEnd(24)} ${n}`);
  }
  console.log(`receive accepted ${r.receive.accepted} of ${r.receive.delivered}`);
  for (const [reason, n] of Object.entries(r.receive.refusals).sort()) console.log(`receive ${reason.padEnd(40)} ${n}`);
  for (const c of r.crashes.slice(0, 10)) console.log(`CRASH ${c}`);
  console.log(JSON.stringify({ bench: 'wire-fuzz', seed, iterations, receiveIterations, decode: r.decode, receive: r.receive, crashes: r.crashes.length, forgeries: r.forgeries, elapsedMs: Math.round(elapsedMs) }));
  return r.crashes.length === 0 && r.forgeries === 0 ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
