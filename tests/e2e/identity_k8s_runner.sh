#!/usr/bin/env bash
# Runners from elsewhere, one claim each: an external agent presents a Kubernetes projected
# service-account token; control verifies it against the cluster's JWKS and lets each pod
# claim once. The same token used twice, a token for another audience, an expired one, one
# signed by another key and one with alg none are refused.
source "$(dirname "$0")/lib.sh"
MINT="python3 $RW_SRC/tests/e2e/mint_sa_token.py"
ISS=https://kubernetes.default.svc.cluster.local
openssl genrsa -out "$TMP/cluster.pem" 2048 2>/dev/null
openssl genrsa -out "$TMP/other.pem" 2048 2>/dev/null
$MINT jwks "$TMP/cluster.pem" k1 >"$TMP/jwks.json"
start_control --dispatcher external --runner-jwks-file "$TMP/jwks.json" --runner-issuer "$ISS"

agent() { # agent TOKEN: runs an external agent with TOKEN until it exits; prints its status
  printf '%s' "$1" >"$TMP/tok"
  local rc=0
  timeout 20 "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PORT/agent" --token-file "$TMP/tok" \
    --grace 5 >>"$TMP/agents.log" 2>&1 || rc=$?
  echo "$rc"
}

good=$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-uid-1)
"$RW_BIN/runwire" run -- sh -c 'echo claimed-by-pod' >"$TMP/run.out" 2>&1 &
run_pid=$!
rc=$(agent "$good")
wait "$run_pid"
check "a pod's token claims a session and runs it" bash -c "[ $rc = 0 ] && grep -q claimed-by-pod '$TMP/run.out'"
check "the same pod's token again: refused" [ "$(agent "$good")" = 2 ]
check "reason: pod already claimed" grep -q '"reason":"pod already claimed"' "$CONTROL_LOG"
check "another audience: refused" [ "$(agent "$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-2 --aud kubernetes)")" = 2 ]
check "expired: refused" [ "$(agent "$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-3 --exp-in -120)")" = 2 ]
check "signed by another key: refused" [ "$(agent "$($MINT token "$TMP/other.pem" k1 "$ISS" pod-4)")" = 2 ]
check "another issuer: refused" [ "$(agent "$($MINT token "$TMP/cluster.pem" k1 https://evil.example pod-5)")" = 2 ]
none=$($MINT token "$TMP/cluster.pem" k1 "$ISS" pod-6 --alg none); none="${none%.*}."
check "alg none: refused" [ "$(agent "$none")" = 2 ]
