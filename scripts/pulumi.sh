#!/usr/bin/env bash
# Runs the Pulumi CLI on a stack with no account needed: a local file backend (./.pulumi) and the
# passphrase secrets provider, unless PULUMI_BACKEND_URL points elsewhere (s3://…, Pulumi Cloud).
# Usage: scripts/pulumi.sh <stack> <pulumi command…>     e.g. scripts/pulumi.sh dev up
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -lt 2 ]; then
  echo "usage: $0 <stack> <pulumi command…>   (e.g. $0 dev preview --diff)" >&2
  exit 64
fi
stack=$1
shift
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  mkdir -p .pulumi
  export PULUMI_BACKEND_URL="file://$PWD/.pulumi"
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [[ "$PULUMI_BACKEND_URL" != https://* ]]; then
  echo "Set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): it encrypts this stack's secrets." >&2
  exit 64
fi
# `npx pulumi` runs the npm pulumi package, which installs the real CLI on first use.
if ! npx --no-install pulumi stack select "$stack" >/dev/null 2>&1; then
  npx --no-install pulumi stack init "$stack" --secrets-provider passphrase
fi
exec npx --no-install pulumi "$@" --stack "$stack"
