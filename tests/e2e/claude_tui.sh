#!/usr/bin/env bash
# The interactive Claude Code TUI (tools/claude/claude-session: its own Claude home in the
# session's work directory, first-run dialogs settled) in a runwire session, offline against a
# loopback Messages API: `runwire attach` in tmux sees it start straight at its prompt, types a
# prompt and Enter, and the streamed answer is drawn; /exit ends the session with status 0.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/claude_lib.bash"
jqe() { jq -e "$@" >/dev/null; }
command -v tmux >/dev/null || { log "tmux is missing (tests/deps.txt)"; exit 1; }

start_fake_anthropic --pieces 5 --pause 0.3
jq -n --argjson env "$(claude_env)" --argjson sec "$(claude_secrets)" \
  --arg cmd "$RW_SRC/tools/claude/claude-session" --arg bin "$CLAUDE_BIN" '{templates: {
  "claude-tui": {description: "Claude Code, interactive", command: ("\"" + $cmd + "\""),
                 env: ($env + {CLAUDE_BIN: $bin}), secrets: $sec}}}' >"$TMP/config.json"
start_control --config "$TMP/config.json" --local-runners 1

api POST /api/sessions '{"template": "claude-tui", "cols": 100, "rows": 30}' >"$TMP/create.json"
check "session created ($(st))" [ "$(st)" = 201 ]
sid=$(jq -r .sessionId "$TMP/create.json")

TMUX_SOCK="$TMP/tmux.sock"
tmx() { tmux -S "$TMUX_SOCK" "$@"; }
tmx new-session -d -s tui -x 100 -y 30 \
  "RUNWIRE_SERVER='$SERVER' '$RW_BIN/runwire' attach '$sid' 2>'$TMP/attach.err'; echo \$? >'$TMP/attach.rc'; sleep 60"
# lib.sh's cleanup reads the exit status first: keep it across the tmux server's end
trap 'rc=$?; tmx kill-server 2>/dev/null; (exit $rc); cleanup' EXIT
screen() { tmx capture-pane -p -t tui; }
on_screen() { screen | grep -qF -- "$1"; }
wait_screen() { # wait_screen TEXT [SECONDS]: polls the screen until TEXT is drawn
  local i
  for ((i = 0; i < ${2:-20} * 10; i++)); do on_screen "$1" && return 0; sleep 0.1; done
  return 1
}

check "the TUI starts (banner drawn)" wait_screen "Claude Code v" 30
check "straight at its prompt, no first-run dialog" wait_screen "❯" 10
check "no login or trust question on the screen" \
  bash -c "! tmux -S '$TMUX_SOCK' capture-pane -p -t tui | grep -qiE 'trust the files|select login|do you want to use this api key'"
screen >"$TMP/screen-start.txt"

tmx send-keys -t tui -l "Plan a tidy-up TUI-PROMPT-5"
check "the typed prompt is echoed" wait_screen "TUI-PROMPT-5" 10
tmx send-keys -t tui Enter
check "the streamed answer is drawn" wait_screen "PLAN-END" 30
screen >"$TMP/screen-answer.txt"
check "... all of it" bash -c "grep -q PLAN-BEGIN '$TMP/screen-answer.txt' && grep -q 'Step 3: propose the changes' '$TMP/screen-answer.txt'"
check "the API got the typed prompt with the session's key" \
  jqe -s --arg k "$CLAUDE_TEST_KEY" 'any(.[]; .path == "/v1/messages" and (.last_user_text | tostring | test("TUI-PROMPT-5")) and .x_api_key == $k)' "$API_LOG"

tmx send-keys -t tui -l "/exit"
check "the command menu offers /exit" wait_screen "Exit the CLI" 10
tmx send-keys -t tui Enter
check "runwire attach exits 0 once claude exits" wait_for test -s "$TMP/attach.rc"
check "... with status 0 ($(cat "$TMP/attach.rc" 2>/dev/null))" [ "$(cat "$TMP/attach.rc" 2>/dev/null)" = 0 ]
api GET "/api/sessions/$sid" >"$TMP/session.json"
check "session exited 0" jqe '.state == "exited" and .exitCode == 0' "$TMP/session.json"
check "Claude's home was the session's work directory (removed with it)" test ! -e "$TMP/data/work/$sid"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; CONTROL_PID=""
check "no log or data file of control or its agents holds the key" \
  bash -c "! grep -rqaF '$CLAUDE_TEST_KEY' '$TMP/data' '$CONTROL_LOG'"
