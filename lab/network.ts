// Brings the lab's underlay to life: runs the topology plan, then starts the
// STUN server on the internet bridge and miniupnpd on every NAT router, and
// waits until each miniupnpd has enabled port forwarding.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRunner } from './exec.js';
import { executePlan } from './exec.js';
import type { LabManifest } from './manifest.js';
import { writeManifest } from './manifest.js';
import { miniupnpdConfig } from './nat.js';
import { spawnInNetns, isRunning } from './procs.js';
import type { ProcessRecord } from './procs.js';
import { planTopology } from './topology.js';
import { waitFor } from './wait.js';
import { STUN_PORT } from './layout.js';

export interface BuildContext {
  manifest: LabManifest;
  dir: string;
  root: string;
  runner: CommandRunner;
  log: (line: string) => void;
}

export function recordProcess(ctx: BuildContext, rec: ProcessRecord): ProcessRecord {
  ctx.manifest.processes.push(rec);
  writeManifest(ctx.manifest, ctx.root);
  return rec;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export async function buildNetwork(ctx: BuildContext): Promise<void> {
  const { manifest } = ctx;
  const layout = manifest.layout;
  const steps = planTopology(layout);
  await executePlan(steps, ctx.runner);
  ctx.log(`network: ${manifest.namespaces.length} namespaces, underlay ${layout.inet.subnet}, ${layout.gateways.length} NAT router(s)`);

  if (layout.gateways.length === 0) return;
  const natDir = join(ctx.dir, 'nat');
  mkdirSync(natDir, { recursive: true });
  const stund = recordProcess(
    ctx,
    spawnInNetns({
      role: 'stund',
      host: 'inet',
      netns: layout.inet.netns,
      argv: ['stund', '-h', layout.inet.bridgeAddress, '-a', layout.inet.stunAlternate, '-p', String(STUN_PORT)],
      log: join(natDir, 'stund.log'),
    }),
  );
  // miniupnpd probes STUN once at start: the server must answer before it starts.
  await waitFor(
    async () => {
      if (!isRunning(stund)) throw new Error(`stund exited: ${readText(stund.log).trim().split('\n').slice(-2).join(' / ')}`);
      const r = await ctx.runner.run(['ip', 'netns', 'exec', layout.inet.netns, 'ss', '-Hlun', `sport = :${STUN_PORT}`]);
      return r.stdout.includes(layout.inet.stunAlternate) || r.stdout.includes(layout.inet.bridgeAddress) ? true : undefined;
    },
    { timeoutMs: 10_000, what: 'the STUN server to listen' },
  );
  if (layout.spec.upnp === false) {
    ctx.log(`nat: stund on ${layout.inet.bridgeAddress}, ${layout.spec.natKind ?? 'eim'} routers without UPnP`);
    return;
  }
  const upnpds: ProcessRecord[] = [];
  for (const gw of layout.gateways) {
    const conf = join(natDir, `${gw.name}-miniupnpd.conf`);
    writeFileSync(conf, miniupnpdConfig(layout, gw, join(natDir, `${gw.name}-upnp.leases`)));
    upnpds.push(
      recordProcess(
        ctx,
        spawnInNetns({
          role: 'miniupnpd',
          host: gw.name,
          netns: gw.netns,
          argv: ['miniupnpd', '-f', conf, '-d', '-P', join(natDir, `${gw.name}-miniupnpd.pid`)],
          log: join(natDir, `${gw.name}-miniupnpd.log`),
        }),
      ),
    );
  }
  await waitFor(
    () => {
      const waiting: string[] = [];
      for (const [i, rec] of upnpds.entries()) {
        const text = readText(rec.log);
        const name = layout.gateways[i]?.name ?? rec.host;
        if (!isRunning(rec)) throw new Error(`miniupnpd on ${name} exited: ${text.trim().split('\n').slice(-2).join(' / ')}`);
        if (!/Port forwarding is now enabled/.test(text) || !/HTTP listening on port/.test(text)) waiting.push(name);
      }
      if (waiting.length > 0) throw new Error(`miniupnpd not ready on ${waiting.join(', ')}`);
      return true;
    },
    { timeoutMs: 15_000, what: 'miniupnpd on the NAT routers' },
  );
  ctx.log(`nat: stund on ${layout.inet.bridgeAddress}, ${layout.spec.natKind ?? 'eim'} routers, miniupnpd ready on ${layout.gateways.map((g) => g.name).join(', ')}`);
}
