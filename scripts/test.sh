#!/usr/bin/env bash
# Installs what is missing, builds, then runs the whole test suite (ava).
# Extra arguments go to ava, e.g. `scripts/test.sh --tap` or a file list.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$REPO/scripts/setup.sh"
cd "$REPO"
exec npx ava "$@"
