#!/usr/bin/env bash
# Power a test host started by up.sh off, or on again, keeping its disk: like stopping and starting
# an EC2 instance (same IP, keys, host keys and root filesystem; processes and /run are gone).
#
# Usage: scripts/testhost/power.sh NAME off [--hard]
#        scripts/testhost/power.sh NAME on
#   off         clean shutdown (SIGTERM to systemd-nspawn: systemd inside stops every unit)
#   off --hard  pull the plug: SIGKILL to the container's init, no unit is stopped, nothing flushed
#   on          boot the same root filesystem again and wait for SSH; prints the state JSON
# While the host is off its subnet is dropped on this machine (up.sh's nft table): connections to
# it time out, as to a stopped instance. Helpers started for the host (git daemon, Pebble) keep
# running. `off` on a host that is off and `on` on a host that is on are no-ops.
set -euo pipefail
TH_PROG=power
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

usage() { th_die "usage: $0 NAME off [--hard] | $0 NAME on"; }
if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
th_check_name "$1"
th_require_root
NAME="$1"
ACTION="$2"
HARD="${3:-}"
th_paths "$NAME"
if [ ! -r "$RUN/state.env" ] || [ ! -r "$RUN/state.json" ]; then
  th_die "no host '$NAME' (no $RUN/state.env)"
fi
INDEX="$(sed -n 's/^INDEX=//p' "$RUN/state.env")"
th_check_index "$INDEX"

running() { [ -r "$RUN/nspawn.pid" ] && th_owned_pid "$(cat "$RUN/nspawn.pid")" "$ROOTFS"; }

started=$SECONDS
case "$ACTION" in
  off)
    case "$HARD" in
      "") th_stop_container ;;
      --hard)
        # The recorded init (PID + start time), so that a reused PID is never signalled.
        if running && [ -r "$RUN/init.pid" ]; then
          read -r ipid istart <"$RUN/init.pid" || true
          if [ -n "${ipid:-}" ] && [ "$(th_starttime "$ipid")" = "${istart:-}" ]; then
            kill -KILL "$ipid" 2>/dev/null || true
          fi
        fi
        # systemd-nspawn exits when its init is gone; th_stop_container waits and cleans up.
        th_stop_container
        ;;
      *) usage ;;
    esac
    th_log "$NAME is off after $((SECONDS - started)) s"
    ;;
  on)
    [ -z "$HARD" ] || usage
    if running; then
      th_log "$NAME is already on"
    else
      th_boot "$NAME" "$INDEX"
      PID="$(cat "$RUN/nspawn.pid")"
      sed -i "s/^  \"pid\": [0-9]*,/  \"pid\": $PID,/" "$RUN/state.json"
      th_log "$NAME is on after $((SECONDS - started)) s"
    fi
    cat "$RUN/state.json"
    ;;
  *) usage ;;
esac
