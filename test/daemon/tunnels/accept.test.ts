import { createSocket } from 'node:dgram';
import test from 'ava';
import { answerTunnelRequest, chooseServerPort, udpPortFree, type TunnelRequestContext } from '../../../daemon/tunnels/accept.js';

const LOW = 'fd00:1:0:1::/64';
const HIGH = 'fd00:1:0:2::/64';
const base: TunnelRequestContext = { ownPrefix: LOW, peer: HIGH, opening: false, incoming: 0, maxClients: 2 };

const rows: Array<{ name: string; c: Partial<TunnelRequestContext>; want: ReturnType<typeof answerTunnelRequest> }> = [
  { name: 'a new peer is accepted', c: {}, want: { kind: 'accept' } },
  { name: 'a full node refuses', c: { incoming: 2 }, want: { kind: 'refuse', reason: 'full' } },
  {
    name: 'the peer asks again for the tunnel we serve: replaced (and it frees its own slot)',
    c: { existing: { direction: 'incoming', state: 'up' }, incoming: 2 },
    want: { kind: 'accept', replace: { reason: 'the peer asked for a new tunnel', quiet: false } },
  },
  { name: 'our outgoing tunnel to it is up: duplicate', c: { ownPrefix: HIGH, peer: LOW, existing: { direction: 'outgoing', state: 'up' } }, want: { kind: 'refuse', reason: 'duplicate' } },
  { name: 'crossed, we have the lower prefix: ours stays', c: { existing: { direction: 'outgoing', state: 'connecting' } }, want: { kind: 'refuse', reason: 'duplicate' } },
  {
    name: 'crossed, the peer has the lower prefix: ours goes quietly',
    c: { ownPrefix: HIGH, peer: LOW, existing: { direction: 'outgoing', state: 'connecting' } },
    want: { kind: 'accept', replace: { reason: 'crossed with an incoming tunnel request', quiet: true } },
  },
  { name: 'both asking at once, we have the lower prefix: duplicate', c: { opening: true }, want: { kind: 'refuse', reason: 'duplicate' } },
  { name: 'both asking at once, the peer has the lower prefix: accepted', c: { ownPrefix: HIGH, peer: LOW, opening: true }, want: { kind: 'accept' } },
];

for (const r of rows) {
  test(`tunnel request: ${r.name}`, (t) => {
    t.deepEqual(answerTunnelRequest({ ...base, ...r.c }), r.want);
  });
}

test('the server port is the first of the range that is unused and binds', async (t) => {
  const asked: number[] = [];
  const isFree = async (p: number) => {
    asked.push(p);
    return p !== 1196;
  };
  t.is(await chooseServerPort({ underlayPort: 1194, maxClients: 4 }, new Set([1195]), isFree), 1197);
  t.deepEqual(asked, [1196, 1197]);
  t.is(await chooseServerPort({ underlayPort: 1194, maxClients: 2 }, new Set([1195]), isFree), undefined);
});

test('udpPortFree tells a bound port from a free one', async (t) => {
  const s = createSocket({ type: 'udp6', ipv6Only: false });
  await new Promise<void>((resolve) => s.bind(0, '::', () => resolve()));
  const port = s.address().port;
  t.false(await udpPortFree(port));
  await new Promise<void>((resolve) => s.close(() => resolve()));
  t.true(await udpPortFree(port));
});
