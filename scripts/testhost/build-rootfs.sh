#!/usr/bin/env bash
# Build (once per machine) the root filesystem of the local test host: Debian 12 "bookworm" minbase,
# made to look like Debian's official EC2 image (user `admin` with passwordless sudo, key-only SSH).
#
# Usage: scripts/testhost/build-rootfs.sh [--force]
# Prints the path of the cached tarball on stdout. Everything else goes to stderr.
#
# The tarball lives in <repo>/.cache/testhost/ (or $TESTHOST_CACHE_DIR) and its name carries a hash
# of THIS file: editing the recipe below makes the next call rebuild it; older tarballs are deleted.
# Only the freshly bootstrapped OS is cached, never a provisioned state. Per-host things (SSH keys,
# host keys, network, machine-id, the host's apt configuration, resolv.conf) are written by up.sh.
#
# Needs root and the Debian packages debootstrap, zstd, util-linux (flock), coreutils.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
SCRIPT_DIR="$(dirname "$SELF")"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
CACHE_DIR="${TESTHOST_CACHE_DIR:-$REPO_ROOT/.cache/testhost}"
SUITE=bookworm
PACKAGES=systemd-sysv,dbus,openssh-server,sudo,ca-certificates,curl,iproute2,python3,locales

log() { printf 'build-rootfs: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and the test containers need it)"

RECIPE_HASH="$(sha256sum "$SELF" | cut -c1-16)"
TARBALL="$CACHE_DIR/rootfs-$SUITE-$RECIPE_HASH.tar.zst"

mkdir -p "$CACHE_DIR"
# Keep the whole cache out of git without touching the repository's .gitignore.
[ -e "$REPO_ROOT/.cache/.gitignore" ] || { mkdir -p "$REPO_ROOT/.cache" && printf '*\n' >"$REPO_ROOT/.cache/.gitignore"; }

# One builder at a time (parallel test workers all call this through up.sh).
exec 9>"$CACHE_DIR/build.lock"
flock 9

if [ -s "$TARBALL" ] && [ "${1:-}" != "--force" ]; then
  printf '%s\n' "$TARBALL"
  exit 0
fi

for tool in debootstrap zstd tar chroot; do
  command -v "$tool" >/dev/null || die "missing '$tool' (apt-get install -y --no-install-recommends debootstrap zstd)"
done

# The mirror this machine already uses (deb822 sources first, then the one-line format).
mirror="${TESTHOST_MIRROR:-}"
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror="$(awk -v s="$SUITE" '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i==s){print u; exit}}' \
    /etc/apt/sources.list.d/debian.sources)"
fi
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk -v s="$SUITE" '$1=="deb" { for(i=2;i<=NF;i++) if($i ~ /^[a-z]+:\/\//){ if($(i+1)==s){print $i; exit} break } }')"
fi
[ -n "$mirror" ] || die "no Debian mirror for '$SUITE' found in the host's apt sources (set TESTHOST_MIRROR)"

work="$(mktemp -d "$CACHE_DIR/build.XXXXXX")"
cleanup() {
  # debootstrap mounts /proc and /sys inside the target and may leave them behind on failure.
  local m
  findmnt -rn -o TARGET | awk -v w="$work/" 'index($0, w) == 1' | sort -r | while read -r m; do
    umount -l "$m" || true
  done
  if findmnt -rn -o TARGET | awk -v w="$work/" 'index($0, w) == 1 {found=1} END {exit !found}'; then
    log "mounts left under $work; not deleting it"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

root="$work/root"
started=$SECONDS
log "debootstrap $SUITE (minbase) into $root"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 40 "$work/debootstrap.log" >&2
  die "debootstrap failed"
}

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

# --- Look like Debian's EC2 image --------------------------------------------------------------
# The default user of Debian's cloud images is `admin`, in group sudo, passwordless sudo, no password.
in_root useradd --create-home --shell /bin/bash --groups adm,sudo admin
in_root passwd --lock admin >/dev/null
in_root passwd --lock root >/dev/null
install -m 0440 /dev/null "$root/etc/sudoers.d/90-cloud-init-users"
printf '# Created like cloud-init does on Debian cloud images\nadmin ALL=(ALL) NOPASSWD:ALL\n' \
  >"$root/etc/sudoers.d/90-cloud-init-users"
install -d -m 0700 "$root/home/admin/.ssh"
in_root chown admin:admin /home/admin/.ssh

# Key-only SSH, no root login. Debian's sshd_config includes sshd_config.d/*.conf first: first value wins.
cat >"$root/etc/ssh/sshd_config.d/50-testhost.conf" <<'EOF'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PubkeyAuthentication yes
EOF
# Host keys are per host: up.sh generates fresh ones for every container.
rm -f "$root"/etc/ssh/ssh_host_*

# Locale as on the cloud images (C.UTF-8), en_US.UTF-8 generated for software that asks for it.
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$root/etc/locale.gen"
in_root locale-gen >/dev/null
printf 'LANG=C.UTF-8\n' >"$root/etc/default/locale"

# Static network from /etc/systemd/network/10-host0.network (written by up.sh).
in_root systemctl enable systemd-networkd.service >/dev/null 2>&1
# Nothing in a container waits for "online"; this unit only delays boot.
in_root systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1

# Per-host identity is written by up.sh.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
printf 'localhost\n' >"$root/etc/hostname"
rm -f "$root/etc/resolv.conf"
: >"$root/etc/resolv.conf"

# Drop downloaded packages and lists: the cache must stay small and apt inside must `update` first,
# like on a fresh EC2 instance. The mirror configuration is copied from the host by up.sh.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
install -d -m 0755 "$root/var/lib/apt/lists/partial"
rm -f "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*
rm -rf "$root"/var/log/*.log "$root"/var/log/apt/* "$root"/tmp/* "$root"/var/tmp/*

log "packing $TARBALL"
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$root" -I 'zstd -T0 -3' -cpf "$TARBALL.tmp" .
mv -f "$TARBALL.tmp" "$TARBALL"
# Older recipes' tarballs are dead weight.
find "$CACHE_DIR" -maxdepth 1 -name 'rootfs-*.tar.zst' ! -name "$(basename "$TARBALL")" -delete
log "done in $((SECONDS - started)) s ($(du -h "$TARBALL" | cut -f1))"
printf '%s\n' "$TARBALL"
