import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCrl } from '../../pki/ca.js';
import { generateKeyPem } from '../../pki/keys.js';
import {
  caFingerprint,
  normalizeFingerprint,
  normalizeSerial,
  parseCrl,
  readCertificate,
  signBytes,
  verifyBytes,
  verifyCertificate,
} from '../../pki/identity.js';
import { DAY_MS, NOW_MS, makeCa, makeNodeCert } from './pki-fixture.js';
import { errorCode } from '../fixtures/error-code.js';

test('normalizeSerial gives lowercase hex without leading zeros', (t) => {
  const table: [string, string][] = [
    ['00A1', 'a1'],
    ['a1', 'a1'],
    ['0', '0'],
    ['0000', '0'],
    ['00:8F:01', '8f01'],
    ['1A2B3C', '1a2b3c'],
  ];
  for (const [input, want] of table) t.is(normalizeSerial(input), want, input);
  t.is(errorCode(() => normalizeSerial('xyz')), 'RN_PKI_SERIAL_INVALID');
  t.is(errorCode(() => normalizeSerial('')), 'RN_PKI_SERIAL_INVALID');
});

test('normalizeFingerprint accepts colons and any case, rejects wrong lengths', (t) => {
  const hex = 'ab'.repeat(32);
  t.is(normalizeFingerprint(`sha256:${hex.toUpperCase()}`), `sha256:${hex}`);
  t.is(normalizeFingerprint(hex.match(/../g)!.join(':')), `sha256:${hex}`);
  t.is(errorCode(() => normalizeFingerprint('sha256:abcd')), 'RN_PKI_FINGERPRINT_INVALID');
});

test('readCertificate reads prefix, serial, validity and fingerprint', async (t) => {
  const ca = await makeCa();
  const notAfterMs = NOW_MS + 10 * DAY_MS;
  const { certPem, keyPem } = await makeNodeCert(ca, { prefix: 'fd5e:1:0:0007:0::/64', serial: '00c8', notAfterMs });
  const info = readCertificate(certPem);
  t.is(info.prefix, 'fd5e:1:0:7::/64');
  t.is(info.serial, 'c8');
  t.is(info.notAfterMs, notAfterMs);
  t.regex(info.fingerprint, /^sha256:[0-9a-f]{64}$/);
  t.true(info.publicKey.equals(createPublicKey(keyPem)));
  t.is(errorCode(() => readCertificate(ca.certPem)), 'RN_PKI_CERT_INVALID', 'the CA has no prefix CN');
  t.is(errorCode(() => readCertificate('not a cert')), 'RN_PKI_CERT_INVALID');
});

test('verifyCertificate checks issuer, validity, grace and revocation', async (t) => {
  const ca = await makeCa();
  const other = await makeCa();
  const { certPem } = await makeNodeCert(ca, { prefix: 'fd5e:1:0:1::/64', serial: '21', notAfterMs: NOW_MS + DAY_MS });
  t.is(verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS }).prefix, 'fd5e:1:0:1::/64');
  t.is(errorCode(() => verifyCertificate(certPem, other.certPem, { nowMs: NOW_MS })), 'RN_PKI_CERT_INVALID');
  t.is(errorCode(() => verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS + 2 * DAY_MS })), 'RN_PKI_CERT_EXPIRED');
  t.is(verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS + 2 * DAY_MS, graceMs: 7 * DAY_MS }).serial, '21');
  t.is(errorCode(() => verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS - 5 * DAY_MS })), 'RN_PKI_CERT_INVALID');
  t.is(errorCode(() => verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS, revokedSerials: new Set(['21']) })), 'RN_PKI_CERT_REVOKED');
  t.is(errorCode(() => verifyCertificate(certPem, ca.certPem, { nowMs: NOW_MS, revokedSerials: ['21'] })), 'RN_PKI_CERT_REVOKED');
});

test('signBytes/verifyBytes: good signatures verify, anything else is false', (t) => {
  const key = generateKeyPem();
  const pub = createPublicKey(key);
  const data = Buffer.from('hello overlay');
  const sig = signBytes(key, data);
  t.true(verifyBytes(pub, data, sig));
  t.false(verifyBytes(pub, Buffer.from('hello overlaY'), sig));
  t.false(verifyBytes(createPublicKey(generateKeyPem()), data, sig));
  t.false(verifyBytes(pub, data, Buffer.from('garbage')));
  t.false(verifyBytes('not a key', data, sig));
});

test('parseCrl returns the serials and rejects a CRL signed by another CA', async (t) => {
  const ca = await makeCa();
  const other = await makeCa();
  const crl = await createCrl(ca, { entries: [{ serial: '1f', revokedAtMs: NOW_MS }, { serial: '80', revokedAtMs: NOW_MS }], thisUpdateMs: NOW_MS, nextUpdateMs: NOW_MS + 7 * DAY_MS });
  t.true(crl.startsWith('-----BEGIN X509 CRL-----'));
  const info = parseCrl(crl, ca.certPem);
  t.deepEqual(info.serials.sort(), ['1f', '80']);
  t.is(info.thisUpdateMs, NOW_MS);
  t.is(info.nextUpdateMs, NOW_MS + 7 * DAY_MS);
  t.is(errorCode(() => parseCrl(crl, other.certPem)), 'RN_PKI_CRL_INVALID');
  t.is(errorCode(() => parseCrl(crl.replace('X509 CRL', 'CRL').replace('X509 CRL', 'CRL'), ca.certPem)), 'RN_PKI_CRL_INVALID');
});

test('parseCrl reads CRLs without entries, with GeneralizedTime dates, and refuses broken DER', async (t) => {
  const ca = await makeCa();
  const far = Date.UTC(2051, 0, 2, 3, 4, 5); // after 2049: GeneralizedTime
  const empty = await createCrl(ca, { entries: [], thisUpdateMs: NOW_MS, nextUpdateMs: far });
  t.deepEqual(parseCrl(empty, ca.certPem), { serials: [], thisUpdateMs: NOW_MS, nextUpdateMs: far });
  const many = await createCrl(ca, { entries: Array.from({ length: 300 }, (_, i) => ({ serial: (i + 1).toString(16).padStart(4, '0'), revokedAtMs: NOW_MS })), thisUpdateMs: NOW_MS, nextUpdateMs: far });
  t.is(parseCrl(many, ca.certPem).serials.length, 300);
  t.is(parseCrl(many, ca.certPem).serials[299], (300).toString(16));
  const der = Buffer.from(empty.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  for (const cut of [1, 10, der.length - 1]) {
    const broken = `-----BEGIN X509 CRL-----\n${der.subarray(0, cut).toString('base64')}\n-----END X509 CRL-----\n`;
    t.is(errorCode(() => parseCrl(broken, ca.certPem)), 'RN_PKI_CRL_INVALID', `cut at ${cut}`);
  }
});

test('caFingerprint equals openssl\'s SHA-256 fingerprint', async (t) => {
  const ca = await makeCa();
  const dir = mkdtempSync(join(tmpdir(), 'rn-fp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  const out = execFileSync('openssl', ['x509', '-in', join(dir, 'ca.crt'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  const hex = out.split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
  t.is(caFingerprint(ca.certPem), `sha256:${hex}`);
});
