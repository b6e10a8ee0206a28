# lib.sh: shared helpers for the end-to-end tests. Each test starts its own control on a
# loopback port chosen at run time, talks to it as a user, an agent or a browser would, and
# stops everything it started by pid. Sourced, not run.
set -euo pipefail

: "${RW_BIN:?RW_BIN must point at build/bin}"
: "${RW_SRC:?RW_SRC must point at the source tree}"
export LC_ALL=C.UTF-8
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rw-e2e-$TEST_NAME.XXXXXX")
PIDS=()
CONTROL_PID=""
CONTROL_LOG="$TMP/control.log"
FAILURES=0
PASSES=0

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }

# Sanitizer builds: any report in a log is a failure, even when the exit status hides it.
sanitizer_check() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$f"; then
      log "sanitizer report in $f:"
      grep -E -A30 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$f" | head -60 >&2
      FAILURES=$((FAILURES + 1))
    fi
  done
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# kill9 PID...: SIGKILL (a replica dying), reaped quietly (no "Killed" line from bash)
kill9() {
  local pid
  kill -KILL "$@" 2>/dev/null || true
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n "$CONTROL_PID" ]]; then
    stop_pid "$CONTROL_PID"
    wait "$CONTROL_PID" 2>/dev/null
  fi
  sanitizer_check "$CONTROL_LOG" "$TMP"/*.err
  if ((rc != 0 || FAILURES != 0)); then
    log "FAILED (exit $rc, $FAILURES failed checks); control log tail:"
    tail -n 40 "$CONTROL_LOG" >&2 2>/dev/null
    echo "$TEST_NAME: $PASSES passed, $((FAILURES > 0 ? FAILURES : 1)) failed"
    # RW_KEEP_TMP=1: keep the logs of a failed run for a look (a flaky test is a bug)
    if [[ "${RW_KEEP_TMP:-}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit 1
  fi
  echo "$TEST_NAME: $PASSES passed, 0 failed"
  if [[ "${RW_KEEP_TMP:-}" == 2 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit 0
}
trap cleanup EXIT

pass() { PASSES=$((PASSES + 1)); log "ok: $*"; }
fail() { FAILURES=$((FAILURES + 1)); log "FAIL: $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# start_control [flags...]: starts runwire-control on 127.0.0.1:<random port>. Sessions run
# in the sandbox (where bubblewrap runs) and see the test's files and the source tree
# read-only; a test of the sandbox itself sets SANDBOX_RO=() first to see nothing of them.
# No config file unless the flags or RUNWIRE_CONFIG name one (not the build tree's default
# runwire-control.json, which `make bundle` writes).
SANDBOX_RO=(--sandbox-ro "$TMP:$RW_SRC")
start_control() {
  RUNWIRE_CONFIG=${RUNWIRE_CONFIG:-none} "$RW_BIN/runwire-control" --listen 127.0.0.1:0 \
    --port-file "$TMP/port" --data-dir "$TMP/data" ${SANDBOX_RO[@]+"${SANDBOX_RO[@]}"} "$@" \
    >"$CONTROL_LOG" 2>&1 &
  CONTROL_PID=$!
  local i
  for i in $(seq 1 200); do
    [[ -s "$TMP/port" ]] && break
    kill -0 "$CONTROL_PID" 2>/dev/null || { log "control exited at start"; cat "$CONTROL_LOG" >&2; exit 1; }
    sleep 0.05
  done
  PORT=$(cat "$TMP/port")
  SERVER="http://127.0.0.1:$PORT"
  export RUNWIRE_SERVER="$SERVER"
}

# wait_for CMD...: polls up to 10 s for a command to succeed.
wait_for() {
  local i
  for i in $(seq 1 200); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

api() { # api METHOD PATH [JSON|@file]: prints the body; `st` prints the status
  if [[ $# -ge 3 ]]; then
    curl -sS -o "$TMP/api.body" -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
      --data-binary "$3" "$SERVER$2" >"$TMP/api.status"
  else
    curl -sS -o "$TMP/api.body" -w '%{http_code}' -X "$1" "$SERVER$2" >"$TMP/api.status"
  fi
  cat "$TMP/api.body"
}
st() { cat "$TMP/api.status"; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A real redis-server on a free loopback port, no persistence, stopped with the test: sets
# REDIS_PORT, REDIS_PID and STORE (the --store URL for control).
start_redis() { # start_redis [redis-server options...]: later options win (--appendonly yes)
  command -v redis-server >/dev/null || { log "redis-server missing: run scripts/setup.sh"; exit 1; }
  REDIS_PORT=${REDIS_PORT:-$(free_port)}
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    "$@" >>"$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_for redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1
  STORE="redis://127.0.0.1:$REDIS_PORT"
}

# start_replica NAME PORT [control options...]: a control replica on the shared store ($STORE,
# the session secret in $TMP/secret) at 127.0.0.1:PORT with its own data directory, logging
# to $TMP/control-NAME.err, its pid in RPID[NAME]. The same NAME and PORT again restart it.
declare -A RPID
start_replica() {
  local name=$1 port=$2
  shift 2
  mkdir -p "$TMP/$name"
  RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen "127.0.0.1:$port" \
    --data-dir "$TMP/$name/data" --store "$STORE" --session-secret-file "$TMP/secret" "$@" \
    >>"$TMP/control-$name.err" 2>&1 &
  RPID[$name]=$!
  PIDS+=($!)
}
# ready URL: the replica answers /readyz 200
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }

# start_firebase_emulator: the real Firebase Auth emulator (npm firebase-tools, installed by
# scripts/setup.d/firebase-emulator.sh) on loopback ports chosen now; sets EMU_HOSTPORT.
# Outbound traffic from the CLI is pointed at a dead loopback proxy.
start_firebase_emulator() {
  local cli="$RW_SRC/tests/firebase/node_modules/.bin/firebase" auth hub logging i
  [[ -e "$cli" ]] || { log "firebase-tools missing: run scripts/setup.d/firebase-emulator.sh"; exit 1; }
  auth=$(free_port); hub=$(free_port); logging=$(free_port)
  mkdir -p "$TMP/emu/home"
  jq -n --argjson a "$auth" --argjson h "$hub" --argjson l "$logging" \
    '{emulators: {auth: {host: "127.0.0.1", port: $a}, hub: {host: "127.0.0.1", port: $h},
      logging: {host: "127.0.0.1", port: $l}, ui: {enabled: false}}}' >"$TMP/emu/firebase.json"
  (cd "$TMP/emu" && exec env HOME="$TMP/emu/home" XDG_CONFIG_HOME="$TMP/emu/home/.config" CI=true \
    NO_UPDATE_NOTIFIER=1 HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost \
    node "$cli" emulators:start --only auth --project demo-runwire --config "$TMP/emu/firebase.json" \
    >"$TMP/emu/emulator.log" 2>&1) &
  PIDS+=($!)
  EMU_HOSTPORT="127.0.0.1:$auth"
  for i in $(seq 1 450); do
    curl -sf -o /dev/null "http://$EMU_HOSTPORT/" && return 0
    sleep 0.2
  done
  log "the emulator did not start:"; cat "$TMP/emu/emulator.log" >&2; exit 1
}

# emulator_user EMAIL: signs a user up and prints their ID token.
emulator_user() {
  curl -sf -X POST -H 'Content-Type: application/json' \
    --data "{\"email\":\"$1\",\"password\":\"secret-$RANDOM-pw\",\"returnSecureToken\":true}" \
    "http://$EMU_HOSTPORT/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key" | jq -r .idToken
}

# make_test_ca DIR: a test CA (DIR/ca.pem) and a server certificate for the loopback names
# (DIR/server.pem, DIR/server.key), for the https bundle servers.
make_test_ca() {
  local d=$1
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=runwire test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
    -CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
}
