// Reading a CSR on the registry: the signature must verify with the key the
// CSR carries (proof of possession), and the key must be ECDSA P-256.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ResilnetError } from '../config/errors.js';
import { csrPublicKeyInfo, pemToDer, splitSigned } from './der.js';
import { verifyBytes } from './identity.js';

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
  let publicKey: KeyObject;
  let tbs: Buffer;
  let signature: Buffer;
  try {
    spki = csrPublicKeyInfo(der);
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    ({ tbs, signature } = splitSigned(der));
  } catch (err) {
    throw csrError(`cannot parse it (${(err as Error).message})`, err);
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw csrError(`key type ${publicKey.asymmetricKeyType ?? 'unknown'} is not ECDSA P-256`);
  }
  if (!verifyBytes(publicKey, tbs, signature)) {
    throw csrError('its signature does not match its public key (not signed by the key it carries)');
  }
  return { publicKeySpki: spki, publicKey, keySha256: createHash('sha256').update(spki).digest('hex') };
}
