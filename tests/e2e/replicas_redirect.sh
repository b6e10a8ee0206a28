#!/usr/bin/env bash
# Agents move to the replica whose sessions wait (docs/operations.md, "Replicas with Redis"):
# two external-dispatcher replicas A and B share a real redis-server on a free loopback port,
# each with --advertise-url. Sessions created on A, agents (Kubernetes service-account tokens)
# that dial only B: B redirects them to A, every session runs and exits 0, and a viewer on A
# gets its output byte for byte. Figures forged into Redis by hand: two replicas each claiming
# the other has work make an agent follow at most 3 redirects, then stay (and run a session
# there); an idle agent on B moves once a session waits on A; an advertised URL that is not
# ws:// is never handed out, and the agent refuses one from a hostile control. `--control URL1,URL2` with
# URL1 dead connects to URL2; a ninth URL is one too many.
source "$(dirname "$0")/lib.sh"
MINT="python3 $RW_SRC/tests/e2e/mint_sa_token.py"
ISS=https://kubernetes.default.svc.cluster.local
openssl genrsa -out "$TMP/cluster.pem" 2048 2>/dev/null
$MINT jwks "$TMP/cluster.pem" k1 >"$TMP/jwks.json"

start_redis
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
head -c 48 /dev/urandom | base64 >"$TMP/secret"

PA=$(free_port)
PB=$(free_port)
start_replica() { # start_replica NAME PORT
  mkdir -p "$TMP/$1"
  RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen "127.0.0.1:$2" --data-dir "$TMP/$1/data" \
    --store "$STORE" --session-secret-file "$TMP/secret" --dispatcher external \
    --runner-jwks-file "$TMP/jwks.json" --runner-issuer "$ISS" \
    --advertise-url "ws://127.0.0.1:$2/agent" >"$TMP/control-$1.err" 2>&1 &
  PIDS+=($!)
}
start_replica a "$PA"
start_replica b "$PB"
A="http://127.0.0.1:$PA"
B="http://127.0.0.1:$PB"
LOG_A=$TMP/control-a.err
LOG_B=$TMP/control-b.err
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

N_AGENT=0
agent_bg() { # agent_bg CONTROL_URLS: an external agent with a fresh pod's token; sets AGENT_PID, AGENT_N
  N_AGENT=$((N_AGENT + 1))
  AGENT_N=$N_AGENT
  $MINT token "$TMP/cluster.pem" k1 "$ISS" "pod-$N_AGENT" >"$TMP/tok-$N_AGENT"
  timeout 60 "$RW_BIN/runwire-agent" --control "$1" --token-file "$TMP/tok-$N_AGENT" --grace 10 \
    --ready-file "$TMP/ready-$N_AGENT" >"$TMP/agent-$N_AGENT.err" 2>&1 &
  AGENT_PID=$!
}
state_of() { curl -s "$1/api/sessions/$2" | jq -r '"\(.state) \(.exitCode)"'; }
redirected_by() { grep -c '"agent_redirected"' "$1" || true; }

# ---- sessions wait on A, agents dial only B ----
SERVER=$A
sids=()
for k in 1 2 3; do
  sids+=("$(api POST /api/sessions "{\"command\":\"seq $k 30000\"}" | jq -r .sessionId)")
  check "session $k created on A" [ "$(st)" = 201 ]
done
queue_seen() { curl -s "$B/api/queue" | jq -e '.waiting == 3' >/dev/null; }
check "B sees A's 3 waiting sessions in the fleet's queue" wait_for queue_seen
sleep 0.6   # B's copy of A's figures (with its URL) is at most two fleet ticks old
apids=()
for k in 1 2 3; do agent_bg "ws://127.0.0.1:$PB/agent"; apids+=("$AGENT_PID"); done
rcs=""
for p in "${apids[@]}"; do rc=0; wait "$p" || rc=$?; rcs+="$rc "; done
check "the three agents that dialled B each ran a session and exited 0" [ "$rcs" = "0 0 0 " ]
for k in 1 2 3; do
  sid=${sids[$((k - 1))]}
  check "session $k ran on A and exited 0" wait_for bash -c "[ \"\$(curl -s $A/api/sessions/$sid | jq -r '\"\(.state) \(.exitCode)\"')\" = 'exited 0' ]"
  tok=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
  RUNWIRE_SERVER=$A timeout 30 "$RW_BIN/runwire" attach --token "$tok" "$sid" >"$TMP/view-$k.out" 2>"$TMP/view-$k.err" || true
  check "a viewer on A gets session $k's output byte for byte" cmp "$TMP/view-$k.out" <(seq "$k" 30000 | sed 's/$/\r/')
done
check "B redirected each agent to A (3 redirects)" [ "$(redirected_by "$LOG_B")" = 3 ]
check "to A's advertised URL" bash -c "grep '\"agent_redirected\"' '$LOG_B' | grep -q 'ws://127.0.0.1:$PA/agent'"
check "each agent followed one redirect" bash -c "for k in 1 2 3; do [ \$(grep -c '\"redirected\"' $TMP/agent-\$k.err) = 1 ] || exit 1; done"
check "A redirected nobody" [ "$(redirected_by "$LOG_A")" = 0 ]

# ---- an agent idle on B moves when a session comes to wait on A ----
agent_bg "ws://127.0.0.1:$PB/agent"
idle_pid=$AGENT_PID; idle_n=$AGENT_N
check "an agent dialling B with nothing waiting anywhere stays on B (ready)" wait_for test -e "$TMP/ready-$idle_n"
check "not redirected" bash -c "! grep -q '\"redirected\"' '$TMP/agent-$idle_n.err'"
t0=$(date +%s%N)
sid=$(api POST /api/sessions '{"command":"echo moved-while-idle"}' | jq -r .sessionId)
rc=0; wait "$idle_pid" || rc=$?
t1=$(date +%s%N)
log "idle agent on B to session on A done in $(( (t1 - t0) / 1000000 )) ms"
check "after a session waits on A, it is moved there, runs it and exits 0" [ "$rc" = 0 ]
check "B moved it as an idle agent" grep -q '"why":"idle here, sessions wait there"' "$LOG_B"
check "within AGENT_REDIRECT_IDLE_MS and two fleet ticks (5 s)" [ $(( (t1 - t0) / 1000000 )) -lt 5000 ]
check "that session exited 0 on A" wait_for bash -c "[ \"\$(curl -s $A/api/sessions/$sid | jq -r '\"\(.state) \(.exitCode)\"')\" = 'exited 0' ]"

# ---- forged: two replicas each claiming the other has work ----
rcli SET runwire:replica:forged-a "{\"waiting\":5,\"idleAgents\":0,\"agents\":0,\"live\":5,\"agentUrl\":\"ws://127.0.0.1:$PA/agent\"}" >/dev/null
rcli SET runwire:replica:forged-b "{\"waiting\":5,\"idleAgents\":0,\"agents\":0,\"live\":5,\"agentUrl\":\"ws://127.0.0.1:$PB/agent\"}" >/dev/null
rcli SADD runwire:replicas forged-a forged-b >/dev/null
forged_seen() { curl -s "$1/api/queue" | jq -e '.waiting == 10' >/dev/null; }
check "A and B read the forged figures" wait_for bash -c "$(declare -f forged_seen); forged_seen $A && forged_seen $B"
ra=$(redirected_by "$LOG_A"); rb=$(redirected_by "$LOG_B")
agent_bg "ws://127.0.0.1:$PB/agent"
loop_pid=$AGENT_PID; loop_n=$AGENT_N
check "the agent is accepted in the end (ready)" wait_for test -e "$TMP/ready-$loop_n"
sleep 4   # past AGENT_REDIRECT_IDLE_MS: an idle agent at the bound is not moved either
check "it followed exactly 3 redirects (B, A, B, then A)" [ "$(grep -c '"redirected"' "$TMP/agent-$loop_n.err")" = 3 ]
check "the replicas sent 3 redirects in all" [ $(( $(redirected_by "$LOG_A") - ra + $(redirected_by "$LOG_B") - rb )) = 3 ]
check "its pod's claim was given back on each redirect (no refusal)" bash -c "! grep -q 'pod already claimed' '$LOG_A' '$LOG_B'"
check "it stays connected, idle" kill -0 "$loop_pid"
SERVER=$A
sid=$(api POST /api/sessions '{"command":"echo stayed-on-a"}' | jq -r .sessionId)
rc=0; wait "$loop_pid" || rc=$?
check "it runs the next session on A, where it stayed, and exits 0" [ "$rc" = 0 ]
check "that session exited 0 on A" wait_for bash -c "[ \"\$(curl -s $A/api/sessions/$sid | jq -r '\"\(.state) \(.exitCode)\"')\" = 'exited 0' ]"

# ---- forged: an advertised URL that is not ws:// ----
rcli DEL runwire:replica:forged-a runwire:replica:forged-b >/dev/null
rcli SET runwire:replica:forged-h '{"waiting":6,"idleAgents":0,"agents":0,"live":6,"agentUrl":"http://127.0.0.1:1/agent"}' >/dev/null
rcli SET runwire:replica:forged-u '{"waiting":7,"idleAgents":0,"agents":0,"live":7,"agentUrl":"ws://user:pw@127.0.0.1:1/agent"}' >/dev/null
rcli SADD runwire:replicas forged-h forged-u >/dev/null
# 6 + 7: a sum the figures just deleted (5 + 5) cannot give, so B's view is the new one
# (with 5 + 5 a slow B still holding forged-a's ws:// URL passed this check and redirected)
check "B reads the forged figures" wait_for bash -c "curl -s $B/api/queue | jq -e '.waiting == 13' >/dev/null"
rb=$(redirected_by "$LOG_B")
agent_bg "ws://127.0.0.1:$PB/agent"
bad_pid=$AGENT_PID; bad_n=$AGENT_N
check "the agent is accepted on B" wait_for test -e "$TMP/ready-$bad_n"
sleep 4
check "B never hands out an http:// or user-info URL" [ "$(redirected_by "$LOG_B")" = "$rb" ]
check "and says why" grep -q '"redirect_url_refused"' "$LOG_B"
check "the agent followed nothing" bash -c "! grep -q '\"redirected\"' '$TMP/agent-$bad_n.err'"
stop_pid "$bad_pid"
rcli DEL runwire:replica:forged-h runwire:replica:forged-u >/dev/null

# ---- --control URL1,URL2 with URL1 dead ----
DEAD=$(free_port)
agent_bg "ws://127.0.0.1:$DEAD/agent,ws://127.0.0.1:$PB/agent"
two_pid=$AGENT_PID; two_n=$AGENT_N
check "with the first endpoint dead, the agent is accepted by the second" wait_for test -e "$TMP/ready-$two_n"
check "after a failed dial of the first" grep -q '"connect_failed"' "$TMP/agent-$two_n.err"
SERVER=$B
sid=$(api POST /api/sessions '{"command":"echo via-second-url"}' | jq -r .sessionId)
rc=0; wait "$two_pid" || rc=$?
check "it runs B's session and exits 0" [ "$rc" = 0 ]
check "B's session exited 0" wait_for bash -c "[ \"\$(curl -s $B/api/sessions/$sid | jq -r '\"\(.state) \(.exitCode)\"')\" = 'exited 0' ]"

# ---- limits: 8 endpoints at most; --advertise-url ws[s] only ----
urls=$(for i in $(seq 1 9); do printf 'ws://127.0.0.1:%s/agent,' "$DEAD"; done)
rc=0; timeout 10 "$RW_BIN/runwire-agent" --control "${urls%,}" --token-file "$TMP/tok-1" >"$TMP/nine.err" 2>&1 || rc=$?
check "nine --control URLs: refused at start" [ "$rc" = 1 ]
check "with the reason" grep -q '"bad_control_url"' "$TMP/nine.err"
rc=0; RUNWIRE_CONFIG=none timeout 10 "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/x" \
  --dispatcher external --runner-jwks-file "$TMP/jwks.json" --runner-issuer "$ISS" \
  --advertise-url "http://127.0.0.1:$PA/agent" >"$TMP/adv.err" 2>&1 || rc=$?
check "--advertise-url http://...: control refuses to start" bash -c "[ $rc = 2 ] || [ $rc = 1 ]"
check "and says what it wants" grep -q 'advertise-url wants ws://' "$TMP/adv.err"

# ---- the agent's own checks, against a hostile control that redirects whatever it is told ----
fake() { # fake NAME URL: a redirector on a free port; sets FAKE_PORT
  python3 "$RW_SRC/tests/e2e/fake_redirector.py" "$TMP/$1.port" "$2" >"$TMP/$1.hellos" 2>"$TMP/$1.err" &
  PIDS+=($!)
  wait_for test -s "$TMP/$1.port"
  FAKE_PORT=$(cat "$TMP/$1.port")
}
agent_at() { # agent_at NAME PORT: an agent dialling the fake for 3 s; its log in $TMP/NAME.agent
  timeout 3 "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$2/agent" --token-file "$TMP/tok-1" \
    --grace 10 >"$TMP/$1.agent" 2>&1 || true
}
fake self 'ws://127.0.0.1:{port}/agent'
agent_at self "$FAKE_PORT"
check "an agent follows at most 3 redirects (a control redirecting to itself forever)" \
  [ "$(grep -c '"redirected"' "$TMP/self.agent")" = 3 ]
check "then refuses the next one and says why" grep -q 'followed enough redirects' "$TMP/self.agent"
check "its HELLOs counted 0, 1, 2, 3 redirects" \
  bash -c "[ \"\$(jq -r .hello.redirects '$TMP/self.hellos' | head -4 | tr '\n' ' ')\" = '0 1 2 3 ' ]"
for bad in 'http://127.0.0.1:{port}/agent' 'file:///etc/passwd' 'wss://127.0.0.1:{port}/agent' 'ws:///agent'; do
  fake bad "$bad"
  agent_at bad "$FAKE_PORT"
  check "a redirect to $bad is refused by the agent" \
    bash -c "grep -q '\"redirect_refused\"' '$TMP/bad.agent' && ! grep -q '\"redirected\"' '$TMP/bad.agent'"
  check "which dials the same control again instead" [ "$(wc -l <"$TMP/bad.hellos")" -ge 2 ]
  stop_pid "${PIDS[-1]}"
  rm -f "$TMP/bad.port"
done

# ---- URL lengths, one past the edge (AGENT_REDIRECT_MAX_URL, AGENT_MAX_URL: 512 bytes) ----
url_of() { local head="ws://127.0.0.1:$DEAD/"; printf '%s%s' "$head" "$(head -c $(($1 - ${#head})) /dev/zero | tr '\0' a)"; }
adv() { # adv URL: control's exit status within 2 s (124: it started)
  local rc=0
  RUNWIRE_CONFIG=none timeout 2 "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/x" \
    --dispatcher external --runner-jwks-file "$TMP/jwks.json" --runner-issuer "$ISS" \
    --advertise-url "$1" >"$TMP/adv.err" 2>&1 || rc=$?
  echo "$rc"
}
check "--advertise-url of 512 bytes: control starts" [ "$(adv "$(url_of 512)")" = 124 ]
check "--advertise-url of 513 bytes: refused" [ "$(adv "$(url_of 513)")" = 2 ]
ctl() { local rc=0; timeout 2 "$RW_BIN/runwire-agent" --control "$1" --token-file "$TMP/tok-1" >"$TMP/len.err" 2>&1 || rc=$?; echo "$rc"; }
check "a --control URL of 512 bytes: the agent dials it" [ "$(ctl "$(url_of 512)")" = 124 ]
check "a --control URL of 513 bytes: refused at start" [ "$(ctl "$(url_of 513)")" = 1 ]
