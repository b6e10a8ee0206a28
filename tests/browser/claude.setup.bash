# claude.setup.bash (sourced by run.sh for claude.test.mjs): the real Claude Code CLI offline
# against the loopback Messages API (tests/e2e/claude_lib.bash), in two templates: the TUI and
# the seed's plan run; the key is a template secret.
source "$RW_SRC/tests/e2e/claude_lib.bash"
start_fake_anthropic --pieces 5 --pause 0.3
jq -n --argjson env "$(claude_env)" --argjson sec "$(claude_secrets)" --arg bin "$CLAUDE_BIN" \
  --arg session "$RW_SRC/tools/claude/claude-session" '{templates: {
  "claude-tui": {description: "Claude Code, interactive", command: ("\"" + $session + "\""),
                 env: ($env + {CLAUDE_BIN: $bin}), secrets: $sec},
  "claude-plan": {description: "Claude Code plans (claude --permission-mode plan -p PROMPT)",
                  command: ("\"" + $bin + "\" --permission-mode plan -p \"$CLAUDE_PROMPT\""),
                  env: $env, secrets: $sec}}}' >"$TMP/claude.config.json"
control_flags+=(--config "$TMP/claude.config.json")
export RW_API_LOG=$API_LOG RW_CLAUDE_KEY=$CLAUDE_TEST_KEY
