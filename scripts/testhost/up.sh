#!/usr/bin/env bash
# Boot a fresh local test host: a Debian 12 container (systemd-nspawn -b, systemd as PID 1) in its
# own network namespace, reachable from this machine at 10.200.INDEX.2 (this side: 10.200.INDEX.1),
# with internet access through NAT, user `admin`, key-only SSH, passwordless sudo. Like a new EC2
# instance from Debian's AMI, minus cloud-init and instance metadata.
#
# Usage: scripts/testhost/up.sh INDEX NAME [OWNER_PID]
#   INDEX 1..254 picks the subnet 10.200.INDEX.0/24; NAME (1-12 chars a-z0-9-) names the machine,
#   its hostname and the host-side interface ve-NAME. Two hosts side by side need different both.
#   OWNER_PID: when that process ends without calling down.sh (a killed test run), watchdog.sh
#   tears the host down.
# On success prints the host's state as JSON on stdout (see write_state below); logs go to stderr.
# Stop and delete it with down.sh NAME; restart.sh NAME reboots it; power.sh NAME off|on stops/starts it.
#
# Needs root and the Debian packages systemd-container, nftables, zstd, openssh-client, iproute2,
# util-linux, procps (plus debootstrap for the first build of the root filesystem).
set -euo pipefail
TH_PROG=up
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

[ $# -eq 2 ] || [ $# -eq 3 ] || th_die "usage: $0 INDEX NAME [OWNER_PID]"
INDEX="$1"
NAME="$2"
OWNER_PID="${3:-}"
th_check_index "$INDEX"
th_check_name "$NAME"
th_require_root
for tool in systemd-nspawn nft zstd ssh ssh-keygen ip flock setsid; do
  command -v "$tool" >/dev/null || th_die "missing '$tool' (apt-get install -y --no-install-recommends systemd-container nftables zstd openssh-client iproute2)"
done

th_paths "$NAME"
GW="10.200.$INDEX.1"
IP="10.200.$INDEX.2"
started=$SECONDS

# A run dir left by a crashed run of the same name: clean it up (only what it recorded).
# A host of that name that is still running belongs to someone: refuse.
if [ -e "$RUN" ]; then
  if [ -r "$RUN/nspawn.pid" ] && th_owned_pid "$(cat "$RUN/nspawn.pid")" "$ROOTFS"; then
    th_die "host '$NAME' is already running: stop it first (scripts/testhost/down.sh $NAME)"
  fi
  th_log "cleaning up a previous run of '$NAME'"
  "$TH_SCRIPT_DIR/down.sh" "$NAME"
fi
# The subnet must be free (another live host, or anything else on this machine using it).
if ip -4 -o addr show | grep -qF " $GW/"; then
  th_die "$GW is already configured on this machine: index $INDEX is in use"
fi

TARBALL="$("$TH_SCRIPT_DIR/build-rootfs.sh")"

mkdir -p "$RUN/pids"
on_error() {
  th_log "start of '$NAME' failed: tearing it down"
  mkdir -p "$TH_CACHE_DIR/logs"
  cp -f "$RUN/nspawn.log" "$TH_CACHE_DIR/logs/$NAME.failed.log" 2>/dev/null && th_log "console log kept in $TH_CACHE_DIR/logs/$NAME.failed.log"
  "$TH_SCRIPT_DIR/down.sh" "$NAME" || true
}
# Any failure from here on (set -e or th_die) tears the half-started host down.
trap '[ $? -eq 0 ] || on_error' EXIT

# State first, so down.sh can clean up even if the start fails half way.
printf 'NAME=%s\nINDEX=%s\nIP=%s\nGATEWAY=%s\n' "$NAME" "$INDEX" "$IP" "$GW" >"$RUN/state.env"

# --- Root filesystem -------------------------------------------------------------------------
mkdir -p "$ROOTFS"
# In memory by default: restoring ~350 MB of small files to this machine's disk takes 3-15 s and
# slows apt inside; tmpfs takes about 1.5 s. TESTHOST_TMPFS_SIZE=0 puts the host on disk instead.
TMPFS_SIZE="${TESTHOST_TMPFS_SIZE:-8G}"
if [ "$TMPFS_SIZE" != 0 ]; then
  mount -t tmpfs -o "mode=0755,size=$TMPFS_SIZE" "testhost-$NAME" "$ROOTFS"
fi
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$ROOTFS" -I zstd -xpf "$TARBALL"

# --- Identity: machine-id, hostname, SSH keys -------------------------------------------------
tr -d '-' </proc/sys/kernel/random/uuid >"$ROOTFS/etc/machine-id"
printf '%s\n' "$NAME" >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$NAME" >"$ROOTFS/etc/hosts"

ssh-keygen -q -t ed25519 -N '' -C "admin@testhost-$NAME" -f "$RUN/id_ed25519"
admin_ids="$(awk -F: '$1=="admin"{print $3":"$4}' "$ROOTFS/etc/passwd")"
[ -n "$admin_ids" ] || th_die "no user admin in the root filesystem"
install -m 0600 "$RUN/id_ed25519.pub" "$ROOTFS/home/admin/.ssh/authorized_keys"
chown "$admin_ids" "$ROOTFS/home/admin/.ssh/authorized_keys"
# Fresh host keys (a restored tarball would otherwise give every host the same ones).
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
ssh-keygen -A -f "$ROOTFS" >/dev/null
HOST_KEY="$(cut -d' ' -f1,2 "$ROOTFS/etc/ssh/ssh_host_ed25519_key.pub")"
printf '%s %s\n' "$IP" "$HOST_KEY" >"$RUN/known_hosts"

# --- apt and DNS as on this machine ------------------------------------------------------------
# Copied at every start (not cached), so the container reaches the same mirror as this machine.
for f in /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/apt.conf.d/* /etc/apt/trusted.gpg.d/* /etc/apt/keyrings/*; do
  [ -f "$f" ] || continue
  install -D -m 0644 "$f" "$ROOTFS$f"
done
cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"

# --- Network ---------------------------------------------------------------------------------
cat >"$ROOTFS/etc/systemd/network/10-host0.network" <<EOF
[Match]
Name=host0

[Network]
Address=$IP/24
Gateway=$GW
EOF

# One nft table per host, deleted by down.sh:
# - NAT to the outside world for the host's own traffic (not for traffic to other test hosts,
#   which keeps its source address, as between instances in one VPC);
# - while the host is powered off or rebooting, ve-NAME and its route are gone, so packets for its
#   subnet would follow the default route out of this machine: they are dropped here instead, as a
#   stopped instance's packets are (timeouts, not leaks). Only traffic to this host's subnet is
#   concerned; `lo` carries this machine's own address 10.200.INDEX.1.
nft -f - <<EOF
table ip djdeploy_testhost_$INDEX {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.200.$INDEX.0/24 oifname != "ve-*" masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ip daddr 10.200.$INDEX.0/24 oifname != "ve-$NAME" counter drop
  }
  chain output {
    type filter hook output priority filter; policy accept;
    ip daddr 10.200.$INDEX.0/24 oifname != { "ve-$NAME", "lo" } counter drop
  }
}
EOF
printf 'NFT_TABLE=djdeploy_testhost_%s\n' "$INDEX" >>"$RUN/state.env"

# ip_forward is shared by all hosts on this machine: the first one that turns it on records the
# old value, the last one down (down.sh, any clone) puts it back.
mkdir -p "$TH_NET_STATE"
(
  flock 8
  mkdir -p "$TH_NET_STATE/hosts"
  : >"$TH_NET_STATE/hosts/$INDEX"
  if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
    [ -e "$TH_NET_STATE/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward >"$TH_NET_STATE/ip_forward.orig"
    printf '1\n' >/proc/sys/net/ipv4/ip_forward
    th_net_log "$NAME (index $INDEX) turned ip_forward on (it was $(cat "$TH_NET_STATE/ip_forward.orig"))"
  fi
) 8>"$TH_NET_STATE/net.lock"

# --- Boot ------------------------------------------------------------------------------------
th_boot "$NAME" "$INDEX"
PID="$(cat "$RUN/nspawn.pid")"

if [ -n "$OWNER_PID" ]; then
  mkdir -p "$TH_CACHE_DIR/logs"
  setsid "$TH_SCRIPT_DIR/watchdog.sh" "$NAME" "$OWNER_PID" >"$TH_CACHE_DIR/logs/$NAME.watchdog.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$RUN/watchdog.pid"
fi

# --- State for the TS wrapper and down.sh ------------------------------------------------------
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
  printf '{\n'
  printf '  "name": %s,\n' "$(json_str "$NAME")"
  printf '  "index": %s,\n' "$INDEX"
  printf '  "ip": %s,\n' "$(json_str "$IP")"
  printf '  "gateway": %s,\n' "$(json_str "$GW")"
  printf '  "user": "admin",\n'
  printf '  "pid": %s,\n' "$PID"
  printf '  "runDir": %s,\n' "$(json_str "$RUN")"
  printf '  "rootfs": %s,\n' "$(json_str "$ROOTFS")"
  printf '  "privateKeyPath": %s,\n' "$(json_str "$RUN/id_ed25519")"
  printf '  "publicKeyPath": %s,\n' "$(json_str "$RUN/id_ed25519.pub")"
  printf '  "knownHostsPath": %s,\n' "$(json_str "$RUN/known_hosts")"
  printf '  "hostKey": %s,\n' "$(json_str "$HOST_KEY")"
  printf '  "logPath": %s,\n' "$(json_str "$RUN/nspawn.log")"
  printf '  "interface": %s\n' "$(json_str "ve-$NAME")"
  printf '}\n'
} >"$RUN/state.json.tmp"
mv "$RUN/state.json.tmp" "$RUN/state.json"

trap - EXIT
th_log "$NAME ready in $((SECONDS - started)) s: ssh -i $RUN/id_ed25519 admin@$IP"
cat "$RUN/state.json"
