// The registry's certificate authority: creating the CA, issuing node and
// registry-server certificates, and signing CRLs. Validity comes in as
// explicit milliseconds (no clock reads here), so expiry is testable.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ResilnetError } from '../config/errors.js';
import { canonicalPrefix } from '../config/ipv6.js';
import { ownBytes, pemText, spkiPublicKeyBits } from './der.js';
import { generateKeyPem, importKeyPair } from './keys.js';
import { EC_ALGORITHM, x509 } from './x509.js';

export interface CaSigner {
  readonly certPem: string;
  readonly cert: InstanceType<typeof x509.X509Certificate>;
  /** WebCrypto key for @peculiar/x509 issuance. */
  readonly signingKey: CryptoKey;
  /** node:crypto key for signing bytes (network config). */
  readonly keyObject: KeyObject;
  /** The network prefix recorded in the CA subject (OU). */
  readonly networkPrefix: string;
}

const DAY_MS = 86_400_000;

export function caSubject(networkPrefix: string): x509.JsonName {
  return [{ O: ['resilnet'] }, { OU: [networkPrefix] }, { CN: ['resilnet CA'] }];
}

/** Creates a self-signed CA that records the network prefix in its subject. */
export async function createCa(opts: { networkPrefix: string; notBeforeMs: number; days: number }): Promise<{ certPem: string; keyPem: string }> {
  const keyPem = generateKeyPem();
  const keys = await importKeyPair(keyPem);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: caSubject(canonicalPrefix(opts.networkPrefix)),
    notBefore: new Date(opts.notBeforeMs),
    notAfter: new Date(opts.notBeforeMs + opts.days * DAY_MS),
    keys,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemText(cert.toString('pem')), keyPem };
}

export async function loadCaSigner(certPem: string, keyPem: string): Promise<CaSigner> {
  let cert: InstanceType<typeof x509.X509Certificate>;
  try {
    cert = new x509.X509Certificate(certPem);
  } catch (err) {
    throw new ResilnetError('RN_PKI_CERT_INVALID', `cannot parse CA certificate (${(err as Error).message})`, { cause: err });
  }
  const ou = cert.subjectName.getField('OU')[0];
  if (!ou) throw new ResilnetError('RN_PKI_CERT_INVALID', 'CA certificate does not record a network prefix (subject OU)');
  const keyObject = createPrivateKey(keyPem);
  const caPublic = createPublicKey(certPem).export({ type: 'spki', format: 'der' });
  const keyPublic = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  if (!caPublic.equals(keyPublic)) {
    throw new ResilnetError('RN_PKI_KEY_INVALID', 'CA key does not belong to the CA certificate');
  }
  const { privateKey } = await importKeyPair(keyPem);
  return { certPem, cert, signingKey: privateKey, keyObject, networkPrefix: canonicalPrefix(ou) };
}

/** RFC 5280 key identifier: SHA-1 of the subjectPublicKey bits (computed synchronously). */
function keyIdentifierHex(spki: Uint8Array): string {
  return createHash('sha1').update(spkiPublicKeyBits(spki)).digest('hex');
}

// The authority key identifier is the same for every certificate a CA issues.
const akiCache = new WeakMap<CaSigner, x509.Extension>();

function caExtensions(ca: CaSigner): x509.Extension[] {
  let aki = akiCache.get(ca);
  if (!aki) {
    aki = new x509.AuthorityKeyIdentifierExtension(keyIdentifierHex(new Uint8Array(ca.cert.publicKey.rawData)));
    akiCache.set(ca, aki);
  }
  return [aki];
}

/** A node certificate: CN = prefix, usable as TLS server and client. */
export async function issueNodeCertificate(
  ca: CaSigner,
  opts: { prefix: string; serial: string; publicKeySpki: Uint8Array; notBeforeMs: number; notAfterMs: number },
): Promise<string> {
  const publicKey = new x509.PublicKey(ownBytes(opts.publicKeySpki));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial,
    subject: [{ CN: [canonicalPrefix(opts.prefix)] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(opts.notBeforeMs),
    notAfter: new Date(opts.notAfterMs),
    publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectKeyIdentifierExtension(keyIdentifierHex(opts.publicKeySpki)),
      ...caExtensions(ca),
    ],
  });
  return pemText(cert.toString('pem'));
}

/** The registry's HTTPS certificate with SANs for every name/IP it is reached by. */
export async function issueServerCertificate(
  ca: CaSigner,
  opts: { serial: string; names: string[]; notBeforeMs: number; notAfterMs: number },
): Promise<{ certPem: string; keyPem: string }> {
  const keyPem = generateKeyPem();
  const keys = await importKeyPair(keyPem);
  const san = opts.names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: opts.serial,
    subject: [{ O: ['resilnet'] }, { CN: ['resilnet registry'] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(opts.notBeforeMs),
    notAfter: new Date(opts.notAfterMs),
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(san),
      ...caExtensions(ca),
    ],
  });
  return { certPem: pemText(cert.toString('pem')), keyPem };
}

/** A CA-signed CRL, PEM labelled "X509 CRL" (what openssl and openvpn accept). */
export async function createCrl(
  ca: CaSigner,
  opts: { entries: { serial: string; revokedAtMs: number }[]; thisUpdateMs: number; nextUpdateMs: number },
): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.cert.subjectName,
    thisUpdate: new Date(opts.thisUpdateMs),
    nextUpdate: new Date(opts.nextUpdateMs),
    entries: opts.entries.map((e) => ({ serialNumber: e.serial, revocationDate: new Date(e.revokedAtMs) })),
    signingKey: ca.signingKey,
    signingAlgorithm: EC_ALGORITHM,
    extensions: caExtensions(ca),
  });
  return pemText(x509.PemConverter.encode(crl.rawData, 'X509 CRL'));
}
