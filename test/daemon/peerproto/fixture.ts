// Throwaway PKI and in-memory UDP for peer-protocol tests: a tiny CA made with
// pki/ca.ts, node certificates with fresh keys, and a fake datagram network.
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { createCa, issueNodeCertificate, loadCaSigner, type CaSigner } from '../../../pki/ca.js';
import { pemToDer } from '../../../pki/der.js';
import { generateKeyPem } from '../../../pki/keys.js';
import { makePeerCertVerifier } from '../../../daemon/peerproto/cert.js';
import type { PeerProtocolDeps, PeerProtoLog } from '../../../daemon/peerproto/protocol.js';
import type { UdpEndpoint, UdpSocket, UdpSocketFactory } from '../../../daemon/peerproto/socket.js';

export const NETWORK = 'fd5e:1::/48';
export const DAY_MS = 86_400_000;

export interface TestNode {
  prefix: string;
  serial: string;
  certDer: Buffer;
  key: KeyObject;
  /** The same key: with it the endpoint uses link MACs with peers that hold its certificate. */
  privateKey: KeyObject;
  sign(data: Buffer): Buffer;
}

export interface TestPki {
  ca: CaSigner;
  revoked: Set<string>;
  node(prefix: string, serial: string): Promise<TestNode>;
  verifyPeerCert: PeerProtocolDeps['verifyPeerCert'];
}

export async function makePki(nowMs: number): Promise<TestPki> {
  const { certPem, keyPem } = await createCa({ networkPrefix: NETWORK, notBeforeMs: nowMs - DAY_MS, days: 30 });
  const ca = await loadCaSigner(certPem, keyPem);
  const revoked = new Set<string>();
  return {
    ca,
    revoked,
    async node(prefix, serial) {
      const keyPemNode = generateKeyPem();
      const key = createPrivateKey(keyPemNode);
      const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
      const pem = await issueNodeCertificate(ca, { prefix, serial, publicKeySpki: spki, notBeforeMs: nowMs - DAY_MS, notAfterMs: nowMs + 10 * DAY_MS });
      return {
        prefix,
        serial,
        certDer: pemToDer(pem, 'CERTIFICATE'),
        key,
        privateKey: key,
        sign: (data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
      };
    },
    verifyPeerCert: makePeerCertVerifier({ caPem: certPem, clock: { nowMs: () => nowMs }, revokedSerials: () => revoked }),
  };
}

export interface LogEntry {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

export function captureLog(): PeerProtoLog & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (obj: object, msg: string) => void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn') };
}

/**
 * Datagrams between fake sockets, delivered on the next macrotask. `drop` can
 * discard chosen datagrams (to simulate loss); `sendError` makes the sending
 * socket refuse one (as the kernel does: ENETUNREACH, EPERM…); `sentLog` keeps
 * every datagram sent.
 */
export class FakeUdpNetwork {
  private readonly sockets = new Map<string, FakeSocket>();
  private nextPort = 40_000;
  drop: (data: Buffer, from: UdpEndpoint, to: UdpEndpoint) => boolean = () => false;
  sendError: (to: UdpEndpoint) => NodeJS.ErrnoException | undefined = () => undefined;
  readonly sentLog: { data: Buffer; from: UdpEndpoint; to: UdpEndpoint }[] = [];

  factory(host: string): UdpSocketFactory {
    return () => new FakeSocket(this, host);
  }

  register(s: FakeSocket, port: number): number {
    const p = port === 0 ? this.nextPort++ : port;
    if (this.sockets.has(`${s.host}:${p}`)) throw Object.assign(new Error('address in use'), { code: 'EADDRINUSE' });
    this.sockets.set(`${s.host}:${p}`, s);
    return p;
  }

  unregister(s: FakeSocket): void {
    for (const [k, v] of this.sockets) if (v === s) this.sockets.delete(k);
  }

  deliver(data: Buffer, from: UdpEndpoint, to: UdpEndpoint): void {
    this.sentLog.push({ data, from, to });
    if (this.drop(data, from, to)) return;
    const target = this.sockets.get(`${to.host}:${to.port}`);
    setImmediate(() => target?.listener?.(Buffer.from(data), from));
  }
}

class FakeSocket implements UdpSocket {
  listener: ((data: Buffer, from: UdpEndpoint) => void) | undefined;
  private port = 0;

  constructor(
    private readonly net: FakeUdpNetwork,
    readonly host: string,
  ) {}

  async bind(port: number): Promise<UdpEndpoint> {
    this.port = this.net.register(this, port);
    return { host: this.host, port: this.port };
  }

  async send(data: Buffer, to: UdpEndpoint): Promise<void> {
    const err = this.net.sendError(to);
    if (err !== undefined) throw err;
    this.net.deliver(data, { host: this.host, port: this.port }, to);
  }

  onMessage(listener: (data: Buffer, from: UdpEndpoint) => void): void {
    this.listener = listener;
  }

  onError(): void {}

  async close(): Promise<void> {
    this.net.unregister(this);
  }
}

/** A bare socket on the fake network that sends hand-made datagrams (the attacker, an old node). */
export async function rawSender(net: FakeUdpNetwork, host: string): Promise<(data: Buffer, to: UdpEndpoint) => Promise<void>> {
  const socket = net.factory(host)();
  await socket.bind(0, host);
  return (data, to) => socket.send(data, to);
}


/** A socket whose receive side is called directly (`deliver`): what is measured is the endpoint alone. Counts the bytes sent. */
export class DirectSocket implements UdpSocket {
  private listener: ((data: Buffer, from: UdpEndpoint) => void) | undefined;
  bytesSent = 0;

  async bind(port: number, host: string): Promise<UdpEndpoint> {
    return { host, port };
  }

  async send(data: Buffer): Promise<void> {
    this.bytesSent += data.length;
  }

  onMessage(listener: (data: Buffer, from: UdpEndpoint) => void): void {
    this.listener = listener;
  }

  onError(): void {}

  async close(): Promise<void> {}

  deliver(data: Buffer, from: UdpEndpoint): void {
    this.listener?.(data, from);
  }
}
