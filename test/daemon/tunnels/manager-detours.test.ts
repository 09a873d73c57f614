// The tunnel manager with detour routes and the peer's "down" notice: an exited
// openvpn gets detours before babel drops the interface and the peer is told at
// once; a peer's notice reaches link liveness; drains wait for other routes,
// detour first, and the side that follows a drain raises its cost only after
// its routes moved.
import test from 'ava';
import { managerFixture, peerPrefix } from './manager-fixture.js';

const B = peerPrefix(2);

function setup(options: { ackTimeoutMs?: number; objectionMs?: number } = {}) {
  const s = managerFixture({
    options: {
      maxClients: 4,
      ...(options.ackTimeoutMs !== undefined ? { drainAckTimeoutMs: options.ackTimeoutMs, drainSettleMs: 1_000 } : {}),
      ...(options.objectionMs !== undefined ? { drainObjectionMs: options.objectionMs } : {}),
    },
    routeVia: options.ackTimeoutMs !== undefined,
    detours: true,
  });
  const up = async () => {
    await s.manager.open(B);
    s.up(B);
  };
  return { ...s, up };
}

test('an exited openvpn: detours first, then babel drops the interface, and the peer is told at once over the underlay', async (t) => {
  const s = setup();
  await s.up();
  t.deepEqual(s.calls, ['add rn2', 'add rn2', 'release rn2']);
  s.calls.length = 0;
  s.emit({ kind: 'child-exited', name: `openvpn to ${B}`, pid: 4242, code: null, signal: 'SIGKILL', restartInMs: 0, failures: 1, ranForMs: 5000 });
  await s.clock.advance(0);
  t.deepEqual(s.calls, ['detour rn2 (openvpn killed by SIGKILL)', 'flush rn2']);
  t.deepEqual(s.sent.map((x) => [x.to, x.msg]), [[{ host: '10.0.0.2', port: 1194, prefix: B }, { kind: 'drain', phase: 'down', tunnelPort: 1195, closeInMs: 0 }]]);
  t.is(s.manager.get(B)?.state, 'connecting');
});

test("the peer's down notice for this tunnel reaches link liveness; one for another tunnel port is ignored", async (t) => {
  const s = setup();
  await s.up();
  s.drainMsg('down', 1999);
  t.deepEqual(s.peerDown, []);
  s.drainMsg('down', 1195);
  t.deepEqual(s.peerDown, [`${B}: the peer's end stopped`]);
  t.is(s.manager.get(B)?.state, 'up', 'the manager itself keeps the tunnel: liveness decides');
});

test('a drain waits until every destination of the tunnel has another way, detours, then announces and raises the cost', async (t) => {
  const s = setup();
  await s.up();
  s.calls.length = 0;
  s.routes.set('rn2', 3);
  s.setUncovered(['fd00:1:0:9::/64']);
  const done = s.manager.drain(B, 'refresh');
  await s.clock.advance(1_000);
  t.deepEqual(s.calls, [], 'nothing happens while a destination has no other way');
  t.deepEqual(s.sent, []);
  s.setUncovered([]);
  await s.clock.advance(250);
  t.deepEqual(s.calls, ['detour rn2 (drain: refresh)', 'cost rn2']);
  t.deepEqual(s.sent.map((x) => x.msg), [{ kind: 'drain', phase: 'announce', tunnelPort: 1195, closeInMs: 10_000 }]);
  s.routes.set('rn2', 0);
  await s.clock.advance(250);
  await done;
  t.deepEqual(s.calls.slice(-3), [`stop openvpn to ${B}`, 'flush rn2', 'release rn2']);
});

test('a drain does not wait forever for other routes', async (t) => {
  const s = setup();
  await s.up();
  s.setUncovered(['fd00:1:0:9::/64']);
  void s.manager.drain(B, 'refresh');
  await s.clock.advance(5_000);
  t.true(s.calls.includes('cost rn2'), 'half the drain timeout at most');
});

test("following the peer's drain: detours, then the cost is raised only once our routes left the tunnel", async (t) => {
  const s = setup();
  await s.up();
  s.calls.length = 0;
  s.routes.set('rn2', 2);
  s.drainMsg('announce', 1195, 20_000);
  await s.clock.advance(0);
  t.is(s.manager.get(B)?.state, 'draining');
  t.deepEqual(s.calls, ['detour rn2 (the peer drains the tunnel)']);
  await s.clock.advance(2_000);
  t.false(s.calls.includes('cost rn2'), 'our routes still use it: babel is moving them (the peer raised its cost)');
  s.routes.set('rn2', 0);
  await s.clock.advance(250);
  t.deepEqual(s.calls.slice(-1), ['cost rn2']);
  await s.clock.advance(25_000);
  t.is(s.manager.get(B), undefined, 'closed when the peer did not');
});

test("a drain waits for the peer's ack and a settle time before watching its own routes, then closes", async (t) => {
  const s = setup({ ackTimeoutMs: 7_000 });
  await s.up();
  s.calls.length = 0;
  const done = s.manager.drain(B, 'refresh');
  await s.clock.advance(0);
  t.deepEqual(s.calls, ['detour rn2 (drain: refresh)', 'cost rn2']);
  await s.clock.advance(3_000);
  t.false(s.calls.includes(`stop openvpn to ${B}`), 'no route through the tunnel right after our flush, but no ack yet');
  s.drainMsg('ack', 1195);
  await s.clock.advance(750);
  t.false(s.calls.includes(`stop openvpn to ${B}`), 'settling: babel has not heard the peer\'s new cost yet');
  await s.clock.advance(500);
  await done;
  t.true(s.calls.includes(`stop openvpn to ${B}`));
});

test('a drain that would cut the peer off is given up: cost restored, the peer told, the tunnel up again', async (t) => {
  const s = setup({ ackTimeoutMs: 1_000 });
  await s.up();
  s.via.set(B, 'rn2'); // babel reaches B only through this tunnel
  const done = s.manager.drain(B, 'refresh');
  await s.clock.advance(11_000);
  await done;
  t.false(s.calls.includes(`stop openvpn to ${B}`));
  t.is(s.manager.get(B)?.state, 'up');
  t.deepEqual(s.calls.slice(-2), ['restore rn2', 'release rn2']);
  t.deepEqual(s.sent.at(-1)?.msg, { kind: 'drain', phase: 'cancel', tunnelPort: 1195, closeInMs: 0 });
});

test("following a drain: ack once our cost is raised; the peer's cancel restores the tunnel and stops the close timer", async (t) => {
  const s = setup({ ackTimeoutMs: 7_000 });
  await s.up();
  s.drainMsg('announce', 1195, 20_000);
  await s.clock.advance(0);
  t.deepEqual(s.sent.at(-1)?.msg, { kind: 'drain', phase: 'ack', tunnelPort: 1195, closeInMs: 0 });
  s.drainMsg('cancel', 1195);
  await s.clock.advance(0);
  t.is(s.manager.get(B)?.state, 'up');
  t.true(s.calls.includes('restore rn2'));
  await s.clock.advance(30_000);
  t.is(s.manager.get(B)?.state, 'up', 'not closed by the old timer');
});

test('a drain refused by the peer is given up before anything changed', async (t) => {
  const s = setup({ objectionMs: 500 });
  await s.up();
  s.calls.length = 0;
  const done = s.manager.drain(B, 'refresh');
  await s.clock.advance(100);
  t.deepEqual(s.calls, ['detour rn2 (drain: refresh)'], 'the cost waits for a possible refusal');
  s.drainMsg('cancel', 1195);
  await s.clock.advance(100);
  await done;
  t.is(s.manager.get(B)?.state, 'up');
  t.deepEqual(s.calls, ['detour rn2 (drain: refresh)', 'release rn2'], 'no cost raised, detours released');
});

test('one drain at a time at a node: a second drain waits, and a peer already draining refuses to follow another', async (t) => {
  const s = setup({ objectionMs: 500 });
  await s.up();
  // A second tunnel, from C, that is draining (the peer started it).
  const C = 'fd00:1:0:3::/64';
  await s.tunnelRequest(C, { serial: '2c', host: '10.0.0.3', port: 1194 });
  s.manager.get(C)!.state = 'draining';
  s.calls.length = 0;
  await s.manager.drain(B, 'refresh');
  t.is(s.manager.get(B)?.state, 'up', 'postponed');
  t.deepEqual(s.calls, []);
  s.drainMsg('announce', 1195);
  await s.clock.advance(0);
  t.is(s.manager.get(B)?.state, 'up', 'refused');
  t.deepEqual(s.sent.at(-1)?.msg, { kind: 'drain', phase: 'cancel', tunnelPort: 1195, closeInMs: 0 });
});

test('a cancel that comes before our drain was announced is not a refusal of it', async (t) => {
  const s = setup({ objectionMs: 500 });
  await s.up();
  s.setUncovered(['fd00:1:0:9::/64']);
  const done = s.manager.drain(B, 'refresh');
  await s.clock.advance(250);
  s.drainMsg('cancel', 1195);
  s.setUncovered([]);
  await s.clock.advance(1_000);
  t.true(s.calls.includes('cost rn2'), 'the drain went on');
  s.routes.set('rn2', 0);
  await s.clock.advance(10_000);
  await done;
  t.is(s.manager.get(B), undefined);
});
