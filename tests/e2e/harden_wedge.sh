#!/usr/bin/env bash
# Issue 11, finding 1: no peer can wedge control. A viewer, an agent and an HTTP download each
# stop reading until control's socket to them is blocked (polled in /proc/net/tcp) and then
# half-close (FIN, socket kept open): with libwebsockets 4.1.6 alone the WebSocket ones left
# control spinning forever inside lws_service() (no /healthz, no SIGTERM) and the download
# made it spin until lws's 30 s timeout. Then each kind of peer closes or resets (SO_LINGER 0)
# at random points (seeded). Throughout, /healthz answers within 1 s; afterwards control's CPU
# is idle with the half-closed peers still there, a new session runs end to end, and SIGTERM
# stops control. (tests/tools/hostile_peer.py is the peer; conn_guard.c the fix.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

PEER="$RW_SRC/tests/tools/hostile_peer.py"
SEED=${HARDEN_WEDGE_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
log "seed $SEED (HARDEN_WEDGE_SEED=$SEED repeats this run)"
IDLE_TICKS_MAX=20   # CPU ticks (1/100 s) in 2 s: 10% of a core; the wedge burns all 200

start_external_control
start_agent "$PORT"
body=$(api POST /api/sessions '{"command":"yes | head -c 50000000"}')
sid=$(jq -r .sessionId <<<"$body")
for _ in $(seq 1 1200); do
  [ "$(session_field "$sid" state)" = exited ] && break
  sleep 0.1
done
check "the fast session ran to its end ($(session_field "$sid" bytes) bytes)" \
  [ "$(session_field "$sid" state)" = exited ]

# /healthz every 0.2 s for the whole test; a probe that takes more than 1 s is a failure
( while [ ! -e "$TMP/stop-health" ]; do
    curl -sf -m 1 -o /dev/null "$SERVER/healthz" || echo "no answer within 1 s at $(date +%T.%N)"
    echo probe >>"$TMP/probes"
    sleep 0.2
  done ) >"$TMP/health.log" 2>&1 &
PIDS+=($!)

evidence() {
  log "control (pid $CONTROL_PID) stopped answering; where it is:"
  timeout 20 gdb -p "$CONTROL_PID" -batch -ex 'thread apply all bt' 2>&1 | grep -E '^#' >&2 || true
  timeout 2 strace -c -p "$CONTROL_PID" 2>&1 | tail -n 6 >&2 || true
}

# hostile NAME KIND WHAT END [peer flags...]: one hostile peer; waits until it has left,
# then /healthz must answer within 1 s. A half-closing peer keeps its socket until the end.
hostile() {
  local name=$1 kind=$2 what=$3 end=$4 pid read
  shift 4
  read=$(grep -o -- '--read [0-9]*' <<<"$*" || true)
  : >"$TMP/$name.out"
  python3 "$PEER" "$PORT" "$kind" "$what" "$end" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 600); do
    grep -q ended "$TMP/$name.out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q ended "$TMP/$name.out"; then
    fail "$name: the peer did not get to leave: $(tail -n 2 "$TMP/$name.err")"
    return
  fi
  if curl -sf -m 1 -o /dev/null "$SERVER/healthz"; then
    pass "$name ($kind, $end${read:+ after $read}): /healthz answers within 1 s after it left"
  else
    fail "$name ($kind, $end${read:+ after $read}): /healthz does not answer within 1 s after it left"
    evidence
    exit 1
  fi
}

ticks() { awk '{ print $14 + $15 }' "/proc/$CONTROL_PID/stat"; }
# idle LABEL: control used at most IDLE_TICKS_MAX ticks of CPU in the next 2 s
idle() {
  local t0 used
  t0=$(ticks)
  sleep 2
  used=$(($(ticks) - t0))
  check "control is idle $1 ($used ticks of CPU in 2 s)" [ "$used" -le "$IDLE_TICKS_MAX" ]
  ((used <= IDLE_TICKS_MAX)) || evidence
}

viewer_token() { api POST "/api/sessions/$sid/tokens" >/dev/null; jq -r .token "$TMP/api.body"; }

# The deterministic wedge: control has bytes for the peer that its socket does not take.
hostile viewer-fin viewer "$sid" halfclose --token "$(viewer_token)"
log "$(cat "$TMP/viewer-fin.err")"
idle "with the viewer half-closed"
hostile agent-fin agent "$RUNNER_TOKEN_FILE" halfclose --min-queue 1
log "$(cat "$TMP/agent-fin.err")"
idle "with the agent half-closed"
hostile download-fin http "/api/sessions/$sid/recording" halfclose --min-queue 1
log "$(cat "$TMP/download-fin.err")"
idle "with the download half-closed"

# Close and RST at random points: after up to 1 MiB read.
for round in 1 2; do
  for end in close rst; do
    hostile "viewer-$end-$round" viewer "$sid" "$end" --token "$(viewer_token)" --read $((RANDOM * 32))
    hostile "agent-$end-$round" agent "$RUNNER_TOKEN_FILE" "$end" --read $((RANDOM * 32))
    hostile "download-$end-$round" http "/api/sessions/$sid/recording" "$end" --read $((RANDOM * 32))
  done
done

probes=$(wc -l <"$TMP/probes")
check "/healthz answered within 1 s in all $probes probes of the whole run" \
  [ ! -s "$TMP/health.log" ]
[ -s "$TMP/health.log" ] && head -n 5 "$TMP/health.log" >&2

idle "at the end, with the three half-closed peers still connected"

start_agent "$PORT"
out=$("$RW_BIN/runwire" -q run -- echo still serving 2>"$TMP/run.err") || true
check "a new session runs end to end" grep -q "still serving" <<<"$out"

touch "$TMP/stop-health"
kill -TERM "$CONTROL_PID"
for _ in $(seq 1 200); do
  kill -0 "$CONTROL_PID" 2>/dev/null || break
  sleep 0.05
done
check "control stops on SIGTERM" bash -c "! kill -0 $CONTROL_PID 2>/dev/null"
