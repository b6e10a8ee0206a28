#!/usr/bin/env bash
# The sample CLI end to end (issue 6): `make bundle`'s build/bundles/sample-cli.zip (built here
# into the test's directory when missing) as a `sample-cli` template, run by control's local
# agent with `runwire run --template sample-cli`: exit 0, the stage names in order in the
# terminal output and as stage events from the CLI (source cli) on stderr and to viewers.
source "$(dirname "$0")/lib.sh"
jqe() { jq -e "$@" >/dev/null; }

ZIP="$RW_SRC/build/bundles/sample-cli.zip"
if [[ ! -f "$ZIP" || ! -f "$ZIP.sha256" ]]; then
  log "no $ZIP: building it (scripts/build-bundle.sh, needs sample-cli/node_modules)"
  if [[ ! -d "$RW_SRC/sample-cli/node_modules" ]]; then
    log "sample-cli/node_modules is missing: run scripts/setup.sh (scripts/setup.d/sample-cli.sh)"
    exit 1
  fi
  BUNDLE_OUT_DIR="$TMP/bundles" BUNDLE_STAGE_DIR="$TMP/bundle-stage" \
    bash "$RW_SRC/scripts/build-bundle.sh" 2>"$TMP/build.err" || { cat "$TMP/build.err" >&2; exit 1; }
  ZIP="$TMP/bundles/sample-cli.zip"
fi
SUM=$(cut -d' ' -f1 "$ZIP.sha256")
check "the zip matches its .sha256" [ "$(sha "$ZIP")" = "$SUM" ]

# The audit's backend is pinned offline: a `claude` on the runner's PATH or a key must not
# change what this test sees. The bundle is read-only in the sandbox: the report goes to the
# work directory beside it (SAMPLE_CLI_OUT, relative to the bundle root).
jq -n --arg url "$ZIP" --arg sha "$SUM" '{templates: {"sample-cli": {
  description: "The stage-wise demo CLI (offline mode).",
  bundle: {url: $url, sha256: $sha}, command: "node sample-cli.js run",
  env: {SAMPLE_CLI_BACKEND: "offline", SAMPLE_CLI_PACE: "0", SAMPLE_CLI_OUT: "../out"}}}}' \
  >"$TMP/config.json"
start_control --config "$TMP/config.json" --local-runners 1

api GET /api/config >"$TMP/config.out"
check "GET /api/config lists the template" \
  jqe '.templates | any(.name == "sample-cli" and (.description | test("demo")))' "$TMP/config.out"

set +e
"$RW_BIN/runwire" run --template sample-cli --prompt "Audit this workspace" \
  >"$TMP/run.out" 2>"$TMP/run.err"; rc=$?
set -e
check "runwire run --template sample-cli exits 0 (rc $rc)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -20 "$TMP/run.err" >&2

STAGES=("Prepare Workspace" "Generate Glossaries" "Consolidate API Docs" "AI-SECURITY-AUDIT")
# first_at FILE TEXT: byte offset of TEXT's first occurrence, or a huge number
first_at() { grep -boF -- "$2" "$1" | head -1 | cut -d: -f1 | grep . || echo 999999999; }
in_order() {
  local file=$1 prev=-1 at s
  for s in "${STAGES[@]}"; do
    at=$(first_at "$file" "$s")
    [[ $at -gt $prev && $at != 999999999 ]] || { log "  '$s' at $at, previous at $prev"; return 1; }
    prev=$at
  done
}
check "stage names appear in order in the output" in_order "$TMP/run.out"
check "the boxed header" grep -q "Root Workflow - Stage-wise demo" "$TMP/run.out"
check "offline audit labelled" grep -qi "offline" "$TMP/run.out"
check "stage lines in order on stderr" in_order "$TMP/run.err"
check "CLI stages reported done on stderr" grep -q '\[Consolidate API Docs\] done' "$TMP/run.err"
check "the agent's stages on stderr" bash -c "grep -q '\[fetch\] done' '$TMP/run.err' && grep -q '\[unpack\] done' '$TMP/run.err'"

# What viewers get: the CLI's stages as events from source cli, after the agent's.
sid=$(api GET /api/sessions | jq -r '.sessions[0].sessionId')
token=$(api POST "/api/sessions/$sid/tokens" '{}' | jq -r .token)
python3 "$RW_SRC/tests/e2e/bundle_viewer.py" 127.0.0.1 "$PORT" "$sid" "$token" >"$TMP/events"
CLI='[.[] | select(.type == "stage" and .source == "cli" and .state == "running") | .stage]'
check "stage events from source cli, in order" jqe -s "$CLI"' as $s |
  ["Prepare Workspace", "Generate Glossaries", "Consolidate API Docs"] as $want |
  ($s | index($want[0])) < ($s | index($want[1])) and ($s | index($want[1])) < ($s | index($want[2])) and
  ($s | map(select(startswith("AI-SECURITY-AUDIT"))) | length) > 0' "$TMP/events"
check "every CLI stage ends done" jqe -s \
  '[.[] | select(.type == "stage" and .source == "cli")] | group_by(.stage) | all(any(.state == "done"))' "$TMP/events"
check "exit 0 with the whole output's digest" \
  jqe -s --arg sha "$(sha "$TMP/run.out")" 'any(.[]; .type == "exit" and .code == 0 and .sha256 == $sha)' "$TMP/events"
