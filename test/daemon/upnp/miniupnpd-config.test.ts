// The lab gateway's config text (golden) and the lease-file parser.
import test from 'ava';
import { buildMiniupnpdConf, parseLeaseFile } from './miniupnpd-config.js';

test('buildMiniupnpdConf renders the deps.md recipe', (t) => {
  const text = buildMiniupnpdConf({
    extIfName: 'wan0',
    lanIfName: 'lan0',
    lanCidr: '10.79.0.0/24',
    stunHost: '10.79.1.2',
    httpPort: 5555,
    leaseFile: '/tmp/x/upnp.leases',
    uuid: '3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b',
    igdV1: true,
  });
  t.is(
    text,
    `ext_ifname=wan0
listening_ip=lan0
http_port=5555
enable_upnp=yes
enable_natpmp=no
ext_perform_stun=yes
ext_stun_host=10.79.1.2
ext_stun_port=3478
secure_mode=yes
system_uptime=no
ipv6_disable=yes
force_igd_desc_v1=yes
min_lifetime=120
max_lifetime=86400
lease_file=/tmp/x/upnp.leases
uuid=3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b
friendly_name=resilnet test gateway
allow 1024-65535 10.79.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`,
  );
});

test('parseLeaseFile reads miniupnpd lease lines and skips junk', (t) => {
  t.deepEqual(parseLeaseFile('UDP:1194:10.79.0.2:1194:1732200000:resilnet\n\ngarbage\nTCP:80:10.79.0.3:8080:0:a:b\n'), [
    { protocol: 'UDP', externalPort: 1194, internalIp: '10.79.0.2', internalPort: 1194, expiresAtSec: 1732200000, description: 'resilnet' },
    { protocol: 'TCP', externalPort: 80, internalIp: '10.79.0.3', internalPort: 8080, expiresAtSec: 0, description: 'a:b' },
  ]);
});
