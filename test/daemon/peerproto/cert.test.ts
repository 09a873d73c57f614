// The real certificate verifier: a cache of verified certificates by
// fingerprint, bounded, and never a way around the clock or the CRL.
import test from 'ava';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { createCa, issueNodeCertificate, loadCaSigner } from '../../../pki/ca.js';
import { pemToDer } from '../../../pki/der.js';
import { generateKeyPem } from '../../../pki/keys.js';
import { makePeerCertVerifier } from '../../../daemon/peerproto/cert.js';
import { DAY_MS, NETWORK, makePki } from './fixture.js';

const NOW = 1_765_000_000_000;

async function setup(maxCached?: number) {
  const { certPem, keyPem } = await createCa({ networkPrefix: NETWORK, notBeforeMs: NOW - DAY_MS, days: 30 });
  const ca = await loadCaSigner(certPem, keyPem);
  const clock = { now: NOW, nowMs: () => clock.now };
  const revoked = new Set<string>();
  const verify = makePeerCertVerifier({ caPem: certPem, clock, revokedSerials: () => revoked, ...(maxCached !== undefined ? { maxCached } : {}) });
  const issue = async (prefix: string, serial: string): Promise<Buffer> => {
    const spki = createPublicKey(createPrivateKey(generateKeyPem())).export({ type: 'spki', format: 'der' });
    return pemToDer(await issueNodeCertificate(ca, { prefix, serial, publicKeySpki: spki, notBeforeMs: NOW - DAY_MS, notAfterMs: NOW + 2 * DAY_MS }), 'CERTIFICATE');
  };
  return { verify, clock, revoked, issue };
}

test('a verified certificate is cached by fingerprint; the cache keeps at most maxCached, least recently used dropped first', async (t) => {
  const s = await setup(2);
  const [a, b, c] = await Promise.all([s.issue('fd5e:1:0:a::/64', 'a1'), s.issue('fd5e:1:0:b::/64', 'b1'), s.issue('fd5e:1:0:c::/64', 'c1')]);
  t.is(s.verify.peek(a), undefined, 'nothing cached before a full check');
  t.is(s.verify(a).prefix, 'fd5e:1:0:a::/64');
  t.like(s.verify.peek(a), { prefix: 'fd5e:1:0:a::/64', serial: 'a1' });
  s.verify(b);
  s.verify.peek(a); // a used more recently than b
  s.verify(c);
  t.is(s.verify.size, 2);
  t.is(s.verify.peek(b), undefined, 'b, least recently used, was dropped');
  t.truthy(s.verify.peek(a));
  t.truthy(s.verify.peek(c));
});

test('a cached certificate revoked by a new CRL, or expired, is refused: the cache never answers for the clock or the CRL', async (t) => {
  const s = await setup();
  const [a, b] = await Promise.all([s.issue('fd5e:1:0:a::/64', 'a1'), s.issue('fd5e:1:0:b::/64', 'b1')]);
  s.verify(a);
  s.verify(b);
  s.revoked.add('a1');
  t.is(s.verify.peek(a), 'refused');
  t.throws(() => s.verify(a), { code: 'RN_PKI_CERT_REVOKED' } as never);
  t.truthy(s.verify.peek(b));
  s.revoked.clear(); // a CRL without it again (the test's doing; a real CRL only grows)
  t.like(s.verify.peek(a), { serial: 'a1' });
  s.clock.now = NOW + 3 * DAY_MS;
  t.is(s.verify.peek(b), 'refused');
  t.throws(() => s.verify(b), { code: 'RN_PKI_CERT_EXPIRED' } as never);
});

test('a certificate of another CA, or garbage, is refused and not cached', async (t) => {
  const s = await setup();
  const other = await makePki(NOW);
  const foreign = await other.node('fd5e:1:0:f::/64', 'f1');
  t.throws(() => s.verify(foreign.certDer), { code: 'RN_PKI_CERT_INVALID' } as never);
  t.throws(() => s.verify(Buffer.from('not a certificate')), { code: 'RN_PKI_CERT_INVALID' } as never);
  t.is(s.verify.peek(foreign.certDer), undefined);
  t.is(s.verify.size, 0);
});
