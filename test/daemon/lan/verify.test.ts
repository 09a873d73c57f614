import test from 'ava';
import { decodeAnnouncement } from '../../../daemon/lan/announcement.js';
import { ReplayWindow } from '../../../daemon/lan/replay-window.js';
import { verifyAnnouncement, type VerifyContext } from '../../../daemon/lan/verify.js';
import { announcementBy, makeNetwork, NOW_MS } from './fixture.js';

const setup = (async () => {
  const net = await makeNetwork('fd5e:1::/48');
  const other = await makeNetwork('fd77:2::/48');
  return { net, other, a: await net.node('fd5e:1:0:2::/64', '2'), me: await net.node('fd5e:1:0:1::/64', '1'), stranger: await other.node('fd77:2:0:2::/64', '2') };
})();

async function context(over: Partial<VerifyContext> = {}): Promise<VerifyContext> {
  const { net, me } = await setup;
  return { caFingerprint: net.caFingerprint, ownPrefix: me.prefix, verifyCert: net.verifyCert, replay: new ReplayWindow({ maxSkewMs: 300_000 }), nowMs: NOW_MS, ...over };
}

test('a neighbour of our network is accepted once, then its datagram is a replay', async (t) => {
  const { net, a } = await setup;
  const ctx = await context();
  const bytes = announcementBy(net, a);
  const first = verifyAnnouncement(decodeAnnouncement(bytes), ctx);
  t.true(first.ok);
  if (first.ok) t.is(first.sender.prefix, a.prefix);
  t.like(verifyAnnouncement(decodeAnnouncement(bytes), ctx), { ok: false, reason: 'replayed' });
  t.true(verifyAnnouncement(decodeAnnouncement(announcementBy(net, a)), ctx).ok, 'a new nonce is accepted');
});

test('another network\'s announcement is foreign, even when it claims our CA fingerprint', async (t) => {
  const { net, other, stranger } = await setup;
  const ctx = await context();
  t.like(verifyAnnouncement(decodeAnnouncement(announcementBy(other, stranger)), ctx), { ok: false, reason: 'foreign' });
  // Our fingerprint on a certificate our CA did not sign: the certificate check refuses it.
  const posing = announcementBy(other, stranger, { caFingerprint: net.caFingerprint });
  t.like(verifyAnnouncement(decodeAnnouncement(posing), ctx), { ok: false, reason: 'badCert' });
});

test('a bad signature is refused and does not burn the nonce', async (t) => {
  const { net, a, me } = await setup;
  const ctx = await context();
  // a's certificate, signed with another key (a forger who copied a's certificate off the wire).
  const forged = announcementBy(net, a, { endpoints: ['192.168.7.66:1194'] });
  const reSigned = Buffer.concat([forged.subarray(0, forged.length - 64), me.sign(forged.subarray(0, forged.length - 64))]);
  t.like(verifyAnnouncement(decodeAnnouncement(reSigned), ctx), { ok: false, reason: 'badSignature' });
  // One flipped byte in the signed part.
  const good = announcementBy(net, a);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 70] = flipped[flipped.length - 70]! ^ 1;
  t.like(verifyAnnouncement(decodeAnnouncement(flipped), ctx), { ok: false, reason: 'badSignature' });
  t.true(verifyAnnouncement(decodeAnnouncement(good), ctx).ok, 'the genuine datagram with that nonce still passes');
});

test('revoked, stale and our own announcements are refused for what they are', async (t) => {
  const { net, a, me } = await setup;
  const ctx = await context();
  t.like(verifyAnnouncement(decodeAnnouncement(announcementBy(net, a, { timestampMs: NOW_MS - 301_000 })), ctx), { ok: false, reason: 'stale' });
  t.like(verifyAnnouncement(decodeAnnouncement(announcementBy(net, a, { timestampMs: NOW_MS + 301_000 })), ctx), { ok: false, reason: 'stale' });
  t.like(verifyAnnouncement(decodeAnnouncement(announcementBy(net, me)), ctx), { ok: false, reason: 'own' });
  net.revoked.add(a.serial);
  try {
    t.like(verifyAnnouncement(decodeAnnouncement(announcementBy(net, a)), ctx), { ok: false, reason: 'revoked' });
  } finally {
    net.revoked.delete(a.serial);
  }
});
