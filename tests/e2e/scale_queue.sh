#!/usr/bin/env bash
# What a scaler (KEDA) reads and what a runner pod tells Kubernetes: /api/queue's demand
# (waiting + warm_target - idle_agents), the internal listener that serves it and /metrics
# behind a bearer token (and the public port then does not), the agent's --ready-file
# (present exactly while control counts the agent, kept while it runs a session) and
# --idle-exit (leaves cleanly; an ASSIGN that crossed the leave is still run).
source "$(dirname "$0")/lib.sh"

# ---- the embedded default: the local dispatcher's warm pool is its warm target ----
start_control --local-runners 0 --unsafe-no-sandbox
q=$(api GET /api/queue)
check "queue answers the four fields (and idleAgents)" \
  jq -e '.waiting == 0 and .idle_agents == 0 and .warm_target == 0 and .demand == 0 and .idleAgents == 0' <<<"$q"
check "without an internal listener /metrics stays on the main port" \
  bash -c "curl -sf '$SERVER/metrics' | grep -q '^runwire_queue_waiting 0'"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; CONTROL_PID=""; rm -f "$TMP/port"

refused_at_start() { # refused_at_start PATTERN FLAGS...: control does not start, saying PATTERN
  local pat=$1 rc=0; shift
  RUNWIRE_CONFIG=none timeout 10 "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/data2" \
    "$@" >"$TMP/refused.log" 2>&1 || rc=$?
  [[ $rc == 1 || $rc == 2 ]] && grep -q -- "$pat" "$TMP/refused.log"
}
printf 'runner-token-%s' "$RANDOM$RANDOM" >"$TMP/runner.tok"
printf 'internal-token-%s' "$RANDOM$RANDOM$RANDOM" >"$TMP/internal.tok"
printf '0123456789abcde' >"$TMP/short.tok"   # 15 characters: one under the minimum
printf '0123456789abcdef' >"$TMP/min.tok"    # 16: the minimum
EXT=(--dispatcher external --runner-token-file "$TMP/runner.tok")
check "--warm-target with the local dispatcher: refused" refused_at_start "local-runners" --warm-target 2
check "--warm-target 10001: refused" refused_at_start "0..10000" "${EXT[@]}" --warm-target 10001
check "internal listener off loopback without a token: refused" \
  refused_at_start "needs --internal-token-file" "${EXT[@]}" --internal-listen 0.0.0.0:0
check "internal token of 15 characters: refused" \
  refused_at_start "shorter than 16" "${EXT[@]}" --internal-listen 127.0.0.1:0 --internal-token-file "$TMP/short.tok"
head -c 4097 /dev/zero | tr '\0' x >"$TMP/long.tok"   # one over the 4096 maximum
check "internal token of 4097 characters: refused" \
  refused_at_start "longer than 4096" "${EXT[@]}" --internal-listen 127.0.0.1:0 --internal-token-file "$TMP/long.tok"
check "--internal-token-file without --internal-listen: refused" \
  refused_at_start "needs --internal-listen" "${EXT[@]}" --internal-token-file "$TMP/internal.tok"

# ---- external runners, warm pool 2, internal listener with a token ----
# the token at its minimum length (16) is accepted
start_control "${EXT[@]}" --warm-target 2 --internal-listen 127.0.0.1:0 --internal-token-file "$TMP/min.tok"
IPORT=$(jq -r 'select(.event == "front_door") | .internal_port' "$CONTROL_LOG")
INTERNAL="http://127.0.0.1:$IPORT"
TOK=$(cat "$TMP/min.tok")
iget() { # iget PATH [TOKEN]: body to stdout, status to $TMP/i.status
  curl -sS -o "$TMP/i.body" -w '%{http_code}' ${2:+-H "Authorization: Bearer $2"} "$INTERNAL$1" >"$TMP/i.status"
  cat "$TMP/i.body"
}
is() { [[ "$(cat "$TMP/i.status")" == "$1" ]]; }
api GET /api/queue >/dev/null; check "public /api/queue: 404 with an internal listener" [ "$(st)" = 404 ]
api GET /metrics >/dev/null;   check "public /metrics: 404 with an internal listener" [ "$(st)" = 404 ]
api GET /healthz >/dev/null;   check "public /healthz still 200" [ "$(st)" = 200 ]
iget /api/queue >/dev/null;          check "internal without a token: 401" is 401
check "the 401 says how to authenticate (WWW-Authenticate: Bearer)" \
  bash -c "curl -si '$INTERNAL/api/queue' | grep -qi '^www-authenticate: Bearer realm=\"runwire-internal\"'"
iget /api/queue "${TOK}x" >/dev/null; check "internal with a longer wrong token: 401" is 401
iget /api/queue "${TOK%?}x" >/dev/null; check "internal with a wrong token of the same length: 401" is 401
iget /metrics wrong >/dev/null;      check "internal /metrics with a wrong token: 401" is 401
q=$(iget /api/queue "$TOK")
check "internal /api/queue with the token: demand = warm target with nobody idle" \
  bash -c "is() { [[ \$(cat '$TMP/i.status') == 200 ]]; }; is && jq -e '.waiting == 0 and .idle_agents == 0 and .warm_target == 2 and .demand == 2' <<<'$q' >/dev/null"
iget /metrics "$TOK" >/dev/null
check "internal /metrics: 200, the five refusals counted" \
  bash -c "[ \$(cat '$TMP/i.status') = 200 ] && grep -q '^runwire_auth_failures_total 5$' '$TMP/i.body'"
check "internal /metrics has the demand and the warm target" \
  bash -c "grep -q '^runwire_queue_demand 2$' '$TMP/i.body' && grep -q '^runwire_queue_warm_target 2$' '$TMP/i.body'"
iget /healthz "$TOK" >/dev/null;     check "internal /healthz with the token: 200" is 200
iget /api/sessions "$TOK" >/dev/null; check "internal /api/sessions: 404 (the user API is not there)" is 404
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
  -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
  -H 'Sec-WebSocket-Protocol: runwire.agent.v1' "$INTERNAL/agent")
check "an agent upgrade on the internal port: 403" [ "$code" = 403 ]

queue() { iget /api/queue "$TOK"; }
queue_is() { [[ "$(queue | jq -c "$1")" == true ]]; }
agent() { # agent NAME [flags...]: an external agent in the background; pid in AGENT_PID
  local name=$1; shift
  "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PORT/agent" --token-file "$TMP/runner.tok" \
    --work-root "$TMP/work" --ready-file "$TMP/$name.ready" "$@" >"$TMP/$name.err" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

# an agent pointed at a dead port never says Ready
dead=$(free_port)
"$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$dead/agent" --token-file "$TMP/runner.tok" \
  --ready-file "$TMP/dead.ready" --grace 1 >"$TMP/dead.err" 2>&1 || true
check "agent that never reached control: no ready file, and it gave up (exit 3)" \
  bash -c "[ ! -e '$TMP/dead.ready' ] && grep -q control_unreachable '$TMP/dead.err'"

# a stale ready file from an earlier agent is not this agent's
echo stale >"$TMP/a1.ready"
agent a1 --idle-exit 0
A1=$AGENT_PID
check "agent a1 Ready once control counts it (the stale file replaced: it holds a1's pid)" wait_for grep -qx "$A1" "$TMP/a1.ready"
check "demand = 2 + 0 - 1" queue_is '.idle_agents == 1 and .demand == 1'
"$RW_BIN/runwire" run -- sh -c 'sleep 1; echo ran-on-a1' >"$TMP/run1.out" 2>&1 &
run1=$!
check "a1 took the session: nobody idle, nobody waiting, demand back to the warm target" \
  wait_for queue_is '.waiting == 0 and .idle_agents == 0 and .demand == 2'
check "a1 stays Ready while it runs the session (a busy runner is not a pending one)" test -e "$TMP/a1.ready"
wait "$run1"; rc=$?
check "the session ran" bash -c "[ $rc = 0 ] && grep -q ran-on-a1 '$TMP/run1.out'"
check "a1 exits after its session, its ready file gone" \
  wait_for bash -c "! kill -0 $A1 2>/dev/null && [ ! -e '$TMP/a1.ready' ]"

# --idle-exit: leaves after 1 s without a session, exit 0, control takes it out of the count
agent a2 --idle-exit 1
A2=$AGENT_PID
check "a2 Ready" wait_for test -e "$TMP/a2.ready"
check "a2 counted idle" queue_is '.idle_agents == 1'
rc=0; wait "$A2" || rc=$?
check "a2 exits 0 after --idle-exit, saying why" \
  bash -c "[ $rc = 0 ] && grep -q '\"event\":\"idle_exit\".*no session claimed' '$TMP/a2.err'"
check "a2's ready file removed" [ ! -e "$TMP/a2.ready" ]
check "control took a2 out of the idle count" queue_is '.idle_agents == 0 and .demand == 2'
check "control logged agent_left" grep -q '"event":"agent_left"' "$CONTROL_LOG"
check "--idle-exit 604801: refused" bash -c \
  "'$RW_BIN/runwire-agent' --control ws://127.0.0.1:1/agent --token-file '$TMP/runner.tok' --idle-exit 604801 2>&1 | grep -q '0..604800'"

# the leave that crosses an ASSIGN: a waiting session, then an agent that says HELLO and
# leave in one breath. Control assigns at HELLO, so the leave finds a session and is ignored:
# the link stays, the session is the agent's.
"$RW_BIN/runwire" run -- echo crossing >"$TMP/run2.out" 2>&1 &
run2=$!
check "a session waits" wait_for queue_is '.waiting == 1 and .demand == 3'
python3 - "$PORT" "$(cat "$TMP/runner.tok")" >"$TMP/crossing.out" 2>&1 <<'EOF' || true
import json, sys, os
sys.path.insert(0, os.path.join(os.environ["RW_SRC"], "tests", "tools"))
from rwws import ws_connect, ws_send, rw_frame, rw_frames, HELLO, ASSIGN, NAMES
sock = ws_connect(int(sys.argv[1]), "/agent", "runwire.agent.v1")
sock.settimeout(2)
hello = json.dumps({"v": 1, "ticket": sys.argv[2], "pid": 1}).encode()
leave = json.dumps({"v": 1, "leave": True}).encode()
ws_send(sock, 2, rw_frame(HELLO, hello) + rw_frame(HELLO, leave))
seen = []
try:
    for ftype, body in rw_frames(sock):
        seen.append(NAMES.get(ftype, ftype))
        if ftype == ASSIGN:
            break
    sock.recv(1)   # nothing more comes, and the link is not closed: a timeout
    seen.append("closed")
except Exception as e:
    seen.append(type(e).__name__)
print(json.dumps(seen))
EOF
check "the crossing leave: HELLO answer, ASSIGN, and the link kept open" \
  grep -qx '\["HELLO", "ASSIGN", "TimeoutError"\]' "$TMP/crossing.out"
kill "$run2" 2>/dev/null || true
