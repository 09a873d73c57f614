// A registry service that enrols once and is killed with SIGKILL right after
// the reservation, before the certificate is written: the crash of issue 10/5.
// argv: DB_PATH CA_CERT_PATH CA_KEY_PATH NETWORK_PREFIX TOKEN CSR_PATH
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { loadCaSigner } from '../../pki/ca.js';
import { RegistryDb } from '../../registry/db.js';
import { registryConfigSchema } from '../../registry/registry-config.js';
import { RegistryService } from '../../registry/service.js';

const [dbPath, caCert, caKey, prefix, token, csrPath] = process.argv.slice(2) as [string, string, string, string, string, string];
const service = new RegistryService({
  db: new RegistryDb(dbPath),
  ca: await loadCaSigner(readFileSync(caCert, 'utf8'), readFileSync(caKey, 'utf8')),
  config: registryConfigSchema.parse({ network: { prefix, node_prefix_length: 64 } }),
  registryUrls: ['https://127.0.0.1:8443'],
  nowMs: Date.now,
  rand: Math.random,
  log: pino({ level: 'silent' }),
  testOnlyAfterReservation: () => process.kill(process.pid, 'SIGKILL'),
});
await service.start();
await service.enrol(token, readFileSync(csrPath, 'utf8'));
process.stdout.write('enrolled: the kill did not happen\n');
