#!/usr/bin/env bash
# emulator_tokens.sh: ID tokens from the real Firebase Auth emulator (npm firebase-tools,
# installed by scripts/setup.d/firebase-emulator.sh) through firebase_auth_verify().
#
# Starts the emulator on loopback ports chosen at run time, signs users up and in through its
# REST API, and feeds the tokens to tests/tools/firebase_verify_tool: accepted in emulator
# mode, refused with the wrong project, refused outside emulator mode (they are unsigned).
# Nothing leaves the machine: the CLI's update check, message of the day and analytics are
# off, and any other outbound request would go to a dead loopback proxy.
set -euo pipefail

RW_SRC=${RW_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
RW_BIN=${RW_BIN:-$RW_SRC/build/bin}
FIREBASE_CLI=$RW_SRC/tests/firebase/node_modules/.bin/firebase
TOOL=$RW_BIN/firebase_verify_tool
PROJECT=demo-runwire
START_TIMEOUT_S=90

if [[ ! -e $FIREBASE_CLI ]]; then
  # scripts/setup.sh installs it: its absence is a set-up failure, not a reason to skip
  echo "FAIL: firebase-tools is not installed (run scripts/setup.d/firebase-emulator.sh)" >&2
  exit 1
fi
[[ -x $TOOL ]] || { echo "FAIL: $TOOL not built" >&2; exit 1; }

work=$(mktemp -d)
emu_pid=""
cleanup() {
  if [[ -n $emu_pid ]] && kill -0 "$emu_pid" 2>/dev/null; then
    kill -TERM "$emu_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$emu_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
AUTH_PORT=$(free_port)
HUB_PORT=$(free_port)
LOGGING_PORT=$(free_port)
DEAD_PORT=$(free_port) # nothing listens there: a certificate URL that fetches nothing

jq -n --argjson auth "$AUTH_PORT" --argjson hub "$HUB_PORT" --argjson logging "$LOGGING_PORT" '{
  emulators: {
    auth: {host: "127.0.0.1", port: $auth},
    hub: {host: "127.0.0.1", port: $hub},
    logging: {host: "127.0.0.1", port: $logging},
    ui: {enabled: false}
  }
}' > "$work/firebase.json"
mkdir -p "$work/home"

# A fresh HOME keeps the CLI's config store (and its analytics opt-in) out of the user's.
# CI=true skips the message-of-the-day fetch; NO_UPDATE_NOTIFIER the registry version check.
(
  cd "$work"
  exec env HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" CI=true \
    NO_UPDATE_NOTIFIER=1 \
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost \
    node "$FIREBASE_CLI" emulators:start --only auth --project "$PROJECT" \
    --config "$work/firebase.json" > "$work/emulator.log" 2>&1
) &
emu_pid=$!

BASE="http://127.0.0.1:$AUTH_PORT"
for ((i = 0; i < START_TIMEOUT_S * 5; i++)); do
  if ! kill -0 "$emu_pid" 2>/dev/null; then
    echo "FAIL: the emulator exited" >&2
    cat "$work/emulator.log" >&2
    exit 1
  fi
  curl -sf -o /dev/null "$BASE/" && break
  sleep 0.2
done
curl -sf -o /dev/null "$BASE/" || {
  echo "FAIL: the emulator did not answer within ${START_TIMEOUT_S}s" >&2
  cat "$work/emulator.log" >&2
  exit 1
}

passed=0
failed=0
check() { # check NAME EXPECTED ACTUAL
  if [[ $3 == "$2" ]]; then
    passed=$((passed + 1)); echo "ok: $1"
  else
    failed=$((failed + 1)); echo "FAIL: $1: wanted \"$2\", got \"$3\"" >&2
  fi
}
api() { # api METHOD JSON
  curl -sf -X POST -H 'Content-Type: application/json' \
    "$BASE/identitytoolkit.googleapis.com/v1/accounts:$1?key=fake-api-key" -d "$2"
}
verify() { # verify TOKEN ARGS...: the tool's first output line (its exit code is checked too)
  local token=$1 out rc=0
  shift
  out=$(printf '%s' "$token" | "$TOOL" "$@" 2>"$work/tool.err") || rc=$?
  printf '%s rc=%d' "$(head -n1 <<<"$out")" "$rc"
}

user=$(api signUp '{"email":"ada@example.com","password":"correct-horse","returnSecureToken":true}')
uid=$(jq -r .localId <<<"$user")
token=$(jq -r .idToken <<<"$user")
check "sign-up returned a user" "1" "$([[ -n $uid && $uid != null && $token == *.*. ]] && echo 1)"
check "unsigned header (alg none)" '{"alg":"none","typ":"JWT"}' \
  "$(cut -d. -f1 <<<"$token" | tr '_-' '/+' | base64 -d 2>/dev/null || true)"

check "sign-up token, emulator mode: accepted" "uid=$uid rc=0" \
  "$(verify "$token" --project "$PROJECT" --emulator)"
out=$(printf '%s' "$token" | "$TOOL" --project "$PROJECT" --emulator)
check "email carried" "email=ada@example.com" "$(sed -n 2p <<<"$out")"

signin=$(api signInWithPassword '{"email":"ada@example.com","password":"correct-horse","returnSecureToken":true}')
check "sign-in token, emulator mode: accepted" "uid=$uid rc=0" \
  "$(verify "$(jq -r .idToken <<<"$signin")" --project "$PROJECT" --emulator)"

anon=$(api signUp '{"returnSecureToken":true}')
check "anonymous token, emulator mode: accepted" "uid=$(jq -r .localId <<<"$anon") rc=0" \
  "$(verify "$(jq -r .idToken <<<"$anon")" --project "$PROJECT" --emulator)"

check "wrong project: refused" "refused: wrong aud rc=1" \
  "$(verify "$token" --project demo-other --emulator)"
check "outside emulator mode: refused" "refused: unsigned token (alg none) refused rc=1" \
  "$(verify "$token" --project "$PROJECT" --certs-url "http://127.0.0.1:$DEAD_PORT/certs")"
check "tool refuses a non-loopback http certs URL" "rc=2" \
  "$(verify "$token" --project "$PROJECT" --certs-url "http://203.0.113.9/certs" | sed 's/^ *//')"

echo "emulator_tokens: $passed passed, $failed failed"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
