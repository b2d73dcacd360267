#!/usr/bin/env bash
# npm run restore -- <stack> [BACKUP] [--yes]: list a site's backups, or restore one.
#   npm run restore -- prod                 lists prod's backups (name, bytes, where)
#   npm run restore -- prod NAME --yes      restores NAME: the site's programs stop, the database and
#                                           the media are replaced by the backup's, the programs start
#   npm run restore [-- local [NAME --yes]] the local sandbox (npm run up without a stack)
# It reaches the host with the stack's outputs (sshCommand, restoreCommand) and its sshPrivateKey
# (and sshHostKey, when set) from the stack's config, and runs the restore command installed there
# (database: host). Without --yes nothing is restored. Backend and secrets as in scripts/pulumi.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  echo "usage: npm run restore -- <stack> [BACKUP --yes]   (stack local, or none: the sandbox)" >&2
  exit 64
}
stack=${1:-local}
[ "$#" -eq 0 ] || shift
name=""
yes=""
for arg in "$@"; do
  case "$arg" in
    --yes) yes=--yes ;;
    -*) usage ;;
    *) [ -z "$name" ] || usage; name=$arg ;;
  esac
done
if [ -n "$name" ] && ! [[ "$name" =~ ^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}-[a-z][a-z-]{0,30}$ ]]; then
  echo "$name is not a backup name (npm run restore -- $stack lists them)" >&2
  exit 64
fi
if [ -n "$name" ] && [ -z "$yes" ]; then
  echo "refusing to restore $name without --yes: a restore replaces the site's database and media (npm run restore -- $stack $name --yes)" >&2
  exit 64
fi
if [ "$stack" = "local" ]; then
  bash scripts/test-deps.sh
  exec npx --no-install ts-node --transpile-only sandbox/cli.ts restore ${name:+"$name"} ${yes:+"$yes"}
fi
# DJANGO_DEPLOY_PULUMI: another Pulumi CLI (tests give a stub); default the npm package's.
read -r -a pulumi <<<"${DJANGO_DEPLOY_PULUMI:-npx --no-install pulumi}"
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
  export PULUMI_BACKEND_URL="file://$PWD/.pulumi"
fi
restore=$("${pulumi[@]}" stack output restoreCommand --stack "$stack")
if ! [[ "$restore" =~ ^/usr/local/sbin/[a-z0-9-]+-restore$ ]]; then
  echo "stack $stack has no restore command (it is installed with database: host; restoreCommand is '$restore')" >&2
  exit 1
fi
read -r -a ssh_command <<<"$("${pulumi[@]}" stack output sshCommand --stack "$stack")"
[ "${ssh_command[0]:-}" = ssh ] || { echo "stack $stack has no sshCommand output" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(umask 077 && "${pulumi[@]}" config get sshPrivateKey --stack "$stack" >"$work/key")
host_key=$("${pulumi[@]}" config get sshHostKey --stack "$stack" 2>/dev/null || true)
address=${ssh_command[-1]#*@}
if [ -n "$host_key" ]; then
  printf '%s %s\n' "$address" "$host_key" >"$work/known_hosts"
  check=(-o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$work/known_hosts")
else
  echo "(the stack sets no sshHostKey: the host's key is accepted as first seen)" >&2
  check=(-o StrictHostKeyChecking=accept-new -o "UserKnownHostsFile=$work/known_hosts")
fi
run=("${ssh_command[@]:1}")
if [ -z "$name" ]; then
  exec ssh -i "$work/key" -o IdentitiesOnly=yes -o BatchMode=yes "${check[@]}" "${run[@]}" sudo -n "$restore" --list
fi
ssh -i "$work/key" -o IdentitiesOnly=yes -o BatchMode=yes "${check[@]}" "${run[@]}" sudo -n "$restore" "$name" --yes
