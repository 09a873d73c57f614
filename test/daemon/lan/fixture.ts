// Two throwaway networks (CA + node certificates) and helpers to build LAN
// announcements signed by their nodes, for the LAN discovery unit tests.
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { makePeerCertVerifier } from '../../../daemon/peerproto/cert.js';
import type { VerifiedPeerCert } from '../../../daemon/peerproto/protocol.js';
import { encodeAnnouncement, type Announcement } from '../../../daemon/lan/announcement.js';
import { createCa, issueNodeCertificate, loadCaSigner, type CaSigner } from '../../../pki/ca.js';
import { pemToDer } from '../../../pki/der.js';
import { generateKeyPem } from '../../../pki/keys.js';

export const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const DAY_MS = 86_400_000;

export interface LanTestNode {
  prefix: string;
  serial: string;
  certDer: Buffer;
  key: KeyObject;
  sign(data: Buffer): Buffer;
}

export interface LanTestNetwork {
  ca: CaSigner;
  caFingerprint: Buffer;
  revoked: Set<string>;
  verifyCert: (der: Buffer) => VerifiedPeerCert;
  node(prefix: string, serial: string): Promise<LanTestNode>;
}

export async function makeNetwork(networkPrefix: string, clock: { nowMs(): number } = { nowMs: () => NOW_MS }): Promise<LanTestNetwork> {
  const { certPem, keyPem } = await createCa({ networkPrefix, notBeforeMs: NOW_MS - DAY_MS, days: 30 });
  const ca = await loadCaSigner(certPem, keyPem);
  const revoked = new Set<string>();
  return {
    ca,
    caFingerprint: createHash('sha256').update(pemToDer(certPem, 'CERTIFICATE')).digest(),
    revoked,
    verifyCert: makePeerCertVerifier({ caPem: certPem, clock, revokedSerials: () => revoked }),
    async node(prefix, serial) {
      const key = createPrivateKey(generateKeyPem());
      const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
      const pem = await issueNodeCertificate(ca, { prefix, serial, publicKeySpki: spki, notBeforeMs: NOW_MS - DAY_MS, notAfterMs: NOW_MS + 10 * DAY_MS });
      return { prefix, serial, certDer: pemToDer(pem, 'CERTIFICATE'), key, sign: (data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }) };
    },
  };
}

let nonceCounter = 0;

/** An announcement by `node` of `net`, with a fresh nonce unless one is given. */
export function announcementBy(net: LanTestNetwork, node: LanTestNode, over: Partial<Announcement> = {}): Buffer {
  const nonce = Buffer.alloc(8);
  nonce.writeUInt32BE(++nonceCounter, 4);
  return encodeAnnouncement(
    {
      timestampMs: NOW_MS,
      nonce,
      caFingerprint: net.caFingerprint,
      certDer: node.certDer,
      endpoints: ['192.168.7.2:1194'],
      registryUrl: 'https://10.1.0.2:8443',
      peers: [],
      ...over,
    },
    node.sign,
  );
}
