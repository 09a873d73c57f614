// NodeUpnp answers the tunnel port from what the gateway maps now: after a
// conflict moved a tunnel port's external port, a peer beyond the router is
// told that one, a LAN peer the port itself; before any mapping and after the
// mappings stopped, the port itself.
import test from 'ava';
import pino from 'pino';
import { HealthRegistry } from '../../../daemon/health/health.js';
import { NodeUpnp, type Mappings } from '../../../daemon/node/upnp.js';
import type { ExternalAddress } from '../../../daemon/upnp/mapper.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const MAPPED: ExternalAddress = {
  ip: '198.51.100.7',
  mappings: [
    { protocol: 'UDP', internalPort: 1194, externalPort: 1194 },
    { protocol: 'UDP', internalPort: 1195, externalPort: 11202 },
  ],
};
const LAN = ['192.168.1.20/24'];

test('the tunnel port follows the gateway mapping: external beyond the router, internal on the LAN, itself without a mapping', async (t) => {
  const clock = new FakeClock();
  const log = pino({ level: 'silent' });
  let report: (a: ExternalAddress | undefined) => void = () => {};
  const mappings: Mappings = { start: async () => report(MAPPED), reconfigure: async () => ({ applied: true }), stop: async () => report(undefined) };
  const upnp = new NodeUpnp({
    clock, log, health: new HealthRegistry({ clock, log }), signal: new AbortController().signal,
    onExternalAddress: () => {},
    createMappings: async (onMapped) => {
      report = onMapped;
      return mappings;
    },
  });
  t.is(upnp.tunnelPortFor(1195, '203.0.113.9', LAN), 1195, 'nothing mapped yet');
  await upnp.reconfigure({ enabled: true, ports: [{ port: 1194, protocol: 'UDP' }, { port: 1195, protocol: 'UDP' }], leaseSec: 3600 }, { signal: new AbortController().signal });
  t.is(upnp.tunnelPortFor(1195, '203.0.113.9', LAN), 11202);
  t.is(upnp.tunnelPortFor(1195, '192.168.1.33', LAN), 1195);
  await upnp.stop();
  t.is(upnp.tunnelPortFor(1195, '203.0.113.9', LAN), 1195, 'mappings removed at stop');
});
