#!/usr/bin/env bash
# Ctrl-C typed into a sandboxed session reaches the program, and only the program: one that
# handles SIGINT goes on (here: says so and exits 3), as it would in a terminal of its own.
# The terminal's signals go to its whole foreground group, and bubblewrap, the group's
# leader, died of them and took the sandbox down (the session ended 130 at the first Ctrl-C).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

start_control
# the program: handles Ctrl-C, says it is ready, then waits
cmd='trap "echo got-int; exit 3" INT; echo ready; while :; do sleep 0.1; done'
sid=$(api POST /api/sessions "$(jq -n --arg c "$cmd" '{command: $c}')" | jq -r .sessionId)
ready() { [ "$(session_field "$sid" bytes)" -gt 0 ]; }
check "the program is ready" wait_for ready
rc=0
printf '\003' | timeout 30 "$RW_BIN/runwire" -q attach -i "$sid" >"$TMP/out" 2>"$TMP/err" || rc=$?
log "attach: status $rc, output $(tr -d '\r' <"$TMP/out" | tr '\n' ' ')"
check "Ctrl-C reached the program's handler" grep -q got-int "$TMP/out"
check "the session ends with the program's own status 3 (status $rc)" [ "$rc" = 3 ]
check "the API says exited 3" [ "$(session_field "$sid" exitCode)" = 3 ]
