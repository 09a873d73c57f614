import test from 'ava';
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { issueServerCertificate } from '../../pki/ca.js';
import { pemToDer, spkiPublicKeyBits } from '../../pki/der.js';
import { verifyCertificate } from '../../pki/identity.js';
import { x509 } from '../../pki/x509.js';
import { NOW_MS, DAY_MS, makeCa, makeNodeCert } from './pki-fixture.js';

test('node certificates: key identifiers, key usages, CN = prefix', async (t) => {
  const ca = await makeCa();
  const { certPem, keyPem } = await makeNodeCert(ca, { prefix: 'fd5e:1:0:9::/64', serial: '80' });
  const cert = new x509.X509Certificate(certPem);
  const caCert = new x509.X509Certificate(ca.certPem);
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)!;
  t.is(ski.keyId, createHash('sha1').update(spkiPublicKeyBits(spki)).digest('hex'));
  t.is(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId, caCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
  t.deepEqual([...cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  t.false(cert.getExtension(x509.BasicConstraintsExtension)!.ca);
  t.is(cert.subject, 'CN=fd5e:1:0:9::/64');
  t.true(pemToDer(certPem, 'CERTIFICATE').includes(Buffer.from([0x02, 0x02, 0x00, 0x80])), 'a high-bit serial is encoded positive (INTEGER 00 80)');
  t.is(verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS }).serial, '80');
});

test('the registry server certificate carries its names as SANs', async (t) => {
  const ca = await makeCa();
  const { certPem } = await issueServerCertificate(ca, { serial: '2', names: ['127.0.0.1', '::1', 'localhost'], notBeforeMs: NOW_MS, notAfterMs: NOW_MS + DAY_MS });
  const cert = new X509Certificate(certPem);
  t.is(cert.checkIP('127.0.0.1'), '127.0.0.1');
  t.is(cert.checkIP('::1'), '::1');
  t.is(cert.checkHost('localhost'), 'localhost');
  t.is(cert.checkIP('10.0.0.1'), undefined);
  t.true(cert.verify(new X509Certificate(ca.certPem).publicKey));
});
