#!/usr/bin/env bash
# Issue 15: a cancelled program that handles SIGHUP and exits 3 is reported as exiting 3, not
# as killed by signal 1 (the `/bin/sh -c` wrapper, or bwrap leading the sandbox, used to die
# of the group's SIGHUP first). Both paths: control's local runner in the sandbox (where
# bubblewrap runs) and without it (--unsafe-no-sandbox), and `runwire-agent run` sent SIGTERM.
source "$(dirname "$0")/lib.sh"
RW="$RW_BIN/runwire"
# one simple command (single-quoted words only): the agent runs it as `exec sh -c '...'`
PROG='trap "echo got-hup; exit 3" HUP; echo ready; while :; do sleep 0.1; done'

# cancel_case NAME: runs PROG through runwire, cancels it, checks the statuses
cancel_case() {
  local name=$1 runpid sid rc
  "$RW" run -- sh -c "$PROG" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null &
  runpid=$!
  PIDS+=("$runpid")
  wait_for grep -qs ready "$TMP/$name.out" || log "$name: the program did not start"
  sid=$(api GET /api/sessions | jq -r '[.sessions[] | select(.state == "running")][0].sessionId')
  "$RW" cancel "$sid" >"$TMP/$name.cancel" 2>&1 || true
  rc=0; wait "$runpid" || rc=$?
  check "$name: the program saw the SIGHUP" grep -q got-hup "$TMP/$name.out"
  check "$name: runwire run exits with the program's 3 (rc $rc)" [ "$rc" = 3 ]
  check "$name: cancel says exit 3 ($(cat "$TMP/$name.cancel"))" \
    grep -qE "^$sid (cancelled|exited) \(exit 3\)" "$TMP/$name.cancel"
}

if command -v bwrap >/dev/null && bwrap --unshare-user --ro-bind / / true 2>/dev/null; then
  start_control --local-runners 1
  cancel_case sandbox
  stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true
  rm -f "$TMP/port"
else
  log "bubblewrap cannot run here: the sandboxed case is skipped"
fi
start_control --local-runners 1 --unsafe-no-sandbox
cancel_case plain

# runwire-agent run: a SIGTERM is passed on to the program's group
printf 'x\n' >"$TMP/b.txt"
(cd "$TMP" && zip -q b.zip b.txt)
"$RW_BIN/runwire-agent" run --bundle "$TMP/b.zip" --sha256 "$(sha "$TMP/b.zip")" \
  --cache-dir none -- sh -c 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done' \
  >"$TMP/standalone.out" 2>"$TMP/standalone.err" </dev/null &
runpid=$!
PIDS+=("$runpid")
wait_for grep -qs ready "$TMP/standalone.out" || log "standalone: the program did not start"
kill -TERM "$runpid"
rc=0; wait "$runpid" || rc=$?
check "runwire-agent run: the program's own 3 after SIGTERM (rc $rc)" [ "$rc" = 3 ]
