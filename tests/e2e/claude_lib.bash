# claude_lib.bash: for the tests that run the real Claude Code CLI (tools/claude, installed by
# scripts/setup.d/claude.sh) offline: a loopback Messages API (tests/tools/fake_anthropic.py),
# the CLI's environment that keeps it on loopback, and the key as a template secret. Sourced
# after lib.sh.

CLAUDE_DIR="$RW_SRC/tools/claude"
CLAUDE_BIN="$CLAUDE_DIR/node_modules/.bin/claude"
if [[ ! -x "$CLAUDE_BIN" ]]; then
  log "no Claude Code CLI at $CLAUDE_BIN: run scripts/setup.sh (scripts/setup.d/claude.sh)"
  exit 1
fi

# A key only the fake server and the session's secret know (sk-ant- like a real one).
CLAUDE_TEST_KEY="sk-ant-test-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$TMP/secrets"
printf '%s\n' "$CLAUDE_TEST_KEY" >"$TMP/secrets/anthropic"

# start_fake_anthropic [flags...]: the loopback API; sets API_URL and API_LOG (one JSON line
# per request, with the x-api-key the CLI sent).
start_fake_anthropic() {
  API_LOG="$TMP/anthropic-requests.log"
  python3 "$RW_SRC/tests/tools/fake_anthropic.py" --port-file "$TMP/api.port" --log "$API_LOG" "$@" \
    >"$TMP/fake_anthropic.err" 2>&1 &
  PIDS+=($!)
  wait_for test -s "$TMP/api.port" || { log "fake Anthropic API did not start"; exit 1; }
  API_URL="http://127.0.0.1:$(cat "$TMP/api.port")"
}

# claude_env: the template "env" that keeps the CLI on loopback: the fake API, no telemetry,
# error reports, update checks or other traffic the CLI can do without (its documented
# switches), and every proxy pointed at a dead loopback port so that anything else fails fast.
claude_env() {
  jq -n --arg url "$API_URL" '{
    ANTHROPIC_BASE_URL: $url,
    DISABLE_TELEMETRY: "1", DISABLE_ERROR_REPORTING: "1", DISABLE_AUTOUPDATER: "1",
    DISABLE_BUG_COMMAND: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    HTTP_PROXY: "http://127.0.0.1:9", HTTPS_PROXY: "http://127.0.0.1:9",
    http_proxy: "http://127.0.0.1:9", https_proxy: "http://127.0.0.1:9",
    NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost"}'
}

# claude_secrets: the template "secrets" giving the CLI the test key from a file.
claude_secrets() {
  jq -n --arg f "$TMP/secrets/anthropic" '{ANTHROPIC_API_KEY: {file: $f}}'
}
