// Hole punching's pure rules: which pairs can get a tunnel and how, and which punch requests are served.
import test from 'ava';
import { impossibleWhy, pairing, punchRequestProblem, punchTimedOutText } from '../../../daemon/nat/punch.js';
import { eventText } from '../../../daemon/events.js';

test('pairing: public/UPnP peers take requests, EIM + EIM punch, anything with APDM or a NATed peer of a public node cannot', (t) => {
  t.is(pairing('eim', 'public'), 'direct');
  t.is(pairing('apdm', 'upnp'), 'direct');
  t.is(pairing('eim', 'eim'), 'punch');
  t.is(pairing('apdm', 'apdm'), 'impossible');
  t.is(pairing('eim', 'apdm'), 'impossible');
  t.is(pairing('apdm', 'eim'), 'impossible');
  t.is(pairing('public', 'eim'), 'impossible');
  t.is(pairing('eim', undefined), 'unknown');
  t.is(pairing('unknown', 'apdm'), 'unknown');
  t.is(pairing(null, 'eim'), 'unknown');
});

test('the reasons say which NAT is in the way', (t) => {
  t.regex(impossibleWhy('apdm', 'apdm'), /^both behind port-randomising NATs/);
  t.regex(impossibleWhy('eim', 'apdm'), /^the peer is behind a port-randomising NAT/);
  t.regex(impossibleWhy('apdm', 'eim'), /^this node is behind a port-randomising NAT/);
  t.regex(impossibleWhy('public', 'eim'), /opens tunnels to us instead/);
  t.is(punchTimedOutText(20_000), 'hole punch timed out (20 s)');
  t.is(eventText.linkPunched('fd5e::/64', '10.0.2.1:1195', '10.0.2.2:1196'), 'link with fd5e::/64 established via hole punching (10.0.2.1:1195 → 10.0.2.2:1196)');
});

test('a punch request is served only between two EIM nodes, towards a usable IPv4 endpoint', (t) => {
  const ok = { endpoint: '198.51.100.7:1195', natClass: 'eim' };
  t.is(punchRequestProblem(ok, 'eim'), undefined);
  t.regex(punchRequestProblem(ok, 'apdm') ?? '', /this node is apdm/);
  t.regex(punchRequestProblem(ok, null) ?? '', /unknown NAT class/);
  t.regex(punchRequestProblem({ ...ok, natClass: 'apdm' }, 'eim') ?? '', /requester says it is apdm/);
  t.regex(punchRequestProblem({ ...ok, endpoint: '[2001:db8::1]:1195' }, 'eim') ?? '', /not IPv4/);
  t.regex(punchRequestProblem({ ...ok, endpoint: '127.0.0.1:1195' }, 'eim') ?? '', /not an address a peer can reach/);
  t.regex(punchRequestProblem({ ...ok, endpoint: '0.0.0.0:1195' }, 'eim') ?? '', /not an address/);
});
