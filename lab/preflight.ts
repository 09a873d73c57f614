// Checks before a lab is built: root, and the tools it drives (with the Debian
// package that provides each, so the error says what to install).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabError } from './errors.js';

export const LAB_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  nft: 'nftables',
  openvpn: 'openvpn',
  babeld: 'babeld',
  miniupnpd: 'miniupnpd',
  upnpc: 'miniupnpc',
  stund: 'stun-server',
  ping: 'iputils-ping',
  fping: 'fping',
  openssl: 'openssl',
};

// System folders first: under npm/ava, PATH starts with node_modules/.bin, which
// holds an unrelated `nft` (from @vercel/nft).
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findTool(name: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...SYSTEM_DIRS, ...pathEnv.split(delimiter).filter(Boolean)]) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

export function missingTools(find: (name: string) => string | undefined = findTool): Array<{ tool: string; pkg: string }> {
  return Object.entries(LAB_TOOLS)
    .filter(([tool]) => find(tool) === undefined)
    .map(([tool, pkg]) => ({ tool, pkg }));
}

export function assertLabPrerequisites(uid = process.getuid?.() ?? -1, find: (name: string) => string | undefined = findTool): void {
  if (uid !== 0) {
    throw new LabError('RN_LAB_NOT_ROOT', 'the lab needs root: it creates network namespaces (running as uid ' + uid + '). Run it with sudo, e.g.: sudo resilnet lab up');
  }
  const missing = missingTools(find);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))].join(' ');
    throw new LabError(
      'RN_LAB_TOOL_MISSING',
      `the lab needs tools that are not installed: ${missing.map((m) => m.tool).join(', ')}. Install them with: apt-get install --no-install-recommends ${pkgs} (or run scripts/setup.sh)`,
      { details: { missing } },
    );
  }
}

const resolved = new Map<string, string>();

/** Absolute path of a bare command name (system folders first); paths pass through. */
export function toolPath(name: string): string {
  if (name.includes('/')) return name;
  let p = resolved.get(name);
  if (!p) {
    p = findTool(name) ?? name;
    resolved.set(name, p);
  }
  return p;
}

/** argv with the command, and the command after `ip netns exec NS`, made absolute. */
export function resolveArgv(argv: string[]): string[] {
  const out = [...argv];
  if (out[0]) out[0] = toolPath(out[0]);
  if (argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' && out[4]) out[4] = toolPath(out[4]);
  return out;
}
