// Link keys: a symmetric key per pair of nodes, so the frames between two nodes
// that hold each other's certificate carry a 16-byte HMAC instead of an ECDSA
// signature (docs/peer-protocol.md, "Link MACs"). Static-static ECDH between
// our private key and the peer's certificate key gives both sides the same
// secret with no extra round trip, authenticated by the certificates; HKDF
// binds it to the protocol version and to both certificates, so a new
// certificate on either side is a new key. One key serves both directions: the
// sender and recipient prefixes inside every MAC'd frame say which way it goes.
import { createHash, createHmac, createSecretKey, diffieHellman, hkdfSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { MAC_TAG_BYTES } from '../../wire/tlv.js';

const SALT = Buffer.from('resilnet peer-protocol link key, wire version 2');
const KEY_BYTES = 32;

/** A link key, ready for HMAC (a KeyObject saves re-importing it per frame). */
export type LinkKey = KeyObject;

/** SHA-256 of a DER certificate: how certificates are named in the key derivation and the cache. */
export function certFingerprint(certDer: Buffer): Buffer {
  return createHash('sha256').update(certDer).digest();
}

/**
 * The key two nodes share: ECDH(our private key, their public key), then HKDF-SHA256
 * with both certificate fingerprints in ascending byte order (the same on both sides).
 * Throws if the keys are not on the same curve.
 */
export function deriveLinkKey(ownPrivateKey: KeyObject, ownFingerprint: Buffer, peerPublicKey: KeyObject, peerFingerprint: Buffer): LinkKey {
  const secret = diffieHellman({ privateKey: ownPrivateKey, publicKey: peerPublicKey });
  const [low, high] = Buffer.compare(ownFingerprint, peerFingerprint) <= 0 ? [ownFingerprint, peerFingerprint] : [peerFingerprint, ownFingerprint];
  const info = Buffer.concat([low, high]);
  return createSecretKey(Buffer.from(hkdfSync('sha256', secret, SALT, info, KEY_BYTES)));
}

/** HMAC-SHA256 over the covered bytes, truncated to 16 bytes. */
export function linkTag(key: LinkKey, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest().subarray(0, MAC_TAG_BYTES);
}

/** True only for the right tag of the right length (compared in constant time). */
export function linkTagValid(key: LinkKey, data: Buffer, tag: Buffer): boolean {
  return tag.length === MAC_TAG_BYTES && timingSafeEqual(linkTag(key, data), tag);
}

export interface LinkKeysOptions {
  /** Keys remembered; the one used longest ago is forgotten first. */
  maxKeys: number;
}

/**
 * Our side of every link key, cached per peer certificate fingerprint: derived
 * on first use (one ECDH, ~0.1 ms), then a map lookup. A peer with a new
 * certificate gets a new entry; forget() drops one (revoked, replaced).
 */
export class LinkKeys {
  private readonly keys = new Map<string, LinkKey>();
  private readonly ownFingerprint: Buffer;

  constructor(
    private readonly own: { privateKey: KeyObject; certDer: Buffer },
    private readonly options: LinkKeysOptions,
  ) {
    this.ownFingerprint = certFingerprint(own.certDer);
  }

  /** The key shared with the holder of this certificate; undefined if the keys do not agree (another curve). */
  keyFor(peerFingerprint: Buffer, peerPublicKey: KeyObject): LinkKey | undefined {
    const id = peerFingerprint.toString('latin1');
    const known = this.keys.get(id);
    if (known !== undefined) {
      this.keys.delete(id); // re-inserted below: Map order = least recently used first
      this.keys.set(id, known);
      return known;
    }
    let key: LinkKey;
    try {
      key = deriveLinkKey(this.own.privateKey, this.ownFingerprint, peerPublicKey, peerFingerprint);
    } catch {
      return undefined; // not an ECDH-capable pair: that peer gets signatures
    }
    if (this.keys.size >= this.options.maxKeys) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    this.keys.set(id, key);
    return key;
  }

  forget(peerFingerprint: Buffer): void {
    this.keys.delete(peerFingerprint.toString('latin1'));
  }

  get size(): number {
    return this.keys.size;
  }
}
