#!/usr/bin/env bash
# KEDA's ScaledJob "accurate" arithmetic played against /api/queue on the internal listener,
# with real agents as Jobs (--ready-file as their Ready condition, --idle-exit), a burst of 50
# sessions, a warm pool of 2, maxReplicaCount 30, Jobs slow to start and some that never get
# Ready. No overshoot at any poll, every session runs and exits 0 (tests/e2e/keda_accurate.py).
source "$(dirname "$0")/lib.sh"
ISS=https://kubernetes.default.svc.cluster.local
openssl genrsa -out "$TMP/cluster.pem" 2048 2>/dev/null
python3 "$RW_SRC/tests/e2e/mint_sa_token.py" jwks "$TMP/cluster.pem" k1 >"$TMP/jwks.json"
printf 'keda-bearer-%s%s' "$RANDOM" "$RANDOM$RANDOM" >"$TMP/internal.tok"
start_control --dispatcher external --runner-jwks-file "$TMP/jwks.json" --runner-issuer "$ISS" \
  --warm-target 2 --internal-listen 127.0.0.1:0 --internal-token-file "$TMP/internal.tok"
IPORT=$(jq -r 'select(.event == "front_door") | .internal_port' "$CONTROL_LOG")
mkdir -p "$TMP/jobs"
rc=0
python3 "$RW_SRC/tests/e2e/keda_accurate.py" --server "$SERVER" --internal "http://127.0.0.1:$IPORT" \
  --internal-token-file "$TMP/internal.tok" --control "ws://127.0.0.1:$PORT/agent" \
  --dead-port "$(free_port)" --agent "$RW_BIN/runwire-agent" --control-log "$CONTROL_LOG" --key "$TMP/cluster.pem" \
  --issuer "$ISS" --work "$TMP/jobs" --sessions 50 --max-replicas 30 ${KEDA_ARGS:-} >"$TMP/keda.json" || rc=$?
log "$(cat "$TMP/keda.json")"
check "accurate scaling: no overshoot, all 50 sessions exited 0 on their own runners" [ "$rc" = 0 ]
check "some Jobs never got Ready (dead control URL) and were replaced" \
  jq -e '.jobs_dead_url >= 1 and .jobs_created > 52' "$TMP/keda.json"
check "the warm pool is 2 idle agents at the end, demand 0" \
  jq -e '.final_queue.idle_agents == 2 and .final_queue.demand == 0' "$TMP/keda.json"
sanitizer_check "$TMP"/jobs/*/agent.log
