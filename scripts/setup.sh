#!/usr/bin/env bash
# Installs what resilnet needs on Debian 12 and builds it. Idempotent: a second
# run does nothing but check. Run as root (apt and network namespaces need it).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# systemd provides systemd-analyze and systemd-notify (the unit-file tests run the first, the
# daemon sends its readiness through the second); python3 listens as a stand-in for systemd's
# notify socket in the readiness tests (Node has no unix datagram sockets); chromium is the
# headless browser the registry status-page test drives.
APT_PACKAGES=(openvpn babeld miniupnpd miniupnpc nftables iproute2 stun-server iputils-ping fping openssl systemd python3 chromium)
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get and network namespaces need it). Try: sudo $0"

# --- system packages: apt-get update only once, and only if something is missing
missing=()
for p in "${APT_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get here. Install them by hand."
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "system packages present"
fi

# --- Node.js >= 20.19 (Debian 12's own nodejs is 18, so we do not install it)
command -v node >/dev/null || die "node not found. Install Node.js >= ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR} (e.g. from nodesource), then re-run."
read -r major minor < <(node -p 'process.versions.node.split(".").slice(0,2).join(" ")')
if [ "$major" -lt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -lt "$NODE_MIN_MINOR" ]; }; then
  die "node $(node --version) is too old: need >= ${NODE_MIN_MAJOR}.${NODE_MIN_MINOR}."
fi
command -v npm >/dev/null || die "npm not found. Install npm (it ships with Node.js), then re-run."

cd "$REPO"

# --- node_modules: npm ci when missing or older than the lock file
native="node_modules/better-sqlite3/build/Release/better_sqlite3.node"
stamp="node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ ! -f "$native" ] || [ package-lock.json -nt "$stamp" ]; then
  say "npm ci (better-sqlite3 compiles from source: about 90 s)"
  # Prebuilt binary downloads fail here; build against the local Node headers.
  export npm_config_nodedir="${npm_config_nodedir:-/usr}"
  # node-gyp runs make with one job unless told: sqlite3.c and the binding compile at once.
  export JOBS="${JOBS:-max}"
  npm ci --no-audit --no-fund --loglevel=error >&2
else
  say "node_modules up to date"
fi

# --- build dist/ when any source is newer than the last build
build_stamp="dist/.build-stamp"
if [ ! -f "$build_stamp" ] || [ -n "$(find cli config pki wire registry daemon lab tsconfig.json package.json \
     -newer "$build_stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit 2>/dev/null)" ]; then
  say "npm run build"
  npm run --silent build >&2
  touch "$build_stamp"
else
  say "build up to date"
fi
say "ready"
