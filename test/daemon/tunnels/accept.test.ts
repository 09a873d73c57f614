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

// Crossed requests by NAT class: the end that can take tunnels (public, upnp) becomes the server.
const ANSWER = { accept: { kind: 'accept' }, replace: { kind: 'accept', replace: { reason: 'crossed with an incoming tunnel request', quiet: true } }, refuse: { kind: 'refuse', reason: 'duplicate' } } as const;
const classRows: Array<{ name: string; c: Partial<TunnelRequestContext>; want: ReturnType<typeof answerTunnelRequest> }> = [
  // The tie-break would make us (higher prefix) the server end: behind a NAT we keep our request instead.
  { name: 'we are eim, the public peer asks while we ask it: ours stays', c: { ownPrefix: HIGH, peer: LOW, opening: true, selfClass: 'eim', peerClass: 'public' }, want: ANSWER.refuse },
  { name: 'we are apdm, a upnp peer asks while our tunnel to it comes up: ours stays', c: { ownPrefix: HIGH, peer: LOW, existing: { direction: 'outgoing', state: 'connecting' }, selfClass: 'apdm', peerClass: 'upnp' }, want: ANSWER.refuse },
  // The tie-break would keep our attempt (lower prefix): we can take tunnels, the NATed peer cannot, so we serve.
  { name: 'we are public, an eim peer asks while we ask it: accepted', c: { opening: true, selfClass: 'public', peerClass: 'eim' }, want: ANSWER.accept },
  { name: 'we are upnp, an apdm peer asks while our tunnel to it comes up: ours goes', c: { existing: { direction: 'outgoing', state: 'connecting' }, selfClass: 'upnp', peerClass: 'apdm' }, want: ANSWER.replace },
  // Both can take tunnels, neither can, or a class is not known: the prefix decides as before.
  { name: 'both public: the lower prefix keeps its request', c: { opening: true, selfClass: 'public', peerClass: 'upnp' }, want: ANSWER.refuse },
  { name: 'both public, the peer lower: accepted', c: { ownPrefix: HIGH, peer: LOW, opening: true, selfClass: 'public', peerClass: 'public' }, want: ANSWER.accept },
  { name: 'both eim (a punch crossing a punch): the lower prefix keeps its request', c: { punch: true, opening: true, selfClass: 'eim', peerClass: 'eim' }, want: ANSWER.refuse },
  { name: 'both eim, a punch crossing a punch, the peer lower: accepted', c: { punch: true, ownPrefix: HIGH, peer: LOW, opening: true, selfClass: 'eim', peerClass: 'eim' }, want: ANSWER.accept },
  { name: 'both eim, punched tunnels crossing, ours lower: ours stays', c: { punch: true, existing: { direction: 'outgoing', state: 'connecting', punched: true }, selfClass: 'eim', peerClass: 'eim' }, want: ANSWER.refuse },
  // A punch request finds our direct attempt not up: it cannot come up between two NATs, the punch replaces it.
  {
    name: 'both eim, a punch request meets our direct attempt not up (ours lower): the punch wins',
    c: { punch: true, existing: { direction: 'outgoing', state: 'connecting' }, selfClass: 'eim', peerClass: 'eim' },
    want: { kind: 'accept', replace: { reason: "our direct attempt gives way to the peer's hole punching", quiet: true } },
  },
  // A plain request between two eim nodes: refused so that the requester punches (the manager adds our class).
  { name: 'both eim, a plain request: refused, punch instead', c: { selfClass: 'eim', peerClass: 'eim' }, want: { kind: 'refuse', reason: 'unsupported' } },
  { name: 'both eim, a plain request crossing ours: refused, punch instead', c: { ownPrefix: HIGH, peer: LOW, opening: true, selfClass: 'eim', peerClass: 'eim' }, want: { kind: 'refuse', reason: 'unsupported' } },
  { name: 'both eim, a plain request over a LAN we share: accepted', c: { overLan: true, selfClass: 'eim', peerClass: 'eim' }, want: ANSWER.accept },
  { name: 'both eim, a plain request while our tunnel to it is up: duplicate', c: { existing: { direction: 'outgoing', state: 'up' }, selfClass: 'eim', peerClass: 'eim' }, want: ANSWER.refuse },
  { name: 'we are eim, the peer of unknown class: prefix', c: { ownPrefix: HIGH, peer: LOW, opening: true, selfClass: 'eim' }, want: ANSWER.accept },
  { name: "we don't know our class, the peer public: prefix", c: { ownPrefix: HIGH, peer: LOW, opening: true, selfClass: null, peerClass: 'public' }, want: ANSWER.accept },
  { name: "our class 'unknown', the peer eim: prefix", c: { opening: true, selfClass: 'unknown', peerClass: 'eim' }, want: ANSWER.refuse },
  // Not crossed: never refused by class (a manual port forward is classified eim too).
  { name: 'we are eim, a public peer asks and we are not asking it: accepted', c: { ownPrefix: HIGH, peer: LOW, selfClass: 'eim', peerClass: 'public' }, want: ANSWER.accept },
  { name: 'we are apdm, an eim peer asks: accepted', c: { selfClass: 'apdm', peerClass: 'eim' }, want: ANSWER.accept },
  // Whatever the classes: our tunnel up is kept, a peer re-asking for the one we serve replaces it, a full node is full.
  { name: 'we are public, our tunnel to the eim peer is up: duplicate', c: { existing: { direction: 'outgoing', state: 'up' }, selfClass: 'public', peerClass: 'eim' }, want: ANSWER.refuse },
  { name: 'we are public, the crossed eim peer asks but we are full', c: { opening: true, selfClass: 'public', peerClass: 'eim', incoming: 2 }, want: { kind: 'refuse', reason: 'full' } },
];

for (const r of classRows) {
  test(`tunnel request by class: ${r.name}`, (t) => {
    t.deepEqual(answerTunnelRequest({ ...base, ...r.c }), r.want);
  });
}

test('crossed requests: whenever both ends know both classes, exactly one end accepts (both eim: both refuse and punch)', (t) => {
  const classes = ['public', 'upnp', 'eim', 'apdm', 'unknown', null] as const;
  const crossings = [{ opening: true }, { existing: { direction: 'outgoing', state: 'connecting' } }] as const;
  for (const a of classes) {
    for (const b of classes) {
      for (const ca of crossings) {
        for (const cb of crossings) {
          const atA = answerTunnelRequest({ ...base, ...ca, ownPrefix: LOW, peer: HIGH, selfClass: a, peerClass: b });
          const atB = answerTunnelRequest({ ...base, ...cb, ownPrefix: HIGH, peer: LOW, selfClass: b, peerClass: a });
          const accepted = [atA, atB].filter((x) => x.kind === 'accept').length;
          if (a === 'eim' && b === 'eim') {
            // Each tells the other its class: both punch, and punches crossing are decided by prefix.
            t.deepEqual([atA, atB], [{ kind: 'refuse', reason: 'unsupported' }, { kind: 'refuse', reason: 'unsupported' }]);
            continue;
          }
          t.is(accepted, 1, `low ${a}, high ${b}`);
          // The accepting end is the one that can take tunnels, when exactly one can and the other is behind a NAT.
          const serverA = atA.kind === 'accept';
          if ((a === 'public' || a === 'upnp') && (b === 'eim' || b === 'apdm')) t.true(serverA, `low ${a} serves high ${b}`);
          if ((b === 'public' || b === 'upnp') && (a === 'eim' || a === 'apdm')) t.false(serverA, `high ${b} serves low ${a}`);
        }
      }
    }
  }
});

test('crossed, only the NATed end knows both classes and it holds the higher prefix: both refuse (no tunnel that cannot come up)', (t) => {
  const atPublic = answerTunnelRequest({ ...base, opening: true, selfClass: 'public' });
  const atNated = answerTunnelRequest({ ...base, ownPrefix: HIGH, peer: LOW, opening: true, selfClass: 'eim', peerClass: 'public' });
  t.deepEqual([atPublic, atNated], [ANSWER.refuse, ANSWER.refuse]);
});

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
