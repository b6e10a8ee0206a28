#!/usr/bin/env bash
# Issue 3, test 6: a window far too small for the output. The agent keeps at most 4 KiB that
# control has not acknowledged (--window 4096) and its link is throttled to 1 MiB/s, so ACKs
# come slowly: the agent must stop reading the pty again and again (the program blocks in
# write) and resume when ACKs arrive. The backpressure path is exercised, not just present:
# the agent logs window_full many times, the program is held back by it, and nothing is lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

SIZE=$(scaled $((4 << 20)) $((2 << 20)))
WINDOW=4096
gen_bytes "$TMP/data.bin" "$SIZE" 7
start_external_control --scrollback "$SIZE"
start_proxy LINK "$PORT" --throttle-up 1M
start_agent "$LINK_PORT" --window "$WINDOW"

t0=$EPOCHREALTIME
rc=0
"$RW_BIN/runwire" -q run -- sh -c "stty -opost; cat '$TMP/data.bin'; date +%s.%N >'$TMP/cat.done'" \
  >"$TMP/out.bin" 2>"$TMP/run.err" || rc=$?
t_end=$EPOCHREALTIME
log "$((SIZE >> 20)) MiB through a $WINDOW-byte window in $(since "$t0") s"
check_delivered "$rc" "$TMP/out.bin" "$TMP/run.err"
fulls=$(grep -c '"event":"window_full"' "$TMP/agent.err" || true)
log "window_full logged $fulls times"
check "the agent stopped reading the pty, and resumed, many times" [ "$fulls" -ge 10 ]
# The program could not run ahead of the link: cat finished only near the end, once all but
# what the pty and the window hold had gone through the 1 MiB/s link.
held=$(awk -v a="$t0" -v c="$(cat "$TMP/cat.done")" -v e="$t_end" -v s="$SIZE" \
  'BEGIN { print ((c - a) >= 0.5 * (e - a) && (e - a) >= 0.5 * s / 1048576) ? 1 : 0 }')
check "the program was held back: it finished writing only near the end" [ "$held" = 1 ]
arc=0
wait "$AGENT_PID" || arc=$?
check "the agent exits 0 (status $arc)" [ "$arc" = 0 ]
