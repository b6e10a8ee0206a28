#!/usr/bin/env bash
# Issue 3, test 4: control unreachable past the grace period. The proxy on the agent's link
# turns into a black hole (nothing forwarded, new connections closed at once). Both sides
# notice the silent link through their pings (within 30 s), the agent retries for its grace
# (3 s here), then ends the session's whole process group (a grandchild too) and exits;
# control, its runner gone past --runner-grace (3 s here), marks the session failed with
# the reason, and the viewer is told.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

start_external_control --runner-grace 3
mkfifo "$TMP/link.fifo"
start_proxy LINK "$PORT" --control-fifo "$TMP/link.fifo"
exec 7<>"$TMP/link.fifo"   # held open: the proxy sees one writer for the whole test
start_agent "$LINK_PORT" --grace 3

"$RW_BIN/runwire" run -- sh -c "sleep 300 & echo \$! >'$TMP/grandchild'; echo started; wait" \
  >"$TMP/run.out" 2>"$TMP/run.err" &
run_pid=$!
PIDS+=("$run_pid")
check "the session runs, with a grandchild" wait_for test -s "$TMP/grandchild"
gc=$(cat "$TMP/grandchild")
sid=$(newest_session)
check "the grandchild is alive" kill -0 "$gc"

t0=$EPOCHREALTIME
echo pause >&7
# Silence is noticed by the pings within 30 s, then 3 s of grace on each side.
for _ in $(seq 1 900); do
  kill -0 "$AGENT_PID" 2>/dev/null || break
  sleep 0.1
done
log "agent gone $(since "$t0") s after the link went silent"
arc=0
wait "$AGENT_PID" || arc=$?
check "the agent gave up and exited (status $arc)" [ "$arc" = 3 ]
check "the agent logged that control was unreachable" grep -q '"event":"control_unreachable"' "$TMP/agent.err"
check "the grandchild is gone" wait_for bash -c "! kill -0 $gc 2>/dev/null"
check "the session is marked failed" wait_for bash -c "[ \"\$(curl -s $SERVER/api/sessions/$sid | jq -r .state)\" = failed ]"
reason=$(session_field "$sid" reason)
log "session $(session_field "$sid" state) $(since "$t0") s after the link went silent: $reason"
check "with the reason: runner lost" bash -c "[[ '$reason' == 'runner lost'* ]]"
rc=0
wait "$run_pid" || rc=$?
check "the viewer was told and exits non-zero (status $rc)" \
  bash -c "[ $rc != 0 ] && grep -q 'session failed: runner lost' '$TMP/run.err'"
