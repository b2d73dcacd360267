#!/usr/bin/env bash
# Reboot a test host started by up.sh: clean shutdown of the container (SIGTERM to systemd-nspawn,
# which powers systemd inside off, running every unit's stop), then boot the SAME root filesystem
# again, with the same IP, keys and host keys. What the host had on disk survives, like a reboot.
#
# (A `systemctl reboot` inside the container would make systemd-nspawn exit with code 133 rather
# than boot again; only the systemd-nspawn@.service unit restarts on that code. Reboot from here.)
#
# Usage: scripts/testhost/restart.sh NAME
# Prints the updated state JSON on stdout. Helpers started for the host (git daemon, Pebble) keep
# running: they listen on 10.200.INDEX.1, which comes back with the interface.
set -euo pipefail
TH_PROG=restart
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

[ $# -eq 1 ] || th_die "usage: $0 NAME"
th_check_name "$1"
th_require_root
NAME="$1"
th_paths "$NAME"
if [ ! -r "$RUN/state.env" ] || [ ! -r "$RUN/state.json" ]; then
  th_die "no host '$NAME' (no $RUN/state.env)"
fi
INDEX="$(sed -n 's/^INDEX=//p' "$RUN/state.env")"
th_check_index "$INDEX"

started=$SECONDS
th_stop_container
th_log "$NAME stopped after $((SECONDS - started)) s; booting again"
th_boot "$NAME" "$INDEX"
PID="$(cat "$RUN/nspawn.pid")"
sed -i "s/^  \"pid\": [0-9]*,/  \"pid\": $PID,/" "$RUN/state.json"
th_log "$NAME rebooted in $((SECONDS - started)) s"
cat "$RUN/state.json"
