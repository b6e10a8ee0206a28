#!/usr/bin/env bash
# The waiting queue survives its replica (docs/operations.md, "Replicas with Redis"): two
# external-dispatcher replicas A and B share a real redis-server, with the same templates.
# Three sessions wait on A with no runner anywhere: a plain command, a template whose secret
# is read from the operator's file, and a template given a user's secret in the request. A
# is killed with SIGKILL. B queues the first two again (the template and its secret file
# resolved anew on B; the secret never went through Redis), and runners that dial B run
# them: their output and exit codes are the programs'. The third cannot be queued again
# (its request's secret was never stored anywhere) and is failed on B with that reason. So
# is a session whose request was one byte over HTTP_MAX_KEPT_REQUEST (16 KiB), while one
# exactly at it is kept and runs on B.
source "$(dirname "$0")/lib.sh"
start_redis
head -c 48 /dev/urandom | base64 >"$TMP/secret"
head -c 32 /dev/urandom | base64 >"$TMP/runner-token"
FILE_MARK="file-secret-$RANDOM$RANDOM"
USER_MARK="user-secret-$RANDOM$RANDOM"
printf '%s\n' "$FILE_MARK" >"$TMP/key"
chmod 600 "$TMP/key"
jq -n --arg key "$TMP/key" '
  {templates: {
    "filed": {command: "printf \"file=%s\\n\" \"$(printf %s \"$SECRET_KEY\" | sha256sum | cut -c1-64)\"; exit 4",
              secrets: {SECRET_KEY: {file: $key}}},
    "usered": {command: "true", userSecrets: ["USER_KEY"]}}}' >"$TMP/config.json"
PA=$(free_port)
PB=$(free_port)
for r in "a $PA" "b $PB"; do
  set -- $r
  start_replica "$1" "$2" --dispatcher external --runner-token-file "$TMP/runner-token" \
    --config "$TMP/config.json"
done
A="http://127.0.0.1:$PA"
B="http://127.0.0.1:$PB"
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

SERVER=$A
plain=$(api POST /api/sessions '{"command":"echo plain-ran; exit 3"}' | jq -r .sessionId)
check "a plain session waits on A" [ "$(st)" = 201 ]
filed=$(api POST /api/sessions '{"template":"filed"}' | jq -r .sessionId)
check "a template session with a secret file waits on A" [ "$(st)" = 201 ]
usered=$(api POST /api/sessions "$(jq -n --arg v "$USER_MARK" '{template: "usered", secrets: {USER_KEY: $v}}')" | jq -r .sessionId)
check "a template session given a user's secret waits on A" [ "$(st)" = 201 ]
# a request of exactly 16 KiB is kept, one byte more is not (HTTP_MAX_KEPT_REQUEST)
body_of() { # body_of BYTES: {"command":"echo kept-at-edge #xxx..."} of exactly BYTES bytes
  local head='{"command":"echo kept-at-edge #' tail='"}'
  printf '%s%s%s' "$head" "$(head -c $(($1 - ${#head} - ${#tail})) /dev/zero | tr '\0' x)" "$tail"
}
body_of 16384 >"$TMP/at.json"
body_of 16385 >"$TMP/over.json"
check "the bodies are 16384 and 16385 bytes" [ "$(stat -c %s "$TMP/at.json") $(stat -c %s "$TMP/over.json")" = "16384 16385" ]
at=$(api POST /api/sessions @"$TMP/at.json" | jq -r .sessionId)
check "a session from a 16 KiB request waits on A" [ "$(st)" = 201 ]
over=$(api POST /api/sessions @"$TMP/over.json" | jq -r .sessionId)
check "a session from a 16 KiB + 1 request waits on A" [ "$(st)" = 201 ]
seen() { [ "$(curl -s "$B/api/sessions" | jq '[.sessions[] | select(.state == "waiting")] | length')" = 5 ]; }
check "B lists the five waiting sessions" wait_for seen
redis_values() { # every value of every key, as text
  local k
  redis-cli -p "$REDIS_PORT" --scan | while read -r k; do
    case $(redis-cli -p "$REDIS_PORT" TYPE "$k") in
      string) redis-cli -p "$REDIS_PORT" GET "$k" ;;
      list) redis-cli -p "$REDIS_PORT" LRANGE "$k" 0 -1 ;;
      set) redis-cli -p "$REDIS_PORT" SMEMBERS "$k" ;;
      zset) redis-cli -p "$REDIS_PORT" ZRANGE "$k" 0 -1 ;;
      stream) redis-cli -p "$REDIS_PORT" XRANGE "$k" - + ;;
    esac
  done
}
redis-cli -p "$REDIS_PORT" SET planted "x-$USER_MARK-x" >/dev/null
check "the search of Redis finds a planted value (it would see a leak)" bash -c "$(declare -f redis_values); REDIS_PORT=$REDIS_PORT redis_values | grep -q -e '$USER_MARK'"
redis-cli -p "$REDIS_PORT" DEL planted >/dev/null
check "no secret is in Redis: the records kept no request with secrets" \
  bash -c "$(declare -f redis_values); ! REDIS_PORT=$REDIS_PORT redis_values | grep -q -e '$USER_MARK' -e '$FILE_MARK'"
check "the 16 KiB request is kept in its record, the one a byte over is not" \
  bash -c "redis-cli -p $REDIS_PORT GET runwire:session:$at | jq -e '.request' >/dev/null &&
           ! redis-cli -p $REDIS_PORT GET runwire:session:$over | jq -e '.request' >/dev/null"
check "the plain session's record keeps its request to queue it again" \
  bash -c "redis-cli -p $REDIS_PORT GET runwire:session:$plain | jq -e '.request.command == \"echo plain-ran; exit 3\"' >/dev/null"

kill9 "${RPID[a]}"
requeued() { grep '"session_requeued"' "$TMP/control-b.err" | grep -q "$1"; }
check "B queued the plain session again" wait_for requeued "$plain"
check "and the template session" wait_for requeued "$filed"
state_b() { curl -s "$B/api/sessions/$1" | jq -r "$2"; }
failed_usered() { [ "$(state_b "$usered" .state)" = failed ]; }
check "the session given a user's secret is failed on B" wait_for failed_usered
check "with the reason" bash -c "curl -s $B/api/sessions/$usered | jq -r .reason | grep -q 'carried secrets'"
check "B queued the 16 KiB one again" wait_for requeued "$at"
failed_over() { [ "$(state_b "$over" .state)" = failed ]; }
check "and failed the one a byte over, saying why" wait_for failed_over
check "its reason names the size" bash -c "curl -s $B/api/sessions/$over | jq -r .reason | grep -q 'over 16 KiB'"
check "B's queue counts the three" bash -c "curl -s $B/api/queue | jq -e '.waiting == 3' >/dev/null"

SERVER=$B
for k in 1 2 3; do
  timeout 60 "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PB/agent" --token-file "$TMP/runner-token" \
    --grace 10 >"$TMP/agent-$k.err" 2>&1 &
done
for pair in "$plain:3" "$filed:4" "$at:0"; do
  sid=${pair%%:*}
  want=${pair##*:}
  tok=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
  set +e
  RUNWIRE_SERVER=$B timeout 60 "$RW_BIN/runwire" attach --token "$tok" "$sid" >"$TMP/$sid.out" 2>"$TMP/$sid.err"
  rc=$?
  set -e
  check "session $sid ran on B and exited $want" [ "$rc" = "$want" ]
done
check "the plain session's output" grep -q plain-ran "$TMP/$plain.out"
check "the 16 KiB one's output" grep -q kept-at-edge "$TMP/$at.out"
check "the template session got the operator's secret, read again on B" \
  grep -q "file=$(printf %s "$FILE_MARK" | sha256sum | cut -c1-64)" "$TMP/$filed.out"
