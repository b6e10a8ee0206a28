#!/usr/bin/env bash
# The cluster's JWKS fetched from a URL (--runner-jwks-url) rather than read from a file: a
# loopback HTTPS endpoint (tests/e2e/mint_sa_token.py serve) stands in for the cluster's.
# Its Cache-Control is read and bounded; a rotated key is learnt by a refetch on its unknown
# kid, at most once per --runner-jwks-refetch, while the runner is told to retry (not refused);
# a failed fetch and a bad document keep the last good set, each with a clear log line.
source "$(dirname "$0")/lib.sh"
MINT="python3 $RW_SRC/tests/e2e/mint_sa_token.py"
ISS=https://kubernetes.default.svc.cluster.local
J="$TMP/jwks"
mkdir -p "$J"
make_test_ca "$J"
for k in k1 k2 weak; do
  bits=2048; [[ $k == weak ]] && bits=1024
  openssl genrsa -out "$TMP/$k.pem" $bits 2>/dev/null
done
$MINT jwks "$TMP/k1.pem" k1 >"$J/body"
echo 'public, max-age=3600, must-revalidate' >"$J/cache"
$MINT serve "$J" 2>"$TMP/jwks-server.err" &
PIDS+=($!)
wait_for test -s "$J/port"
URL="https://127.0.0.1:$(cat "$J/port")/openid/v1/jwks"

fetches() { jq -s '[.[] | select(.event == "runner_jwks_fetched")] | length' "$CONTROL_LOG"; }
failures() { jq -s '[.[] | select(.event == "runner_jwks_fetch_failed")] | length' "$CONTROL_LOG"; }
hits() { wc -l <"$J/hits" 2>/dev/null || echo 0; }

# refused at start: plain http off loopback, a URL together with a file
check "http JWKS URL off loopback: refused at start" bash -c \
  "RUNWIRE_CONFIG=none '$RW_BIN/runwire-control' --listen 127.0.0.1:0 --data-dir '$TMP/d0' --dispatcher external \
   --runner-jwks-url http://jwks.example/keys --runner-issuer '$ISS' 2>&1 | grep -q 'must be https'"
check "--runner-jwks-url with --runner-jwks-file: refused" bash -c \
  "RUNWIRE_CONFIG=none '$RW_BIN/runwire-control' --listen 127.0.0.1:0 --data-dir '$TMP/d0' --dispatcher external \
   --runner-jwks-url '$URL' --runner-jwks-file '$J/body' --runner-issuer '$ISS' 2>&1 | grep -q 'one or the other'"

start_control --dispatcher external --runner-jwks-url "$URL" --runner-jwks-ca-file "$J/ca.pem" \
  --runner-issuer "$ISS" --runner-jwks-refetch 1
check "fetched at start, over https with the given CA, Cache-Control's max-age read" \
  wait_for bash -c "jq -e 'select(.event == \"runner_jwks_fetched\") | .keys == 1 and .max_age == 3600' '$CONTROL_LOG' >/dev/null"

agent() { # agent POD KEY KID [GRACE]: an external agent with that pod's token; its exit status
  $MINT token "$TMP/$2.pem" "$3" "$ISS" "$1" >"$TMP/tok-$1"
  local rc=0
  timeout 30 "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PORT/agent" --token-file "$TMP/tok-$1" \
    --work-root "$TMP/work" --grace "${4:-10}" >"$TMP/agent-$1.log" 2>&1 || rc=$?
  echo "$rc"
}
run_one() { # run_one POD KID: a session run by a fresh agent; prints "<agent status> <run status>"
  "$RW_BIN/runwire" run -- echo "ran-by-$1" >"$TMP/run-$1.out" 2>&1 &
  local run=$! rc rrc=0
  rc=$(agent "$1" "$2" "$2")
  wait "$run" || rrc=$?
  grep -q "ran-by-$1" "$TMP/run-$1.out" || rrc=99
  echo "$rc $rrc"
}

check "a pod signed by k1 runs a session" [ "$(run_one pod-1 k1)" = "0 0" ]
n0=$(hits)

# rotation: the cluster now signs with k2 and publishes both keys
$MINT jwks "$TMP/k1.pem" k1 "$TMP/k2.pem" k2 >"$J/body"
check "a pod signed by the rotated key k2 is told to retry, then runs its session" [ "$(run_one pod-2 k2)" = "0 0" ]
check "the runner was deferred (retry), not refused" \
  bash -c "grep -q '\"event\":\"runner_token_deferred\"' '$CONTROL_LOG' && ! grep -q 'runner_token_refused' '$CONTROL_LOG'"
check "its unknown kid fetched the JWKS again (2 keys)" \
  jq -e -s '[.[] | select(.event == "runner_jwks_fetched")] | last | .keys == 2' "$CONTROL_LOG"

# a kid the cluster never published: each agent retries ever more slowly and gives up after
# its grace (exit 3). Ten at once say HELLO some fifty times; the JWKS is fetched at most
# once a second meanwhile.
n1=$(hits); d1=$(grep -c runner_token_deferred "$CONTROL_LOG"); t1=$(date +%s.%N)
for i in $(seq 10); do agent "pod-3-$i" k2 k9 3 >"$TMP/rc-3-$i" & done
wait_for_all() { local i; for i in $(seq 10); do [[ -s "$TMP/rc-3-$i" ]] || return 1; done; }
wait_for bash -c "$(declare -f wait_for_all); TMP='$TMP' wait_for_all" || sleep 10
t2=$(date +%s.%N); n2=$(hits); d2=$(grep -c runner_token_deferred "$CONTROL_LOG")
check "ten pods signed by an unpublished kid give up after their grace" \
  bash -c "[ \"\$(cat '$TMP'/rc-3-* | sort -u)\" = 3 ]"
check "unknown-kid refetches rate limited: at most one per second" \
  python3 -c "import sys; n, d, w = $n2 - $n1, $d2 - $d1, $t2 - $t1; print(d, 'deferred HELLOs,', n, 'fetches in', round(w, 1), 's', file=sys.stderr); sys.exit(0 if d >= 3 * n and 1 <= n <= w + 1 else 1)"

# the endpoint fails: the last good set stays, said clearly
echo 503 >"$J/status"
f0=$(failures)
agent pod-4 k2 k9 1 >/dev/null   # an unknown kid pokes a refetch
check "a failed fetch is logged, saying the previous keys are kept" \
  wait_for bash -c "jq -e -s '[.[] | select(.event == \"runner_jwks_fetch_failed\")] | last | (.reason | test(\"HTTP 503\")) and (.action | test(\"keeping the previous keys\"))' '$CONTROL_LOG' >/dev/null"
check "k2 still works during the outage" [ "$(run_one pod-5 k2)" = "0 0" ]

# a bad document: refused whole, with the reason; the last good set stays
rm -f "$J/status"
$MINT jwks "$TMP/k1.pem" k1 "$TMP/weak.pem" kweak >"$J/body"
sleep 1.1
agent pod-6 k2 k9 1 >/dev/null
check "a JWKS with a 1024-bit key is refused whole, saying why" \
  wait_for bash -c "jq -e -s '[.[] | select(.event == \"runner_jwks_fetch_failed\")] | last | .reason | test(\"kweak.*under 2048 bits\")' '$CONTROL_LOG' >/dev/null"
echo '{"keys": "none"}' >"$J/body"
sleep 1.1
agent pod-7 k2 k9 1 >/dev/null
check "a JWKS without a keys array is refused, saying why" \
  wait_for bash -c "jq -e -s '[.[] | select(.event == \"runner_jwks_fetch_failed\")] | last | .reason | test(\"no .keys. array\")' '$CONTROL_LOG' >/dev/null"
check "k1 and k2 still work after the bad documents" [ "$(run_one pod-8 k1)" = "0 0" ]

# a max-age under the floor counts as the floor (60 s)
$MINT jwks "$TMP/k1.pem" k1 "$TMP/k2.pem" k2 >"$J/body"
echo 'max-age=5' >"$J/cache"
sleep 1.1
agent pod-9 k2 k9 1 >/dev/null
check "max-age 5 is raised to the 60 s floor" \
  wait_for bash -c "jq -e -s '[.[] | select(.event == \"runner_jwks_fetched\")] | last | .max_age == 60' '$CONTROL_LOG' >/dev/null"

# at most 16 keys in a set: 17 refuse the document, 16 are taken
kids=(); for i in $(seq 17); do kids+=("$TMP/k1.pem" "m$i"); done
$MINT jwks "${kids[@]}" >"$J/body"
sleep 1.1
agent pod-10 k2 k9 1 >/dev/null
check "a JWKS of 17 keys is refused (at most 16)" \
  wait_for bash -c "jq -e -s '[.[] | select(.event == \"runner_jwks_fetch_failed\")] | last | .reason | test(\"more than 16 keys\")' '$CONTROL_LOG' >/dev/null"
$MINT jwks "${kids[@]:0:32}" >"$J/body"
sleep 1.1
agent pod-11 k2 k9 1 >/dev/null
check "a JWKS of 16 keys is taken" \
  wait_for bash -c "jq -e -s '[.[] | select(.event == \"runner_jwks_fetched\")] | last | .keys == 16' '$CONTROL_LOG' >/dev/null"
sanitizer_check "$TMP"/agent-*.log
