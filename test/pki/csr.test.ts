import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCsr } from '../../pki/csr.js';
import { derToPem, pemToDer } from '../../pki/der.js';
import { createCsrPem, generateKeyPem } from '../../pki/keys.js';
import { errorCode } from '../fixtures/error-code.js';

test('a CSR made by createCsrPem is accepted and carries the key', async (t) => {
  const key = generateKeyPem();
  const info = readCsr(await createCsrPem(key));
  t.true(info.publicKey.equals(createPublicKey(key)));
  t.regex(info.keySha256, /^[0-9a-f]{64}$/);
});

test('a CSR whose public key was swapped for a foreign key is rejected', async (t) => {
  const csr = pemToDer(await createCsrPem(generateKeyPem()), 'CERTIFICATE REQUEST');
  const mine = readCsr(derToPem(csr, 'CERTIFICATE REQUEST')).publicKeySpki;
  const foreign = createPublicKey(generateKeyPem()).export({ type: 'spki', format: 'der' });
  t.is(mine.length, foreign.length);
  const at = csr.indexOf(mine);
  t.true(at > 0);
  foreign.copy(csr, at);
  t.is(errorCode(() => readCsr(derToPem(csr, 'CERTIFICATE REQUEST'))), 'RN_PKI_CSR_INVALID');
});

test('RSA, garbage and oversized requests are rejected', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rn-csr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=x', '-keyout', join(dir, 'k'), '-out', join(dir, 'r.csr')], { stdio: 'ignore' });
  t.is(errorCode(() => readCsr(readFileSync(join(dir, 'r.csr'), 'utf8'))), 'RN_PKI_CSR_INVALID');
  t.is(errorCode(() => readCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')), 'RN_PKI_CSR_INVALID');
  t.is(errorCode(() => readCsr('hello')), 'RN_PKI_CSR_INVALID');
  t.is(errorCode(() => readCsr('x'.repeat(20_000))), 'RN_PKI_CSR_INVALID');
});

/** Runs openssl in a fresh folder; a missing openssl fails the test (execFileSync throws ENOENT). */
function withOpenssl(t: { teardown: (fn: () => void) => void }): { dir: string; run: (args: string[]) => void; read: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'rn-csr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    run: (args) => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }),
    read: (name) => readFileSync(join(dir, name), 'utf8'),
  };
}

test('a P-256 key given with explicit curve parameters is refused, saying so', (t) => {
  const o = withOpenssl(t);
  o.run(['ecparam', '-name', 'prime256v1', '-param_enc', 'explicit', '-genkey', '-noout', '-out', 'k.pem']);
  o.run(['req', '-new', '-key', 'k.pem', '-subj', '/CN=x', '-out', 'r.csr']);
  const err = t.throws(() => readCsr(o.read('r.csr')));
  t.is((err as { code?: string }).code, 'RN_PKI_CSR_INVALID');
  t.regex(err.message, /explicit curve parameters/);
});

test('a CSR signed with SHA-1 is refused for its hash, not as signed by another key', (t) => {
  const o = withOpenssl(t);
  o.run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'k.pem']);
  o.run(['req', '-new', '-key', 'k.pem', '-subj', '/CN=x', '-sha1', '-out', 'r.csr']);
  const err = t.throws(() => readCsr(o.read('r.csr')));
  t.is((err as { code?: string }).code, 'RN_PKI_CSR_INVALID');
  t.regex(err.message, /signed with ECDSA with SHA-1/);
  t.notRegex(err.message, /not signed by the key/);
});

for (const hash of ['sha256', 'sha384', 'sha512']) {
  test(`a CSR made by openssl with ECDSA and ${hash} is accepted with its key`, (t) => {
    const o = withOpenssl(t);
    o.run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'k.pem']);
    o.run(['req', '-new', '-key', 'k.pem', '-subj', '/CN=x', `-${hash}`, '-out', 'r.csr']);
    t.true(readCsr(o.read('r.csr')).publicKey.equals(createPublicKey(o.read('k.pem'))));
  });
}
