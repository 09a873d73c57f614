// Request/reply timing on a fake clock and an in-memory UDP network with loss.
import test from 'ava';
import { PeerProtocol } from '../../../daemon/peerproto/index.js';
import { decodePacket } from '../../../wire/messages.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { waitFor } from '../../fixtures/wait.js';
import { FakeUdpNetwork, captureLog, makePki } from './fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';

async function setup() {
  const clock = new FakeClock(Date.now());
  const pki = await makePki(clock.nowMs());
  const net = new FakeUdpNetwork();
  const a = new PeerProtocol({ clock, self: await pki.node(A, 'a1'), verifyPeerCert: pki.verifyPeerCert, log: captureLog(), socketFactory: net.factory('10.0.0.1') });
  const b = new PeerProtocol({ clock, self: await pki.node(B, 'b1'), verifyPeerCert: pki.verifyPeerCert, log: captureLog(), socketFactory: net.factory('10.0.0.2') });
  await a.start({ port: 1194 });
  await b.start({ port: 1194 });
  return { clock, net, a, b, toB: { host: '10.0.0.2', port: 1194, prefix: B } };
}

test('a lost reply is retried and answered from the reply cache, not by a second tunnel', async (t) => {
  const { clock, net, a, b, toB } = await setup();
  let calls = 0;
  b.setHandler('tunnel-request', () => {
    calls++;
    return { kind: 'tunnel-accept', port: 1195 + calls };
  });
  let lost = 0;
  net.drop = (data, from) => {
    if (from.host === '10.0.0.2' && lost === 0 && decodePacket(data).message.kind === 'tunnel-accept') {
      lost++;
      return true;
    }
    return false;
  };
  const reply = a.request(toB, { kind: 'tunnel-request', role: 'client', proto: 'udp' }, { timeoutMs: 1000, attempts: 3 });
  await waitFor(() => lost === 1, { what: 'first reply lost' });
  await clock.advance(1000);
  t.deepEqual((await reply).msg, { kind: 'tunnel-accept', port: 1196 });
  t.is(calls, 1);
  t.is(b.stats().dropped.replayed, 0); // the retry is a new frame, not a replay
});

test('no reply: RN_PEERPROTO_TIMEOUT after every attempt has waited', async (t) => {
  const { clock, net, a, toB } = await setup();
  net.drop = () => true;
  let settled = false;
  const reply = a.request(toB, { kind: 'hello', myTimestampMs: clock.nowMs() }, { timeoutMs: 500, attempts: 2 });
  reply.catch(() => {}).finally(() => (settled = true));
  await clock.advance(999);
  t.false(settled);
  t.is(net.sentLog.length, 2);
  await clock.advance(1);
  const err = await t.throwsAsync(reply);
  t.is((err as { code?: string }).code, 'RN_PEERPROTO_TIMEOUT');
});

test('stop() fails pending requests and later sends', async (t) => {
  const { clock, net, a, toB } = await setup();
  net.drop = () => true;
  const reply = a.request(toB, { kind: 'hello', myTimestampMs: clock.nowMs() }, { timeoutMs: 500 });
  await a.stop();
  t.is(((await t.throwsAsync(reply)) as { code?: string }).code, 'RN_PEERPROTO_NOT_RUNNING');
  t.is(((await t.throwsAsync(a.send(toB, { kind: 'tunnel-accept', port: 1 }))) as { code?: string }).code, 'RN_PEERPROTO_NOT_RUNNING');
});

test('an abort signal cancels a request', async (t) => {
  const { clock, net, a, toB } = await setup();
  net.drop = () => true;
  const ctl = new AbortController();
  const reply = a.request(toB, { kind: 'hello', myTimestampMs: clock.nowMs() }, { timeoutMs: 500, signal: ctl.signal });
  ctl.abort(new Error('shutting down'));
  await t.throwsAsync(reply, { message: 'shutting down' });
  t.is(clock.pendingTimers(), 0);
});
