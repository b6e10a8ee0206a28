#!/usr/bin/env bash
# Issue 3, test 1: 64 MiB of deterministic output while a fault-injecting proxy cuts the
# agent's link to control at 10 random (seeded) points. The program never notices: the agent
# keeps what control has not acknowledged, reconnects, and resends from the offset control
# says it holds. The viewer's bytes have the SHA-256 of what the program wrote, and runwire
# itself finds the total and digest of the exit event matching.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

SIZE=$(scaled $((64 << 20)) $((16 << 20)))
CUTS=10
gen_bytes "$TMP/data.bin" "$SIZE" 1
# a scrollback as large as the output: this test is about the agent's link, so a viewer that
# is slower than the program for a moment must not fall behind into a resync
start_external_control --scrollback "$SIZE"
# cut points drawn from [1, SIZE] of the bytes crossing the link: all fall inside the stream
start_proxy LINK "$PORT" --seed 3 --cut-random "$CUTS" --cut-span "$SIZE"
start_agent "$LINK_PORT"

t0=$EPOCHREALTIME
rc=0
"$RW_BIN/runwire" -q run -- sh -c "stty -opost; cat '$TMP/data.bin'" >"$TMP/out.bin" \
  2>"$TMP/run.err" || rc=$?
log "$((SIZE >> 20)) MiB through $CUTS cuts in $(since "$t0") s"
check_delivered "$rc" "$TMP/out.bin" "$TMP/run.err"
check "the proxy cut the agent link $CUTS times" [ "$(grep -c 'reason=cut-at' "$TMP/LINK.log")" = "$CUTS" ]
check "the agent resumed after every cut" \
  [ "$(grep -c '"event":"resumed"' "$TMP/agent.err")" -ge "$CUTS" ]
sid=$(newest_session)
check "control's own digest of the session matches" \
  [ "$(session_field "$sid" sha256)" = "$(sha "$TMP/data.bin")" ]
check "session exited with 0" [ "$(session_field "$sid" state)/$(session_field "$sid" exitCode)" = exited/0 ]
arc=0
wait "$AGENT_PID" || arc=$?
check "the agent exits 0 once everything is acknowledged (status $arc)" [ "$arc" = 0 ]
