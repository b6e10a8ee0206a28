#!/usr/bin/env bash
# Issue 11, finding 2 (client side): `runwire run` never exits 0 without proof. A man in the
# middle (tests/e2e/viewer_mitm.py) between the client and control makes each failure
# deterministic: a gap (an OUTPUT frame replaced by control's resync event), many gaps, one
# flipped byte, the connection lost for good. Each time the client says so in one line on
# stderr and exits with the status docs/protocol.md names ("Client exit statuses"), whatever
# the program's own status. A session that fails without an exit status does too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"
PEER="python3 $RW_SRC/tests/e2e/rwpeer.py"
start_control --local-runners 1
# ~2.6 MB of lines: several OUTPUT messages, so there is a second one to tamper with
PROG="seq 1 400000; exit 7"
seq 1 400000 | sed 's/$/\r/' >"$TMP/expected"

# through MODE: runs the program through a fresh man in the middle; sets rc, leaves
# $TMP/MODE.out, $TMP/MODE.err
through() {
  local mode=$1 pid
  rm -f "$TMP/$mode.port"
  python3 "$RW_SRC/tests/e2e/viewer_mitm.py" "$PORT" "$TMP/$mode.port" "$mode" \
    2>"$TMP/$mode.mitm" &
  pid=$!
  PIDS+=("$pid")
  wait_for test -s "$TMP/$mode.port" || { log "mitm $mode did not start"; exit 1; }
  rc=0
  timeout 120 "$RW_BIN/runwire" -q --server "http://127.0.0.1:$(cat "$TMP/$mode.port")" \
    run -- sh -c "$PROG" >"$TMP/$mode.out" 2>"$TMP/$mode.err" || rc=$?
  kill "$pid" 2>/dev/null || true
}

through pass
check "untouched: the program's own status 7 (got $rc)" [ "$rc" = 7 ]
check "untouched: every byte" cmp -s "$TMP/pass.out" "$TMP/expected"
check "untouched: nothing on stderr" [ ! -s "$TMP/pass.err" ]

through gap
check "gap: the proxy dropped a frame" grep -q dropped "$TMP/gap.mitm"
check "gap: exit status 121, not the program's 7 (got $rc)" [ "$rc" = 121 ]
check "gap: one line on stderr, saying output incomplete" \
  bash -c "[ \$(wc -l <'$TMP/gap.err') = 1 ] && grep -q 'output incomplete' '$TMP/gap.err'"

through gaps
check "many gaps: the proxy dropped many frames" \
  [ "$(grep -c dropped "$TMP/gaps.mitm")" -ge 3 ]
check "many gaps: exit status 121 (got $rc)" [ "$rc" = 121 ]
check "many gaps: still one line on stderr" [ "$(wc -l <"$TMP/gaps.err")" = 1 ]
log "said: $(cat "$TMP/gaps.err")"

through flip
check "flip: the proxy flipped a byte" grep -q flipped "$TMP/flip.mitm"
check "flip: exit status 122 (got $rc)" [ "$rc" = 122 ]
check "flip: one line on stderr, saying output corrupted" \
  bash -c "[ \$(wc -l <'$TMP/flip.err') = 1 ] && grep -q 'output corrupted' '$TMP/flip.err'"

through cut
check "cut: the proxy cut the viewer" grep -q cut "$TMP/cut.mitm"
check "cut: exit status 123 (got $rc)" [ "$rc" = 123 ]
check "cut: one line on stderr, saying the connection was lost" \
  bash -c "[ \$(wc -l <'$TMP/cut.err') = 1 ] && grep -q 'lost the connection' '$TMP/cut.err'"

# A session whose runner goes away for good: failed, no exit status. Control waits for
# external agents with a 1 s runner grace; a hand-made agent claims the session, writes a
# line and drops its link.
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true
rm -f "$TMP/port"
start_external_control --runner-grace 1
"$RW_BIN/runwire" -q run -- sh -c 'exit 0' >"$TMP/failed.out" 2>"$TMP/failed.err" &
run_pid=$!
wait_for bash -c "curl -s '$SERVER/api/sessions' | jq -e '.sessions[0].state == \"waiting\"' >/dev/null"
$PEER agent "$PORT" "{\"v\":1,\"pid\":1,\"ticket\":\"$(cat "$RUNNER_TOKEN_FILE")\"}" \
  --send-output 'partial' --wait 1 >"$TMP/agent.out" 2>&1
rc=0
wait "$run_pid" || rc=$?
check "failed session: exit status 123 (got $rc)" [ "$rc" = 123 ]
check "failed session: one line on stderr, saying it failed without an exit status" \
  bash -c "[ \$(wc -l <'$TMP/failed.err') = 1 ] && grep -q 'session failed: .* no exit status' '$TMP/failed.err'"
