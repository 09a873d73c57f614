// The one place the node builds its registry client: from the node's identity
// and a URL, again when the URL changes (reload) or the certificate is renewed.
import { RegistryClient } from '../../wire/registry-client.js';
import { TIMING } from '../settings.js';
import type { Identity } from './identity.js';

export class RegistryConnection {
  private client: RegistryClient;

  constructor(
    private readonly identity: () => Identity,
    private url: string,
  ) {
    this.client = this.connect(url);
  }

  get api(): RegistryClient {
    return this.client;
  }

  /** Another registry URL; a refused URL throws and the old client stays. */
  useUrl(url: string): void {
    const next = this.connect(url);
    this.client.close();
    this.client = next;
    this.url = url;
  }

  /** The same URL with the current identity (after a certificate renewal). */
  reconnect(): void {
    this.useUrl(this.url);
  }

  close(): void {
    this.client.close();
  }

  private connect(url: string): RegistryClient {
    const id = this.identity();
    return new RegistryClient({ url, caPem: id.caPem, certPem: id.certPem, keyPem: id.keyPem, timeoutMs: TIMING.registryCallTimeoutMs });
  }
}
