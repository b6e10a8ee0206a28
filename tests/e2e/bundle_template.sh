#!/usr/bin/env bash
# Bundles through control and its local agents, from operators' templates that name local zips:
# the pipeline's stages arrive in order (agent and CLI), the command runs in the unpacked tree
# after the install step, whose output is streamed into the same stream (EXIT's digest covers
# both); a second session is served from the cache; a wrong digest fails the session (exit
# 125) with the expected and actual digests shown by `runwire run`; an install that exits 7
# makes `runwire` exit 7 and the command never runs; ad-hoc bundles are refused unless allowed.
source "$(dirname "$0")/lib.sh"
jqe() { jq -e "$@" >/dev/null; }   # jq as a predicate

# A bundle with one top-level directory (stripped by the agent), an executable and a CLI that
# reports a stage on RUNWIRE_EVENTS_FD. run.sh proves it runs after install, in the tree.
mkdir -p "$TMP/src/app"
cat >"$TMP/src/app/run.sh" <<'EOF'
#!/bin/sh
[ -f installed ] || { echo "install did not run before the command"; exit 9; }
printf '{"stage":"bundle-check","state":"running"}\n' >&"$RUNWIRE_EVENTS_FD"
echo "hello-from-bundle in $(basename "$(pwd)") with $(cat data.txt)"
printf '{"stage":"bundle-check","state":"done"}\n' >&"$RUNWIRE_EVENTS_FD"
EOF
chmod 755 "$TMP/src/app/run.sh"
echo "payload-42" >"$TMP/src/app/data.txt"
(cd "$TMP/src" && zip -qr "$TMP/app.zip" app)
SUM=$(sha "$TMP/app.zip")
ZERO=$(printf '0%.0s' $(seq 64))

cat >"$TMP/config.json" <<EOF
{"templates": {
  "app": {"description": "test bundle",
          "bundle": {"url": "$TMP/app.zip", "sha256": "$SUM"},
          "install": "echo install-output-marker; touch installed",
          "command": "./run.sh"},
  "bad-digest": {"bundle": {"url": "$TMP/app.zip", "sha256": "$ZERO"}, "command": "./run.sh"},
  "install-fails": {"bundle": {"url": "$TMP/app.zip", "sha256": "$SUM"},
                    "install": "echo failing-install; exit 7",
                    "command": "touch '$TMP/command-ran'"},
  "cat": {"bundle": {"url": "$TMP/app.zip", "sha256": "$SUM"}, "command": "cat"}
 },
 "bundles": {"allowHosts": ["bundles.example.com"], "allowAdHoc": false}}
EOF
start_control --config "$TMP/config.json" --local-runners 1

# --- a template: stages, install output, command output, one digest over both ---
set +e
"$RW_BIN/runwire" run --template app >"$TMP/app.out" 2>"$TMP/app.err"; rc=$?
set -e
check "template session exits 0 (rc $rc)" [ "$rc" = 0 ]
check "command output arrives" grep -q "hello-from-bundle in bundle with payload-42" "$TMP/app.out"
check "install output streamed" grep -q "install-output-marker" "$TMP/app.out"
check "install output comes before the command's" \
  [ "$(grep -n install-output-marker "$TMP/app.out" | cut -d: -f1)" -lt "$(grep -n hello-from-bundle "$TMP/app.out" | cut -d: -f1)" ]
stage_lines() { grep -oE '\[[a-z-]+\] [a-z]+' "$1" | grep -v ' running$' | tr '\n' ' '; }
check "stage lines in order on stderr" \
  [ "$(stage_lines "$TMP/app.err")" = "[fetch] done [verify] done [unpack] done [install] done [bundle-check] done " ]
check "fetch progress readable" grep -qE '^runwire: \[fetch\] done [0-9]+ B$' "$TMP/app.err"
check "no digest complaint from runwire" bash -c "! grep -qE 'corrupted|incomplete' '$TMP/app.err'"

sid=$(api GET /api/sessions | jq -r '[.sessions[] | select(.template == "app")][0].sessionId')
api GET "/api/sessions/$sid" >"$TMP/app.json"
check "API: exited with code 0" jqe '.state == "exited" and .exitCode == 0' "$TMP/app.json"
check "EXIT digest covers install and run output" \
  [ "$(jq -r .sha256 "$TMP/app.json")" = "$(sha "$TMP/app.out")" ]
token=$(api POST "/api/sessions/$sid/tokens" '{}' | jq -r .token)
python3 "$RW_SRC/tests/e2e/bundle_viewer.py" 127.0.0.1 "$PORT" "$sid" "$token" >"$TMP/app.events"
EV='[.[] | select(.type == "stage" and .state != "running") | .source + ":" + .stage + ":" + .state] | join(" ")'
check "stage events in order, agent then CLI" [ "$(jq -r -s "$EV" "$TMP/app.events")" = \
  "agent:fetch:done agent:verify:done agent:unpack:done agent:install:done cli:bundle-check:done agent:run:done" ]
check "fetch progress events carry bytes" \
  jqe -s "any(.[]; .stage == \"fetch\" and .state == \"done\" and .total == $(stat -c %s "$TMP/app.zip"))" "$TMP/app.events"
check "work directory removed after the session" test ! -e "$TMP/data/work/$sid"

# --- the same digest again: the cache, no fetch ---
"$RW_BIN/runwire" run --template app >"$TMP/app2.out" 2>"$TMP/app2.err"
check "second session served from the cache" grep -q '\[fetch\] skipped (cache hit)' "$TMP/app2.err"
check "second session's output" grep -q "hello-from-bundle" "$TMP/app2.out"

# --- a wrong digest fails the session with both digests shown ---
set +e
"$RW_BIN/runwire" run --template bad-digest >"$TMP/bad.out" 2>"$TMP/bad.err"; rc=$?
set -e
check "wrong digest: runwire exits 125 (rc $rc)" [ "$rc" = 125 ]
check "wrong digest: expected and actual digests shown" \
  grep -q "\[verify\] failed: sha256 mismatch: expected $ZERO got $SUM" "$TMP/bad.err"
check "wrong digest: the command never ran" bash -c "! grep -q hello-from-bundle '$TMP/bad.out'"
set +e
"$RW_BIN/runwire" -q run --template bad-digest >/dev/null 2>"$TMP/badq.err"
set -e
check "wrong digest: the reason shows even with -q" grep -q "sha256 mismatch" "$TMP/badq.err"
bsid=$(api GET /api/sessions | jq -r '[.sessions[] | select(.template == "bad-digest")][0].sessionId')
api GET "/api/sessions/$bsid" >"$TMP/bad.json"
check "API: the failed bundle session exited 125" jqe '.state == "exited" and .exitCode == 125' "$TMP/bad.json"

# --- install fails with 7: runwire exits 7, the command does not run ---
set +e
"$RW_BIN/runwire" run --template install-fails >"$TMP/inst.out" 2>"$TMP/inst.err"; rc=$?
set -e
check "install exit 7 -> runwire exits 7 (rc $rc)" [ "$rc" = 7 ]
check "install's output streamed" grep -q failing-install "$TMP/inst.out"
check "install failure shown" grep -q '\[install\] failed: install exited with code 7' "$TMP/inst.err"
check "the command did not run" test ! -e "$TMP/command-ran"

# --- input sent before the command starts (while the bundle is prepared) is kept for it ---
set +e
printf 'typed-before-the-command\n' | "$RW_BIN/runwire" run -i --template cat >"$TMP/cat.out" 2>"$TMP/cat.err"; rc=$?
set -e
check "early input reaches the command (rc $rc)" grep -q "typed-before-the-command" "$TMP/cat.out"
check "cat ends at the end of the early input" [ "$rc" = 0 ]

# --- ad-hoc bundles: refused here (allowAdHoc false), and the client's own checks ---
set +e
"$RW_BIN/runwire" run --bundle https://bundles.example.com/app.zip --sha256 "$SUM" -- ./run.sh \
  >/dev/null 2>"$TMP/adhoc.err"; rc=$?
"$RW_BIN/runwire" run --bundle https://bundles.example.com/app.zip -- ./run.sh 2>"$TMP/nosha.err"; rc2=$?
"$RW_BIN/runwire" run --template app -- ./run.sh 2>"$TMP/tplcmd.err"; rc3=$?
"$RW_BIN/runwire" run --template no-such 2>"$TMP/notpl.err"; rc4=$?
set -e
check "ad-hoc bundle refused by config (rc $rc)" \
  bash -c "[ $rc = 1 ] && grep -q 'ad-hoc bundles are not allowed' '$TMP/adhoc.err'"
check "--bundle without --sha256 refused by the client" \
  bash -c "[ $rc2 = 2 ] && grep -q 'go together' '$TMP/nosha.err'"
check "--template with a command refused by the client" \
  bash -c "[ $rc3 = 2 ] && grep -q 'brings its own command' '$TMP/tplcmd.err'"
check "unknown template: clear error" bash -c "[ $rc4 = 1 ] && grep -q 'no template named' '$TMP/notpl.err'"
