#!/usr/bin/env bash
# Two control replicas on one Redis (--store redis://...), a real redis-server this test
# starts on a free loopback port: a session token is one-time across replicas (used once
# on B, its replay on A refused, and the reverse), rate limits are counted fleet-wide,
# /readyz follows Redis (503 while it is stopped, 200 once it is back, without restarting
# control) and API calls that need the store answer 503 meanwhile; control refuses a
# rediss:// URL and a generated session secret with a shared store, saying what to do.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { log "redis-server missing: run scripts/setup.sh"; exit 1; }

REDIS_PORT=$(free_port)
REDIS_PID=""
start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1
}
stop_redis() { stop_pid "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }
start_redis
STORE="redis://127.0.0.1:$REDIS_PORT"

head -c 48 /dev/urandom | base64 >"$TMP/secret"
echo '{"limits": {"sessionsPerMinute": 3}}' >"$TMP/limits.json"

# --- what control refuses at start ---
set +e
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/refused" \
  --store "rediss://127.0.0.1:$REDIS_PORT" --session-secret-file "$TMP/secret" 2>"$TMP/rediss.err"
rc=$?
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/refused" --store "$STORE" \
  2>"$TMP/gensecret.err"
rc2=$?
RUNWIRE_STORE="$STORE" "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/refused" \
  2>"$TMP/gensecret-env.err"
rc3=$?
set -e
check "rediss:// refused (exit 2)" [ "$rc" = 2 ]
check "rediss:// refusal says how to get TLS" grep -q "TLS sidecar" "$TMP/rediss.err"
check "rediss:// refusal names stunnel and Memorystore" \
  grep -q "stunnel.*Memorystore\|Memorystore.*stunnel" "$TMP/rediss.err"
check "generated secret with a shared store refused (exit 2)" [ "$rc2" = 2 ]
check "the refusal says --session-secret-file" grep -q -- "--session-secret-file FILE" "$TMP/gensecret.err"
check "RUNWIRE_STORE refused the same way" grep -q -- "--session-secret-file" "$TMP/gensecret-env.err"

# --- AUTH: a password of exactly STORE_MAX_PASSWORD (512) bytes works; one more is refused ---
head -c 2000 /dev/urandom | base64 -w0 | tr -dc 'a-zA-Z0-9' | head -c 512 >"$TMP/pw512"
{ cat "$TMP/pw512"; printf x; } >"$TMP/pw513"
AUTH_PORT=$(free_port)
redis-server --port "$AUTH_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --requirepass "$(cat "$TMP/pw512")" >"$TMP/redis-auth.log" 2>&1 &
AUTH_PID=$!
PIDS+=("$AUTH_PID")
set +e
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/refused" --store "redis://127.0.0.1:$AUTH_PORT" \
  --store-password-file "$TMP/pw513" --session-secret-file "$TMP/secret" 2>"$TMP/pw513.err"
rc=$?
set -e
check "a 513-byte password file refused (exit 2)" [ "$rc" = 2 ]
check "the refusal names the cap" grep -q "at most 512 bytes" "$TMP/pw513.err"
mkdir -p "$TMP/auth"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/auth/port" \
  --data-dir "$TMP/auth/data" --store "redis://127.0.0.1:$AUTH_PORT" \
  --store-password-file "$TMP/pw512" --session-secret-file "$TMP/secret" --local-runners 0 \
  >"$TMP/control-auth.err" 2>&1 &
AUTH_CONTROL=$!
PIDS+=("$AUTH_CONTROL")
wait_for test -s "$TMP/auth/port"
readyz_auth() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(cat "$TMP/auth/port")/readyz")" = 200 ]; }
check "a 512-byte password authenticates: ready" wait_for readyz_auth
check "the password is never logged" bash -c "! grep -qF \"\$(cat $TMP/pw512)\" $TMP/control-auth.err"
stop_pid "$AUTH_CONTROL"

# --- two replicas ---
start_control --store "$STORE" --session-secret-file "$TMP/secret" --config "$TMP/limits.json" \
  --local-runners 1
A=$SERVER; A_PID=$CONTROL_PID; A_LOG=$CONTROL_LOG
mkdir -p "$TMP/b"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/b/port" \
  --data-dir "$TMP/b/data" ${SANDBOX_RO[@]+"${SANDBOX_RO[@]}"} --store "$STORE" \
  --session-secret-file "$TMP/secret" --config "$TMP/limits.json" --local-runners 1 \
  >"$TMP/control-b.err" 2>&1 &
PIDS+=($!)
wait_for test -s "$TMP/b/port"
B="http://127.0.0.1:$(cat "$TMP/b/port")"
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = "$2" ]; }
check "A ready once connected to Redis" wait_for ready "$A" 200
check "B ready once connected to Redis" wait_for ready "$B" 200

# a token works once, through the shared store, on its own replica
SERVER=$A
body=$(api POST /api/sessions '{"command":"sleep 1; echo replica-a-done"}')
check "create on A answers 201" [ "$(st)" = 201 ]
sid=$(jq -r .sessionId <<<"$body"); token=$(jq -r .token <<<"$body")
RUNWIRE_SERVER=$A "$RW_BIN/runwire" attach --token "$token" "$sid" >"$TMP/first.out" 2>"$TMP/first.err" || true
check "first use on A attaches and sees the output" grep -q replica-a-done "$TMP/first.out"
set +e
RUNWIRE_SERVER=$A "$RW_BIN/runwire" attach --token "$token" "$sid" >/dev/null 2>"$TMP/replay-a.err"; rc=$?
set -e
check "replay on A refused" [ "$rc" != 0 ]
check "replay on A says why" grep -q "token already used" "$TMP/replay-a.err"

# minted on A, used on B (B consumes it: the store is shared), replay on A refused
tok2=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
check "mint on A answers 201" [ "$(st)" = 201 ]
set +e
RUNWIRE_SERVER=$B "$RW_BIN/runwire" attach --token "$tok2" "$sid" >/dev/null 2>"$TMP/on-b.err"
RUNWIRE_SERVER=$A "$RW_BIN/runwire" attach --token "$tok2" "$sid" >/dev/null 2>"$TMP/replay-b.err"; rc=$?
set -e
check "A's token was used on B (B's answer is about the session, not the token)" \
  bash -c "! grep -q 'token already used' '$TMP/on-b.err'"
check "replay on A of the token used on B refused" [ "$rc" != 0 ]
check "it says the token was already used" grep -q "token already used" "$TMP/replay-b.err"
# and the reverse: used on A, replayed on B
tok3=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
set +e
RUNWIRE_SERVER=$A "$RW_BIN/runwire" attach --token "$tok3" "$sid" >"$TMP/tok3.out" 2>/dev/null
RUNWIRE_SERVER=$B "$RW_BIN/runwire" attach --token "$tok3" "$sid" >/dev/null 2>"$TMP/replay-c.err"
set -e
check "used on A, then refused on B" grep -q "token already used" "$TMP/replay-c.err"
logged() { jq -s -e --arg e "$1" --arg r "$2" 'any(.[]; .event == $e and .reason == $r)' "$3" >/dev/null; }
check "A's audit log says why" logged viewer_refused "token already used" "$A_LOG"
check "B's audit log says why" logged viewer_refused "token already used" "$TMP/control-b.err"

# rate limits are the fleet's: 3 sessions a minute, the first already created on A
SERVER=$B; api POST /api/sessions '{"command":"true"}' >/dev/null
check "second session (on B) within the limit" [ "$(st)" = 201 ]
SERVER=$A; api POST /api/sessions '{"command":"true"}' >/dev/null
check "third session (on A) within the limit" [ "$(st)" = 201 ]
SERVER=$B; out=$(api POST /api/sessions '{"command":"true"}')
check "fourth session (on B) refused: the limit counts both replicas" [ "$(st)" = 429 ]
check "429 says why" grep -q "too many sessions created" <<<"$out"

# --- Redis stopped: not ready, store-bound calls 503; back: ready again ---
SERVER=$A
tok_down=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
stop_redis
check "A not ready while Redis is down" wait_for ready "$A" 503
check "B not ready while Redis is down" wait_for ready "$B" 503
SERVER=$A; out=$(api GET /readyz)
check "/readyz says the store is unavailable" [ "$(jq -r .status <<<"$out")" = "store unavailable" ]
out=$(api POST /api/sessions '{"command":"true"}')
check "create while Redis is down answers 503" [ "$(st)" = 503 ]
check "503 says the store is unavailable" grep -q "session store unavailable" <<<"$out"
check "control still serves what needs no store" [ "$(curl -s -o /dev/null -w '%{http_code}' "$A/healthz")" = 200 ]
set +e
RUNWIRE_SERVER=$A timeout 3 "$RW_BIN/runwire" attach --token "$tok_down" "$sid" >"$TMP/down.out" 2>"$TMP/down.err"
set -e
check "an attach while Redis is down is refused, saying why" grep -q "session store unavailable" "$TMP/down.err"
check "and gets no output (the token was never checked as unused)" bash -c "! grep -q replica-a-done $TMP/down.out"
start_redis
check "A ready again once Redis is back" wait_for ready "$A" 200
check "B ready again once Redis is back" wait_for ready "$B" 200
SERVER=$B; api POST /api/sessions '{"command":"true"}' >/dev/null
check "create on B works again" [ "$(st)" = 201 ]
check "A logged the outage" grep -q store_unavailable "$A_LOG"
check "A logged the recovery" grep -q store_ready "$A_LOG"
