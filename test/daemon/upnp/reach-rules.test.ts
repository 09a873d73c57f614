// Which reach requests are served: only to an IPv4 address the requester's own
// frames came from lately, within rations; and who is asked, best first.
import test from 'ava';
import { OBSERVED_TTL_MS, ObservedSources, REQUEST_INTERVAL_MS, REQUESTS_PER_PEER, ReachRation, reachRequestProblem } from '../../../daemon/upnp/reach-rules.js';
import { reachCandidates } from '../../../daemon/upnp/reach-node.js';

const A = 'fd5e:1:2:a::/64';
const B = 'fd5e:1:2:b::/64';

test('observed sources: IPv4 underlay addresses only, per peer, forgotten after the TTL', (t) => {
  const o = new ObservedSources();
  o.record(A, '198.51.100.7', 0);
  o.record(A, 'fd5e:1:2:a::1', 0); // over the overlay: not an external address
  o.record(A, '127.0.0.1', 0); // loopback: never
  o.record(B, '203.0.113.9', 0);
  t.deepEqual(o.ips(A, 1_000), ['198.51.100.7']);
  t.deepEqual(o.ips(B, 1_000), ['203.0.113.9']);
  t.deepEqual(o.ips(A, OBSERVED_TTL_MS + 1), []);
  o.record(A, '198.51.100.7', OBSERVED_TTL_MS);
  t.deepEqual(o.ips(A, OBSERVED_TTL_MS + 1), ['198.51.100.7'], 'seen again: counts again');
  // A few addresses per peer, the newest kept.
  for (let i = 1; i <= 6; i++) o.record(B, `203.0.113.${i}`, 10 + i);
  t.deepEqual(o.ips(B, 100), ['203.0.113.3', '203.0.113.4', '203.0.113.5', '203.0.113.6']);
});

test('a request is served only for the requester\'s own observed IP and a usable IPv4 endpoint', (t) => {
  const seen = ['198.51.100.7'];
  t.is(reachRequestProblem('198.51.100.7:1194', seen), undefined);
  t.is(reachRequestProblem('198.51.100.7:40001', seen), undefined, 'any port of its own address (a conflict moves the mapped port)');
  t.is(reachRequestProblem('203.0.113.9:1194', seen), 'not-your-address', 'a third party');
  t.is(reachRequestProblem('198.51.100.7:1194', []), 'not-your-address', 'nothing seen from it over the underlay');
  t.is(reachRequestProblem('127.0.0.1:1194', ['127.0.0.1']), 'bad-endpoint');
  t.is(reachRequestProblem('224.0.0.1:1194', ['224.0.0.1']), 'bad-endpoint');
  t.is(reachRequestProblem('[2001:db8::1]:1194', seen), 'bad-endpoint', 'UPnP IGD maps IPv4');
  t.is(reachRequestProblem('nonsense', seen), 'bad-endpoint');
});

test('rations: a burst per requester, then one per interval; others are not starved by one', (t) => {
  const r = new ReachRation();
  for (let i = 0; i < REQUESTS_PER_PEER; i++) t.true(r.take(A, 0));
  t.false(r.take(A, 0), 'burst spent');
  t.true(r.take(B, 0), 'another requester has its own');
  t.false(r.take(A, REQUEST_INTERVAL_MS - 1));
  t.true(r.take(A, REQUEST_INTERVAL_MS));
});

test('rations: the shared bucket caps all requesters together', (t) => {
  const r = new ReachRation();
  let granted = 0;
  for (let i = 0; i < 100; i++) if (r.take(`fd5e:1:2:${i.toString(16)}::/64`, 0)) granted++;
  t.is(granted, 20);
});

test('candidates: adjacent peers over the overlay first, then live peers at their first IPv4 underlay address, adjacent ones first', (t) => {
  const overlay = (prefix: string) => ({ host: `${prefix.split('::')[0]}::1`, port: 1194, prefix });
  const c = reachCandidates(
    [A],
    [
      { prefix: B, addresses: ['[2001:db8::2]:1194', '203.0.113.9:1194'], dead: false },
      { prefix: A, addresses: ['10.0.0.1:1194'], dead: false },
      { prefix: 'fd5e:1:2:c::/64', addresses: ['203.0.113.10:1194'], dead: true },
      { prefix: 'fd5e:1:2:d::/64', addresses: [], dead: false },
    ],
    overlay,
  );
  t.deepEqual(c, [
    { prefix: A, key: `${A} overlay`, to: { host: 'fd5e:1:2:a::1', port: 1194, prefix: A } },
    { prefix: A, key: `${A} underlay`, to: { host: '10.0.0.1', port: 1194, prefix: A } },
    { prefix: B, key: `${B} underlay`, to: { host: '203.0.113.9', port: 1194, prefix: B } },
  ]);
});
