#!/usr/bin/env bash
# The real Claude Code CLI (tools/claude) through runwire, offline against a loopback Messages
# API that pauses between its text deltas: the seed's plan run (`claude --permission-mode plan
# -p "$CLAUDE_PROMPT"`, the prompt from `runwire run --prompt`) exits 0 with the plan; the
# sample CLI's Claude stage with the real binary streams the answer to the real client in
# pieces while the "model" speaks, not all at the end (stdout read times), and exits 0. The key
# is a template secret (a file): the API saw exactly it, and no log or API answer shows it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/claude_lib.bash"
jqe() { jq -e "$@" >/dev/null; }

PIECES=6 PAUSE=0.5
start_fake_anthropic --pieces "$PIECES" --pause "$PAUSE"

# The sample CLI's bundle (as bundle_sample_cli.sh gets it).
ZIP="$RW_SRC/build/bundles/sample-cli.zip"
if [[ ! -f "$ZIP" || ! -f "$ZIP.sha256" || "$RW_SRC/sample-cli/src/claude.js" -nt "$ZIP" ]]; then
  [[ -d "$RW_SRC/sample-cli/node_modules" ]] || { log "sample-cli/node_modules missing: run scripts/setup.sh"; exit 1; }
  BUNDLE_OUT_DIR="$TMP/bundles" BUNDLE_STAGE_DIR="$TMP/bundle-stage" \
    bash "$RW_SRC/scripts/build-bundle.sh" 2>"$TMP/build.err" || { cat "$TMP/build.err" >&2; exit 1; }
  ZIP="$TMP/bundles/sample-cli.zip"
fi
SUM=$(cut -d' ' -f1 "$ZIP.sha256")

jq -n --argjson env "$(claude_env)" --argjson sec "$(claude_secrets)" --arg bin "$CLAUDE_BIN" \
  --arg zip "$ZIP" --arg sum "$SUM" '{templates: {
  "claude-plan": {description: "Claude Code plans (the seed)",
    command: ("\"" + $bin + "\" --permission-mode plan -p \"$CLAUDE_PROMPT\""),
    env: $env, secrets: $sec},
  "sample-claude": {description: "the sample CLI with the real Claude Code",
    bundle: {url: $zip, sha256: $sum}, command: "node sample-cli.js run",
    env: ($env + {SAMPLE_CLI_BACKEND: "claude", CLAUDE_BIN: $bin, SAMPLE_CLI_PACE: "0",
                  SAMPLE_CLI_OUT: "../out"}), secrets: $sec}}}' >"$TMP/config.json"
start_control --config "$TMP/config.json" --local-runners 1

# --- the seed's plan run ---
set +e
"$RW_BIN/runwire" run --template claude-plan --prompt "Plan the audit SEED-PROMPT-7" \
  >"$TMP/plan.out" 2>"$TMP/plan.err"; rc=$?
set -e
check "claude --permission-mode plan -p exits 0 through runwire (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -20 "$TMP/plan.out" "$TMP/plan.err" >&2
check "the plan is printed" bash -c "grep -q PLAN-BEGIN '$TMP/plan.out' && grep -q PLAN-END '$TMP/plan.out'"
check "the API got the prompt from runwire run --prompt" \
  jqe -s 'any(.[]; .path == "/v1/messages" and (.last_user_text | tostring | test("SEED-PROMPT-7")))' "$API_LOG"
check "the API got the key from the template's secret file" \
  jqe -s --arg k "$CLAUDE_TEST_KEY" 'map(select(.path == "/v1/messages")) | length > 0 and all(.x_api_key == $k)' "$API_LOG"

# --- the sample CLI's Claude stage, streamed to the real client ---
: >"$API_LOG"
set +e
python3 "$RW_SRC/tests/tools/stamp_output.py" "$TMP/sample.stamps" \
  "$RW_BIN/runwire" run --template sample-claude --prompt "Audit SAMPLE-PROMPT-9" 2>"$TMP/sample.err"; rc=$?
set -e
# the CLI draws under a pty: colours and cursor moves out, for the greps
jq -r -s 'map(.data) | join("")' "$TMP/sample.stamps" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >"$TMP/sample.out"
check "the sample CLI with the real claude exits 0 (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -30 "$TMP/sample.out" "$TMP/sample.err" >&2
check "its backend is Claude Code" grep -q "Audit backend: Claude Code CLI" "$TMP/sample.out"
check "the answer is shown" grep -q "PLAN-END" "$TMP/sample.out"
check "the API got the sample CLI's prompt" \
  jqe -s 'any(.[]; .path == "/v1/messages" and (.last_user_text | tostring | test("SAMPLE-PROMPT-9")))' "$API_LOG"
# When did the first and the last piece of the answer reach the client's stdout? The server
# pauses PAUSE s between its PIECES deltas: streamed, they arrive over ~(PIECES-1)*PAUSE s;
# buffered to the end, together. Half that spread is the (generous) bound.
first=$(jq -s '[.[] | select(.data | test("PLAN-BEGIN"))][0].t' "$TMP/sample.stamps")
last=$(jq -s '[.[] | select(.data | test("PLAN-END"))][0].t' "$TMP/sample.stamps")
pieces=$(jq -s '[.[] | select(.data | test("PLAN-BEGIN|Step [0-9]|PLAN-END"))] | length' "$TMP/sample.stamps")
log "answer's first piece at ${first}s, last at ${last}s, in $pieces reads"
check "the answer arrived in pieces while the model spoke (${first}s .. ${last}s)" \
  python3 -c "import sys; sys.exit(0 if $last - $first >= ($PIECES - 1) * $PAUSE / 2 else 1)"
check "in at least 3 separate reads ($pieces)" [ "$pieces" -ge 3 ]

# --- the key stayed a secret ---
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; CONTROL_PID=""
check "no log or data file of control or its agents holds the key" \
  bash -c "! grep -rqaF '$CLAUDE_TEST_KEY' '$TMP/data' '$CONTROL_LOG'"
