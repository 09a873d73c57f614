// A network config and resilnet.toml texts for the settings and reload tests.
import { parseNodeConfig } from '../../config/node-config.js';
import type { NetworkConfig } from '../../config/network-config.js';

export const network: NetworkConfig = {
  version: 3,
  network_prefix: 'fd5e:1:2::/48',
  node_prefix_length: 64,
  babel: { hello_interval: 4 },
  client_count: 4,
  max_clients: 10,
  tunnel_refresh: 300,
  cipher: 'AES-256-GCM:AES-128-GCM',
  crl: '',
  revoked_serials: [],
  min_protocol: 1,
  registry_urls: [],
  issued_at: '2026-11-21T12:00:00.000Z',
};

export const nodeConfig = (extra = '') =>
  parseNodeConfig(`[registry]\nurl = "https://10.0.0.1:8443"\n[node]\nstate_dir = "/tmp/x/state"\nrun_dir = "/tmp/x/run"\n${extra}`, '/etc/resilnet/resilnet.toml');
