#!/usr/bin/env bash
# Issue 11, finding 4: INPUT frames with an empty body are allowed (docs/protocol.md) and
# must change nothing. A viewer sends several to a running session, then a line: the agent
# keeps running, the program gets the line, and the session exits 0.
source "$(dirname "$0")/lib.sh"
PEER="python3 $RW_SRC/tests/e2e/rwpeer.py"
start_control --local-runners 1

body=$(api POST /api/sessions '{"command":"echo ready; read line; echo got:$line"}')
sid=$(jq -r .sessionId <<<"$body")
token=$(jq -r .token <<<"$body")
# five empty INPUT frames, then "hello\r", once "ready" is on the screen
$PEER viewer "$PORT" "$sid" "$token" --after ready --input '' --input '' --input '' \
  --input '' --input '' --input "$(printf 'hello\r' | od -An -tx1 | tr -d ' \n')" \
  >"$TMP/viewer.out" 2>"$TMP/viewer.err" || true
check "the viewer sent the empty frames and the line" grep -q '"typed": 6' "$TMP/viewer.out"
check "the bytes typed after the empty frames arrived" \
  jq -se 'map(select(.all)) | .[0].all | test("got:hello")' "$TMP/viewer.out" >/dev/null
check "the session exited 0" jq -se 'map(select(.exit)) | .[0].exit.code == 0' "$TMP/viewer.out" >/dev/null
wait_for bash -c "curl -s '$SERVER/api/sessions/$sid' | jq -e '.state == \"exited\"' >/dev/null"
check "state exited, exit code 0, no failure reason" \
  bash -c "curl -s '$SERVER/api/sessions/$sid' | jq -e '.exitCode == 0 and .reason == null' >/dev/null"
check "no agent crashed" bash -c "! grep -q 'exited unexpectedly' '$CONTROL_LOG'"
