#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing (runs before `npm test`).
#   nginx-core, supervisor, shellcheck  rendered scripts and configs are checked with the real tools
#   debootstrap, systemd-container, nftables, zstd, iproute2  the local Debian test host (systemd-nspawn)
#   openssh-client, openssh-server      SSH to the test host; a private sshd for the runner's own tests
#   git, pebble, openssl, curl          sample repositories over git://, a local ACME server, checks
#   wrk                                 benchmarks
set -euo pipefail
packages=(shellcheck nginx-core supervisor debootstrap systemd-container nftables zstd iproute2
  openssh-client openssh-server git pebble openssl curl ca-certificates wrk python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]} — run as root (or: sudo $0)." >&2
  exit 1
fi
# Installing nginx or sshd here must not start them on this machine: the tests start their own.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
