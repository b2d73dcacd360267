#!/usr/bin/env bash
# Installs the npm dependencies (`npm ci`) when node_modules is missing or was installed from another
# package-lock.json, so that every npm script works on a fresh clone without a separate install step.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.django-deploy-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
npm ci --no-audit --no-fund >&2
printf '%s\n' "$want" >"$stamp"
