#!/usr/bin/env bash
# Issue 15 (terminal client in a real terminal, tmux): the sample CLI through
# `runwire run --template sample-cli` draws a clean screen (its stage list redraws by moving
# the cursor up: a line of ours in the middle breaks it, "✔ Prepare Workspace" then shows
# many times); the pipeline's stages come before the program and nothing of ours inside
# its drawing; with stderr not a terminal every stage line is said. The detach keys ("~."
# after a newline, Ctrl-\ twice) leave the session running, and `runwire attach` resumes it.
source "$(dirname "$0")/lib.sh"
RW="$RW_BIN/runwire"
command -v tmux >/dev/null || { log "tmux is missing (tests/deps.txt)"; exit 1; }

ZIP="$RW_SRC/build/bundles/sample-cli.zip"
if [[ ! -f "$ZIP" || ! -f "$ZIP.sha256" ]]; then
  [[ -d "$RW_SRC/sample-cli/node_modules" ]] ||
    { log "sample-cli/node_modules is missing: run scripts/setup.sh"; exit 1; }
  BUNDLE_OUT_DIR="$TMP/bundles" BUNDLE_STAGE_DIR="$TMP/bundle-stage" \
    bash "$RW_SRC/scripts/build-bundle.sh" 2>"$TMP/build.err" || { cat "$TMP/build.err" >&2; exit 1; }
  ZIP="$TMP/bundles/sample-cli.zip"
fi
SUM=$(cut -d' ' -f1 "$ZIP.sha256")
# paced as on a terminal (shorter than the default): the stage list redraws many times
jq -n --arg url "$ZIP" --arg sha "$SUM" '{templates: {"sample-cli": {
  description: "The stage-wise demo CLI (offline mode).",
  bundle: {url: $url, sha256: $sha}, command: "node sample-cli.js run",
  env: {SAMPLE_CLI_BACKEND: "offline", SAMPLE_CLI_PACE: "60", SAMPLE_CLI_OUT: "../out"}}}}' \
  >"$TMP/config.json"
start_control --config "$TMP/config.json" --local-runners 1

SOCK="$TMP/tmux.sock"
TMUX_STARTED=
# in_tmux NAME COMMAND: runs COMMAND in a fresh 100x40 tmux window; its status lands in
# $TMP/NAME.rc; the window stays for capture-pane. Every byte the window gets goes to
# $TMP/NAME.raw too (pipe-pane, started before COMMAND: it waits for $TMP/NAME.go).
in_tmux() {
  local name=$1 cmd=$2
  if [[ -z $TMUX_STARTED ]]; then
    tmux -S "$SOCK" -f /dev/null new-session -d -x 100 -y 40 -s main "exec sleep 600"
    PIDS+=("$(tmux -S "$SOCK" display -p '#{pid}')")
    tmux -S "$SOCK" set-option -g history-limit 5000
    TMUX_STARTED=1
  fi
  tmux -S "$SOCK" new-window -d -n "$name" \
    "env TERM=xterm-256color RUNWIRE_SERVER=$SERVER sh -c 'while [ ! -e $TMP/$name.go ]; do sleep 0.05; done; $cmd; echo \$? >$TMP/$name.rc.tmp; mv $TMP/$name.rc.tmp $TMP/$name.rc; exec sleep 600'"
  tmux -S "$SOCK" pipe-pane -t "main:$name" "cat >$TMP/$name.raw"
  wait_for test -e "$TMP/$name.raw"
  touch "$TMP/$name.go"
}
screen() { tmux -S "$SOCK" capture-pane -p -J -S - -E - -t "main:$1"; }
rc_of() { cat "$TMP/$1.rc" 2>/dev/null; }
wait_long() { # wait_long CMD...: polls up to 60 s (a Node CLI on a loaded machine)
  local i
  for i in $(seq 1 600); do "$@" && return 0; sleep 0.1; done
  return 1
}

# ---- the sample CLI on a terminal ----
# clean_screen NAME WHAT: the checks on a finished sample CLI's screen
clean_screen() {
  local name=$1 what=$2 n pyrc=0
  wait_long test -s "$TMP/$name.rc" || log "$name: did not end in 60 s"
  screen "$name" >"$TMP/$name.screen"
  check "$what exits 0 (rc $(rc_of "$name"))" [ "$(rc_of "$name")" = 0 ]
  n=$(grep -c '✔ Prepare Workspace' "$TMP/$name.screen" || true)
  check "$what: '✔ Prepare Workspace' appears exactly once on the screen (got $n)" [ "$n" = 1 ]
  check "$what: the pipeline's stages before the program" \
    bash -c "grep -q '$3: \[fetch\]' '$TMP/$name.screen' && grep -q '$3: \[unpack\] done' '$TMP/$name.screen'"
  # no line of ours between the program's first byte and its last, in all the terminal got
  # (the screen alone hides them: the program's redraws erase what they break)
  python3 - "$TMP/$name.raw" "$3" >"$TMP/$name.check" <<'PY' || pyrc=$?
import sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
tag = sys.argv[2] + ": ["
first, last = raw.find("\u256d"), raw.rfind("\u2570")   # the program's first and last box
inside = [l for l in raw[first:last].split("\n") if tag in l] if 0 <= first < last else ["no box"]
print(len(inside), inside[:1])
sys.exit(1 if inside else 0)
PY
  check "$what: no '$3: [' line inside the program's drawing ($(head -c 300 "$TMP/$name.check"))" \
    [ "$pyrc" = 0 ]
  if [[ $pyrc != 0 || "$(rc_of "$name")" != 0 || "$n" != 1 ]]; then
    log "screen:"; cat "$TMP/$name.screen" >&2
  fi
}

in_tmux demo "$RW run --template sample-cli"
clean_screen demo "runwire run --template sample-cli" runwire
check "the session line first" bash -c "grep -m1 . '$TMP/demo.screen' | grep -q '^runwire: session .*watch it at'"

# the same bundle through runwire-agent run, as its author tests it
in_tmux agent "$RW_BIN/runwire-agent run --bundle $ZIP --sha256 $SUM --cache-dir none -e SAMPLE_CLI_BACKEND=offline -e SAMPLE_CLI_PACE=60 -e SAMPLE_CLI_OUT=../out -- node sample-cli.js run"
clean_screen agent "runwire-agent run (the sample CLI)" runwire-agent

# stderr not a terminal: every stage line, plainly
in_tmux plain "$RW run --template sample-cli 2>$TMP/plain.err"
wait_long test -s "$TMP/plain.rc" || log "the plain run did not end in 60 s"
check "stderr to a file: exit 0 (rc $(rc_of plain))" [ "$(rc_of plain)" = 0 ]
check "stderr to a file: the agent's and the CLI's stage lines, all of them" \
  bash -c "grep -q '\[fetch\]' '$TMP/plain.err' && grep -q '\[Prepare Workspace\] done' '$TMP/plain.err' && grep -q '\[Consolidate API Docs\] done' '$TMP/plain.err'"

# ---- detach keys ----
# detach_case NAME KEYS...: a session that waits for $TMP/NAME.finish, detached with KEYS
detach_case() {
  local name=$1 sid; shift
  in_tmux "$name" "$RW run -- sh -c \"echo started-$name; while [ ! -e $TMP/$name.finish ]; do sleep 0.1; done; echo finished-$name; exit 5\""
  wait_long bash -c "tmux -S '$SOCK' capture-pane -p -t 'main:$name' | grep -q '^started-$name'" ||
    log "$name: the program did not start"
  tmux -S "$SOCK" send-keys -t "main:$name" "$@"
  wait_for test -s "$TMP/$name.rc" || log "$name: the client did not detach"
  screen "$name" >"$TMP/$name.screen"
  check "$name: the client exits 120 (rc $(rc_of "$name"))" [ "$(rc_of "$name")" = 120 ]
  sid=$(sed -n 's/^runwire: session \([^:]*\): .*/\1/p' "$TMP/$name.screen")
  check "$name: it says the session keeps running and how to resume it" \
    grep -q "detached: session $sid keeps running; runwire attach $sid resumes it" "$TMP/$name.screen"
  check "$name: the session is still running" \
    bash -c "curl -s '$SERVER/api/sessions/$sid' | jq -e '.state == \"running\"' >/dev/null"
  touch "$TMP/$name.finish"
  rc=0; timeout 60 "$RW" attach "$sid" >"$TMP/$name.att" 2>"$TMP/$name.att.err" </dev/null || rc=$?
  check "$name: runwire attach resumes it to the program's status 5 (rc $rc)" [ "$rc" = 5 ]
  check "$name: ... with what it wrote after the detach" grep -q "finished-$name" "$TMP/$name.att"
}
detach_case tilde Enter '~' '.'
detach_case ctrlbs 'C-\' 'C-\'
