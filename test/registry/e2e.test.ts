// End to end on loopback: the real CLI creates and serves a registry, three
// hosts register, certificates are checked with the real openssl, one node
// renews, one is revoked and openssl sees it in the published CRL.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parsePrefix, prefixContains } from '../../config/ipv6.js';
import { parseNodeConfig } from '../../config/node-config.js';
import { createCsrPem } from '../../pki/keys.js';
import { parseCrl, readCertificate } from '../../pki/identity.js';
import { verifyNetworkConfig } from '../../pki/network-config.js';
import { RegistryClient } from '../../wire/registry-client.js';
import { runCli, spawnServe, tempDir } from './cli-harness.js';
import { rejectionCode } from '../fixtures/error-code.js';

const execFileP = promisify(execFile);

/** Runs `openssl verify`; returns its combined output and whether it succeeded. */
async function opensslVerify(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await execFileP('openssl', ['verify', ...args]);
    return { ok: true, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

test('init, serve, three enrolments, openssl verify, renew, revoke with CRL, used token refused', async (t) => {
  const root = tempDir(t, 'e2e');
  const reg = join(root, 'reg');
  const init = await runCli(['registry', 'init', '--dir', reg, '--prefix', 'fd42:7::/48', '--cert-days', '20', '--set', 'babel.hello_interval=1', '--json']);
  t.is(init.code, 0, init.stderr);
  const fingerprint = (JSON.parse(init.stdout) as { ca_fingerprint: string }).ca_fingerprint;
  t.regex(fingerprint, /^sha256:[0-9a-f]{64}$/);
  const again = await runCli(['registry', 'init', '--dir', reg, '--prefix', 'fd42:7::/48']);
  t.is(again.code, 1);
  t.regex(again.stderr, /RN_REGISTRY_EXISTS/);

  const srv = await spawnServe(t, reg);
  t.is((statSync(join(reg, 'admin.sock')).mode & 0o777), 0o600);
  const tokenRun = await runCli(['registry', 'token', 'add', '--dir', reg, '--uses', '3', '--email', 'ops@example.org']);
  t.is(tokenRun.code, 0, tokenRun.stderr);
  const token = tokenRun.stdout.trim();

  const nodes: { name: string; dir: string; prefix: string; serial: string }[] = [];
  for (const name of ['a', 'b', 'c']) {
    const dir = join(root, name);
    const r = await runCli([
      'register', '--registry', srv.url, '--token', token, '--dir', dir, '--fingerprint', fingerprint,
      '--state-dir', join(dir, 'state'), '--run-dir', join(dir, 'run'), '--port', String(1194 + nodes.length * 300), '--json',
    ]);
    t.is(r.code, 0, r.stderr);
    t.notRegex(r.stderr, /NOT checked/);
    const out = JSON.parse(r.stdout) as { prefix: string; serial: string };
    nodes.push({ name, dir, prefix: out.prefix, serial: out.serial });
    t.is(statSync(join(dir, 'node.key')).mode & 0o777, 0o600);
    const cfg = parseNodeConfig(readFileSync(join(dir, 'resilnet.toml'), 'utf8'), join(dir, 'resilnet.toml'));
    t.is(cfg.registry.url, srv.url);
    t.is(cfg.node.state_dir, join(dir, 'state'));
    t.is(cfg.identity.key, join(dir, 'node.key'));
    t.is(readCertificate(readFileSync(cfg.identity.cert, 'utf8')).prefix, out.prefix);
    const v = await opensslVerify(['-CAfile', join(dir, 'ca.crt'), join(dir, 'node.crt')]);
    t.true(v.ok, v.out);
    t.regex(v.out, /: OK/);
  }
  t.is(new Set(nodes.map((n) => n.prefix)).size, 3);
  for (const n of nodes) t.true(prefixContains(parsePrefix('fd42:7::/48'), parsePrefix(n.prefix)));
  const [a, b, c] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];

  const used = await runCli(['register', '--registry', srv.url, '--token', token, '--dir', join(root, 'd'), '--fingerprint', fingerprint]);
  t.is(used.code, 1);
  t.regex(used.stderr, /RN_REGISTRY_TOKEN_USED/);
  t.is(used.stderr.trim().split('\n').length, 2, `one-line error plus hint: ${used.stderr}`);

  const client = (n: { dir: string }) =>
    new RegistryClient({
      url: srv.url,
      caPem: readFileSync(join(n.dir, 'ca.crt'), 'utf8'),
      certPem: readFileSync(join(n.dir, 'node.crt'), 'utf8'),
      keyPem: readFileSync(join(n.dir, 'node.key'), 'utf8'),
    });
  const ca = client(a);
  t.teardown(() => ca.close());
  const caPem = readFileSync(join(a.dir, 'ca.crt'), 'utf8');

  // Renewal: 20-day certificates are inside the default 30-day window at once.
  const renewed = await ca.renew(await createCsrPem(readFileSync(join(a.dir, 'node.key'), 'utf8')));
  const renewedInfo = readCertificate(renewed.certificate);
  t.is(renewedInfo.prefix, a.prefix);
  t.not(renewedInfo.serial, a.serial);
  writeFileSync(join(a.dir, 'node-renewed.crt'), renewed.certificate);
  t.true((await opensslVerify(['-CAfile', join(a.dir, 'ca.crt'), join(a.dir, 'node-renewed.crt')])).ok);

  const before = verifyNetworkConfig(await ca.networkConfig(), caPem);
  t.is(before.babel.hello_interval, 1);
  t.deepEqual(before.registry_urls, [srv.url]);

  const revoke = await runCli(['registry', 'revoke', '--dir', reg, b.prefix, '--json']);
  t.is(revoke.code, 0, revoke.stderr);
  t.deepEqual((JSON.parse(revoke.stdout) as { revoked_serials: string[] }).revoked_serials, [b.serial]);

  const crl = await ca.crl();
  t.true(crl.startsWith('-----BEGIN X509 CRL-----'));
  t.deepEqual(parseCrl(crl, caPem).serials, [b.serial]);
  writeFileSync(join(root, 'crl.pem'), crl);
  const revokedCheck = await opensslVerify(['-crl_check', '-CAfile', join(b.dir, 'ca.crt'), '-CRLfile', join(root, 'crl.pem'), join(b.dir, 'node.crt')]);
  t.false(revokedCheck.ok);
  t.regex(revokedCheck.out, /certificate revoked/);
  const goodCheck = await opensslVerify(['-crl_check', '-CAfile', join(c.dir, 'ca.crt'), '-CRLfile', join(root, 'crl.pem'), join(c.dir, 'node.crt')]);
  t.true(goodCheck.ok, goodCheck.out);

  const after = verifyNetworkConfig(await ca.networkConfig(), caPem);
  t.true(after.version > before.version);
  t.deepEqual(after.revoked_serials, [b.serial]);
  t.is(after.crl, crl);

  const bClient = client(b);
  t.teardown(() => bClient.close());
  t.is(await rejectionCode(bClient.heartbeat({ port: 1494 })), 'RN_PKI_CERT_REVOKED');

  // Heartbeats and bootstrap: the caller is never in its own list, the revoked node never.
  const cClient = client(c);
  t.teardown(() => cClient.close());
  t.deepEqual(await ca.heartbeat({ port: 1194, addresses: [{ address: '10.1.0.1', kind: 'internal' }] }), { seen_address: '127.0.0.1', network_config_version: after.version });
  await cClient.heartbeat({ port: 1794, addresses: [{ address: '10.1.0.3', kind: 'internal' }], tunnels: [{ peer: a.prefix, role: 'client', rx_bytes: 10, tx_bytes: 20, rtt_ms: 1.5 }] });
  t.deepEqual((await ca.bootstrap(10)).peers.map((p) => p.prefix), [c.prefix]);
  // The address the registry saw (loopback here) is no use to a peer: only the announced one is served.
  t.deepEqual((await ca.bootstrap(10)).peers[0]!.addresses, ['10.1.0.3:1794']);
  t.deepEqual((await cClient.bootstrap(10)).peers.map((p) => p.prefix), [a.prefix]);

  const list = await runCli(['registry', 'nodes', '--dir', reg, '--json']);
  const listed = (JSON.parse(list.stdout) as { nodes: { prefix: string; state: string }[] }).nodes;
  t.deepEqual(Object.fromEntries(listed.map((n) => [n.prefix, n.state])), { [a.prefix]: 'online', [b.prefix]: 'revoked', [c.prefix]: 'online' });
  const table = await runCli(['registry', 'nodes', '--dir', reg]);
  t.regex(table.stdout, /PREFIX\s+STATE/);

  const set = await runCli(['registry', 'config', 'set', '--dir', reg, 'client_count=2', '--json']);
  t.is(set.code, 0, set.stderr);
  t.is((JSON.parse(set.stdout) as { version: number }).version, after.version + 1);
  const bad = await runCli(['registry', 'config', 'set', '--dir', reg, 'client_count=-1']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /RN_REGISTRY_SETTING_INVALID/);
  const shown = await runCli(['registry', 'config', 'show', '--dir', reg, '--json']);
  t.is((JSON.parse(shown.stdout) as { config: { client_count: number } }).config.client_count, 2);

  const tokens = await runCli(['registry', 'token', 'list', '--dir', reg, '--json']);
  const tv = (JSON.parse(tokens.stdout) as { tokens: { state: string; uses_left: number; email: string }[] }).tokens;
  t.deepEqual(tv.map((x) => [x.state, x.uses_left, x.email]), [['used', 0, 'ops@example.org']]);
});

test('re-running register keeps the key; another network needs --force; an unchecked fingerprint is announced', async (t) => {
  const root = tempDir(t, 'rereg');
  const regs = [join(root, 'reg1'), join(root, 'reg2')];
  for (const [i, reg] of regs.entries()) {
    const r = await runCli(['registry', 'init', '--dir', reg, '--prefix', `fd42:${i + 10}::/48`]);
    t.is(r.code, 0, r.stderr);
  }
  const [s1, s2] = [await spawnServe(t, regs[0]!), await spawnServe(t, regs[1]!)];
  const tok = async (reg: string) => (await runCli(['registry', 'token', 'add', '--dir', reg, '--uses', '5'])).stdout.trim();
  const t1 = await tok(regs[0]!);
  const node = join(root, 'node');

  const first = await runCli(['register', '--registry', s1.url, '--token', t1, '--dir', node, '--json']);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stderr, /fingerprint was NOT checked/);
  const key = readFileSync(join(node, 'node.key'), 'utf8');
  const firstPrefix = (JSON.parse(first.stdout) as { prefix: string }).prefix;

  t.is((JSON.parse(first.stdout) as { key_mode: string }).key_mode, '0600');
  chmodSync(join(node, 'node.key'), 0o644); // e.g. copied in by hand
  const second = await runCli(['register', '--registry', s1.url, '--token', t1, '--dir', node, '--json']);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stderr, /node\.key had mode 0644; set to 0600/);
  t.is(statSync(join(node, 'node.key')).mode & 0o777, 0o600);
  t.is((JSON.parse(second.stdout) as { key_mode: string }).key_mode, '0600');
  t.notRegex(second.stderr, /NOT checked/, 'the CA pinned in DIR/ca.crt is the check');
  t.is(readFileSync(join(node, 'node.key'), 'utf8'), key);
  t.true((JSON.parse(second.stdout) as { key_reused: boolean }).key_reused);
  t.is((JSON.parse(second.stdout) as { prefix: string }).prefix, firstPrefix);

  const t2 = await tok(regs[1]!);
  const other = await runCli(['register', '--registry', s2.url, '--token', t2, '--dir', node]);
  t.is(other.code, 1);
  t.regex(other.stderr, /RN_ENROL_OTHER_NETWORK/);
  t.regex(other.stderr, /--force/);
  const forced = await runCli(['register', '--registry', s2.url, '--token', t2, '--dir', node, '--force', '--json']);
  t.is(forced.code, 0, forced.stderr);
  t.not(readFileSync(join(node, 'node.key'), 'utf8'), key);
  t.true(prefixContains(parsePrefix('fd42:11::/48'), parsePrefix((JSON.parse(forced.stdout) as { prefix: string }).prefix)));

  const wrongFp = await runCli(['register', '--registry', s1.url, '--token', t1, '--dir', join(root, 'x'), '--fingerprint', `sha256:${'0'.repeat(64)}`]);
  t.is(wrongFp.code, 1);
  t.regex(wrongFp.stderr, /RN_ENROL_FINGERPRINT_MISMATCH/);

  const badToken = await runCli(['register', '--registry', s1.url, '--token', 'deadbeef.xxxxxxxxxxxxxxxxxxxxxxxx', '--dir', join(root, 'y')]);
  t.is(badToken.code, 1);
  t.regex(badToken.stderr, /RN_REGISTRY_TOKEN_INVALID/);

  await s2.stop();
  const down = await runCli(['register', '--registry', s2.url, '--token', t2, '--dir', join(root, 'z')]);
  t.is(down.code, 1);
  t.regex(down.stderr, /RN_REGISTRY_UNREACHABLE/);
  t.regex(down.stderr, /cannot reach the registry/);

  const noAdmin = await runCli(['registry', 'nodes', '--dir', regs[1]!]);
  t.is(noAdmin.code, 1);
  t.regex(noAdmin.stderr, /RN_REGISTRY_ADMIN_UNREACHABLE/);
});
