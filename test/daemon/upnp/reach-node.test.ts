// Both ends of a reach check over two real PeerProtocol endpoints on the
// in-memory UDP network of the peer-protocol tests (fake clock, throwaway
// certificates): the probe goes to the requester's own observed address from a
// fresh port of the peer and verifies the mapping; a third party's address, a
// dropped probe and a flood of requests are handled as reach-rules.ts says.
import test from 'ava';
import { PeerProtocol } from '../../../daemon/peerproto/index.js';
import { REQUESTS_PER_PEER } from '../../../daemon/upnp/reach-rules.js';
import { serveReachRequests, startReachVerifier } from '../../../daemon/upnp/reach-node.js';
import type { ReachStatus } from '../../../daemon/upnp/reach.js';
import { decodePacket } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { waitFor } from '../../fixtures/wait.js';
import { FakeUdpNetwork, captureLog, makePki } from '../peerproto/fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';
const HOST_A = '10.0.0.1';
const HOST_B = '10.0.0.2';
const PORT = 1194;

async function setup() {
  const clock = new FakeClock(1_765_000_000_000);
  const net = new FakeUdpNetwork();
  const pki = await makePki(clock.nowMs());
  const deps = { clock, verifyPeerCert: pki.verifyPeerCert };
  const a = new PeerProtocol({ ...deps, self: await pki.node(A, 'a1'), log: captureLog(), socketFactory: net.factory(HOST_A) });
  const b = new PeerProtocol({ ...deps, self: await pki.node(B, 'b1'), log: captureLog(), socketFactory: net.factory(HOST_B) });
  await a.start({ port: PORT });
  await b.start({ port: PORT });
  serveReachRequests({ clock, log: captureLog(), peerproto: b, socketFactory: net.factory(HOST_B) });
  const statuses: ReachStatus[] = [];
  const reach = startReachVerifier({ clock, peerproto: a, candidates: () => [{ prefix: B, key: B, to: { host: HOST_B, port: PORT, prefix: B } }], onStatus: (s) => statuses.push(s) });
  const kinds = (filter: (to: { host: string; port: number }) => boolean) => net.sentLog.filter((e) => filter(e.to)).map((e) => ({ kind: decodePacket(e.data).message.kind, from: e.from, to: e.to }));
  return { clock, net, a, b, reach, statuses, kinds };
}

test('the peer probes the requester\'s own address from a fresh port; the nonce verifies the mapping', async (t) => {
  const { reach, kinds } = await setup();
  reach.verifier.check(`${HOST_A}:${PORT}`);
  const s = await waitFor(() => {
    const x = reach.verifier.status();
    return x.state === 'verified' ? x : undefined;
  }, { what: 'verified' });
  t.is(s.by, B);
  const probes = kinds((to) => to.host === HOST_A).filter((e) => e.kind === 'reach-probe');
  t.is(probes.length, 2, 'two copies');
  t.true(probes.every((p) => p.from.host === HOST_B && p.from.port !== PORT), 'not from the peer-protocol port');
  reach.stop();
});

test('a third party\'s address is refused and gets nothing; a probe that never arrives is a failure', async (t) => {
  const { reach, kinds, net, clock } = await setup();
  reach.verifier.check(`10.0.0.99:${PORT}`);
  await waitFor(() => reach.verifier.status().state === 'waiting', { what: 'waiting: the only peer refused' });
  const st = reach.verifier.status();
  t.regex(st.state === 'waiting' ? st.why : '', /refused \(not-your-address\)/);
  t.deepEqual(kinds((to) => to.host === '10.0.0.99'), [], 'nothing sent to the third party');
  reach.verifier.check(undefined);

  // The router drops what arrives on the mapping: B says it sent, nothing comes.
  net.drop = (data, _from, to) => to.host === HOST_A && decodePacket(data).message.kind === 'reach-probe';
  reach.verifier.check(`${HOST_A}:${PORT}`);
  await waitFor(() => reach.verifier.status().state === 'probing' && kinds((to) => to.host === HOST_A).some((e) => e.kind === 'reach-reply'), { what: 'B answered' });
  // Time passes (the arrival deadline is armed once A has B's answer, a few real ticks later).
  const s = await waitFor(async () => {
    await clock.advance(1_000);
    const x = reach.verifier.status();
    return x.state === 'unreachable' ? x : undefined;
  }, { what: 'unreachable' });
  t.deepEqual(s.attempts, [{ peer: B, result: 'not-arrived' }]);
  reach.stop();
});

test('requests beyond the ration are refused cheaply, with no probe sent', async (t) => {
  const { a, net } = await setup();
  const outcomes: string[] = [];
  for (let i = 0; i < REQUESTS_PER_PEER + 2; i++) {
    const ev = await a.request({ host: HOST_B, port: PORT, prefix: B }, { kind: 'reach-request', endpoint: `${HOST_A}:${PORT}`, nonce: Buffer.alloc(16, i) }, { timeoutMs: 5_000 });
    outcomes.push(ev.msg.kind === 'reach-reply' ? ev.msg.outcome : ev.msg.kind);
  }
  t.deepEqual(outcomes, [...Array(REQUESTS_PER_PEER).fill('sent'), 'rate-limited', 'rate-limited']);
  t.is(net.sentLog.filter((e) => decodePacket(e.data).message.kind === 'reach-probe').length, 2 * REQUESTS_PER_PEER);
});
