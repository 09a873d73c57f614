// `--log-level trace` logs every peer-protocol message in and out: two
// endpoints on loopback with real pino loggers (as the daemon builds them) at
// trace level, their JSON lines captured.
import test from 'ava';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { systemClock } from '../../../daemon/sys/clock.js';
import { PeerProtocol } from '../../../daemon/peerproto/index.js';
import { waitFor } from '../../fixtures/wait.js';
import { makePki } from './fixture.js';

const A = 'fd5e:1:0:a::/64';
const B = 'fd5e:1:0:b::/64';

function capturedPino(level: string) {
  const lines: any[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, log: pino({ level }, stream).child({ component: 'peerproto' }) };
}

async function exchange(t: { teardown(fn: () => unknown): void }, level: string) {
  const pki = await makePki(Date.now());
  const logA = capturedPino(level);
  const logB = capturedPino(level);
  const a = new PeerProtocol({ clock: systemClock, self: await pki.node(A, 'a1'), verifyPeerCert: pki.verifyPeerCert, log: logA.log, configVersion: () => 3 });
  const b = new PeerProtocol({ clock: systemClock, self: await pki.node(B, 'b1'), verifyPeerCert: pki.verifyPeerCert, log: logB.log });
  const ctl = new AbortController();
  t.teardown(() => ctl.abort());
  await a.start({ port: 0, host: '127.0.0.1', signal: ctl.signal });
  const { port: portB } = await b.start({ port: 0, host: '127.0.0.1', signal: ctl.signal });
  const got = new Promise((resolve) => b.on('addresses', resolve));
  await a.hello({ host: '127.0.0.1', port: portB, prefix: B }, { timeoutMs: 2_000 });
  await a.send({ host: '127.0.0.1', port: portB, prefix: B }, { kind: 'addresses', public: ['198.51.100.7:1194'], internal: [], upnp: [] });
  await got;
  return { logA, logB, portB };
}

test('at trace level every message in and out is one "peer message" line with its fields and decoded message', async (t) => {
  const { logA, logB, portB } = await exchange(t, 'trace');
  const traced = (lines: any[]) => lines.filter((l) => l.msg === 'peer message');
  await waitFor(() => traced(logA.lines).length >= 4 && traced(logB.lines).length >= 4, { what: 'trace lines' });
  const a = traced(logA.lines).map((l) => `${l.dir} ${l.kind}`);
  const b = traced(logB.lines).map((l) => `${l.dir} ${l.kind}`);
  // The hello, B's answer that challenges A's address, A's answer to it, the addresses.
  t.deepEqual(a, ['out hello', 'in hello', 'out hello', 'out addresses']);
  t.deepEqual(b, ['in hello', 'out hello', 'in hello', 'in addresses']);
  const out = traced(logA.lines).find((l) => l.kind === 'addresses');
  t.is(out.level, 10);
  t.is(out.component, 'peerproto');
  t.is(out.peer, B);
  t.is(out.remote, `127.0.0.1:${portB}`);
  t.true(out.bytes > 60);
  // The decoded message, under its own key (pino's own `msg` is the line's text).
  t.deepEqual(out.message, { kind: 'addresses', public: ['198.51.100.7:1194'], internal: [], upnp: [] });
  const reply = traced(logA.lines).find((l) => l.dir === 'in');
  t.is(typeof reply.inReplyTo, 'number');
  t.is(reply.message.kind, 'hello');
  t.is(reply.message.yourTimestampMs, traced(logA.lines)[0].message.myTimestampMs);
});

test('below trace level none of those lines is written', async (t) => {
  const { logA, logB } = await exchange(t, 'debug');
  t.false([...logA.lines, ...logB.lines].some((l) => l.msg === 'peer message'));
});
