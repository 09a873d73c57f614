#!/usr/bin/env bash
# The demo: installs what is missing, builds, brings up a lab network (registry,
# nodes, a NAT router) in network namespaces, shows its status live, and tears
# it down at Ctrl-C or after --duration seconds.
#   bash scripts/demo.sh [--duration SEC] [--nodes N] [--nat K] [--hello SEC]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

duration=0
up_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="${2:?--duration needs seconds}"; shift 2 ;;
    --nodes|--nat|--hello) up_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

"$REPO/scripts/setup.sh"
resilnet() { node "$REPO/bin/resilnet" "$@"; }

name="demo$(printf '%04x' $((RANDOM % 65536)))"
down() {
  trap - INT TERM EXIT
  echo
  echo "demo: tearing down lab $name"
  resilnet lab down --name "$name" || true
}
trap down INT TERM EXIT

resilnet lab up --name "$name" "${up_args[@]}"
echo
echo "demo: lab $name is up. Try, in another shell (as root):"
echo "  node $REPO/bin/resilnet lab status --name $name"
n2="$(node -e 'try{const m=require(process.argv[1]);console.log(m.nodes.find(n=>n.name==="n2").overlay)}catch{console.log("<overlay address of n2>")}' "${RESILNET_LAB_DIR:-/tmp/resilnet-lab}/$name/manifest.json")"
echo "  node $REPO/bin/resilnet lab exec --name $name n1 -- ping -6 -c3 $n2"
[ "$duration" -gt 0 ] && echo "demo: tearing down in ${duration} s" || echo "demo: Ctrl-C tears it down"

start=$SECONDS
while [ "$duration" -eq 0 ] || [ $((SECONDS - start)) -lt "$duration" ]; do
  out="$(resilnet lab status --name "$name" 2>&1 || true)"
  [ -t 1 ] && printf '\033[H\033[2J'
  printf 'lab %s, up %d s\n%s\n' "$name" $((SECONDS - start)) "$out"
  # refresh interval of a live display, not a wait for a condition
  sleep 3 &
  wait $! || true
done
