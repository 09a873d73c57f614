// The --up script openvpn runs once the tun exists (args: dev tun_mtu …). It gives
// the tun our deterministic link-local address ($LL, from --setenv) and no kernel
// generated one, then sets it up with the MTU. The compiled dist/ carries no .sh
// files, so the daemon writes this text into its run dir at start.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const UP_SCRIPT_NAME = 'openvpn-up.sh';

export const UP_SCRIPT = `#!/bin/sh
# Written by resilnet; openvpn --up hook: $1 = tun device, $2 = tun MTU.
# One process (ip): it runs on the way to every new link, often on a busy host.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
dev="$1"
mtu="$2"
if [ -n "$LL" ]; then
  # addr_gen_mode 1 (before the link is up): no kernel-made link-local, babel sees only ours.
  { echo 1 > "/proc/sys/net/ipv6/conf/$dev/addr_gen_mode"; } 2>/dev/null || true
  exec ip -batch - <<EOF
address replace $LL/64 dev $dev
link set dev $dev up mtu $mtu
EOF
fi
exec ip link set dev "$dev" up mtu "$mtu"
`;

/** Writes the up script into `runDir` (mode 0700) and returns its absolute path. */
export function writeUpScript(runDir: string): string {
  mkdirSync(runDir, { recursive: true });
  const path = join(runDir, UP_SCRIPT_NAME);
  writeFileSync(path, UP_SCRIPT, { mode: 0o700 });
  chmodSync(path, 0o700);
  return path;
}
