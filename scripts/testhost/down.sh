#!/usr/bin/env bash
# Stop and delete a local test host started by up.sh, and whatever was recorded for it.
#
# Usage: scripts/testhost/down.sh NAME      (one host)
#        scripts/testhost/down.sh --all     (every host under the run directory, e.g. after a crash)
#
# Idempotent: a host that is not there is a no-op. It signals only processes recorded in the host's
# run directory (nspawn.pid, pids/*.pid) whose command line names that directory; it deletes only
# this host's nft table and interface; it puts net.ipv4.ip_forward back when the last test host on
# this machine (from any clone: no djdeploy_testhost_* nft table left) is down and up.sh changed it.
set -euo pipefail
TH_PROG=down
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

[ $# -eq 1 ] || th_die "usage: $0 NAME|--all"
th_require_root

down_one() {
  local name="$1" f pid INDEX="" NFT_TABLE=""
  th_paths "$name"
  [ -d "$RUN" ] || return 0
  if [ -r "$RUN/state.env" ]; then
    INDEX="$(sed -n 's/^INDEX=//p' "$RUN/state.env")"
    NFT_TABLE="$(sed -n 's/^NFT_TABLE=//p' "$RUN/state.env")"
  fi

  # The watchdog (unless it is the one running this script: it execs down.sh).
  if [ -r "$RUN/watchdog.pid" ]; then
    pid="$(cat "$RUN/watchdog.pid")"
    [ "$pid" = "$$" ] || th_stop_pid "$pid" "/watchdog.sh $name " 3 || true
  fi

  # Helpers started for this host by the TS wrapper (git daemon, Pebble, DNS responder).
  for f in "$RUN"/pids/*.pid; do
    [ -r "$f" ] || continue
    pid="$(cat "$f")"
    th_stop_pid "$pid" "$RUN" 5 || true
    rm -f "$f"
  done

  th_stop_container || th_die "could not stop the container of '$name'"

  # The in-memory root filesystem that up.sh mounted (recognised by its source name).
  if [ "$(findmnt -n -o SOURCE --mountpoint "$ROOTFS" 2>/dev/null || true)" = "testhost-$name" ]; then
    umount "$ROOTFS" || umount -l "$ROOTFS"
  fi

  # systemd-nspawn deletes its veth pair when it exits; be sure.
  if ip link show "ve-$name" >/dev/null 2>&1; then
    ip link del "ve-$name" 2>/dev/null || true
  fi
  if [ -n "$NFT_TABLE" ] && nft list table ip "$NFT_TABLE" >/dev/null 2>&1; then
    nft delete table ip "$NFT_TABLE"
  fi
  # No longer a reason to keep forwarding on (see th_any_host).
  [ -z "$INDEX" ] || rm -f "$TH_NET_STATE/hosts/$INDEX"

  # Never delete through a mount point: the container's mounts live in its own namespace, so
  # anything mounted here means something is wrong.
  if findmnt -rn -o TARGET | awk -v w="$RUN/" 'index($0, w) == 1 {found=1} END {exit !found}'; then
    th_die "something is mounted under $RUN: not deleting it"
  fi
  rm -rf "$RUN"
  th_log "$name${INDEX:+ (10.200.$INDEX.2)} is down"
}

restore_ip_forward() {
  [ -d "$TH_NET_STATE" ] || return 0
  (
    flock 8
    # Any host's nft table, from this clone or another one (even a host still starting), keeps
    # forwarding on: the setting is the machine's, not this cache dir's.
    if [ -r "$TH_NET_STATE/ip_forward.orig" ] && ! th_any_host; then
      cat "$TH_NET_STATE/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward
      rm -f "$TH_NET_STATE/ip_forward.orig"
      th_net_log "no test host left: ip_forward back to $(cat /proc/sys/net/ipv4/ip_forward)"
    fi
  ) 8>"$TH_NET_STATE/net.lock"
}

if [ "$1" = "--all" ]; then
  if [ -d "$TH_RUN_BASE" ]; then
    for d in "$TH_RUN_BASE"/*/; do
      [ -d "$d" ] || continue
      down_one "$(basename "$d")"
    done
  fi
else
  th_check_name "$1"
  down_one "$1"
fi
restore_ip_forward
