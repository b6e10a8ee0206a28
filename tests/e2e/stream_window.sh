#!/usr/bin/env bash
# Issue 3: what the agent's window is for. While its link is up the agent holds at most 1 MiB
# of output control has not acknowledged (RUNNER_LIVE_WINDOW); the whole window (--window)
# fills only while the link is down, so the program runs on through an outage.
#   1. control frozen (SIGSTOP, the link up but nothing acknowledged): a program writing
#      3 MiB is held back;
#   2. the link down (the proxy cuts it and refuses reconnects): the same 3 MiB is taken into
#      the default 8 MiB window and the program finishes while the outage lasts;
#   3. one past the edge: with --window 2M the 3 MiB does not fit, the program is held back
#      until the link is back.
# Every session then delivers its bytes exactly.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

SIZE=$((3 << 20))
gen_bytes "$TMP/data.bin" "$SIZE" 11
start_external_control --scrollback $((4 << 20))
mkfifo "$TMP/link.fifo"
start_proxy LINK "$PORT" --control-fifo "$TMP/link.fifo"
exec 7<>"$TMP/link.fifo" # held open: the proxy sees one writer for the whole test

# run_session NAME: a session that waits for $TMP/NAME.go, writes the 3 MiB, then marks
# $TMP/NAME.written; the viewer (connected to control directly) writes to $TMP/NAME.out.
run_session() {
  local name=$1
  "$RW_BIN/runwire" -q run -- sh -c "stty -opost; echo ready >'$TMP/$name.ready'; \
    while [ ! -e '$TMP/$name.go' ]; do sleep 0.05; done; cat '$TMP/data.bin'; \
    touch '$TMP/$name.written'" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  printf -v "${name}_PID" '%s' "$!"
  PIDS+=($!)
  wait_for test -s "$TMP/$name.ready" || { log "session $name did not start"; exit 1; }
}

# delivered NAME PID: the viewer exits 0 with exactly the program's bytes.
delivered() {
  local name=$1 pid=$2 rc=0
  wait "$pid" || rc=$?
  check_delivered "$rc" "$TMP/$name.out" "$TMP/$name.err" "$name"
}

# 1. control frozen with the link up: the live limit holds the program back
start_agent "$LINK_PORT"
run_session frozen
kill -STOP "$CONTROL_PID"
touch "$TMP/frozen.go"
sleep 3
check "control frozen: the program is held back after about 1 MiB (3 MiB not taken)" \
  test ! -e "$TMP/frozen.written"
kill -CONT "$CONTROL_PID"
check "control back: the program finishes" wait_for test -e "$TMP/frozen.written"
delivered frozen "$frozen_PID"
wait "$AGENT_PID" || true
mv "$TMP/agent.err" "$TMP/agent-frozen.err" # each part reads its own agent's log

# 2. the link down: the whole window is there to take the output
start_agent "$LINK_PORT"
run_session outage
echo pause >&7 # new connections are refused at once ...
echo cut >&7   # ... and the agent's link is shut down: the agent knows it is offline
check "the agent saw its link go" wait_for grep -q '"event":"disconnected"' "$TMP/agent.err"
touch "$TMP/outage.go"
check "link down: the 3 MiB goes into the 8 MiB window, the program finishes during the outage" \
  wait_for test -e "$TMP/outage.written"
echo resume >&7
delivered outage "$outage_PID"
wait "$AGENT_PID" || true
mv "$TMP/agent.err" "$TMP/agent-outage.err"

# 3. one past the edge: a 2 MiB window cannot take 3 MiB during the outage
start_agent "$LINK_PORT" --window $((2 << 20))
run_session small
echo pause >&7
echo cut >&7
check "the agent saw its link go" wait_for grep -q '"event":"disconnected"' "$TMP/agent.err"
touch "$TMP/small.go"
check "link down, 2 MiB window: the window fills" wait_for grep -q '"event":"window_full"' "$TMP/agent.err"
sleep 2
check "the program is held back while the link is down" test ! -e "$TMP/small.written"
echo resume >&7
check "link back: the program finishes" wait_for test -e "$TMP/small.written"
delivered small "$small_PID"
