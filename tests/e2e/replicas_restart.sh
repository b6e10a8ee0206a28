#!/usr/bin/env bash
# Every replica restarts mid-session, and Redis too (docs/operations.md, "Replicas with
# Redis"): two external-dispatcher replicas A and B on a real redis-server with AOF on. A
# session runs on A with its runner (the shared runner token) given both replicas; a viewer
# watches through B. Mid-session A and B are killed with SIGKILL and Redis is stopped; Redis
# comes back from its AOF, then A and B on the same ports and data directories (new
# processes, new replica ids). The runner reconnects, a replica takes the session over from
# the store, and the session finishes: the viewer (which reconnects by itself) has every
# byte, and afterwards its whole output can be read through either replica, its digest
# checked against every byte.
source "$(dirname "$0")/lib.sh"
mkdir -p "$TMP/redis"
AOF=(--appendonly yes --appendfsync always --dir "$TMP/redis")
start_redis "${AOF[@]}"
head -c 48 /dev/urandom | base64 >"$TMP/secret"
head -c 32 /dev/urandom | base64 >"$TMP/runner-token"
PA=$(free_port)
PB=$(free_port)
replica() { start_replica "$1" "$2" --dispatcher external --runner-token-file "$TMP/runner-token"; }
replica a "$PA"
replica b "$PB"
A="http://127.0.0.1:$PA"
B="http://127.0.0.1:$PB"
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

# 2,000 lines over about 8 s, then exit 3
SERVER=$A
cmd='for i in $(seq 0 39); do seq $((i*50+1)) $((i*50+50)); sleep 0.2; done; exit 3'
sid=$(api POST /api/sessions "$(jq -n --arg c "$cmd" '{command: $c}')" | jq -r .sessionId)
check "session created on A" [ "$(st)" = 201 ]
seq 1 2000 | sed 's/$/\r/' >"$TMP/expected"
timeout 120 "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PA/agent,ws://127.0.0.1:$PB/agent" \
  --token-file "$TMP/runner-token" --grace 60 >"$TMP/agent.err" 2>&1 &
AGENT=$!
tok=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
RUNWIRE_SERVER=$B timeout 120 "$RW_BIN/runwire" attach --token "$tok" "$sid" >"$TMP/view.out" 2>"$TMP/view.err" &
VIEW=$!
some() { [ "$(tr -d '\r' <"$TMP/view.out" | wc -l)" -ge 300 ]; }
check "the viewer on B sees the session running" wait_for some

kill9 "${RPID[a]}" "${RPID[b]}"
stop_pid "$REDIS_PID"
log "stopped A, B and Redis at $(wc -l <"$TMP/view.out") lines viewed"
sleep 1
start_redis "${AOF[@]}"
replica a "$PA"
replica b "$PB"
check "A and B ready again" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

set +e
wait "$AGENT"; rc_agent=$?
wait "$VIEW"; rc_view=$?
set -e
check "the runner finished the session (exit 0)" [ "$rc_agent" = 0 ]
check "it resumed on a restarted replica" grep -q '"resumed"' "$TMP/agent.err"
check "a restarted replica took the session over" \
  bash -c "cat $TMP/control-a.err $TMP/control-b.err | grep '\"session_adopted\"' | grep -q $sid"
check "the viewer, which reconnected, exits with the program's code (3)" [ "$rc_view" = 3 ]
check "its output is the program's, byte for byte" cmp "$TMP/view.out" "$TMP/expected"
ended() { [ "$(curl -s "$1/api/sessions/$sid" | jq -r '"\(.state) \(.exitCode) \(.verified)"')" = "exited 3 true" ]; }
check "A says exited 3, verified over every byte" wait_for ended "$A"
check "and so does B" wait_for ended "$B"
for r in A B; do
  url=${!r}
  tok=$(SERVER=$url api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
  set +e
  RUNWIRE_SERVER=$url timeout 30 "$RW_BIN/runwire" attach --token "$tok" "$sid" >"$TMP/after-$r.out" 2>"$TMP/after-$r.err"
  rc=$?
  set -e
  check "afterwards the whole output is read through $r (exit 3)" [ "$rc" = 3 ]
  check "byte for byte" cmp "$TMP/after-$r.out" "$TMP/expected"
done
holder=$(for r in a b; do grep -l "\"session_adopted\".*$sid" "$TMP/control-$r.err" >/dev/null 2>&1 && echo $r; done | head -1)
url=$([ "$holder" = a ] && echo "$A" || echo "$B")
check "its recording is served by the replica that finished it" \
  bash -c "curl -sf $url/api/sessions/$sid/recording | tail -n +2 | jq -r '.[2]' | tr -d '\n' | cmp - <(tr -d '\n' <$TMP/expected)"
