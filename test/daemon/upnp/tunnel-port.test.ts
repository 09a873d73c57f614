// Which port a tunnel-accept names: a request that crossed our UPnP router gets
// the external port the router forwards to our server end (after a conflict it
// differs from ours); a request from our LAN, over IPv6, or without a mapping of
// that port gets the port itself.
import test from 'ava';
import { tunnelPortForPeer, type MappedPorts } from '../../../daemon/upnp/tunnel-port.js';

// 1194 kept its external port; 1195 lost it to another host and was mapped at 11202.
const MAPPED: MappedPorts = {
  mappings: [
    { protocol: 'UDP', internalPort: 1194, externalPort: 1194 },
    { protocol: 'UDP', internalPort: 1195, externalPort: 11202 },
    { protocol: 'TCP', internalPort: 1196, externalPort: 21209 },
  ],
};
const LAN = ['192.168.1.20/24', 'fd12::20/64', null];

const answer = (port: number, fromHost: string, mapped: MappedPorts | null = MAPPED) => tunnelPortForPeer({ port, fromHost, mapped: mapped ?? undefined, localCidrs: LAN });

test('a request from beyond the router gets the external port the router forwards to the tunnel port', (t) => {
  t.is(answer(1195, '203.0.113.9'), 11202);
  t.is(answer(1194, '203.0.113.9'), 1194, 'no conflict: the same port');
});

test('a request from our LAN connects directly: the internal port', (t) => {
  t.is(answer(1195, '192.168.1.33'), 1195);
  t.is(answer(1195, '192.168.2.33'), 11202, 'another subnet is beyond the router');
});

test('IPv6 needs no NAT: the internal port', (t) => {
  t.is(answer(1195, '2001:db8::9'), 1195);
});

test('no mapping at all, or none for that port (or only TCP): the internal port', (t) => {
  t.is(answer(1195, '203.0.113.9', null), 1195);
  t.is(answer(1197, '203.0.113.9'), 1197);
  t.is(answer(1196, '203.0.113.9'), 1196, 'tunnels are UDP; a TCP mapping is not theirs');
});
