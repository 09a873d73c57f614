// Reading a CSR on the registry: the signature must verify with the key the
// CSR carries (proof of possession), and the key must be ECDSA P-256 on the
// named curve (explicit curve parameters give certificates OpenSSL refuses).
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { ResilnetError } from '../config/errors.js';
import { csrPublicKeyInfo, pemToDer, signatureAlgorithmOid, spkiAlgorithm, splitSigned } from './der.js';

const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';
const DER_OID_TAG = 0x06;
/** ECDSA signature algorithms accepted on a CSR, with the hash each uses. */
const ECDSA_HASHES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const REFUSED_SIGNATURES: Record<string, string> = {
  '1.2.840.10045.4.1': 'ECDSA with SHA-1, which is no longer safe',
  '1.2.840.10045.4.3.1': 'ECDSA with SHA-224',
};

export interface CsrInfo {
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKeySpki: Buffer;
  readonly publicKey: KeyObject;
  /** sha256 hex of the SPKI: identifies a node key across enrolments. */
  readonly keySha256: string;
}

export const MAX_CSR_BYTES = 8192;

function csrError(why: string, cause?: unknown): ResilnetError {
  return new ResilnetError('RN_PKI_CSR_INVALID', `certificate request rejected: ${why}`, {
    cause,
    hint: 'Create the request with `resilnet register` (ECDSA P-256 key, PEM "CERTIFICATE REQUEST").',
  });
}

export function readCsr(pem: string): CsrInfo {
  if (pem.length > MAX_CSR_BYTES) throw csrError(`larger than ${MAX_CSR_BYTES} bytes`);
  let der: Buffer;
  try {
    der = pemToDer(pem, 'CERTIFICATE REQUEST');
  } catch (err) {
    throw csrError('not a PEM "CERTIFICATE REQUEST"', err);
  }
  let spki: Buffer;
  let keyAlgorithm: ReturnType<typeof spkiAlgorithm>;
  let signatureOid: string;
  let publicKey: KeyObject;
  let tbs: Buffer;
  let signature: Buffer;
  try {
    spki = csrPublicKeyInfo(der);
    keyAlgorithm = spkiAlgorithm(spki);
    signatureOid = signatureAlgorithmOid(der);
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    ({ tbs, signature } = splitSigned(der));
  } catch (err) {
    throw csrError(`cannot parse it (${(err as Error).message})`, err);
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw csrError(`key type ${publicKey.asymmetricKeyType ?? 'unknown'} is not ECDSA P-256`);
  }
  if (keyAlgorithm.oid !== EC_PUBLIC_KEY_OID || keyAlgorithm.paramsTag !== DER_OID_TAG) {
    throw csrError('its P-256 key is given with explicit curve parameters instead of the named curve (OpenSSL refuses certificates for such keys)');
  }
  const hash = ECDSA_HASHES[signatureOid];
  if (!hash) {
    const known = REFUSED_SIGNATURES[signatureOid];
    throw csrError(`it is signed with ${known ?? `signature algorithm ${signatureOid}`}; sign it with ECDSA and SHA-256, SHA-384 or SHA-512`);
  }
  if (!verifySignature(hash, publicKey, tbs, signature)) {
    throw csrError('its signature does not match its public key (not signed by the key it carries)');
  }
  return { publicKeySpki: spki, publicKey, keySha256: createHash('sha256').update(spki).digest('hex') };
}

function verifySignature(hash: string, publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(hash, data, publicKey, signature);
  } catch {
    return false; // a malformed signature is a bad signature, not a crash
  }
}
