// Link keys and MAC tags, pure: both ends of a link derive one key, any other
// pair or certificate a different one; tags reject every change; the cache is
// bounded and keyed by the peer's certificate.
import test from 'ava';
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { certFingerprint, deriveLinkKey, LinkKeys, linkTag, linkTagValid, type LinkKey } from '../../../daemon/peerproto/link-keys.js';

interface Node {
  privateKey: KeyObject;
  publicKey: KeyObject;
  certDer: Buffer;
  fingerprint: Buffer;
}

function node(): Node {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const certDer = randomBytes(300); // stands for the DER certificate: only its hash enters the key
  return { privateKey, publicKey: createPublicKey(privateKey), certDer, fingerprint: certFingerprint(certDer) };
}

const raw = (k: LinkKey): string => k.export().toString('hex');
const keyOf = (own: Node, peer: Node): LinkKey => deriveLinkKey(own.privateKey, own.fingerprint, peer.publicKey, peer.fingerprint);

test('both ends of a link derive the same key; another pair, or another certificate, a different one', (t) => {
  const [a, b, c] = [node(), node(), node()];
  const ab = keyOf(a, b);
  t.is(ab.symmetricKeySize, 32);
  t.is(raw(ab), raw(keyOf(b, a)));
  t.not(raw(ab), raw(keyOf(a, c)));
  t.not(raw(ab), raw(keyOf(b, c)));
  // Same key pair, renewed certificate: a new link key.
  const renewedDer = randomBytes(300);
  const bRenewed: Node = { ...b, certDer: renewedDer, fingerprint: certFingerprint(renewedDer) };
  t.not(raw(ab), raw(keyOf(a, bRenewed)));
  t.is(raw(keyOf(a, bRenewed)), raw(keyOf(bRenewed, a)));
});

test('a tag verifies only for the same bytes, the same key and all 16 bytes of it', (t) => {
  const [a, b, c] = [node(), node(), node()];
  const key = keyOf(a, b);
  const data = randomBytes(120);
  const tag = linkTag(key, data);
  t.is(tag.length, 16);
  t.true(linkTagValid(keyOf(b, a), data, tag));
  for (const bit of [0, 7, 8 * 60 + 3, 8 * 119 + 7]) {
    const flipped = Buffer.from(data);
    flipped[bit >> 3]! ^= 1 << (bit & 7);
    t.false(linkTagValid(key, flipped, tag), `data bit ${bit}`);
  }
  for (let i = 0; i < 16; i++) {
    const badTag = Buffer.from(tag);
    badTag[i]! ^= 0x80;
    t.false(linkTagValid(key, data, badTag), `tag byte ${i}`);
  }
  t.false(linkTagValid(keyOf(a, c), data, tag), 'wrong key');
  t.false(linkTagValid(key, data, tag.subarray(0, 15)), 'truncated tag');
  t.false(linkTagValid(key, data, Buffer.concat([tag, Buffer.from([0])])), 'longer tag');
  t.false(linkTagValid(key, data, Buffer.alloc(0)), 'no tag');
});

test('the key cache derives once per certificate, keeps at most maxKeys, and forgets on request', (t) => {
  const [own, p1, p2, p3] = [node(), node(), node(), node()];
  const keys = new LinkKeys({ privateKey: own.privateKey, certDer: own.certDer }, { maxKeys: 2 });
  const k1 = keys.keyFor(p1.fingerprint, p1.publicKey)!;
  t.is(raw(k1), raw(keyOf(p1, own)));
  t.is(keys.keyFor(p1.fingerprint, p1.publicKey), k1, 'cached: the same object, no new derivation');
  keys.keyFor(p2.fingerprint, p2.publicKey);
  keys.keyFor(p1.fingerprint, p1.publicKey); // p1 used last: p2 is the oldest
  keys.keyFor(p3.fingerprint, p3.publicKey);
  t.is(keys.size, 2);
  t.is(keys.keyFor(p1.fingerprint, p1.publicKey), k1, 'recently used key kept');
  const k2again = keys.keyFor(p2.fingerprint, p2.publicKey)!;
  t.is(raw(k2again), raw(keyOf(p2, own)), 'an evicted key is derived again, the same');
  keys.forget(p2.fingerprint);
  t.is(keys.size, 1);
  t.not(keys.keyFor(p2.fingerprint, p2.publicKey), k2again, 'forgotten: derived anew');
});

test('a peer key on another curve gets no link key (it is sent signatures)', (t) => {
  const own = node();
  const keys = new LinkKeys({ privateKey: own.privateKey, certDer: own.certDer }, { maxKeys: 8 });
  const { publicKey: p384 } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const { publicKey: ed } = generateKeyPairSync('ed25519');
  t.is(keys.keyFor(certFingerprint(Buffer.from('x')), p384), undefined);
  t.is(keys.keyFor(certFingerprint(Buffer.from('y')), ed), undefined);
  t.is(keys.size, 0);
});
