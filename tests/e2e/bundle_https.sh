#!/usr/bin/env bash
# Ad-hoc bundles over HTTPS through control: a loopback server with a test CA made here
# (tests/e2e-bundle/server.py), control with --dispatcher external and agents started by the
# test with --ca-file (the CA never reaches control). An allowlisted host runs (install output
# streamed); the second session with the same digest makes no request; a wrong digest fails
# with both digests; a redirect off the allowlist is refused by the agent; a host off the
# allowlist is refused by control; a cancel during a stalled download ends the fetch, the
# session and the agent at once.
source "$(dirname "$0")/lib.sh"
jqe() { jq -e "$@" >/dev/null; }

# Test CA and a server certificate for the loopback names.
make_test_ca "$TMP/ca"
CA="$TMP/ca/ca.pem"

mkdir -p "$TMP/src/app" "$TMP/files"
printf '#!/bin/sh\necho "https-bundle-ran in $(basename "$(pwd)")"\n' >"$TMP/src/app/run.sh"
chmod 755 "$TMP/src/app/run.sh"
(cd "$TMP/src" && zip -qr "$TMP/files/bundle.zip" app)
head -c 3000000 /dev/urandom >"$TMP/src/app/blob.bin"
(cd "$TMP/src" && zip -qr "$TMP/files/big.zip" app)
SUM=$(sha "$TMP/files/bundle.zip")
BIGSUM=$(sha "$TMP/files/big.zip")
ZERO=$(printf '0%.0s' $(seq 64))

python3 "$RW_SRC/tests/e2e-bundle/server.py" --root "$TMP/files" --port-file "$TMP/s.port" \
  --log "$TMP/s.log" --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" 2>"$TMP/server.err" &
PIDS+=($!)
wait_for test -s "$TMP/s.port"
B="https://127.0.0.1:$(cat "$TMP/s.port")"
touch "$TMP/s.log"
requests() { jq -s "[.[] | select(.path == \"$1\")] | length" "$TMP/s.log"; }

cat >"$TMP/config.json" <<EOF
{"bundles": {"allowHosts": ["127.0.0.1"], "allowAdHoc": true}}
EOF
head -c 32 /dev/urandom | base64 >"$TMP/runner-token"
start_control --config "$TMP/config.json" --dispatcher external \
  --runner-token-file "$TMP/runner-token"

# start_agent NAME: one external agent (it claims one session and exits); pid in AGENT_PID.
start_agent() {
  "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PORT/agent" \
    --token-file "$TMP/runner-token" --ca-file "$CA" --work-root "$TMP/work" \
    --cache-dir "$TMP/cache" >"$TMP/agent-$1.log" 2>&1 &
  AGENT_PID=$!
  PIDS+=($AGENT_PID)
}
# run_bundle NAME URL SHA [runwire run flags...]: runs ./run.sh from the bundle; status in rc.
run_bundle() {
  local name=$1 url=$2 sum=$3; shift 3
  start_agent "$name"
  set +e
  "$RW_BIN/runwire" run --bundle "$url" --sha256 "$sum" "$@" -- ./run.sh \
    >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  set -e
}

# --- an allowlisted https host, with an install step ---
run_bundle first "$B/files/bundle.zip" "$SUM" --install 'echo https-install-output'
check "https bundle runs (rc $rc)" [ "$rc" = 0 ]
check "command ran in the unpacked tree" grep -q "https-bundle-ran in bundle" "$TMP/first.out"
check "install output streamed" grep -q "https-install-output" "$TMP/first.out"
check "one request to the server" [ "$(requests /files/bundle.zip)" = 1 ]
check "fetch done line with the size" grep -qE '\[fetch\] done [0-9]+ B' "$TMP/first.err"
check "agent exits after its session" wait_for bash -c "! kill -0 $AGENT_PID 2>/dev/null"

# --- the same digest again: from the cache, no request ---
run_bundle second "$B/files/bundle.zip" "$SUM"
check "cached bundle runs (rc $rc)" [ "$rc" = 0 ]
check "cache hit reported" grep -q '\[fetch\] skipped (cache hit)' "$TMP/second.err"
check "no second request to the server" [ "$(requests /files/bundle.zip)" = 1 ]

# --- wrong digest ---
run_bundle wrong "$B/files/bundle.zip" "$ZERO"
check "wrong digest: exit 125 (rc $rc)" [ "$rc" = 125 ]
check "wrong digest: expected and actual shown" \
  grep -q "sha256 mismatch: expected $ZERO got $SUM" "$TMP/wrong.err"
check "wrong digest: nothing ran" bash -c "! grep -q https-bundle-ran '$TMP/wrong.out'"

# --- a redirect off the allowlist: control saw only the first URL, the agent refuses ---
# (a digest not in the cache: a cached one is served whatever the URL)
run_bundle redirect "$B/redirect?to=https://localhost:$(cat "$TMP/s.port")/files/big.zip" "$BIGSUM"
check "redirect off the allowlist: exit 125 (rc $rc)" [ "$rc" = 125 ]
check "redirect refusal reason shown" \
  grep -q '\[fetch\] failed: host localhost is not on the allowlist (redirect 1)' "$TMP/redirect.err"
check "no request reached the other host" \
  [ "$(jq -s '[.[] | select(.host | startswith("localhost"))] | length' "$TMP/s.log")" = 0 ]

# --- a host off the allowlist: control refuses before any agent is involved ---
set +e
"$RW_BIN/runwire" run --bundle "https://localhost:$(cat "$TMP/s.port")/files/bundle.zip" \
  --sha256 "$SUM" -- ./run.sh >/dev/null 2>"$TMP/host.err"; rc=$?
set -e
check "host off the allowlist refused by control" \
  bash -c "[ $rc = 1 ] && grep -q 'not in the allowlist' '$TMP/host.err'"

# --- cancel while the download stalls ---
start_agent cancel
"$RW_BIN/runwire" run --bundle "$B/stall-body/big.zip" --sha256 "$BIGSUM" -- ./run.sh \
  >"$TMP/cancel.out" 2>"$TMP/cancel.err" &
run_pid=$!
check "stalled download reports progress" wait_for grep -q '\[fetch\] running' "$TMP/cancel.err"
csid=$(api GET /api/sessions | jq -r '[.sessions[] | select(.state == "running")][0].sessionId')
t0=$(date +%s%N)
"$RW_BIN/runwire" cancel "$csid" >/dev/null
check "agent ends within 5 s of the cancel" \
  bash -c "for i in \$(seq 100); do kill -0 $AGENT_PID 2>/dev/null || exit 0; sleep 0.05; done; exit 1"
t1=$(date +%s%N)
log "agent gone $(((t1 - t0) / 1000000)) ms after the cancel"
set +e; wait "$run_pid"; rc=$?; set -e
check "runwire run ends after the cancel (rc $rc)" [ "$rc" != 0 ]
api GET "/api/sessions/$csid" >"$TMP/cancel.json"
check "session state is cancelled" jqe '.state == "cancelled"' "$TMP/cancel.json"
check "the fetch stopped as cancelled" grep -q '\[fetch\] failed: cancelled' "$TMP/cancel.err"
check "the command never ran" bash -c "! grep -q https-bundle-ran '$TMP/cancel.out'"
check "nothing left in the work root" bash -c "[ -z \"\$(ls -A '$TMP/work')\" ]"
sanitizer_check "$TMP"/agent-*.log
