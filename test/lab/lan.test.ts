// LAN discovery in a real lab (issue 11, item 4): two nodes sharing a LAN
// segment (`--lan 2`) start with the registry already stopped and no peer
// known, find each other by signed multicast on eth1, and open a tunnel over
// their LAN addresses. Then datagrams sent into the segment from the bridge
// itself: a forged one (n1's certificate, another key), a foreign one (another
// CA), a malformed one, and a genuine one (n1's own key) sent twice: only the
// first genuine one is accepted; the others are ignored and counted in `status`.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeAnnouncement, type Announcement } from '../../daemon/lan/announcement.js';
import type { LanStatus } from '../../daemon/lan/discovery.js';
import { LAN_DEFAULT_PORT } from '../../config/node-config.js';
import { createCa, issueNodeCertificate, loadCaSigner } from '../../pki/ca.js';
import { pemToDer } from '../../pki/der.js';
import { generateKeyPem } from '../../pki/keys.js';
import { LabHandle } from '../../lab/handle.js';
import { LAN_IFNAME } from '../../lab/lan.js';
import { waitFor } from '../../lab/wait.js';

interface TunnelJson {
  peer: string;
  state: string;
  remote: string | null;
  direction: string;
}

/** Sends base64 datagrams to the LAN group out of one interface, in order (plain JS: runs in any namespace). */
const SEND_SCRIPT = `
const dgram = require('node:dgram');
const [ifName, port, ...datagrams] = process.argv.slice(1);
const s = dgram.createSocket({ type: 'udp6' });
s.bind(0, async () => {
  s.setMulticastInterface('::%' + ifName);
  for (const d of datagrams) {
    await new Promise((resolve, reject) => s.send(Buffer.from(d, 'base64'), Number(port), 'ff02::114%' + ifName, (e) => (e ? reject(e) : resolve())));
  }
  s.close();
});`;

function p1363Signer(keyPem: string): (data: Buffer) => Buffer {
  const key = createPrivateKey(keyPem);
  return (data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

async function lanStatus(lab: LabHandle, node: string): Promise<LanStatus> {
  const s = await lab.cliJson<{ lan: LanStatus | null }>(node, 'status');
  if (!s.lan) throw new Error(`${node} reports no LAN discovery in status`);
  return s.lan;
}

function logTail(t: ExecutionContext, lab: LabHandle): void {
  for (const n of lab.nodes) {
    try {
      t.log(`${n.name} log ends:\n${readFileSync(join(n.dir, 'daemon.log'), 'utf8').trimEnd().split('\n').slice(-12).join('\n')}`);
    } catch (err) {
      t.log(`${n.name}: no log (${(err as Error).message})`);
    }
  }
}

test.serial('two nodes on one LAN find each other with the registry stopped, tunnel over the LAN, and ignore forged, foreign, malformed and replayed announcements', async (t) => {
  const lab = await LabHandle.up({ id: `la${randomBytes(3).toString('hex')}`, nodes: 2, nat: 0, lan: 2, skipDaemons: true, log: (l) => t.log(l) });
  try {
    const segment = lab.manifest.layout.lan;
    if (!segment) throw new Error('the lab has no LAN segment');
    const lanAddress = new Map(segment.members.map((m) => [m.node, m.address]));
    await lab.stopRegistry();
    const startedAtMs = Date.now();
    lab.startDaemon('n1');
    lab.startDaemon('n2');
    const n1 = lab.node('n1');
    const n2 = lab.node('n2');

    // A tunnel between them, its far end a LAN address (nothing else could have told them about each other).
    const tunnel = await waitFor(async () => {
      for (const [me, other] of [[n1, n2], [n2, n1]] as const) {
        const up = (await lab.tunnels(me.name)).find((x) => x.peer === other.prefix && x.state === 'up' && x.direction === 'outgoing') as TunnelJson | undefined;
        if (up) return { from: me.name, to: other.name, remote: up.remote };
      }
      return undefined;
    }, { timeoutMs: 180_000, intervalMs: 2_000, what: 'a tunnel between n1 and n2 with the registry stopped' }).catch((err: unknown) => {
      logTail(t, lab);
      throw err;
    });
    t.log(`tunnel ${tunnel.from} → ${tunnel.to} over ${tunnel.remote}, seen up ${((Date.now() - startedAtMs) / 1000).toFixed(1)} s after the daemons were started (registry stopped)`);
    t.is(tunnel.remote?.split(':')[0], lanAddress.get(tunnel.to), 'the tunnel runs over the LAN address');
    const events = await lab.events(tunnel.from);
    t.true(events.some((e) => /found on LAN eth1/.test(String(e.text))), 'an event line says the peer was found on the LAN');

    // Into the segment, from the bridge: forged, foreign, malformed, and one genuine datagram twice.
    const n1Cert = pemToDer(readFileSync(join(n1.dir, 'etc', 'node.crt'), 'utf8'), 'CERTIFICATE');
    const caDer = pemToDer(readFileSync(join(n1.dir, 'etc', 'ca.crt'), 'utf8'), 'CERTIFICATE');
    const ours: Omit<Announcement, 'nonce' | 'timestampMs'> = {
      caFingerprint: createHash('sha256').update(caDer).digest(),
      certDer: n1Cert,
      endpoints: [`${segment.bridgeAddress}:1194`],
      peers: [],
    };
    const fresh = () => ({ nonce: randomBytes(8), timestampMs: Date.now() });
    const forged = encodeAnnouncement({ ...ours, ...fresh() }, p1363Signer(generateKeyPem()));
    const foreignCa = await createCa({ networkPrefix: 'fd77:2::/48', notBeforeMs: Date.now() - 3_600_000, days: 2 });
    const foreignKey = generateKeyPem();
    const foreignCert = await issueNodeCertificate(await loadCaSigner(foreignCa.certPem, foreignCa.keyPem), {
      prefix: 'fd77:2:0:9::/64', serial: '9', publicKeySpki: createPublicKey(foreignKey).export({ type: 'spki', format: 'der' }),
      notBeforeMs: Date.now() - 3_600_000, notAfterMs: Date.now() + 86_400_000,
    });
    const foreign = encodeAnnouncement(
      { ...fresh(), caFingerprint: createHash('sha256').update(pemToDer(foreignCa.certPem, 'CERTIFICATE')).digest(), certDer: pemToDer(foreignCert, 'CERTIFICATE'), endpoints: [`${segment.bridgeAddress}:1194`], peers: [] },
      p1363Signer(foreignKey),
    );
    const genuine = encodeAnnouncement({ ...ours, ...fresh() }, p1363Signer(readFileSync(join(n1.dir, 'etc', 'node.key'), 'utf8')));
    const before = await lanStatus(lab, 'n2');
    const sent = [forged, foreign, Buffer.from('RNLA, but not really'), genuine, genuine];
    const r = await lab.runner.run(['ip', 'netns', 'exec', segment.netns, process.execPath, '-e', SEND_SCRIPT, segment.bridge, String(LAN_DEFAULT_PORT), ...sent.map((d) => d.toString('base64'))], { timeoutMs: 60_000 });
    t.is(r.code, 0, `sending into the segment: ${r.stderr}`);

    const after = await waitFor(async () => {
      const s = await lanStatus(lab, 'n2');
      return s.received - before.received >= sent.length ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 1_000, what: 'n2 to hear the five datagrams' });
    const delta = (k: keyof LanStatus['ignored']) => after.ignored[k] - before.ignored[k];
    t.log(`n2 LAN status after the injection: ${JSON.stringify({ received: after.received, accepted: after.accepted, ignored: after.ignored })}`);
    t.is(delta('badSignature'), 1, 'the forged announcement is ignored as a bad signature');
    t.is(delta('foreign'), 1, 'the other network\'s announcement is ignored as foreign');
    t.is(delta('malformed'), 1, 'the malformed datagram is ignored');
    t.is(delta('replayed'), 1, 'the genuine announcement sent again is ignored as a replay');
    t.true(after.accepted - before.accepted >= 1, 'the genuine announcement itself is accepted');
    t.true(after.neighbours.some((n) => n.prefix === n1.prefix && n.interface === LAN_IFNAME));
  } finally {
    await lab.down();
  }
});
