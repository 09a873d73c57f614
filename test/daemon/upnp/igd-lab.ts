// A UPnP gateway in network namespaces this test creates and removes:
//
//   <id>-lan  eth0 10.A.B.2 ── lan0 10.A.B.1  <id>-gw  wan0 10.A.C.1 ── eth0 10.A.C.2/.3  <id>-wan
//                                             miniupnpd (nftables)         stund
//   <id>-iso  iso0 10.A.D.2 ── iso1  (no gateway at all: the "no gateway" case)
//
// Names are unique per run (rnu<6 hex>), everything is torn down by the PIDs and
// names created here, and no packet leaves these namespaces.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../../fixtures/wait.js';
import {
  buildMiniupnpdArgv,
  buildMiniupnpdConf,
  buildNftSkeleton,
  buildStundArgv,
  parseLeaseFile,
  type LeaseLine,
} from './miniupnpd-config.js';

const run = promisify(execFile);

// Absolute path: under npm/npx, node_modules/.bin comes first in PATH and holds an
// unrelated `nft` (@vercel/nft, a file tracer) that exits 0 and does nothing.
export const NFT_BIN = '/usr/sbin/nft';

export interface IgdLab {
  id: string;
  ns: { lan: string; gw: string; wan: string; iso: string };
  lanIp: string;
  /** The gateway's WAN address, which miniupnpd reports as external. */
  extIp: string;
  wanIp: string;
  dir: string;
  leaseFile: string;
  igdV1: boolean;
  leases(): Promise<LeaseLine[]>;
  /** `nft list table inet filter` in the gateway namespace. */
  nftRules(): Promise<string>;
  /** miniupnpd's log so far (for failure messages). */
  gatewayLog(): string;
  /** Runs argv inside a namespace; resolves with stdout. */
  exec(ns: string, argv: string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Starts a long-lived child inside a namespace; it is killed at teardown. */
  spawnIn(ns: string, argv: string[]): ChildProcess;
  teardown(): Promise<void>;
}

export async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args, { timeout: 10_000 })).stdout;
}

export async function startIgdLab(options: { igdV1: boolean; log?: (line: string) => void }): Promise<IgdLab> {
  const id = `rnu${randomBytes(3).toString('hex')}`;
  const ns = { lan: `${id}-lan`, gw: `${id}-gw`, wan: `${id}-wan`, iso: `${id}-iso` };
  // 10.A.B.0/24 LAN, 10.A.(B+1).0/24 WAN, 10.A.(B+2).0/24 isolated; A, B random so parallel labs differ in logs.
  const a = 64 + randomBytes(1)[0]! % 128;
  const b = (randomBytes(1)[0]! % 80) * 3;
  const lanNet = `10.${a}.${b}`;
  const wanNet = `10.${a}.${b + 1}`;
  const isoNet = `10.${a}.${b + 2}`;
  const dir = await mkdtemp(join(tmpdir(), `${id}-`));
  const leaseFile = join(dir, 'upnp.leases');
  const children: ChildProcess[] = [];
  const created: string[] = [];
  let gwLog = '';

  const exec = async (n: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> => {
    const p = run('ip', ['netns', 'exec', n, ...argv], { timeout: opts.timeoutMs ?? 15_000 });
    if (opts.input !== undefined) {
      p.child.stdin?.end(opts.input);
    }
    return (await p).stdout;
  };
  const spawnIn = (n: string, argv: string[]): ChildProcess => {
    const child = spawn('ip', ['netns', 'exec', n, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  };

  const teardown = async (): Promise<void> => {
    for (const child of children.reverse()) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(killTimer);
      }
    }
    for (const n of created.reverse()) {
      await ip('netns', 'del', n).catch((err: unknown) => options.log?.(`netns del ${n}: ${String(err)}`));
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    for (const n of [ns.lan, ns.gw, ns.wan, ns.iso]) {
      await ip('netns', 'add', n);
      created.push(n);
      await ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    // veth pairs created straight inside the namespaces: no names in the root namespace.
    await ip('link', 'add', 'eth0', 'netns', ns.lan, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', ns.gw);
    await ip('link', 'add', 'wan0', 'netns', ns.gw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.wan);
    // No dummy driver here: a veth pair with both ends in the isolated namespace.
    await ip('-n', ns.iso, 'link', 'add', 'iso0', 'type', 'veth', 'peer', 'name', 'iso1');
    await ip('-n', ns.lan, 'addr', 'add', `${lanNet}.2/24`, 'dev', 'eth0');
    await ip('-n', ns.gw, 'addr', 'add', `${lanNet}.1/24`, 'dev', 'lan0');
    await ip('-n', ns.gw, 'addr', 'add', `${wanNet}.1/24`, 'dev', 'wan0');
    await ip('-n', ns.wan, 'addr', 'add', `${wanNet}.2/24`, 'dev', 'eth0');
    await ip('-n', ns.wan, 'addr', 'add', `${wanNet}.3/24`, 'dev', 'eth0');
    await ip('-n', ns.iso, 'addr', 'add', `${isoNet}.2/24`, 'dev', 'iso0');
    for (const [n, dev] of [[ns.lan, 'eth0'], [ns.gw, 'lan0'], [ns.gw, 'wan0'], [ns.wan, 'eth0'], [ns.iso, 'iso0'], [ns.iso, 'iso1']] as const) {
      await ip('-n', n, 'link', 'set', dev, 'up');
    }
    // SSDP multicast leaves by eth0 even for sockets not bound to its address (upnpc).
    await ip('-n', ns.lan, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0');
    // Replies from the LAN host to WAN senders go through the gateway.
    await ip('-n', ns.lan, 'route', 'add', `${wanNet}.0/24`, 'via', `${lanNet}.1`);
    await exec(ns.gw, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const nftPath = join(dir, 'skeleton.nft');
    await writeFile(nftPath, buildNftSkeleton({ lanIfName: 'lan0' }));
    await exec(ns.gw, [NFT_BIN, '-f', nftPath]);

    const stund = spawnIn(ns.wan, buildStundArgv({ primaryIp: `${wanNet}.2`, alternateIp: `${wanNet}.3` }));
    stund.stdout?.resume();
    stund.stderr?.resume();
    // stund binds its UDP ports; wait until they show before miniupnpd's STUN probe.
    await waitFor(async () => ((await exec(ns.wan, ['ss', '-lun'])).includes(`${wanNet}.2:3478`) ? true : undefined), { what: 'stund listening' });

    const confPath = join(dir, 'miniupnpd.conf');
    await writeFile(
      confPath,
      buildMiniupnpdConf({
        extIfName: 'wan0',
        lanIfName: 'lan0',
        lanCidr: `${lanNet}.0/24`,
        stunHost: `${wanNet}.2`,
        httpPort: 5555,
        leaseFile,
        uuid: randomUUID(),
        igdV1: options.igdV1,
        friendlyName: `${id} gateway`,
      }),
    );
    const gw = spawnIn(ns.gw, buildMiniupnpdArgv({ confPath, pidPath: join(dir, 'miniupnpd.pid') }));
    const collect = (chunk: Buffer): void => {
      gwLog += chunk.toString();
    };
    gw.stdout?.on('data', collect);
    gw.stderr?.on('data', collect);
    await waitFor(
      () => {
        if (gw.exitCode !== null) throw new Error(`miniupnpd exited with ${gw.exitCode}`);
        return /Port forwarding is now enabled/.test(gwLog) && /HTTP listening on port/.test(gwLog) ? true : undefined;
      },
      { what: 'miniupnpd ready (STUN says forwarding is possible, HTTP listening)' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\nminiupnpd log:\n${gwLog}`);
    });
  } catch (err) {
    await teardown();
    throw err;
  }

  return {
    id,
    ns,
    lanIp: `${lanNet}.2`,
    extIp: `${wanNet}.1`,
    wanIp: `${wanNet}.2`,
    dir,
    leaseFile,
    igdV1: options.igdV1,
    async leases() {
      // miniupnpd deletes the file when no mapping is left (deps.md gotcha 5).
      const text = await readFile(leaseFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      return parseLeaseFile(text);
    },
    nftRules: () => exec(ns.gw, [NFT_BIN, 'list', 'table', 'inet', 'filter']),
    gatewayLog: () => gwLog,
    exec,
    spawnIn,
    teardown,
  };
}
