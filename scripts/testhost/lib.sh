#!/usr/bin/env bash
# Shared helpers of the test-host scripts (sourced by up.sh, down.sh, restart.sh; not run directly).
#
# Layout of one host, <repo>/.cache/testhost/run/<name>/ (or $TESTHOST_CACHE_DIR/run/<name>):
#   rootfs/                 the container's root, restored from the cached tarball
#   id_ed25519{,.pub}       the key pair authorized for `admin` (fresh for every host)
#   known_hosts             the container's (fresh) ed25519 host key for its IP
#   nspawn.pid nspawn.log   the systemd-nspawn process and its console output
#   init.pid                the container's init (PID and start time)
#   state.env state.json    what the TS wrapper and down.sh read
#   watchdog.pid            watchdog.sh, which runs down.sh if the owner process dies first
#   pids/*.pid              other processes started for this host (git daemon, Pebble, DNS responder);
#                           down.sh ends them, but only if their command line names this directory
# shellcheck shell=bash

TH_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TH_REPO_ROOT="$(cd "$TH_SCRIPT_DIR/../.." && pwd)"
TH_CACHE_DIR="${TESTHOST_CACHE_DIR:-$TH_REPO_ROOT/.cache/testhost}"
TH_RUN_BASE="$TH_CACHE_DIR/run"
# Usually a few seconds; eight hosts booting at once beside the CPU-bound tests on 2 cores once took
# more than 60 s to end the boot (sshd refused logins while /run/nologin was still there).
TH_BOOT_TIMEOUT="${TESTHOST_BOOT_TIMEOUT:-180}"
# net.ipv4.ip_forward is one setting for the whole machine, shared with hosts started from other
# clones or cache dirs: its bookkeeping (the value before the first host, a lock) lives in /run,
# not in this cache dir. /run is cleared at boot, like the setting itself.
# shellcheck disable=SC2034 # used by up.sh and down.sh
TH_NET_STATE="/run/djdeploy-testhost"

th_log() { printf '%s: %s\n' "${TH_PROG:-testhost}" "$*" >&2; }
th_die() { th_log "ERROR: $*"; exit 1; }

th_require_root() {
  [ "$(id -u)" -eq 0 ] || th_die "must run as root (systemd-nspawn, veth and nft need it)"
}

# Names become the machine name, the hostname and the host-side interface ve-<name> (max 15 chars).
th_check_name() {
  [[ "$1" =~ ^[a-z][a-z0-9-]{0,11}$ ]] || th_die "bad host name '$1' (1-12 chars of a-z 0-9 -, starting with a letter)"
}

th_check_index() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt 254 ]; then
    th_die "bad index '$1' (1..254)"
  fi
}

# th_paths NAME: set RUN ROOTFS for a host.
th_paths() {
  RUN="$TH_RUN_BASE/$1"
  ROOTFS="$RUN/rootfs"
}

# th_owned_pid PID MARKER: true if PID is a live (non-zombie) process whose command line contains MARKER.
# This is how the scripts make sure they only ever signal processes they started themselves.
th_owned_pid() {
  local pid="$1" marker="$2" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  if [ -z "$state" ] || [ "$state" = "Z" ]; then return 1; fi
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# th_stop_pid PID MARKER GRACE_SECONDS: SIGTERM, wait, then SIGKILL. No-op if PID is not ours.
th_stop_pid() {
  local pid="$1" marker="$2" grace="$3" i
  th_owned_pid "$pid" "$marker" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    th_owned_pid "$pid" "$marker" || return 0
    sleep 0.1
  done
  th_log "pid $pid did not stop within ${grace}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    th_owned_pid "$pid" "$marker" || return 0
    sleep 0.1
  done
  th_log "pid $pid survived SIGKILL"
  return 1
}

# th_ssh IP ARGS...: ssh as admin with this host's key and pinned host key, never prompting.
th_ssh() {
  local ip="$1"
  shift
  ssh -F none -i "$RUN/id_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$RUN/known_hosts" \
    -o ConnectTimeout=2 -o LogLevel=ERROR "admin@$ip" "$@"
}

# On a failed start: systemd-nspawn's output, and the container's own journal (persistent in
# /var/log/journal on Debian 12), which tells why a unit such as ssh.service did not come up.
th_show_log() {
  if [ -r "$RUN/nspawn.log" ]; then
    th_log "---- last lines of $RUN/nspawn.log ----"
    tail -n 30 "$RUN/nspawn.log" >&2
  fi
  if [ -d "$ROOTFS/var/log/journal" ] && command -v journalctl >/dev/null; then
    th_log "---- last lines of the container's journal ----"
    journalctl -D "$ROOTFS/var/log/journal" --no-pager -o short-monotonic -n 60 >&2 2>/dev/null || true
  fi
  # A boot that has not ended: what systemd inside is still waiting for.
  local init=""
  [ -r "$RUN/init.pid" ] && read -r init _ <"$RUN/init.pid"
  if [ -n "$init" ] && [ -d "/proc/$init" ] && command -v nsenter >/dev/null; then
    th_log "---- the container's boot: systemctl is-system-running, list-jobs ----"
    timeout 10 nsenter -t "$init" -a systemctl is-system-running >&2 2>&1 || true
    timeout 10 nsenter -t "$init" -a systemctl list-jobs --no-pager >&2 2>&1 || true
  fi
  th_log "---- end of logs ----"
}

# th_boot NAME INDEX: start systemd-nspawn on $ROOTFS, configure ve-NAME, wait for SSH.
# Writes $RUN/nspawn.pid. Fails (after showing the console log) if SSH is not up in time.
th_boot() {
  local name="$1" gw="10.200.$2.1" ip="10.200.$2.2" pid i start
  start=$SECONDS
  # setsid: its own session, so the container outlives this script and the test's process group.
  # Run from a non-leader background job, setsid execs in place: $! is systemd-nspawn itself.
  setsid systemd-nspawn -D "$ROOTFS" -b -M "$name" --register=no --keep-unit --console=passive \
    --network-veth --resolv-conf=off --link-journal=no --timezone=off \
    >>"$RUN/nspawn.log" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$RUN/nspawn.pid"
  sleep 0.1
  if ! th_owned_pid "$pid" "$ROOTFS"; then
    th_show_log
    th_die "systemd-nspawn exited at once"
  fi

  for ((i = 0; i < 100; i++)); do
    ip link show "ve-$name" >/dev/null 2>&1 && break
    th_owned_pid "$pid" "$ROOTFS" || { th_show_log; th_die "systemd-nspawn exited during start"; }
    sleep 0.1
  done
  ip link show "ve-$name" >/dev/null 2>&1 || { th_show_log; th_die "no interface ve-$name after 10 s"; }
  ip addr replace "$gw/24" dev "ve-$name"
  ip link set "ve-$name" up
  th_record_init "$pid"

  while ((SECONDS - start < TH_BOOT_TIMEOUT)); do
    th_owned_pid "$pid" "$ROOTFS" || { th_show_log; th_die "the container stopped while booting"; }
    if th_ssh "$ip" true 2>/dev/null; then
      th_log "$name: SSH up at admin@$ip after $((SECONDS - start)) s"
      return 0
    fi
    sleep 0.3
  done
  th_show_log
  th_die "$name: no SSH on $ip after $TH_BOOT_TIMEOUT s"
}

# th_starttime PID: start time of a process (field 22 of /proc/PID/stat), empty if gone.
# Zombies count as gone (this machine's PID 1 may never reap what it inherits).
th_starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '$1 != "Z" {print $20}'; }

# th_children PID: the direct children of PID.
th_children() {
  local pid="$1" f
  if [ -r "/proc/$pid/task/$pid/children" ]; then
    cat "/proc/$pid/task/$pid/children"
    return 0
  fi
  for f in /proc/[0-9]*/stat; do
    sed 's/^.*) //' "$f" 2>/dev/null | awk -v p="$pid" -v f="$f" '$2 == p { split(f, a, "/"); print a[3] }'
  done
}

# th_record_init NSPAWN_PID: remember the container's init (systemd-nspawn's child) by PID and start
# time, so that it can be ended even if systemd-nspawn itself was killed (its init would survive).
th_record_init() {
  local init
  init="$(th_children "$1" | awk '{print $1}')"
  [ -n "$init" ] || return 0
  printf '%s %s\n' "$init" "$(th_starttime "$init")" >"$RUN/init.pid"
}

# th_stop_container: clean shutdown of the recorded systemd-nspawn (SIGTERM = poweroff inside).
# If that hangs, SIGKILL the container's init (which ends everything in the container), never
# systemd-nspawn first: killing only systemd-nspawn leaves the container running as an orphan.
th_stop_container() {
  local pid="" i c ipid istart
  [ -r "$RUN/nspawn.pid" ] && pid="$(cat "$RUN/nspawn.pid")"
  if [ -n "$pid" ] && th_owned_pid "$pid" "$ROOTFS"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      th_owned_pid "$pid" "$ROOTFS" || break
      sleep 0.1
    done
    if th_owned_pid "$pid" "$ROOTFS"; then
      th_log "the container did not power off within 30 s: SIGKILL to its init"
      for c in $(th_children "$pid"); do kill -KILL "$c" 2>/dev/null || true; done
      th_stop_pid "$pid" "$ROOTFS" 10 || return 1
    fi
  fi
  if [ -r "$RUN/init.pid" ]; then
    read -r ipid istart <"$RUN/init.pid" || true
    if [ -n "${ipid:-}" ] && [ -n "${istart:-}" ] && [ "$(th_starttime "$ipid")" = "$istart" ]; then
      th_log "ending the container's init $ipid, left running without its systemd-nspawn"
      kill -KILL "$ipid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        [ "$(th_starttime "$ipid")" = "$istart" ] || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$RUN/nspawn.pid" "$RUN/init.pid"
}

# th_any_host: true while any test host on this machine (from any clone) needs forwarding: up.sh
# registers its index in $TH_NET_STATE/hosts/ (under net.lock) and down.sh removes it; a host's
# nft table (from its network step until down.sh) counts too. When nft cannot list the tables the
# answer is yes: forwarding left on by mistake costs nothing, turned off under a running host it
# cuts that host off the mirror and DNS.
th_any_host() {
  local tables
  [ -z "$(ls -A "$TH_NET_STATE/hosts" 2>/dev/null)" ] || return 0
  tables=$(nft list tables ip) || return 0
  grep -q '^table ip djdeploy_testhost_[0-9]*$' <<<"$tables"
}

# th_net_log MESSAGE: one line in $TH_NET_STATE/forward.log (who changed forwarding, and why).
th_net_log() { printf '%s %s[%s] %s\n' "$(date -u +%FT%T.%3N)" "${TH_PROG:-testhost}" "$$" "$*" >>"$TH_NET_STATE/forward.log"; }
