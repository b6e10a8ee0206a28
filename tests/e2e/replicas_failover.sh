#!/usr/bin/env bash
# A replica dies mid-stream (docs/operations.md, "Replicas with Redis"): three
# external-dispatcher replicas A, B and C share a real redis-server on a free loopback port.
# A session is created on A; its runner (a Kubernetes service-account token) dials C first
# and is moved to A, where the session waits; a viewer attaches through B. While about 64 MiB
# stream, A is killed with SIGKILL. The runner goes down its --control list to C, which takes
# the session over from the store at the offset the store confirmed, and the runner resends
# from there: the viewer on B gets every byte, byte for byte, with the exit digest checked;
# the session ends "exited 0" on every replica. An impostor with the right resume key but
# another pod's token is refused by the replica taking over, as by the session's own.
source "$(dirname "$0")/lib.sh"
MINT="python3 $RW_SRC/tests/e2e/mint_sa_token.py"
ISS=https://kubernetes.default.svc.cluster.local
openssl genrsa -out "$TMP/cluster.pem" 2048 2>/dev/null
$MINT jwks "$TMP/cluster.pem" k1 >"$TMP/jwks.json"

start_redis
head -c 48 /dev/urandom | base64 >"$TMP/secret"
PA=$(free_port)
PB=$(free_port)
PC=$(free_port)
for r in "a $PA" "b $PB" "c $PC"; do
  set -- $r
  start_replica "$1" "$2" --dispatcher external --runner-jwks-file "$TMP/jwks.json" \
    --runner-issuer "$ISS" --advertise-url "ws://127.0.0.1:$2/agent"
done
A="http://127.0.0.1:$PA"
B="http://127.0.0.1:$PB"
C="http://127.0.0.1:$PC"
check "A, B and C ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B && ready $C"

# 7,500,000 lines (about 64 MiB with the terminal's \r) in 75 pieces, a tenth of a second apart
SERVER=$A
cmd='for i in $(seq 0 74); do seq $((i*100000+1)) $((i*100000+100000)); sleep 0.1; done'
sid=$(api POST /api/sessions "$(jq -n --arg c "$cmd" '{command: $c}')" | jq -r .sessionId)
check "session created on A" [ "$(st)" = 201 ]
seq 1 7500000 | sed 's/$/\r/' >"$TMP/expected"
queue_seen() { curl -s "$C/api/queue" | jq -e '.waiting == 1' >/dev/null; }
check "C sees the waiting session in the fleet's queue" wait_for queue_seen
sleep 0.6   # C's copy of A's figures (with its URL) is at most two fleet ticks old

tok=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
RUNWIRE_SERVER=$B timeout 120 "$RW_BIN/runwire" attach --token "$tok" "$sid" >"$TMP/view.out" 2>"$TMP/view.err" &
VIEW=$!
$MINT token "$TMP/cluster.pem" k1 "$ISS" pod-1 >"$TMP/tok-1"
timeout 120 "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PC/agent,ws://127.0.0.1:$PB/agent,ws://127.0.0.1:$PA/agent" \
  --token-file "$TMP/tok-1" --grace 60 >"$TMP/agent.err" 2>&1 &
AGENT=$!

running_on_a() { curl -s "$A/api/sessions/$sid" | jq -e '.state == "running"' >/dev/null; }
check "the runner was moved from C to A and runs the session there" wait_for running_on_a
got() { [ "$(stat -c %s "$TMP/view.out" 2>/dev/null || echo 0)" -ge "$1" ]; }
check "the viewer on B has 16 MiB" wait_for got $((16 << 20))
kill9 "${RPID[a]}"
log "killed A at $(stat -c %s "$TMP/view.out") bytes viewed"

set +e
wait "$VIEW"; rc_view=$?
wait "$AGENT"; rc_agent=$?
set -e
check "the viewer on B exits 0: the program's code, every byte, digest verified" [ "$rc_view" = 0 ]
check "its output is the program's, byte for byte" cmp "$TMP/view.out" "$TMP/expected"
check "it was never told of skipped bytes" bash -c "! grep -qi 'skipped\|resync\|unverified\|differ' $TMP/view.err"
check "the runner exits 0 (its session delivered)" [ "$rc_agent" = 0 ]
check "the runner resumed on C" grep -q '"resumed"' "$TMP/agent.err"
check "C took the session over from A" bash -c "grep '\"session_adopted\"' $TMP/control-c.err | grep -q $sid"
check "B took nothing over" bash -c "! grep -q '\"session_adopted\"' $TMP/control-b.err"
exited() { [ "$(curl -s "$1/api/sessions/$sid" | jq -r '"\(.state) \(.exitCode)"')" = "exited 0" ]; }
check "the session is exited 0 on C" wait_for exited "$C"
check "and on B" wait_for exited "$B"
ls_same() { diff <(RUNWIRE_SERVER=$B "$RW_BIN/runwire" ls) <(RUNWIRE_SERVER=$C "$RW_BIN/runwire" ls) >/dev/null; }
check "runwire ls answers the same through B and C" wait_for ls_same
check "C lists it with the runner's SHA-256" bash -c "curl -s $C/api/sessions/$sid | jq -e '.sha256 | length == 64' >/dev/null"
# the store kept the newest 16 MiB when C took over: C never had the head, and says so
check "C says it could not check the digest, and why" bash -c "curl -s $C/api/sessions/$sid | jq -e '.verified == false and (.verifyReason | test(\"taken over\"))' >/dev/null"
check "C logs digest_not_checked, not a mismatch" bash -c "grep -q '\"digest_not_checked\"' $TMP/control-c.err && ! grep -q '\"digest_mismatch\"' $TMP/control-c.err"
check "A's data directory never had it all: the run really crossed replicas" \
  [ "$(stat -c %s "$TMP/a/data/sessions/$sid.log")" -lt "$(stat -c %s "$TMP/expected")" ]

# ---- who may take a session over: the same checks as on its own replica ----
# A hand-made runner (tests/e2e/rwpeer.py, pod-2) claims a session on B and writes to it; B
# is killed. On C an impostor with the right resume key but another pod's valid token is
# refused; the real runner resumes on C at the offset the store holds and ends the session,
# whose digest C checks against every byte (the store had it all).
PEER="python3 $RW_SRC/tests/e2e/rwpeer.py"
SERVER=$B
sid2=$(api POST /api/sessions '{"command":"cat"}' | jq -r .sessionId)
pod2=$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-2)
evil=$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-evil)
$PEER agent "$PB" "{\"v\":1,\"pid\":1,\"ticket\":\"$pod2\"}" --send-output 'real-output' \
  --wait 1 >"$TMP/holder.out" 2>&1
key=$(jq -r 'select(.recv == "ASSIGN") | .json.resumeKey' "$TMP/holder.out")
check "the runner on B was assigned the session and got a resume key" [ "${#key}" = 64 ]
in_store() { curl -s "$C/api/sessions/$sid2" | jq -e '.bytes == 11' >/dev/null; }
check "C sees B's 11 bytes" wait_for in_store
kill9 "${RPID[b]}"
resume_hello() {
  jq -nc --arg s "$1" --arg k "$2" --arg c "$3" \
    '{v: 1, pid: 1, ticket: $c, resume: {sessionId: $s, key: $k, acked: 0, end: 11}}'
}
$PEER agent "$PC" "$(resume_hello "$sid2" "$key" "$evil")" --send-output IMPOSTOR --wait 2 \
  >"$TMP/impostor.out" 2>&1 || true
check "C refuses the impostor" grep -q '"recv": "ERROR"' "$TMP/impostor.out"
check "without an offset" bash -c "! grep -q '\"recv\": \"HELLO\"' $TMP/impostor.out"
check "and says why in its audit log" bash -c "grep '\"agent_resume_refused\"' $TMP/control-c.err | grep -q 'credential is not the session'"
sleep 2.5   # B's figures expire (FLEET_FIGURES_TTL_MS): until then C leaves B the session
$PEER agent "$PC" "$(resume_hello "$sid2" "$key" "$pod2")" --send-output '+resumed' \
  --exit-digest ok --prior 'real-output' --wait 3 >"$TMP/back.out" 2>&1 || true
check "the real runner resumes on C at the offset the store holds (11)" \
  jq -se 'map(select(.recv == "HELLO")) | .[0].json.offset == 11' "$TMP/back.out"
done2() { curl -s "$C/api/sessions/$sid2" | jq -e '.state == "exited" and .verified == true' >/dev/null; }
check "the session ends on C, its digest verified over every byte" wait_for done2
tok2=$(SERVER=$C api POST "/api/sessions/$sid2/tokens" '{"role":"viewer"}' | jq -r .token)
RUNWIRE_SERVER=$C timeout 20 "$RW_BIN/runwire" attach --token "$tok2" "$sid2" >"$TMP/view2.out" 2>"$TMP/view2.err" || true
check "a viewer on C afterwards gets it all" [ "$(cat "$TMP/view2.out")" = "real-output+resumed" ]
check "and no impostor output" bash -c "! grep -q IMPOSTOR $TMP/view2.out"
