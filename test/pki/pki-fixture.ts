// A throwaway CA and node certificates for pki/registry unit tests.
import { createPublicKey } from 'node:crypto';
import { createCa, issueNodeCertificate, loadCaSigner, type CaSigner } from '../../pki/ca.js';
import { generateKeyPem } from '../../pki/keys.js';

export const DAY_MS = 86_400_000;
export const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);

export async function makeCa(networkPrefix = 'fd5e:1::/48', nowMs = NOW_MS): Promise<CaSigner & { keyPem: string }> {
  const { certPem, keyPem } = await createCa({ networkPrefix, notBeforeMs: nowMs - DAY_MS, days: 3650 });
  return Object.assign(await loadCaSigner(certPem, keyPem), { keyPem });
}

export async function makeNodeCert(ca: CaSigner, opts: { prefix: string; serial: string; notBeforeMs?: number; notAfterMs?: number }): Promise<{ certPem: string; keyPem: string }> {
  const keyPem = generateKeyPem();
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const certPem = await issueNodeCertificate(ca, {
    prefix: opts.prefix,
    serial: opts.serial,
    publicKeySpki: spki,
    notBeforeMs: opts.notBeforeMs ?? NOW_MS - DAY_MS,
    notAfterMs: opts.notAfterMs ?? NOW_MS + 30 * DAY_MS,
  });
  return { certPem, keyPem };
}
