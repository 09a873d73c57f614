// A node behind a NAT router (nftables masquerade + miniupnpd) with the real
// daemon: it maps its ports over UPnP, announces the gateway's external address
// (status --json shows it) once a peer's probe reached it through the mapping
// (a second public node, started first, asked over the underlay), and the public
// node opens a tunnel to it through the mapped port. The NAT'd node opens no
// tunnel itself (client_count = 0), so the tunnel can only be an incoming one.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildMiniupnpdArgv, buildMiniupnpdConf, buildNftSkeleton, buildStundArgv } from '../upnp/miniupnpd-config.js';
import { NodeLab, editFile, nodeCli, pings, registerNode, run, runOk, startDaemon, startRegistry, testNodeConfig, tunnelUp } from './netlab.js';
import { waitFor } from '../../fixtures/wait.js';

// By absolute path: under npx, node_modules/.bin holds an unrelated `nft` (@vercel/nft).
const NFT = '/usr/sbin/nft';

test.serial('a node behind NAT with UPnP announces the external address and gets an incoming tunnel through the mapped port', async (t) => {
  const lab = await NodeLab.create(t);
  const registry = await startRegistry(lab, await lab.addHost('reg'), ['babel.hello_interval=1']);
  const pubHost = await lab.addHost('pub');
  // A public node that only probes the NAT'd node's mapping (a node announces a mapping once a peer's probe reached it).
  const proberHost = await lab.addHost('probe');
  const gw = await lab.addHost('gw');
  const stun = await lab.addHost('stun');
  const natHost = await lab.addHostBehind('nat', gw);

  // STUN (two addresses) so miniupnpd accepts its private "WAN" address as 1:1 NAT.
  const stunAlt = `${lab.net}.250`;
  await runOk(['ip', '-n', stun.ns, 'addr', 'add', `${stunAlt}/24`, 'dev', 'eth0']);
  lab.spawnIn(stun, buildStundArgv({ primaryIp: stun.underlayIp, alternateIp: stunAlt }), 'stund');
  await waitFor(async () => {
    const ss = await runOk(['ip', 'netns', 'exec', stun.ns, 'ss', '-lun']);
    if (!ss.includes(`${stun.underlayIp}:3478`)) throw new Error(ss);
    return true;
  }, { what: 'stund listening', timeoutMs: 20_000, intervalMs: 200 });

  // The router: masquerade out of eth0 (its WAN), miniupnpd's chains, miniupnpd.
  const nftPath = join(gw.dir, 'nat.nft');
  writeFileSync(nftPath, `${buildNftSkeleton({ lanIfName: natHost.lanIfName })}add rule inet filter postrouting oifname "eth0" masquerade\n`);
  const nft = await run(['ip', 'netns', 'exec', gw.ns, NFT, '-f', nftPath]);
  if (nft.code !== 0) throw new Error(`nft failed: ${nft.stderr}`);
  const confPath = join(gw.dir, 'miniupnpd.conf');
  writeFileSync(
    confPath,
    buildMiniupnpdConf({
      extIfName: 'eth0',
      lanIfName: natHost.lanIfName,
      lanCidr: natHost.lanCidr,
      stunHost: stun.underlayIp,
      httpPort: 5555,
      leaseFile: join(gw.dir, 'upnp.leases'),
      uuid: randomUUID(),
      igdV1: false,
      friendlyName: `${lab.id} NAT router`,
    }),
  );
  const upnpd = lab.spawnIn(gw, buildMiniupnpdArgv({ confPath, pidPath: join(gw.dir, 'miniupnpd.pid') }), 'miniupnpd');
  await waitFor(() => {
    const text = readFileSync(upnpd.logPath, 'utf8');
    if (!/Port forwarding is now enabled/.test(text) || !/HTTP listening on port/.test(text)) throw new Error(text.slice(-500));
    return true;
  }, { what: 'miniupnpd ready', timeoutMs: 30_000, intervalMs: 200 });
  // The NAT'd host cannot reach the public one's address directly: only through the router.
  const direct = await run(['ip', 'netns', 'exec', natHost.ns, 'ip', 'route', 'get', pubHost.underlayIp]);
  t.regex(direct.stdout, new RegExp(`via ${natHost.routerLanIp.replace(/\./g, '\\.')}`));

  const natCfg = await registerNode(lab, registry, natHost);
  // UPnP on (testNodeConfig turns it off), and no outgoing tunnels of its own.
  editFile(natCfg, (text) => text.replace(/heartbeat_interval = 60/, 'heartbeat_interval = 3').replace('# client_count = 4', 'client_count = 0'));
  const pubCfg = await registerNode(lab, registry, pubHost);
  editFile(pubCfg, testNodeConfig);
  const proberCfg = await registerNode(lab, registry, proberHost);
  editFile(proberCfg, testNodeConfig);

  // The prober runs first: the NAT'd node knows it from the registry and asks it over the underlay.
  const prober = await startDaemon(lab, proberHost, proberCfg);
  const nat = await startDaemon(lab, natHost, natCfg);
  const status = await waitFor(async () => {
    const s = await nodeCli(lab, nat, 'status');
    if (!s.underlay.upnp) throw new Error(`no UPnP address yet: ${JSON.stringify(s.underlay)} ${JSON.stringify(s.health)}`);
    return s;
  }, { what: 'the NAT\'d node shows its UPnP external address', timeoutMs: 120_000 });
  const { events: natEvents } = await nodeCli(lab, nat, 'events');
  t.true(natEvents.some((e: any) => e.text.startsWith(`UPnP mapping ${gw.underlayIp}:1194 verified by ${prober.prefix}`)), JSON.stringify(natEvents.map((e: any) => e.text)));
  t.is(status.underlay.upnp.externalIp, gw.underlayIp);
  t.true(status.underlay.upnp.ports.includes(1194));
  t.deepEqual(status.underlay.addresses[0], { address: `${gw.underlayIp}:1194`, kind: 'upnp' });
  t.true(status.underlay.addresses.some((a: any) => a.address === `${natHost.underlayIp}:1194` && a.kind === 'internal'), JSON.stringify(status.underlay));
  t.true(existsSync(join(gw.dir, 'upnp.leases')));

  const pub = await startDaemon(lab, pubHost, pubCfg);
  const tunnel = await waitFor(() => tunnelUp(lab, nat, pub), { what: 'an incoming tunnel from the public node on the NAT\'d node', timeoutMs: 120_000 });
  t.is(tunnel.direction, 'incoming');
  const { tunnels: pubTunnels } = await nodeCli(lab, pub, 'tunnels');
  const out = pubTunnels.find((x: any) => x.peer === nat.prefix);
  t.is(out.direction, 'outgoing');
  // Through the router's external address and a mapped tunnel port.
  t.regex(out.remote, new RegExp(`^${gw.underlayIp.replace(/\./g, '\\.')}:\\d+$`));
  await waitFor(() => pings(lab, pub, nat), { what: 'pub pings the NAT\'d node over the overlay', timeoutMs: 60_000 });

  // The peer-protocol announcement reached the public node: its DB has the UPnP address first.
  await waitFor(async () => {
    const { peers } = await nodeCli(lab, pub, 'peers');
    const p = peers.find((x: any) => x.prefix === nat.prefix);
    if (!p || p.addresses[0] !== `${gw.underlayIp}:1194` || !p.addresses.includes(`${natHost.underlayIp}:1194`)) throw new Error(JSON.stringify(p));
    return true;
  }, { what: 'pub knows the NAT\'d node\'s announced addresses', timeoutMs: 30_000 });
  const { events } = await nodeCli(lab, nat, 'events');
  t.true(events.some((e: any) => e.text.startsWith(`link with ${pub.prefix} established`)), JSON.stringify(events.map((e: any) => e.text)));
});
