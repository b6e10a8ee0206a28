#!/usr/bin/env bash
# Sessions seen from every replica sharing one Redis (a real redis-server on a free loopback
# port): sessions created on A are listed and read on B (`GET /api/sessions`, `runwire ls`,
# `GET /api/sessions/ID`), cancelled from B (A ends them), a token minted on B attaches on A;
# /api/queue and /metrics on any replica count the fleet (three replicas);
# what is not shared yet says so (the recording lives on A); B answers 503 for the fleet's
# list while Redis is down.
source "$(dirname "$0")/lib.sh"
start_redis
head -c 48 /dev/urandom | base64 >"$TMP/secret"

start_control --store "$STORE" --session-secret-file "$TMP/secret" --local-runners 1 --cancel-grace 500
A=$SERVER
mkdir -p "$TMP/b"
echo '{"limits": {"concurrentSessions": 2}}' >"$TMP/b-limits.json"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/b/port" \
  --data-dir "$TMP/b/data" ${SANDBOX_RO[@]+"${SANDBOX_RO[@]}"} --store "$STORE" \
  --session-secret-file "$TMP/secret" --local-runners 0 --config "$TMP/b-limits.json" \
  >"$TMP/control-b.err" 2>&1 &
PIDS+=($!)
wait_for test -s "$TMP/b/port"
B="http://127.0.0.1:$(cat "$TMP/b/port")"
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

SERVER=$A
long=$(api POST /api/sessions '{"command":"sleep 60"}' | jq -r .sessionId)
check "long session created on A" [ "$(st)" = 201 ]
short=$(api POST /api/sessions '{"command":"echo replicas-short-done"}' | jq -r .sessionId)
check "short session created on A" [ "$(st)" = 201 ]
state_on() { curl -s "$1/api/sessions/$2" | jq -r .state; }
check "the short one exits on A" wait_for bash -c "[ \"\$(curl -s $A/api/sessions/$short | jq -r .state)\" = exited ]"

# listed and read on B
listed_on_b() {
  local ids
  ids=$(curl -s "$B/api/sessions" | jq -r '.sessions[].sessionId')
  grep -qx "$long" <<<"$ids" && grep -qx "$short" <<<"$ids"
}
check "B lists A's sessions" wait_for listed_on_b
SERVER=$B
out=$(api GET "/api/sessions/$long")
check "B reads A's session (200)" [ "$(st)" = 200 ]
check "B's view says it is running" [ "$(jq -r .state <<<"$out")" = running ]
check "B's view of the short one has its exit and digest" \
  wait_for bash -c "curl -s $B/api/sessions/$short | jq -e '.state == \"exited\" and .exitCode == 0 and (.sha256 | length) == 64' >/dev/null"
order=$(api GET /api/sessions | jq -r '.sessions[].sessionId' | head -2 | tr '\n' ' ')
check "newest first across replicas" [ "$order" = "$short $long " ]
RUNWIRE_SERVER=$B "$RW_BIN/runwire" ls >"$TMP/ls-b.out" 2>&1
RUNWIRE_SERVER=$A "$RW_BIN/runwire" ls >"$TMP/ls-a.out" 2>&1
check "runwire ls on B shows A's sessions" bash -c "grep -q $long $TMP/ls-b.out && grep -q $short $TMP/ls-b.out"
check "runwire ls names the same sessions on A and B" \
  bash -c "diff <(grep -o '[0-9a-f]\{24\}' $TMP/ls-a.out | sort) <(grep -o '[0-9a-f]\{24\}' $TMP/ls-b.out | sort)"
api GET /api/sessions/0123456789abcdef01234567 >/dev/null
check "an unknown id is 404 on B" [ "$(st)" = 404 ]

# a token minted on B attaches on A, where the session's stream is
tok=$(api POST "/api/sessions/$short/tokens" '{"role":"viewer"}' | jq -r .token)
check "B mints a token for A's session" [ "$(st)" = 201 ]
RUNWIRE_SERVER=$A "$RW_BIN/runwire" attach --token "$tok" "$short" >"$TMP/att.out" 2>"$TMP/att.err" || true
check "that token attaches on A and replays the output" grep -q replicas-short-done "$TMP/att.out"
out=$(api GET "/api/sessions/$short/recording")
check "the recording is A's: B says so (404)" [ "$(st)" = 404 ]
check "and says where it is" grep -q "replica that ran" <<<"$out"

# cancelled from B: A ends it
api DELETE "/api/sessions/$long" >/dev/null
check "cancel on B answers 202" [ "$(st)" = 202 ]
check "A cancels it" wait_for bash -c "[ \"\$(curl -s $A/api/sessions/$long | jq -r .state)\" = cancelled ]"
check "B sees it cancelled" wait_for bash -c "[ \"\$(curl -s $B/api/sessions/$long | jq -r .state)\" = cancelled ]"
check "A's audit log names the cancel forwarded from B" \
  bash -c "jq -s -e --arg s $long 'any(.[]; .event == \"session_cancel\" and .session == \$s and .via != null)' $CONTROL_LOG >/dev/null"
check "B's audit log says it forwarded the cancel" \
  bash -c "jq -s -e --arg s $long 'any(.[]; .event == \"session_cancel_forwarded\" and .session == \$s)' $TMP/control-b.err >/dev/null"

# the fleet's figures: a third replica, C, whose sessions wait (no runners come to it)
head -c 24 /dev/urandom | base64 >"$TMP/runner-token"
mkdir -p "$TMP/c"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/c/port" \
  --data-dir "$TMP/c/data" --store "$STORE" --session-secret-file "$TMP/secret" \
  --dispatcher external --runner-token-file "$TMP/runner-token" >"$TMP/control-c.err" 2>&1 &
PIDS+=($!)
wait_for test -s "$TMP/c/port"
C="http://127.0.0.1:$(cat "$TMP/c/port")"
check "C ready" wait_for bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $C/readyz)\" = 200 ]"
SERVER=$C
w1=$(api POST /api/sessions '{"command":"true"}' | jq -r .sessionId)
w2=$(api POST /api/sessions '{"command":"true"}' | jq -r .sessionId)
check "two sessions wait on C" [ "$(curl -s "$C/api/queue" | jq .waiting)" = 2 ]
check "B's /api/queue counts C's waiting sessions" \
  wait_for bash -c "[ \"\$(curl -s $B/api/queue | jq .waiting)\" = 2 ]"
check "A's /api/queue counts them too, and A's idle agent" \
  wait_for bash -c "curl -s $A/api/queue | jq -e '.waiting == 2 and .idleAgents >= 1' >/dev/null"
check "A's /metrics: three replicas, the fleet's queue" \
  wait_for bash -c "curl -s $A/metrics | grep -qx 'runwire_fleet_replicas 3' && curl -s $A/metrics | grep -qx 'runwire_fleet_queue_waiting 2'"
SERVER=$B
out=$(api POST /api/sessions '{"command":"true"}')
check "B refuses a third live session: two live on C count (concurrentSessions 2)" [ "$(st)" = 429 ]
check "429 says the limit" grep -q "at most 2 sessions at once" <<<"$out"
api DELETE "/api/sessions/$w1" >/dev/null
api DELETE "/api/sessions/$w2" >/dev/null
check "cancelled from B, C's queue empties" \
  wait_for bash -c "[ \"\$(curl -s $C/api/queue | jq .waiting)\" = 0 ]"
check "and B's view of the fleet's queue follows" \
  wait_for bash -c "[ \"\$(curl -s $B/api/queue | jq .waiting)\" = 0 ]"
created_on_b() { [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"command":"true"}' "$B/api/sessions")" = 201 ]; }
check "with C's sessions cancelled (records say so), B creates again" wait_for created_on_b

# A restarts (same data directory, a new replica id): its ended sessions stay listed, and
# their recordings are still served
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true
rm -f "$TMP/port"
start_control --store "$STORE" --session-secret-file "$TMP/secret" --local-runners 0
A=$SERVER
check "restarted A ready" wait_for bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $A/readyz)\" = 200 ]"
SERVER=$A; out=$(api GET "/api/sessions/$short")
check "restarted A still knows the short session (its record)" [ "$(jq -r .state <<<"$out")" = exited ]
api GET /api/sessions | jq -r '.sessions[].sessionId' >"$TMP/after-restart"
check "and lists it" grep -qx "$short" "$TMP/after-restart"
api GET "/api/sessions/$short/recording" >"$TMP/rec-after.cast"
check "its recording is still served after the restart" [ "$(st)" = 200 ]
check "and holds the output" grep -q replicas-short-done "$TMP/rec-after.cast"
mine=$(api POST /api/sessions '{"command":"sleep 30"}' | jq -r .sessionId)
check "restarted A creates a session" [ "$(st)" = 201 ]
SERVER=$B

# Redis down: B cannot see the fleet and says so (503, not a partial list); A still answers
# for a session it holds.
stop_pid "$REDIS_PID"
check "B not ready" wait_for bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $B/readyz)\" = 503 ]"
api GET /api/sessions >/dev/null
check "B's list answers 503 while Redis is down" [ "$(st)" = 503 ]
api GET "/api/sessions/$long" >/dev/null
check "B's read of A's session answers 503 while Redis is down" [ "$(st)" = 503 ]
SERVER=$A; api GET "/api/sessions/$mine" >/dev/null
check "A still reads a session it holds" [ "$(st)" = 200 ]
