// Fuzz harness for the peer-protocol decoder: random datagrams, valid packets
// with bytes flipped, and truncations. The only allowed outcomes are a decoded
// packet or a WireDecodeError; anything else is printed and makes the exit code 1.
//
//   node --import tsx bench/wire-fuzz.ts [iterations=200000] [seed]
//
// Prints one line per outcome and then a JSON summary line.
import { randomInt } from 'node:crypto';
import { mulberry32 } from '../test/fixtures/seeded-rand.js';
import { WireDecodeError } from '../wire/errors.js';
import { decodePacket, encodePacket, type PeerMessage } from '../wire/messages.js';

export async function main(argv: string[]): Promise<number> {
  const iterations = Number(argv[0] ?? 200_000);
  const seed = Number(argv[1] ?? randomInt(2 ** 31));
  const rand = mulberry32(seed);
  const seeds = seedPackets();
  const counts: Record<string, number> = { value: 0 };
  const crashes: string[] = [];
  const started = process.hrtime.bigint();

  for (let i = 0; i < iterations; i++) {
    const input = mutate(seeds[i % seeds.length]!, i % 3, rand);
    try {
      decodePacket(input);
      counts.value = (counts.value ?? 0) + 1;
    } catch (err) {
      if (err instanceof WireDecodeError) {
        counts[err.code] = (counts[err.code] ?? 0) + 1;
      } else {
        crashes.push(`${input.toString('hex')}: ${String(err)}`);
      }
    }
  }

  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  for (const [outcome, n] of Object.entries(counts).sort()) console.log(`${outcome.padEnd(24)} ${n}`);
  for (const c of crashes.slice(0, 10)) console.log(`CRASH ${c}`);
  console.log(JSON.stringify({ bench: 'wire-fuzz', seed, iterations, counts, crashes: crashes.length, elapsedMs: Math.round(elapsedMs), perSec: Math.round(iterations / (elapsedMs / 1000)) }));
  return crashes.length === 0 ? 0 : 1;
}

function seedPackets(): Buffer[] {
  const msgs: PeerMessage[] = [
    { kind: 'hello', myTimestampMs: 1_700_000_000_123, yourTimestampMs: 1_700_000_000_001, configVersion: 3 },
    { kind: 'addresses', public: ['198.51.100.7:1194'], internal: ['10.0.0.2:1194'], upnp: ['[fd00::1]:1195'], wantReply: true },
    { kind: 'peer-list', entries: [{ prefix: 'fd5e:1:2:8::/64', addresses: ['10.1.0.8:1194', '[fd00::8]:1194'] }], requestCount: 16 },
    { kind: 'config-chunk', version: 5, index: 1, count: 2, bytes: Buffer.from('{"version":5}') },
    { kind: 'tunnel-request', role: 'client', proto: 'udp' },
    { kind: 'tunnel-accept', port: 1195 },
    { kind: 'tunnel-refuse', reason: 'full' },
    { kind: 'drain', phase: 'announce', tunnelPort: 1196, closeInMs: 5000 },
  ];
  return msgs.map((message, i) =>
    encodePacket(
      { sender: 'fd5e:1:2:7::/64', recipient: 'fd5e:1:2:9::/64', timestampMs: 1_700_000_000_000, seq: i, message, requestId: i, certDer: Buffer.alloc(300, 0x30) },
      () => Buffer.alloc(64, 0x5a),
    ),
  );
}

/** mode 0: random bytes; 1: flip a few bytes of a valid packet; 2: truncate one. */
function mutate(valid: Buffer, mode: number, rand: () => number): Buffer {
  const int = (n: number): number => Math.floor(rand() * n);
  if (mode === 0) {
    const b = Buffer.from(Array.from({ length: int(1400) }, () => int(256)));
    if (b.length > 1 && rand() < 0.8) {
      b[0] = 1;
      b[1] = 1 + int(8);
    }
    return b;
  }
  if (mode === 1) {
    const b = Buffer.from(valid);
    for (let k = 0, n = 1 + int(6); k < n; k++) b[int(b.length)] = int(256);
    return b;
  }
  return valid.subarray(0, int(valid.length + 1));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
