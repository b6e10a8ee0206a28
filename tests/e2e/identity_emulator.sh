#!/usr/bin/env bash
# Identity with the real Firebase Auth emulator: users sign up through its REST API and use
# their ID tokens with control in emulator mode; every /api call needs one; another user's
# session is 404; a read-only viewer token cannot type; limits answer 429 with Retry-After;
# the audit log records sign-in failures and never a token; the runner's child sees no
# credential. The emulator flag is refused for a non-loopback emulator.
source "$(dirname "$0")/lib.sh"
start_firebase_emulator
cat >"$TMP/config.json" <<JSON
{"limits": {"sessionsPerMinute": 4, "concurrentSessions": 3, "authFailuresPerMinute": 5}}
JSON
start_control --firebase-project demo-runwire --firebase-auth-emulator "$EMU_HOSTPORT" --config "$TMP/config.json"
check "emulator mode warns at start" grep -q '"event":"firebase_emulator"' "$CONTROL_LOG"

A=$(emulator_user alice@example.com)
B=$(emulator_user bob@example.com)
check "emulator issued ID tokens" bash -c "[ ${#A} -gt 100 ] && [ ${#B} -gt 100 ]"

code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
check "no token: 401" [ "$(code "$SERVER/api/sessions")" = 401 ]
check "garbage token: 401" [ "$(code -H 'Authorization: Bearer not.a.token' "$SERVER/api/sessions")" = 401 ]
check "sign-in failure in the audit log" grep -q '"event":"sign_in_failed"' "$TMP/data/audit.log"

out=$(RUNWIRE_ID_TOKEN=$A "$RW_BIN/runwire" run -- sh -c 'echo hello-firebase') 
check "alice runs a session with her ID token" grep -q hello-firebase <<<"$out"
sid=$(curl -s -H "Authorization: Bearer $A" "$SERVER/api/sessions" | jq -r '.sessions[0].sessionId')
check "alice sees her session" [ "$(code -H "Authorization: Bearer $A" "$SERVER/api/sessions/$sid")" = 200 ]
check "bob gets 404 for alice's session" [ "$(code -H "Authorization: Bearer $B" "$SERVER/api/sessions/$sid")" = 404 ]
check "bob cannot cancel it: 404" [ "$(code -X DELETE -H "Authorization: Bearer $B" "$SERVER/api/sessions/$sid")" = 404 ]
check "bob cannot mint a token for it: 404" [ "$(code -X POST -H "Authorization: Bearer $B" "$SERVER/api/sessions/$sid/tokens")" = 404 ]
check "bob cannot read its recording: 404" [ "$(code -H "Authorization: Bearer $B" "$SERVER/api/sessions/$sid/recording")" = 404 ]
check "bob's list is empty" bash -c "[ \"\$(curl -s -H 'Authorization: Bearer $B' $SERVER/api/sessions | jq '.sessions | length')\" = 0 ]"

# A read-only viewer token: sees output, its input is refused.
body=$(curl -s -X POST -H "Authorization: Bearer $A" -H 'Content-Type: application/json' \
  --data '{"command":"cat"}' "$SERVER/api/sessions")
csid=$(jq -r .sessionId <<<"$body")
vtok=$(curl -s -X POST -H "Authorization: Bearer $A" -H 'Content-Type: application/json' \
  --data '{"role":"viewer"}' "$SERVER/api/sessions/$csid/tokens" | jq -r .token)
(sleep 1; printf 'typed-by-viewer\n'; sleep 1) | RUNWIRE_ID_TOKEN=$A timeout 5 "$RW_BIN/runwire" attach -i --token "$vtok" "$csid" >"$TMP/viewer.out" 2>"$TMP/viewer.err" || true
printf 'typed-by-writer\n' | RUNWIRE_ID_TOKEN=$A "$RW_BIN/runwire" attach -i --token "$(jq -r .token <<<"$body")" "$csid" >"$TMP/writer.out" 2>&1 || true
check "viewer's input did not reach the program" bash -c "! grep -q typed-by-viewer '$TMP/writer.out'"
check "writer's input did" grep -q typed-by-writer "$TMP/writer.out"

# Limits: 4 sessions a minute per user (2 used), then 429 with Retry-After.
for i in 1 2; do code -X POST -H "Authorization: Bearer $B" -H 'Content-Type: application/json' --data '{"command":"true"}' "$SERVER/api/sessions" >/dev/null; done
for i in 1 2 3 4; do code -X POST -H "Authorization: Bearer $B" -H 'Content-Type: application/json' --data '{"command":"true"}' "$SERVER/api/sessions" >/dev/null; done
st=$(curl -s -D "$TMP/h" -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $B" \
  -H 'Content-Type: application/json' --data '{"command":"true"}' "$SERVER/api/sessions")
check "sessions per minute: the next one gets 429" [ "$st" = 429 ]
check "429 carries Retry-After" grep -qi '^retry-after: [1-9]' "$TMP/h"
for i in 1 2 3 4 5; do code -H 'Authorization: Bearer forged' "$SERVER/api/sessions" >/dev/null; done
st=$(curl -s -D "$TMP/h2" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $A" "$SERVER/api/sessions")
check "failed sign-ins per address: then 429, even with a good token" [ "$st" = 429 ]
check "that 429 carries Retry-After" grep -qi '^retry-after: [1-9]' "$TMP/h2"
check "no ID token in the logs" bash -c "! grep -qF '${A:20:40}' '$CONTROL_LOG' '$TMP/data/audit.log'"

set +e
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/d2" --firebase-project demo-runwire \
  --firebase-auth-emulator 192.0.2.10:9099 >"$TMP/remote-emu.out" 2>&1; rc=$?
"$RW_BIN/runwire-control" --listen 0.0.0.0:0 --data-dir "$TMP/d3" --firebase-project demo-runwire \
  --firebase-auth-emulator "$EMU_HOSTPORT" >"$TMP/public-emu.out" 2>&1; rc2=$?
set -e
check "a non-loopback emulator is refused" bash -c "[ $rc = 2 ] && grep -q 'non-loopback' '$TMP/remote-emu.out'"
check "emulator mode on a public address is refused" bash -c "[ $rc2 = 2 ] && grep -q 'listen on a loopback' '$TMP/public-emu.out'"
