// The fuzz harness of bench/wire-fuzz.ts with small counts, so every CI run
// tries a few thousand new inputs (a random seed, logged to replay a failure:
// `node --import tsx bench/wire-fuzz.ts 6000 SEED 600`).
import test from 'ava';
import { randomInt } from 'node:crypto';
import { MUTATIONS, fuzz } from '../../bench/wire-fuzz.js';

test('decoder and receive path: mutated frames give a value or a WireDecodeError, nothing escapes the endpoint, no altered frame is accepted', async (t) => {
  const seed = randomInt(2 ** 31);
  t.log(`seed ${seed}`);
  const r = await fuzz({ iterations: 6000, seed, receiveIterations: 600 });
  t.deepEqual(r.crashes, []);
  t.is(r.forgeries, 0);
  for (const m of MUTATIONS) {
    const outcomes = Object.values(r.decode[m]).reduce((a, b) => a + b, 0);
    t.is(outcomes, 1000, `${m}: every input decoded or refused`);
  }
  // The mutations reach past the envelope: items with bad lengths are refused, duplicated ones decode (the first counts).
  t.true((r.decode['item-length'].RN_WIRE_TRUNCATED ?? 0) > 0);
  t.true((r.decode['nested-length'].RN_WIRE_BAD_VALUE ?? 0) > 0);
  t.true((r.decode['duplicate-item'].value ?? 0) > 0);
  const refused = Object.values(r.receive.refusals).reduce((a, b) => a + b, 0);
  t.is(r.receive.delivered, 600);
  t.true(refused > 0 && (r.receive.refusals['bad-signature'] ?? 0) > 0, JSON.stringify(r.receive.refusals));
});
