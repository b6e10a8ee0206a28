#!/usr/bin/env bash
# run.sh FILE.test.mjs: one browser test file (node --test) against a runwire-control
# started for it on a loopback port chosen at run time (tests/e2e/lib.sh: port from the port
# file, stopped by pid in a trap). The page runs in Debian's headless Chromium through
# playwright-core (tests/browser/lib.mjs). Screenshots go to RW_ARTIFACTS.
#   RW_BIN, RW_SRC: as for the e2e tests; RW_WEB_DIR: the built page (cmake/web.cmake);
#   RW_ARTIFACTS: where screenshots go (default build/browser-artifacts).
# FILE.config.json beside a test file is given to control as its --config (templates);
# FILE.setup.bash is sourced before control starts (peers, a config written at run time).
# A test file with the line "// needs: firebase-emulator" gets the real Firebase Auth
# emulator (npm firebase-tools, scripts/setup.d/firebase-emulator.sh) on loopback ports, and
# a control that signs users in with it (RW_EMULATOR=host:port for the test).
source "$RW_SRC/tests/e2e/lib.sh"
file=$1
TEST_NAME="browser.$(basename "$file" .test.mjs)"
here="$RW_SRC/tests/browser"

if [[ ! -x ${RW_CHROMIUM:-/usr/bin/chromium} ]]; then
  fail "no Chromium at ${RW_CHROMIUM:-/usr/bin/chromium}: run scripts/setup.sh (tests/deps.txt installs chromium)"
  exit 1
fi
if [[ ! -d $here/node_modules/playwright-core ]]; then
  fail "playwright-core missing in tests/browser: run scripts/setup.d/browser-tests.sh"
  exit 1
fi
# The Auth emulator, as tests/e2e-firebase starts it: loopback ports chosen now, a fresh
# HOME, no update check, any other outbound request sent to a dead loopback proxy.
FIREBASE_PROJECT=demo-runwire
start_firebase_emulator() {
  local cli=$RW_SRC/tests/firebase/node_modules/.bin/firebase port hub logging i
  if [[ ! -e $cli ]]; then
    fail "firebase-tools is not installed: run scripts/setup.d/firebase-emulator.sh"
    exit 1
  fi
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  hub=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  logging=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$TMP/emu/home"
  jq -n --argjson auth "$port" --argjson hub "$hub" --argjson logging "$logging" '{emulators: {
    auth: {host: "127.0.0.1", port: $auth}, hub: {host: "127.0.0.1", port: $hub},
    logging: {host: "127.0.0.1", port: $logging}, ui: {enabled: false}}}' >"$TMP/emu/firebase.json"
  (
    cd "$TMP/emu"
    exec env HOME="$TMP/emu/home" XDG_CONFIG_HOME="$TMP/emu/home/.config" CI=true NO_UPDATE_NOTIFIER=1 \
      HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
      http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost \
      node "$cli" emulators:start --only auth --project "$FIREBASE_PROJECT" \
      --config "$TMP/emu/firebase.json" >"$TMP/emulator.log" 2>&1
  ) &
  PIDS+=($!)
  for ((i = 0; i < 450; i++)); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$TMP/emulator.log" >&2; fail "the emulator exited"; exit 1; }
    sleep 0.2
  done
  curl -sf -o /dev/null "http://127.0.0.1:$port/" || { cat "$TMP/emulator.log" >&2; fail "the emulator did not start"; exit 1; }
  export RW_EMULATOR="127.0.0.1:$port"
  log "Firebase Auth emulator on $RW_EMULATOR"
}

if [[ -n ${RW_WEB_DIR:-} ]]; then
  if [[ ! -f $RW_WEB_DIR/index.html ]]; then
    fail "the page is not built in $RW_WEB_DIR (cmake/web.cmake builds it with the tree)"
    exit 1
  fi
  export RUNWIRE_WEB_DIR=$RW_WEB_DIR
fi

control_flags=(--local-runners 2 --max-runners 8)
[[ -f ${file%.test.mjs}.config.json ]] && control_flags+=(--config "${file%.test.mjs}.config.json")
# FILE.setup.bash beside a test file is sourced here: it may start peers and add flags
[[ -f ${file%.test.mjs}.setup.bash ]] && source "${file%.test.mjs}.setup.bash"
if grep -q '^// needs: firebase-emulator' "$file"; then
  start_firebase_emulator
  control_flags+=(--firebase-project "$FIREBASE_PROJECT" --firebase-auth-emulator "$RW_EMULATOR")
fi
start_control "${control_flags[@]}"
export RW_URL=$SERVER
export RW_CONTROL_LOG=$CONTROL_LOG   # tests that wait for something control logs
export RW_ARTIFACTS=${RW_ARTIFACTS:-$RW_SRC/build/browser-artifacts}
mkdir -p "$RW_ARTIFACTS"
check "node --test $(basename "$file") (screenshots in $RW_ARTIFACTS)" \
  node --test --test-reporter=spec --test-timeout=120000 "$file"
