#!/usr/bin/env bash
# npm run up [-- <stack> [pulumi up options…]]: the main job, with what it needs installed first.
#   npm run up                 no stack named: no cloud account needed. Boots the local Debian 12
#                              sandbox host (root; installs systemd-nspawn, Pebble… when missing) and
#                              deploys the sample project onto it with the same program.
#   npm run up -- dev          `pulumi up` on the dev stack (scripts/pulumi.sh: local file backend and
#                              passphrase secrets unless PULUMI_BACKEND_URL says otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/node-deps.sh
if [ "$#" -eq 0 ]; then
  bash scripts/test-deps.sh
  exec npx --no-install ts-node --transpile-only sandbox/cli.ts up
fi
stack=$1
shift
exec bash scripts/pulumi.sh "$stack" up "$@"
