// `resilnet netcheck`: probes the NAT in front of this host now (STUN from one
// socket to the configured servers) and explains the class in words, with the
// registry's and UPnP's view taken from the running daemon when it answers.
import { networkInterfaces } from 'node:os';
import type { Command } from 'commander';
import { loadNodeConfig } from '../../config/node-config.js';
import { localUnderlayAddresses } from '../../daemon/addresses/addresses.js';
import { ControlClient } from '../../daemon/control/client.js';
import type { StatusResponse } from '../../daemon/control/protocol.js';
import { renderNetcheck, runNetcheck } from '../../daemon/nat/netcheck.js';
import { openStunSocket, parseStunServer } from '../../daemon/nat/stun-client.js';
import { writeJson, type CliIo } from '../io.js';
import { configPath, example, notAnsweringReason, resolveControlSocket, withTarget, type TargetOptions } from './target.js';

/** Overlay addresses are never underlay; without the daemon's prefix, only the IPv6 ULA range is left out. */
const FALLBACK_OVERLAY = 'fc00::/7';

export function registerNetcheckCommand(program: Command, io: CliIo): void {
  example(
    withTarget(
      program
        .command('netcheck')
        .description('probe the NAT in front of this node now (STUN) and say which class it is: public, upnp, eim, apdm or unknown, with the evidence')
        .option('--stun <host:port...>', 'STUN servers to ask instead of [nat] stun in resilnet.toml'),
    ),
    'resilnet netcheck',
    'resilnet netcheck --stun 192.0.2.1:3478 --json',
  ).action(async (opts: TargetOptions & { json?: boolean; stun?: string[] }) => {
    const servers = (opts.stun ?? configuredStun(opts)).map(parseStunServer);
    let status: StatusResponse | undefined;
    try {
      status = await new ControlClient({ socketPath: resolveControlSocket(opts) }).status();
    } catch (err) {
      const reason = notAnsweringReason(err);
      if (reason === undefined) throw err;
      io.stderr.write(`the daemon does not answer (${reason}): no registry or UPnP evidence, STUN only\n`);
    }
    const local = localUnderlayAddresses(networkInterfaces(), status?.networkPrefix ?? FALLBACK_OVERLAY).map((a) => a.ip);
    const report = await runNetcheck(servers, { localAddresses: local, seenAddress: status?.underlay.seenAddress ?? null, upnp: status?.underlay.upnp ?? null }, () => openStunSocket());
    if (opts.json) writeJson(io, report);
    else io.stdout.write(renderNetcheck(report));
  });
}

function configuredStun(opts: TargetOptions): readonly string[] {
  const { path, explicit } = configPath(opts);
  try {
    return loadNodeConfig(path).nat.stun;
  } catch (err) {
    if (explicit) throw err;
    return [];
  }
}
