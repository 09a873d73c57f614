// The NAT classifier and the probe plan: each class from the evidence that
// decides it, the order of precedence, and when a server's alternate is asked.
import test from 'ava';
import { classifyNat, NAT_CLASSES, type NatEvidenceInput } from '../../../daemon/nat/classify.js';
import { nextAlternate } from '../../../daemon/nat/netcheck.js';
import type { StunProbeResult } from '../../../daemon/nat/stun-client.js';
import { heartbeatSchema } from '../../../wire/registry-api.js';

const base: NatEvidenceInput = { localAddresses: ['10.0.17.2'], seenAddress: null, upnp: null, stun: null };
const stun = (localPort: number, ...seen: [string, string, number][]): NatEvidenceInput['stun'] => ({
  localPort,
  observations: seen.map(([server, address, port]) => ({ server, mapped: { address, port } })),
});

test('public: STUN sees our own address and port', (t) => {
  const v = classifyNat({ ...base, localAddresses: ['192.0.2.10'], stun: stun(4000, ['s1:3478', '192.0.2.10', 4000], ['s2:3479', '192.0.2.10', 4000]) });
  t.is(v.natClass, 'public');
  t.is(v.externalAddress, '192.0.2.10');
});

test('public without STUN: the registry saw one of our own addresses', (t) => {
  const v = classifyNat({ ...base, localAddresses: ['192.0.2.10'], seenAddress: '192.0.2.10' });
  t.is(v.natClass, 'public');
  t.true(v.evidence.some((e) => e.includes('one of our own addresses')));
});

test('upnp: live mappings win over the mapping kind STUN saw', (t) => {
  const v = classifyNat({ ...base, upnp: { externalIp: '198.51.100.1', ports: [1194, 1195] }, stun: stun(4000, ['s1', '198.51.100.1', 4000], ['s2', '198.51.100.1', 4000]) });
  t.is(v.natClass, 'upnp');
  t.is(v.externalAddress, '198.51.100.1');
});

test('eim: two servers, one external endpoint', (t) => {
  const v = classifyNat({ ...base, stun: stun(4000, ['s1', '198.51.100.1', 51000], ['s2', '198.51.100.1', 51000]) });
  t.is(v.natClass, 'eim');
  t.regex(v.summary, /endpoint-independent/);
});

test('apdm: two servers, two external ports', (t) => {
  const v = classifyNat({ ...base, stun: stun(4000, ['s1', '198.51.100.1', 51000], ['s2', '198.51.100.1', 62000]) });
  t.is(v.natClass, 'apdm');
  t.regex(v.summary, /198\.51\.100\.1:51000, 198\.51\.100\.1:62000/);
});

test('unknown: one server answered, or the same server twice; the external address is still given', (t) => {
  const one = classifyNat({ ...base, stun: { localPort: 4000, observations: [{ server: 's1', mapped: { address: '198.51.100.1', port: 5 } }, { server: 's2', error: 'no answer in 5.0 s' }] } });
  t.is(one.natClass, 'unknown');
  t.is(one.externalAddress, '198.51.100.1');
  t.true(one.evidence.includes('STUN server s2 did not answer (no answer in 5.0 s)'));
  t.is(classifyNat({ ...base, stun: stun(4000, ['s1', '198.51.100.1', 5], ['s1', '198.51.100.1', 6]) }).natClass, 'unknown');
});

test('unknown behind a NAT: the registry sees another address and there is no STUN', (t) => {
  const v = classifyNat({ ...base, seenAddress: '198.51.100.1' });
  t.is(v.natClass, 'unknown');
  t.is(v.externalAddress, '198.51.100.1');
  t.regex(v.summary, /\[nat\] stun/);
});

test('unknown with no outside view at all', (t) => {
  const v = classifyNat(base);
  t.deepEqual([v.natClass, v.externalAddress], ['unknown', null]);
});

test('a port-translating NAT that keeps our address is not public', (t) => {
  const v = classifyNat({ ...base, localAddresses: ['192.0.2.10'], stun: stun(4000, ['s1', '192.0.2.10', 4100], ['s2', '192.0.2.10', 4100]) });
  t.is(v.natClass, 'eim');
});

test('the heartbeat accepts exactly the classes the classifier produces', (t) => {
  for (const c of NAT_CLASSES) t.true(heartbeatSchema.safeParse({ port: 1194, natClass: c }).success, c);
  t.false(heartbeatSchema.safeParse({ port: 1194, natClass: 'symmetric' }).success);
});

const ok = (host: string, port: number, changed?: [string, number]): StunProbeResult => ({
  server: { host, port },
  ok: true,
  rttMs: 1,
  mapped: { family: 'IPv4', address: '198.51.100.1', port: 5 },
  source: 'xor-mapped-address',
  ...(changed ? { changed: { family: 'IPv4' as const, address: changed[0], port: changed[1] } } : {}),
});

test('probe plan: a lone server\'s announced alternate is asked; not when two servers answered or it was asked already', (t) => {
  t.deepEqual(nextAlternate([ok('192.0.2.1', 3478, ['192.0.2.254', 3479])], [{ host: '192.0.2.1', port: 3478 }]), { host: '192.0.2.254', port: 3479 });
  t.is(nextAlternate([ok('192.0.2.1', 3478, ['192.0.2.254', 3479]), ok('192.0.2.9', 3478)], [{ host: '192.0.2.1', port: 3478 }, { host: '192.0.2.9', port: 3478 }]), undefined);
  t.is(nextAlternate([ok('192.0.2.1', 3478, ['192.0.2.9', 3478])], [{ host: '192.0.2.1', port: 3478 }, { host: '192.0.2.9', port: 3478 }]), undefined);
  t.is(nextAlternate([{ server: { host: '192.0.2.1', port: 3478 }, ok: false, error: 'x' }], [{ host: '192.0.2.1', port: 3478 }]), undefined);
});

test('a UPnP mapping no probe got through: not upnp, and the evidence says why', (t) => {
  const why = 'the UPnP gateway maps 198.51.100.7:1194 but probes sent there never arrived (…): not announced';
  // The mapping is withheld from the announcer, so no `upnp` evidence: the class comes from STUN.
  const v = classifyNat({ ...base, upnpReach: why, stun: stun(4000, ['s1:3478', '198.51.100.7', 4000], ['s2:3479', '198.51.100.7', 4000]) });
  t.is(v.natClass, 'eim');
  t.true(v.evidence.includes(why));
});
