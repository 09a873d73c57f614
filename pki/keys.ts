// Node keys and CSRs (the `resilnet register` side). Keys are ECDSA P-256,
// stored as PKCS#8 PEM.
import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { ResilnetError } from '../config/errors.js';
import { pemText } from './der.js';
import { EC_ALGORITHM, x509 } from './x509.js';

export function generateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Imports a PKCS#8 (or SEC1) EC private key PEM as a WebCrypto key pair. */
export async function importKeyPair(keyPem: string): Promise<CryptoKeyPair> {
  let pkcs8: Buffer;
  let spki: Buffer;
  try {
    const key = createPrivateKey(keyPem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('not an ECDSA P-256 key');
    }
    pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
    spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  } catch (err) {
    throw new ResilnetError('RN_PKI_KEY_INVALID', `cannot use private key (${(err as Error).message})`, { cause: err });
  }
  const params = { name: 'ECDSA', namedCurve: 'P-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, params, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, params, true, ['verify']);
  return { privateKey, publicKey } as CryptoKeyPair;
}

/** A PKCS#10 CSR signed by the key; the registry picks the CN (the prefix). */
export async function createCsrPem(keyPem: string, commonName = 'resilnet node'): Promise<string> {
  const keys = await importKeyPair(keyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: EC_ALGORITHM,
  });
  return pemText(csr.toString('pem'));
}
