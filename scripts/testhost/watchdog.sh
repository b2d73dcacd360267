#!/usr/bin/env bash
# Tear a test host down when the process that owns it is gone (a test run that was killed,
# interrupted or crashed before calling stop). Started by up.sh when it is given an OWNER_PID.
#
# Usage: scripts/testhost/watchdog.sh NAME OWNER_PID
# Ends by itself when the host's run directory disappears (a normal down.sh); down.sh also ends it.
# The owner is identified by PID and start time, so a reused PID is not mistaken for it.
set -euo pipefail
TH_PROG=watchdog
# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

[ $# -eq 2 ] || th_die "usage: $0 NAME OWNER_PID"
NAME="$1"
OWNER="$2"
th_check_name "$NAME"
[[ "$OWNER" =~ ^[0-9]+$ ]] || th_die "bad owner pid '$OWNER'"
th_paths "$NAME"


OWNER_START="$(th_starttime "$OWNER")"
[ -n "$OWNER_START" ] || th_die "owner $OWNER is not running"

while [ -d "$RUN" ]; do
  if [ "$(th_starttime "$OWNER")" != "$OWNER_START" ]; then
    th_log "owner $OWNER of '$NAME' is gone: tearing the host down"
    exec "$TH_SCRIPT_DIR/down.sh" "$NAME"
  fi
  sleep 1
done
