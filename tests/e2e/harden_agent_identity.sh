#!/usr/bin/env bash
# Issue 11, finding 3: an agent resumes a session only with the key issued at ASSIGN and the
# credential of the runner the session was assigned to. Hostile agents (tests/e2e/rwpeer.py)
# try: a never-assigned session with an empty key; an assigned one with an empty key, a wrong
# key, the right key without a credential, with the shared runner token, and with another
# pod's token. Each is refused, receives none of the keys a viewer types, and puts nothing
# on the viewers' screens. The holder's own resume works, with a hand-made agent and with the
# real agent through a link cut. Finding 8 (part): an EXIT whose digest does not match shows
# as "verified": false in the API.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"
PEER="python3 $RW_SRC/tests/e2e/rwpeer.py"
MINT="python3 $RW_SRC/tests/e2e/mint_sa_token.py"
ISS=https://kubernetes.default.svc.cluster.local
openssl genrsa -out "$TMP/cluster.pem" 2048 2>/dev/null
$MINT jwks "$TMP/cluster.pem" k1 >"$TMP/jwks.json"
pod1=$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-uid-1)
pod2=$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-uid-2)
start_external_control --runner-jwks-file "$TMP/jwks.json" --runner-issuer "$ISS"
shared=$(cat "$RUNNER_TOKEN_FILE")

hex() { printf '%b' "$1" | od -An -tx1 | tr -d ' \n'; }
# resume_hello SID KEY [CREDENTIAL]: the HELLO of a reconnecting agent
resume_hello() {
  jq -nc --arg s "$1" --arg k "$2" --arg c "${3-}" \
    '{v: 1, pid: 1, resume: {sessionId: $s, key: $k, acked: 0, end: 1000000}}
     + (if $c == "" then {} else {ticket: $c} end)'
}
viewer_token() { api POST "/api/sessions/$1/tokens" '{}' | jq -r .token; }

# impostor NAME SID HELLO: a hostile agent says HELLO (and would write output once
# accepted) while a viewer of SID attaches and types; both are checked.
impostor() {
  local name=$1 sid=$2 hello=$3 out="$TMP/imp-$1.out" pid
  $PEER agent "$PORT" "$hello" --send-output "IMPOSTOR-$name" --wait 3 >"$out" 2>&1 &
  pid=$!
  wait_for grep -q recv "$out" || true
  $PEER viewer "$PORT" "$sid" "$(viewer_token "$sid")" --input "$(hex 'typed-secret\r')" \
    --wait 1.5 >"$TMP/view-$name.out" 2>&1 || true
  wait "$pid" || true
  check "$name: refused with ERROR" grep -q '"recv": "ERROR"' "$out"
  check "$name: no resume offset given" no_match '"recv": "HELLO"' "$out"
  check "$name: the impostor received no input" no_match '"recv": "INPUT"' "$out"
  check "$name: the viewer saw nothing from it" no_match IMPOSTOR "$TMP/view-$name.out"
}

# The victim: a session the holder (pod-uid-1) claimed, wrote to, and lost its link to.
victim=$(api POST /api/sessions '{"command":"cat"}' | jq -r .sessionId)
$PEER agent "$PORT" "{\"v\":1,\"pid\":1,\"ticket\":\"$pod1\"}" --send-output 'real-output' \
  --wait 1 >"$TMP/holder.out" 2>&1
key=$(jq -r 'select(.recv == "ASSIGN") | .json.resumeKey' "$TMP/holder.out")
check "the holder was assigned the victim and got a resume key" [ "${#key}" = 64 ]
wait_for bash -c "grep -q runner_lost '$CONTROL_LOG'"
# a session no runner ever had: its resume key does not exist yet
waiting=$(api POST /api/sessions \
  "{\"command\":\"echo first; while [ ! -e '$TMP/go' ]; do sleep 0.05; done; echo second\"}" |
  jq -r .sessionId)
check "the second session waits for a runner" [ "$(session_field "$waiting" state)" = waiting ]

impostor never-assigned-empty-key "$waiting" "$(resume_hello "$waiting" "")"
impostor never-assigned-with-credential "$waiting" "$(resume_hello "$waiting" "" "$shared")"
impostor empty-key "$victim" "$(resume_hello "$victim" "" "$pod1")"
impostor wrong-key "$victim" "$(resume_hello "$victim" "$(printf '%064d' 7)" "$pod1")"
impostor right-key-no-credential "$victim" "$(resume_hello "$victim" "$key")"
impostor right-key-shared-token "$victim" "$(resume_hello "$victim" "$key" "$shared")"
impostor right-key-other-pod "$victim" "$(resume_hello "$victim" "$key" "$pod2")"
check "every refusal is in the audit log with its reason" \
  [ "$(grep -c '"event":"agent_resume_refused"' "$CONTROL_LOG")" = 7 ]
check "refusal reasons: never assigned, wrong key, not the runner's credential" bash -c "
  grep -q '\"reason\":\"session was never assigned\"' '$CONTROL_LOG' &&
  grep -q '\"reason\":\"wrong resume key\"' '$CONTROL_LOG' &&
  grep -q \"\\\"reason\\\":\\\"credential is not the session's runner's\\\"\" '$CONTROL_LOG'"
check "the waiting session is still waiting" [ "$(session_field "$waiting" state)" = waiting ]

# The holder comes back: right key, its own (unconsumed, still valid) token. It ends the
# session with a digest that does not match what control received.
$PEER agent "$PORT" "$(resume_hello "$victim" "$key" "$pod1")" --send-output '+resumed' \
  --exit-digest bad --prior 'real-output' --wait 3 >"$TMP/back.out" 2>&1
check "the holder's resume is accepted at the offset control holds" \
  jq -se 'map(select(.recv == "HELLO")) | .[0].json.offset == 11' "$TMP/back.out"
wait_for bash -c "[ \"\$(curl -s '$SERVER/api/sessions/$victim' | jq -r .state)\" = exited ]"
check "a wrong EXIT digest shows in the API: verified false, with the reason" bash -c "
  curl -s '$SERVER/api/sessions/$victim' |
  jq -e '.verified == false and (.verifyReason | test(\"SHA-256\"))' >/dev/null"
check "control logged the mismatch" grep -q '"event":"digest_mismatch"' "$CONTROL_LOG"

# The real agent, with a pod token from a file, claims the waiting session through a proxy;
# the link is cut mid-session and the agent resumes (re-reading its token file, which the
# kubelet would have rotated: here a fresh token for the same pod).
printf '%s' "$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-uid-3)" >"$TMP/pod3.tok"
start_proxy LINK "$PORT"
RUNWIRE_LOG_LEVEL=debug "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$LINK_PORT/agent" \
  --token-file "$TMP/pod3.tok" --work-root "$TMP/work" >"$TMP/agent.err" 2>&1 &
AGENT_PID=$!
PIDS+=("$AGENT_PID")
$PEER viewer "$PORT" "$waiting" "$(viewer_token "$waiting")" --wait 30 >"$TMP/real.out" 2>&1 &
viewer_pid=$!
check "the real agent runs the session" wait_for grep -q first "$TMP/real.out"
printf '%s' "$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-uid-3 --exp-in 900)" >"$TMP/pod3.tok"
kill -USR1 "$LINK_PID"
check "the real agent resumed after the cut" \
  wait_for grep -q '"event":"resumed"' "$TMP/agent.err"
touch "$TMP/go"
wait "$viewer_pid" || true
check "the session ran to its end on the resumed link" \
  jq -se 'map(select(.exit)) | .[0].exit.code == 0' "$TMP/real.out"
# (what the impostors' viewers typed while the session waited reaches the pty at ASSIGN and
# its echo may land before or after "first": only the order of the program's lines counts)
check "both lines arrived, in order" \
  jq -se 'map(select(.all)) | .[0].all | test("first\r\n(.*\r\n)*second\r\n$")' "$TMP/real.out"
check "its EXIT matched: verified true" [ "$(session_field "$waiting" verified)" = true ]

# A local agent (its one-time ticket came through a pipe) resumes with the same ticket: its
# link to control is killed mid-session and the session ends normally. `ss -K` destroys the
# one socket (it needs CAP_NET_ADMIN and a kernel with INET_DIAG_DESTROY, as here).
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true
rm -f "$TMP/port"
start_control --local-runners 1
"$RW_BIN/runwire" -q run -- sh -c "echo first; while [ ! -e '$TMP/go2' ]; do sleep 0.05; done; echo second" \
  >"$TMP/local.out" 2>"$TMP/local.err" &
run_pid=$!
check "the local agent runs the session" wait_for grep -q first "$TMP/local.out"
apid=$(jq -r 'select(.event == "session_assigned") | .agent_pid' "$CONTROL_LOG" | head -1)
lport=$(ss -tnpH state established "( dport = :$PORT )" | grep "pid=$apid," |
  awk '{ n = split($3, a, ":"); print a[n] }' | head -1)
ss -K state established "( sport = :$lport and dport = :$PORT )" >/dev/null 2>&1 || true
check "the local agent's link was cut and it resumed with its own ticket" \
  wait_for grep -q '"event":"agent_resumed"' "$CONTROL_LOG"
touch "$TMP/go2"
rc=0
wait "$run_pid" || rc=$?
check "the session ran to its end (status $rc) with both lines" \
  bash -c "[ $rc = 0 ] && grep -q second '$TMP/local.out'"
check "no resume was refused" no_match agent_resume_refused "$CONTROL_LOG"
