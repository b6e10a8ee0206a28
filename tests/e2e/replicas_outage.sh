#!/usr/bin/env bash
# Redis stops for 10 s mid-session (docs/operations.md, "Replicas with Redis", failures):
# two replicas A and B on a real redis-server with AOF on; a session runs on A (its local
# runner), one viewer watches on A and one through B. Redis is stopped: both replicas'
# /readyz answer 503 and the API 503 "session store unavailable"; the session keeps running
# and the viewer on A keeps seeing it. Redis comes back after 10 s: /readyz recovers, the
# viewer on B catches up (nothing was put into the stream while Redis was away, A puts it
# now), and both viewers end with every byte, byte for byte, the exit digest checked, and no
# bytes reported skipped.
source "$(dirname "$0")/lib.sh"
mkdir -p "$TMP/redis"
AOF=(--appendonly yes --appendfsync always --dir "$TMP/redis")
start_redis "${AOF[@]}"
head -c 48 /dev/urandom | base64 >"$TMP/secret"
start_control --store "$STORE" --session-secret-file "$TMP/secret" --local-runners 1
A=$SERVER
PB=$(free_port)
start_replica b "$PB" --local-runners 0
B="http://127.0.0.1:$PB"
unready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 503 ]; }
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

# 6,000 lines over about 16 s, then exit 5
cmd='for i in $(seq 0 79); do seq $((i*75+1)) $((i*75+75)); sleep 0.2; done; exit 5'
sid=$(api POST /api/sessions "$(jq -n --arg c "$cmd" '{command: $c}')" | jq -r .sessionId)
check "session created on A" [ "$(st)" = 201 ]
seq 1 6000 | sed 's/$/\r/' >"$TMP/expected"
tok_a=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
tok_b=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
RUNWIRE_SERVER=$A timeout 120 "$RW_BIN/runwire" attach --token "$tok_a" "$sid" >"$TMP/a.out" 2>"$TMP/a.err" &
VA=$!
RUNWIRE_SERVER=$B timeout 120 "$RW_BIN/runwire" attach --token "$tok_b" "$sid" >"$TMP/b.out" 2>"$TMP/b.err" &
VB=$!
lines() { tr -d '\r' <"$1" | wc -l; }
some() { [ "$(lines "$TMP/b.out")" -ge 500 ]; }
check "the viewer on B sees the session running" wait_for some

stop_pid "$REDIS_PID"
t0=$(date +%s)
check "A's /readyz fails while Redis is away" wait_for unready "$A"
check "B's too" wait_for unready "$B"
check "the API answers 503: the fleet's list needs the store" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $A/api/sessions)\" = 503 ]"
at_a=$(lines "$TMP/a.out")
grows() { [ "$(lines "$TMP/a.out")" -gt $((at_a + 300)) ]; }
check "the session runs on and the viewer on A keeps seeing it" wait_for grows
rem=$((10 - ($(date +%s) - t0))); if [ "$rem" -gt 0 ]; then sleep "$rem"; fi
start_redis "${AOF[@]}"
check "A's /readyz recovers" wait_for ready "$A"
check "B's too" wait_for ready "$B"

set +e
wait "$VA"; rc_a=$?
wait "$VB"; rc_b=$?
set -e
check "the viewer on A exits with the program's code (5)" [ "$rc_a" = 5 ]
check "the viewer on B too" [ "$rc_b" = 5 ]
check "A's output is the program's, byte for byte" cmp "$TMP/a.out" "$TMP/expected"
check "B's output too: nothing lost to the outage" cmp "$TMP/b.out" "$TMP/expected"
check "neither was told of skipped bytes" bash -c "! grep -qi 'skipped\|resync\|unverified' $TMP/a.err $TMP/b.err"
ended() { [ "$(curl -s "$1/api/sessions/$sid" | jq -r '"\(.state) \(.exitCode) \(.verified)"')" = "exited 5 true" ]; }
check "the session is exited 5, verified, on A" wait_for ended "$A"
check "and on B" wait_for ended "$B"
