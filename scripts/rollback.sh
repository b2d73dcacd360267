#!/usr/bin/env bash
# npm run rollback -- <stack>: deploy the release that was live before the current one.
# It reads the stack's previousCommit output, sets repoRef to that commit (so the stack's config says
# what is deployed: Pulumi's config and state stay truthful) and runs `pulumi up`. The release is
# still on the host (keepReleases), so the up only switches to it, health check included. To roll
# forward again, set repoRef back to the ref you want and run up.
# The backend and secrets provider are the same as scripts/pulumi.sh's (a local file backend and
# PULUMI_CONFIG_PASSPHRASE unless PULUMI_BACKEND_URL says otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -ne 1 ]; then
  echo "usage: npm run rollback -- <stack>" >&2
  exit 64
fi
stack=$1
# DJANGO_DEPLOY_PULUMI: another Pulumi CLI (tests give a stub); default the npm package's.
read -r -a pulumi <<<"${DJANGO_DEPLOY_PULUMI:-npx --no-install pulumi}"
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  export PULUMI_BACKEND_URL="file://$PWD/.pulumi"
fi
previous=$("${pulumi[@]}" stack output previousCommit --stack "$stack")
if ! [[ "$previous" =~ ^[0-9a-f]{40}$ ]]; then
  echo "stack $stack has no previous release to roll back to (its previousCommit output is '$previous')" >&2
  exit 1
fi
echo "rolling $stack back to $previous"
"${pulumi[@]}" config set django-deploy:repoRef "$previous" --stack "$stack"
exec "${pulumi[@]}" up --yes --stack "$stack"
