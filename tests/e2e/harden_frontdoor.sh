#!/usr/bin/env bash
# The front door (control/listener.c, issue 11 findings 5, 7 and 8) against hostile clients
# (tests/tools/hostile_http.py): no request smuggling or header injection through the bearer
# rewrite, strict heads, refused upgrades answered with 403 and a reason, a full pending
# table that evicts its idle entries, per-client and total connection limits, no EMFILE
# spin, 300 idle /agent upgrades under a 300-descriptor limit, empty request bodies, and the
# token-minting rate limit. Other loopback addresses (127.0.0.2-5) play other clients.
source "$(dirname "$0")/lib.sh"

HH="python3 $RW_SRC/tests/tools/hostile_http.py"
UPGRADE='Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'

healthz_fast() { [ "$(curl -sS --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" = 200 ]; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# hold N DATA READY [flags]: a background holder of N connections; waits until they are open
hold() {
  local n=$1 data=$2 ready=$3; shift 3
  $HH hold "$PORT" "$n" "$data" --ready "$ready" "$@" 2>"$TMP/hold.err" &
  HOLDER=$!
  PIDS+=("$HOLDER")
  local i
  for i in $(seq 1 600); do
    [[ -s "$ready" ]] && return 0
    kill -0 "$HOLDER" 2>/dev/null || { cat "$TMP/hold.err" >&2; return 1; }
    sleep 0.05
  done
  return 1
}
unhold() { stop_pid "$HOLDER"; wait "$HOLDER" 2>/dev/null || true; }
restart_control() {
  stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true
  sanitizer_check "$CONTROL_LOG"
  rm -f "$TMP/port"; CONTROL_LOG="$TMP/control.$1.log"; shift
  start_control "$@"
}

start_control --local-runners 0
body=$(api POST /api/sessions '{"command":"true"}')
sid=$(jq -r .sessionId <<<"$body"); token=$(jq -r .token <<<"$body")
sid2=$(jq -r .sessionId <<<"$(api POST /api/sessions '{"command":"true"}')")
mint() { jq -r .token <<<"$(api POST "/api/sessions/$1/tokens")"; }
ws() { # ws PATH PROTOCOL-LINE: one upgrade, prints the hostile client's answer
  $HH request "$PORT" "GET $1 HTTP/1.1\r\nHost: x\r\n$UPGRADE$2\r\n"
}

# --- finding 5: framing kept, no injection ---
smuggled='GET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
long=$(printf 'a%.0s' $(seq 200))
out=$($HH request "$PORT" "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nSec-WebSocket-Protocol: bearer, $long\r\n\r\n$smuggled" --timeout 3)
check "a body behind a long bearer list is never a second request (one response)" \
  [ "$(grep -c '^[0-9]' <<<"$out")" = 1 ]
check "... and that response refuses it" grep -q '^400 ' <<<"$out"
out=$($HH request "$PORT" "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nSec-WebSocket-Protocol: bearer, abc\r\n\r\n$smuggled" --timeout 3)
check "a short list with a body: lws reads the body, one response" \
  bash -c '[ "$(grep -c "^[0-9]" <<<"$1")" = 1 ] && grep -q "^200 " <<<"$1"' _ "$out"
out=$(ws "/ws/$sid" "Sec-WebSocket-Protocol: bearer, $token\nX-Injected: 1${long}\r\n")
check "a LF inside the token is refused, nothing injected" grep -q '^400 bare LF' <<<"$out"
out=$(ws "/ws/$sid" "Sec-WebSocket-Protocol: bearer, $token\r\n")
check "the real long bearer upgrade still attaches" grep -q '^101 ' <<<"$out"
check "... with the token read from the rewritten head" grep -q "viewer_attach.*$sid" "$TMP/data/audit.log" "$CONTROL_LOG"
# (the output is captured first: with pipefail, grep -q quitting early would fail the pipe)
refused_with() { local out; out=$($HH request "$PORT" "$1"); grep -q "^$2 " <<<"$out"; }
check "bare LF refused (400)" refused_with 'GET /healthz HTTP/1.1\nHost: x\r\n\r\n' 400
check "bare CR refused (400)" refused_with 'GET /healthz HTTP/1.1\r\nHost: x\ry\r\n\r\n' 400
check "obs-fold refused (400)" refused_with 'GET /healthz HTTP/1.1\r\nHost: x\r\n y\r\n\r\n' 400
check "Content-Length twice refused (400)" refused_with 'POST /api/sessions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}' 400
check "Transfer-Encoding with Content-Length refused (400)" refused_with 'POST /api/sessions HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}' 400
check "Transfer-Encoding refused (501)" refused_with 'POST /api/sessions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' 501
pad=$(head -c 16400 /dev/zero | tr '\0' a)
check "a head past 16 KiB refused (431)" refused_with "GET /healthz HTTP/1.1\r\nX-Pad: $pad\r\n\r\n" 431

# --- finding 8: empty bodies, 403 with a reason, the tokens rate limit ---
out=$($HH request "$PORT" 'POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
check "POST with Content-Length: 0 answered (400, not a crash)" grep -q '^400 ' <<<"$out"
out=$($HH request "$PORT" "POST /api/sessions/$sid2/tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
check "POST .../tokens with Content-Length: 0 mints" grep -q '^201 ' <<<"$out"
out=$(ws "/ws/$sid" "Sec-WebSocket-Protocol: bearer, $token\r\n")
check "a used token gets 403 with its reason" grep -q '^403 token already used' <<<"$out"
out=$(ws "/ws/$sid2" "Sec-WebSocket-Protocol: bearer, $(mint "$sid")\r\n")
check "a token for another session gets 403" grep -q '^403 token is for another session' <<<"$out"
out=$(ws "/ws/$sid" "Sec-WebSocket-Protocol: bearer, x.y.z\r\n")
check "a forged token gets 403" grep -q '^403 ' <<<"$out"
out=$(ws /agentx "Sec-WebSocket-Protocol: runwire.agent.v1\r\n")
check "an agent upgrade on the wrong path gets 403" grep -q '^403 ' <<<"$out"
check "... and control lives on" healthz_fast

echo '{"limits": {"tokensPerMinute": 3}}' >"$TMP/limits.json"
restart_control limits --local-runners 0 --config "$TMP/limits.json"
sid=$(jq -r .sessionId <<<"$(api POST /api/sessions '{"command":"true"}')")
codes=""
for i in 1 2 3 4; do api POST "/api/sessions/$sid/tokens" >/dev/null; codes+="$(st) "; done
check "tokens per minute: 3 minted, the 4th refused (429)" [ "$codes" = "201 201 201 429 " ]
check "... with Retry-After" bash -c "curl -sS -D - -o /dev/null -X POST '$SERVER/api/sessions/$sid/tokens' | grep -qi '^retry-after: [0-9]'"

# --- finding 7: the pending table, limits per client and in total, descriptors ---
restart_control pending --local-runners 0
base=$(fd_count "$CONTROL_PID")
check "256 idle half-heads from one client held" hold 256 'G' "$TMP/idle.json" --src 127.0.0.2
check "... all of them accepted and pending" wait_for bash -c "(( \$(ls /proc/$CONTROL_PID/fd | wc -l) >= $base + 256 ))"
check "a head cut in two segments is still served (the longest idle makes room)" \
  [ "$($HH slow "$PORT" --gap 0.5)" = 200 ]
unhold

restart_control perclient --local-runners 0 --max-connections-per-client 20
check "20 kept-alive connections from one client held" \
  hold 20 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' "$TMP/pc.json" --src 127.0.0.3 --read-status
check "the 21st from that client gets 429" \
  bash -c "$HH request $PORT 'GET /healthz HTTP/1.1\r\n\r\n' --src 127.0.0.3 | grep -q '^429 '"
check "another client is served meanwhile" healthz_fast
unhold
check "once they close, that client is served again" \
  wait_for bash -c "$HH request $PORT 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' --src 127.0.0.3 | grep -q '^200 '"

restart_control total --local-runners 0 --max-connections 20
check "19 kept-alive connections and 1 idle half-head held (the total is 20)" \
  hold 19 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' "$TMP/total.json" --src 127.0.0.2 --read-status
HOLDER_KEPT=$HOLDER
check "... plus one half-head" hold 1 'G' "$TMP/half.json" --src 127.0.0.3
HOLDER_HALF=$HOLDER
hold 1 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' "$TMP/one.json" --src 127.0.0.4 --read-status
check "at the total, the idle half-head makes room for a new client" grep -q '"200": 1' "$TMP/one.json"
check "20 kept alive now: the 21st connection gets 503" \
  bash -c "$HH request $PORT 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' --src 127.0.0.5 | grep -q '^503 too many connections'"
unhold; HOLDER=$HOLDER_HALF; unhold; HOLDER=$HOLDER_KEPT; unhold
check "below the total again once they close" wait_for healthz_fast

# 300 agent upgrades that never say HELLO (the finding: ~290 were enough), under a
# 300-descriptor limit
CONTROL_LOG="$TMP/control.fds.log"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; rm -f "$TMP/port"
prlimit --nofile=300:300 -- "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port" \
  --data-dir "$TMP/data" --local-runners 0 >"$CONTROL_LOG" 2>&1 &
CONTROL_PID=$!
wait_for test -s "$TMP/port"; PORT=$(cat "$TMP/port")
hold 300 "GET /agent HTTP/1.1\r\nHost: x\r\n${UPGRADE}Sec-WebSocket-Protocol: runwire.agent.v1\r\n\r\n" \
  "$TMP/agents.json" --src 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --read-status
log "agent upgrades: $(cat "$TMP/agents.json")"
check "at most 64 links wait for HELLO; the others get 503 at once" \
  python3 -c "import json,sys; s=json.load(open('$TMP/agents.json'))['statuses']; sys.exit(not (s.get('101',0) <= 64 and s.get('101',0) + s.get('503',0) == 300))"
ok=0; for i in 1 2 3 4 5; do healthz_fast && ok=$((ok + 1)); done
check "/healthz answers within 1 s while they are held (5 of 5)" [ "$ok" = 5 ]
unhold

# descriptors run out (the total cap set above the limit on purpose): no spin, then recovery
CONTROL_LOG="$TMP/control.emfile.log"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; rm -f "$TMP/port"
prlimit --nofile=300:300 -- "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port" \
  --data-dir "$TMP/data" --local-runners 0 --max-connections 1000 --max-connections-per-client 0 \
  >"$CONTROL_LOG" 2>&1 &
CONTROL_PID=$!
wait_for test -s "$TMP/port"; PORT=$(cat "$TMP/port")
hold 330 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' "$TMP/many.json" --src 127.0.0.2
check "descriptors exhausted" wait_for bash -c "(( \$(ls /proc/$CONTROL_PID/fd | wc -l) >= 295 ))"
t0=$(cpu_ticks "$CONTROL_PID"); sleep 2; t1=$(cpu_ticks "$CONTROL_PID")
log "control CPU while out of descriptors: $((t1 - t0)) ticks in 2 s"
check "no busy loop on EMFILE (under 0.6 s of CPU in 2 s)" [ $((t1 - t0)) -lt 60 ]
unhold
check "served again once descriptors are free" wait_for healthz_fast
