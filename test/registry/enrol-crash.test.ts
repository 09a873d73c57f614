// kill -9 between the reservation and the certificate write, then a restart:
// the single-use token works again and the prefix is free (issue 10, item 5).
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { createCsrPem, generateKeyPem } from '../../pki/keys.js';
import { RegistryDb } from '../../registry/db.js';
import { registryConfigSchema } from '../../registry/registry-config.js';
import { RegistryService } from '../../registry/service.js';
import { makeCa } from '../pki/pki-fixture.js';
import { REPO, tempDir } from './cli-harness.js';

const PREFIX = 'fd5e:7::/48';
const CHILD = join(REPO, 'test', 'registry', 'enrol-crash-child.ts');

function runChild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

test('a registry killed between reservation and certificate write gives the token use and the prefix back at restart', async (t) => {
  const dir = tempDir(t, 'crash');
  const ca = await makeCa(PREFIX, Date.now());
  const paths = { db: join(dir, 'registry.db'), caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), csr: join(dir, 'node.csr') };
  writeFileSync(paths.caCert, ca.certPem);
  writeFileSync(paths.caKey, ca.keyPem);
  const keyPem = generateKeyPem();
  writeFileSync(paths.csr, await createCsrPem(keyPem));

  const open = () => {
    const db = new RegistryDb(paths.db);
    const service = new RegistryService({
      db, ca, config: registryConfigSchema.parse({ network: { prefix: PREFIX, node_prefix_length: 64 } }),
      registryUrls: ['https://127.0.0.1:8443'], nowMs: Date.now, rand: Math.random, log: pino({ level: 'silent' }),
    });
    return { db, service };
  };
  const first = open();
  await first.service.start();
  const token = first.service.addToken({ uses: 1 }).token;
  first.db.close();

  const crash = await runChild([paths.db, paths.caCert, paths.caKey, PREFIX, token, paths.csr]);
  t.is(crash.signal, 'SIGKILL', crash.out);

  // What the crash left: a node with a reservation and no certificate, the token spent.
  const after = open();
  t.teardown(() => after.db.close());
  const [orphan] = after.db.listNodes();
  t.truthy(orphan, 'the child got as far as the reservation');
  t.is(after.db.issuedCertCount(orphan!.prefix), 0);
  t.is(after.db.listTokens()[0]!.usesLeft, 0);

  await after.service.start();
  t.deepEqual(after.db.listNodes(), [], 'the prefix without a certificate is freed');
  t.deepEqual(after.db.unfinishedCerts(), []);
  t.is(after.db.listTokens()[0]!.usesLeft, 1, 'the token use is given back');
  const again = await after.service.enrol(token, await createCsrPem(keyPem));
  t.is(again.prefix, orphan!.prefix, 'the same prefix is allocated again');
  t.is(after.db.issuedCertCount(again.prefix), 1);
});

test('recovery keeps a re-enrolled node and its earlier certificate, and undoes only the unfinished one', async (t) => {
  const ca = await makeCa(PREFIX, Date.now());
  const db = new RegistryDb(':memory:');
  let reservations = 0;
  let crashNext = false;
  const service = new RegistryService({
    db, ca, config: registryConfigSchema.parse({ network: { prefix: PREFIX, node_prefix_length: 64 } }),
    registryUrls: ['https://127.0.0.1:8443'], nowMs: Date.now, rand: Math.random, log: pino({ level: 'silent' }),
    testOnlyAfterReservation: () => {
      reservations++;
      if (crashNext) throw new Error('simulated crash: the process stops here');
    },
  });
  await service.start();
  const token = service.addToken({ uses: 2 }).token;
  const keyPem = generateKeyPem();
  const first = await service.enrol(token, await createCsrPem(keyPem));
  crashNext = true;
  await t.throwsAsync(service.enrol(token, await createCsrPem(keyPem)), { message: /simulated crash/ });
  const [unfinished] = db.unfinishedCerts();
  t.is(unfinished?.prefix, first.prefix);
  t.is(db.listTokens()[0]!.usesLeft, 0);
  t.deepEqual(service.recoverUnfinishedEnrolments(), { serials: [unfinished!.serial], prefixes: [], tokenUses: 1 });
  t.deepEqual(db.listNodes().map((n) => n.prefix), [first.prefix]);
  t.is(db.issuedCertCount(first.prefix), 1);
  t.is(db.listTokens()[0]!.usesLeft, 1);
  t.is(reservations, 2);
});
