// Test-only helpers for the data-plane integration test and the fixture capture:
// two network namespaces joined by a veth (10.x underlay), a throwaway CA made with
// the openssl CLI (CN = node prefix, EKU serverAuth+clientAuth), per-node run dirs.
// Everything is named from a random run id and removed by name in teardown().
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatPrefix, nodeAddress, parsePrefix } from '../../config/ipv6.js';
import { applyCommands, planNodeSetup, planNodeTeardown, runIp, type SysCommand } from '../../daemon/sys/interfaces.js';
import { linkLocalFor, tunnelIfName } from '../../daemon/identity.js';
import { buildOpenvpnArgv, DEFAULT_TUN_MTU, type TunnelEndpoint } from '../../daemon/openvpn/argv.js';
import { writeUpScript } from '../../daemon/openvpn/up-script.js';
import { buildBabeldArgv } from '../../daemon/babel/argv.js';
import { runFile } from '../../daemon/sys/run-file.js';

export interface LabNode {
  key: 'a' | 'b';
  ns: string;
  underlay: string;
  prefix: string;
  address: string;
  dir: string;
  certPath: string;
  keyPath: string;
  babelSocket: string;
}

export interface Lab {
  runId: string;
  dir: string;
  networkPrefix: string;
  caPath: string;
  crlPath: string;
  a: LabNode;
  b: LabNode;
  /** Runs a command inside a node's namespace (throws on failure unless reject: false). */
  exec(node: LabNode, argv: string[], options?: { reject?: boolean }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** argv wrapped to run inside the node's namespace. */
  inNs(node: LabNode, argv: string[]): string[];
  setupNode(node: LabNode): Promise<void>;
  teardownNode(node: LabNode): Promise<void>;
  openvpnArgv(node: LabNode, peer: LabNode, endpoint: TunnelEndpoint, options?: { peerPrefix?: string }): string[];
  babeldArgv(node: LabNode, helloIntervalSec: number, interfaces: string[]): string[];
  teardown(): Promise<void>;
}

async function sh(argv: string[], options: { reject?: boolean } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const [file, ...args] = argv;
  const out = await runFile(file!, args, { timeoutMs: 30_000 });
  if (out.exitCode !== 0 && options.reject !== false) throw new Error(`${argv.join(' ')} failed (${out.exitCode}): ${out.stderr}`);
  return out;
}

const NODE_EXT = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,keyAgreement',
  'extendedKeyUsage=serverAuth,clientAuth',
].join('\n');

async function makePki(dir: string, cns: string[]): Promise<{ caPath: string; crlPath: string; certs: Array<{ cert: string; key: string }> }> {
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  await sh(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('ca.key')]);
  await sh(['openssl', 'req', '-x509', '-new', '-key', p('ca.key'), '-sha256', '-days', '30', '-subj', '/CN=resilnet-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', p('ca.crt')]);
  writeFileSync(p('node.ext'), NODE_EXT + '\n');
  const certs: Array<{ cert: string; key: string }> = [];
  for (const [i, cn] of cns.entries()) {
    await sh(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(`n${i}.key`)]);
    await sh(['openssl', 'req', '-new', '-key', p(`n${i}.key`), '-subj', `/CN=${cn.replace(/\//g, '\\/')}`, '-out', p(`n${i}.csr`)]);
    await sh(['openssl', 'x509', '-req', '-in', p(`n${i}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-set_serial', String(100 + i),
      '-days', '30', '-sha256', '-extfile', p('node.ext'), '-out', p(`n${i}.crt`)]);
    certs.push({ cert: p(`n${i}.crt`), key: p(`n${i}.key`) });
  }
  // An empty CRL signed by the CA (openssl ca needs its small database).
  writeFileSync(p('index.txt'), '');
  writeFileSync(p('crlnumber'), '01\n');
  writeFileSync(p('ca.cnf'), [
    '[ca]', 'default_ca = test', '[test]', `database = ${p('index.txt')}`, `crlnumber = ${p('crlnumber')}`,
    `certificate = ${p('ca.crt')}`, `private_key = ${p('ca.key')}`, 'default_md = sha256', 'default_crl_days = 30', '',
  ].join('\n'));
  await sh(['openssl', 'ca', '-config', p('ca.cnf'), '-gencrl', '-out', p('crl.pem')]);
  return { caPath: p('ca.crt'), crlPath: p('crl.pem'), certs };
}

export async function createLab(): Promise<Lab> {
  const runId = `rnt${randomBytes(3).toString('hex')}`;
  const dir = `/tmp/resilnet-dp-${runId}`;
  const octet = 100 + (randomBytes(1)[0]! % 150);
  const g = randomBytes(4).toString('hex');
  const networkPrefix = `fd${g.slice(0, 2)}:${g.slice(2, 6)}:${g.slice(6, 8)}00::/48`;
  const net = parsePrefix(networkPrefix);
  const prefixOf = (i: bigint) => {
    const address = net.address | (i << 64n);
    return { text: formatPrefix({ address, length: 64 }), address: nodeAddress({ address, length: 64 }) };
  };
  const pa = prefixOf(1n);
  const pb = prefixOf(2n);
  const mk = (key: 'a' | 'b', underlay: string, pre: { text: string; address: string }, i: number): LabNode => ({
    key,
    ns: `${runId}-${key}`,
    underlay,
    prefix: pre.text,
    address: pre.address,
    dir: join(dir, key),
    certPath: join(dir, 'pki', `n${i}.crt`),
    keyPath: join(dir, 'pki', `n${i}.key`),
    babelSocket: join(dir, key, 'babeld.sock'),
  });
  const a = mk('a', `10.${octet}.0.1`, pa, 0);
  const b = mk('b', `10.${octet}.0.2`, pb, 1);
  const created: string[] = [];
  const lab: Lab = {
    runId,
    dir,
    networkPrefix,
    caPath: join(dir, 'pki', 'ca.crt'),
    crlPath: join(dir, 'pki', 'crl.pem'),
    a,
    b,
    inNs: (node, argv) => ['ip', 'netns', 'exec', node.ns, ...argv],
    exec: (node, argv, options) => sh(['ip', 'netns', 'exec', node.ns, ...argv], options),
    async setupNode(node) {
      await applyCommands(planNodeSetup({ prefix: node.prefix, networkPrefix }), { run: (argv: SysCommand) => runIp(['ip', 'netns', 'exec', node.ns, ...argv]) });
    },
    async teardownNode(node) {
      const failures = await applyCommands(planNodeTeardown({ prefix: node.prefix, networkPrefix }), {
        bestEffort: true,
        run: (argv: SysCommand) => runIp(['ip', 'netns', 'exec', node.ns, ...argv]),
      });
      if (failures.length > 0) throw new Error(`teardown failed: ${failures.map((f) => f.argv.join(' ') + ': ' + f.stderr).join('; ')}`);
    },
    openvpnArgv(node, peer, endpoint, options = {}) {
      return buildOpenvpnArgv({
        endpoint,
        proto: 'udp',
        ifName: tunnelIfName(peer.prefix),
        peerPrefix: options.peerPrefix ?? peer.prefix,
        caPath: lab.caPath,
        certPath: node.certPath,
        keyPath: node.keyPath,
        crlPath: lab.crlPath,
        dataCiphers: [],
        tunMtu: DEFAULT_TUN_MTU,
        upScriptPath: writeUpScript(node.dir),
        linkLocal: linkLocalFor(node.prefix),
        keepaliveIntervalSec: 1,
        keepaliveTimeoutSec: 3,
        managementSocket: join(node.dir, `${tunnelIfName(peer.prefix)}.mgmt`),
        verbosity: 3,
      });
    },
    babeldArgv(node, helloIntervalSec, interfaces) {
      return buildBabeldArgv({
        socketPath: node.babelSocket,
        stateFile: join(node.dir, 'babeld.state'),
        helloIntervalSec,
        ownPrefix: node.prefix,
        nodeAddress: node.address,
        interfaces,
      });
    },
    async teardown() {
      for (const ns of created.reverse()) await sh(['ip', 'netns', 'del', ns], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    mkdirSync(a.dir, { recursive: true });
    mkdirSync(b.dir, { recursive: true });
    for (const n of [a, b]) {
      await sh(['ip', 'netns', 'add', n.ns]);
      created.push(n.ns);
      await sh(['ip', '-n', n.ns, 'link', 'set', 'lo', 'up']);
    }
    await sh(['ip', 'link', 'add', `${runId}a`, 'netns', a.ns, 'type', 'veth', 'peer', 'name', `${runId}b`, 'netns', b.ns]);
    for (const [n, ifn] of [[a, `${runId}a`], [b, `${runId}b`]] as const) {
      await sh(['ip', '-n', n.ns, 'addr', 'add', `${n.underlay}/24`, 'dev', ifn]);
      await sh(['ip', '-n', n.ns, 'link', 'set', ifn, 'up']);
    }
    await makePki(join(dir, 'pki'), [a.prefix, b.prefix]);
  } catch (err) {
    await lab.teardown();
    throw err;
  }
  return lab;
}
