// `resilnet register`: enrol this host into a network (flags → registerNode → render).
import type { Command } from 'commander';
import { ResilnetError } from '../../config/errors.js';
import { registerNode, type RegisterResult } from '../../registry/register-node.js';
import { writeJson, type CliIo } from '../io.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535 - 257) {
    throw new ResilnetError('RN_CLI_USAGE', `--port must be a UDP port 1…${65535 - 257} (got "${text}")`);
  }
  return n;
}

export function renderRegister(r: RegisterResult): string {
  return [
    `registered as ${r.prefix} (overlay address ${r.address})`,
    `  certificate serial ${r.serial}, valid until ${r.not_after}`,
    `  CA ${r.ca_fingerprint}${r.fingerprint_checked ? ' (fingerprint checked)' : ''}`,
    `  ${r.key_reused ? 'kept the existing key' : 'new key'} ${r.files.key} (mode ${r.key_mode})`,
    `  wrote ${r.files.ca}, ${r.files.cert}, ${r.files.network_config} (network config version ${r.network_config_version})`,
    r.config_written ? `  wrote ${r.files.config}` : `  kept the existing ${r.files.config} (use --force to rewrite it)`,
    '',
    'Next step: systemctl enable --now resilnet   (or: resilnet daemon --config ' + r.files.config + ')',
    '',
  ].join('\n');
}

export function registerRegisterCommand(program: Command, io: CliIo): void {
  program
    .command('register')
    .description('enrol this host: pin the registry\'s CA, make a key (kept on re-runs) and get a certificate and prefix; writes DIR/resilnet.toml')
    .requiredOption('--registry <url>', 'registry URL, e.g. https://registry.example:8443')
    .requiredOption('--token <token>', 'enrolment token from `resilnet registry token add`')
    .option('--dir <dir>', 'where to write ca.crt, node.crt, node.key, network-config.json and resilnet.toml', '/etc/resilnet')
    .option('--fingerprint <sha256:hex>', 'expected CA fingerprint (printed by `registry init` / `registry status`); strongly recommended')
    .option('--force', 'replace an identity from another network and rewrite resilnet.toml')
    .option('--state-dir <path>', 'node.state_dir in resilnet.toml (default /var/lib/resilnet)')
    .option('--run-dir <path>', 'node.run_dir in resilnet.toml (default /run/resilnet)')
    .option('--port <n>', 'underlay.port in resilnet.toml: UDP peer-protocol port (default 1194)', port)
    .option('--address <ip[:port]>', 'underlay address to announce (repeatable), e.g. a public IP with a forwarded port', collect)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  $ resilnet register --registry https://10.0.0.1:8443 --token 3f9a1c2b.XXXX --fingerprint sha256:ab12…\n  $ resilnet register --registry https://127.0.0.1:8443 --token "$TOKEN" --dir ./node-a --state-dir ./node-a/state --run-dir ./node-a/run --port 1194\n')
    .action(async (o: { registry: string; token: string; dir: string; fingerprint?: string; force?: boolean; stateDir?: string; runDir?: string; port?: number; address?: string[]; json?: boolean }) => {
      const result = await registerNode({
        registryUrl: o.registry, token: o.token, dir: o.dir, fingerprint: o.fingerprint, force: o.force,
        stateDir: o.stateDir, runDir: o.runDir, port: o.port, addresses: o.address, nowMs: Date.now(),
        warn: (line) => io.stderr.write(`${line}\n`),
      });
      if (o.json) writeJson(io, result);
      else io.stdout.write(renderRegister(result));
    });
}
