#!/usr/bin/env bash
# Control's guarantees: session tokens are one-time, unexpired and bound to their session;
# cancel ends the whole process group (a grandchild too, SIGKILL after the grace); a runner
# killed mid-run fails its session with a reason the viewer sees; the API refuses bad
# input with clear errors; control refuses a non-loopback address without authentication.
source "$(dirname "$0")/lib.sh"
head -c 48 /dev/urandom | base64 >"$TMP/secret"
start_control --session-secret-file "$TMP/secret" --cancel-grace 500 --local-runners 1
MINT="python3 $RW_SRC/tests/e2e/mint_token.py $TMP/secret"

# --- tokens ---
body=$(api POST /api/sessions '{"command":"sleep 1; echo token-test-done"}')
check "create answers 201" [ "$(st)" = 201 ]
sid=$(jq -r .sessionId <<<"$body"); token=$(jq -r .token <<<"$body")
check "create answers sessionId, wsUrl and token" [ "$(jq -r .wsUrl <<<"$body")" = "/ws/$sid" ]
"$RW_BIN/runwire" attach --token "$token" "$sid" >"$TMP/first.out" 2>"$TMP/first.err"
check "first use of a token attaches" grep -q token-test-done "$TMP/first.out"
set +e
"$RW_BIN/runwire" attach --token "$token" "$sid" >/dev/null 2>"$TMP/replay.err"; rc=$?
set -e
check "replayed token refused" [ "$rc" != 0 ]
# jq 1.6's -e looks at the last input only: slurp and ask any().
logged() { jq -s -e --arg e "$1" --arg r "$2" 'any(.[]; .event == $e and .reason == $r)' "$CONTROL_LOG" >/dev/null; }
check "replay reason logged" logged viewer_refused "token already used"

body2=$(api POST /api/sessions '{"command":"sleep 5"}')
sid2=$(jq -r .sessionId <<<"$body2")
refused() { # refused TOKEN SID REASON
  local rc=0
  "$RW_BIN/runwire" attach --token "$1" "$2" >/dev/null 2>"$TMP/refused.err" || rc=$?
  [ "$rc" != 0 ] && logged viewer_refused "$3"
}
check "expired token refused" refused "$($MINT local "$sid2" --exp-in -30)" "$sid2" "token expired"
check "token for another session refused" refused "$($MINT local "$sid")" "$sid2" "token is for another session"
check "alg none refused" refused "$($MINT local "$sid2" --alg none)" "$sid2" "token is not signed with a current session key"
head -c 48 /dev/urandom | base64 >"$TMP/other-secret"
check "token signed with another key refused" refused \
  "$(python3 "$RW_SRC/tests/e2e/mint_token.py" "$TMP/other-secret" local "$sid2")" "$sid2" "bad token signature"
check "token of another user refused" refused "$($MINT mallory "$sid2")" "$sid2" "no such session"
check "a good minted token attaches" bash -c "\"$RW_BIN/runwire\" attach --token \"\$($MINT local $sid2)\" $sid2 >/dev/null 2>&1"

# --- cancel: the whole process group, and SIGKILL for what ignores SIGHUP ---
# The grandchildren are found by a sleep of a length no other process has: inside the
# sandbox a session's pids are its own namespace's, and it cannot write the test's files.
GC=$((3000 + RANDOM % 1000)); GC2=$((GC + 1000))
"$RW_BIN/runwire" run -- sh -c "sleep $GC & echo ready; wait" >"$TMP/cancel.out" 2>&1 &
run_pid=$!
wait_for pgrep -f "^sleep $GC\$" >/dev/null
# The session by the id `runwire run` printed: "the first running one" may be the sleep 5
# above, still running when everything is slow (ASan on a busy machine).
sid_of() { sed -n 's/^runwire: session \([0-9a-f]*\): watch it at .*/\1/p' "$1" | head -1; }
csid=$(sid_of "$TMP/cancel.out")
"$RW_BIN/runwire" cancel "$csid" >"$TMP/cancel.msg"
check "grandchild gone after cancel" wait_for bash -c "! pgrep -f '^sleep $GC\$' >/dev/null"
set +e; wait "$run_pid"; rc=$?; set -e
check "runwire run ends after cancel (status $rc)" [ "$rc" != 0 ]
check "session state is cancelled" bash -c "[ \"\$(curl -s $SERVER/api/sessions/$csid | jq -r .state)\" = cancelled ]"

"$RW_BIN/runwire" run -- sh -c "trap '' HUP; sleep $GC2 & wait" >/dev/null 2>"$TMP/cancel2.err" &
run_pid=$!
wait_for pgrep -f "^sleep $GC2\$" >/dev/null
csid=$(sid_of "$TMP/cancel2.err")
"$RW_BIN/runwire" cancel "$csid" >/dev/null
check "SIGHUP-proof grandchild killed after the grace" wait_for bash -c "! pgrep -f '^sleep $GC2\$' >/dev/null"
wait "$run_pid" || true
set +e; "$RW_BIN/runwire" cancel no-such-session 2>"$TMP/nosuch.err"; rc=$?; set -e
check "cancel of an unknown session: clear error" bash -c "[ $rc = 1 ] && grep -q 'no such session' '$TMP/nosuch.err'"

# --- a runner killed mid-run ---
"$RW_BIN/runwire" run -- sh -c "echo started; sleep 60" >"$TMP/killed.out" 2>"$TMP/killed.err" &
run_pid=$!
wait_for grep -q started "$TMP/killed.out"
ksid=$(sid_of "$TMP/killed.err")
agent_pid=$(jq -r "select(.event==\"session_assigned\" and .session==\"$ksid\") | .agent_pid" "$CONTROL_LOG" | head -1)
kill -KILL "$agent_pid"
set +e; wait "$run_pid"; rc=$?; set -e
check "viewer told the runner died" grep -q "session failed: runner exited unexpectedly (signal 9)" "$TMP/killed.err"
check "runwire exits 123 (no exit status, docs/protocol.md) for a failed session" [ "$rc" = 123 ]
check "API shows the session failed with its reason" bash -c \
  "curl -s $SERVER/api/sessions/$ksid | jq -e '.reason | test(\"signal 9\")' >/dev/null"

# --- the API refuses bad input clearly ---
api POST /api/sessions 'not json' >/dev/null;            check "bad JSON -> 400" [ "$(st)" = 400 ]
api POST /api/sessions '{"command":""}' >/dev/null;      check "empty command -> 400" [ "$(st)" = 400 ]
api POST /api/sessions '{"command":"x","colour":1}' | grep -q 'unknown field' ; check "unknown field -> 400 named" [ "$(st)" = 400 ]
api POST /api/sessions '{"command":"x","cols":4097}' >/dev/null; check "cols 4097 -> 400" [ "$(st)" = 400 ]
api POST /api/sessions '{"command":"x","cols":4096,"rows":1}' >/dev/null; check "cols 4096 accepted" [ "$(st)" = 201 ]
api POST /api/sessions '{"command":"x","env":{"RUNWIRE_X":"1"}}' >/dev/null; check "RUNWIRE_ env -> 400" [ "$(st)" = 400 ]
api POST /api/sessions '{"command":"x","env":{"1BAD":"1"}}' >/dev/null; check "bad env name -> 400" [ "$(st)" = 400 ]
python3 -c "import json; print(json.dumps({'command': 'x' * 65537}))" >"$TMP/big.json"
api POST /api/sessions "@$TMP/big.json" >/dev/null;  check "body over 64 KiB -> 413" [ "$(st)" = 413 ]
python3 -c "import json; print(json.dumps({'command': 'x' * 65000}))" >"$TMP/ok.json"
api POST /api/sessions "@$TMP/ok.json" >/dev/null;  check "body under 64 KiB accepted" [ "$(st)" = 201 ]
api GET /api/sessions/nope >/dev/null;                    check "unknown session -> 404" [ "$(st)" = 404 ]
api GET /nope >/dev/null;                                 check "unknown endpoint -> 404" [ "$(st)" = 404 ]
api GET /healthz | grep -q ok;                            check "healthz" [ "$(st)" = 200 ]
api GET /readyz | grep -q ready;                          check "readyz" [ "$(st)" = 200 ]
api GET /api/queue | jq -e 'has("waiting")' >/dev/null;   check "queue metric" [ "$(st)" = 200 ]
api GET /metrics >"$TMP/metrics"
check "metrics: sessions by state" grep -q '^runwire_sessions{state="cancelled"} 2$' "$TMP/metrics"
check "audit log holds attaches and refusals" bash -c "grep -q '\"event\":\"viewer_attach\"' '$TMP/data/audit.log' && grep -q '\"event\":\"viewer_refused\"' '$TMP/data/audit.log'"
check "no token in the audit log" bash -c "! grep -q '$token' '$TMP/data/audit.log' '$CONTROL_LOG'"
check "metrics: agents and bytes" grep -q '^runwire_bytes_relayed_total{direction="in"} [1-9]' "$TMP/metrics"

# --- no authentication, no public address ---
set +e
"$RW_BIN/runwire-control" --listen 0.0.0.0:0 --data-dir "$TMP/d2" >"$TMP/public.out" 2>&1; rc=$?
set -e
check "non-loopback without auth refused at start" bash -c "[ $rc = 2 ] && grep -q 'refusing to listen on 0.0.0.0' '$TMP/public.out'"
set +e
"$RW_BIN/runwire-control" --local-runners nine >"$TMP/flag.out" 2>&1; rc=$?
set -e
check "bad flag value: clear error" bash -c "[ $rc = 2 ] && grep -q 'local-runners' '$TMP/flag.out'"
set +e
RUNWIRE_SERVER=http://127.0.0.1:1 "$RW_BIN/runwire" ls 2>"$TMP/down.err"; rc=$?
set -e
check "server down: one clear line" bash -c "[ $rc = 1 ] && [ \$(wc -l <'$TMP/down.err') = 1 ] && grep -q 'cannot reach control' '$TMP/down.err'"
