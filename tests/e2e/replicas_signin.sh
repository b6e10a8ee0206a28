#!/usr/bin/env bash
# Failed sign-ins are counted per client address for the whole fleet: two control replicas
# on one Redis (a real redis-server on a free loopback port) with users from the real
# Firebase Auth emulator and authFailuresPerMinute 3: two failures on A and one on B put
# the address over the limit on both, even for a valid ID token (429 with Retry-After).
source "$(dirname "$0")/lib.sh"
start_redis
head -c 48 /dev/urandom | base64 >"$TMP/secret"
echo '{"limits": {"authFailuresPerMinute": 3}}' >"$TMP/config.json"
start_firebase_emulator
FLAGS=(--firebase-project demo-runwire --firebase-auth-emulator "$EMU_HOSTPORT"
  --config "$TMP/config.json" --store "$STORE" --session-secret-file "$TMP/secret" --local-runners 0)
start_control "${FLAGS[@]}"
A=$SERVER
mkdir -p "$TMP/b"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/b/port" \
  --data-dir "$TMP/b/data" "${FLAGS[@]}" >"$TMP/control-b.err" 2>&1 &
PIDS+=($!)
wait_for test -s "$TMP/b/port"
B="http://127.0.0.1:$(cat "$TMP/b/port")"
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }
check "A ready" wait_for ready "$A"
check "B ready" wait_for ready "$B"
ALICE=$(emulator_user alice@example.com)
code() { curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@"; }
check "alice lists on B" [ "$(code -H "Authorization: Bearer $ALICE" "$B/api/sessions")" = 200 ]
check "failure 1 on A: 401" [ "$(code -H 'Authorization: Bearer not.a.token' "$A/api/sessions")" = 401 ]
check "failure 2 on A: 401" [ "$(code -H 'Authorization: Bearer not.a.token' "$A/api/sessions")" = 401 ]
check "failure 3 on B: 401 (the limit is 3)" [ "$(code -H 'Authorization: Bearer not.a.token' "$B/api/sessions")" = 401 ]
over_on() { [ "$(code -H 'Authorization: Bearer not.a.token' "$1/api/sessions")" = 429 ]; }
check "the fourth on B: 429, the fleet counted A's two" over_on "$B"
check "429 says why" grep -q "too many failed sign-ins" "$TMP/body"
check "429 has Retry-After" grep -qi "^retry-after: [1-9]" "$TMP/headers"
check "A refuses the address too, even alice's valid token" \
  [ "$(code -H "Authorization: Bearer $ALICE" "$A/api/sessions")" = 429 ]
