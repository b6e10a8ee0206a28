#!/usr/bin/env bash
# demo-claude.sh DEMO_DIR: `make demo` with ANTHROPIC_API_KEY in its environment (and
# ANTHROPIC_BASE_URL when set): the real Claude Code CLI (tools/claude, scripts/setup.d/
# claude.sh). Writes the key to DEMO_DIR/secrets/anthropic (mode 0600, the template names the
# file, never the value: docs/bundles.md "Templates with secrets") and adds to
# DEMO_DIR/config.json (made when missing): the sample CLI's Claude stage with the real binary,
# the seed's plan run (`claude-plan`) and the interactive TUI (`claude-tui`).
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$(mkdir -p "$1" && cd "$1" && pwd)
bin=$PWD/tools/claude/node_modules/.bin/claude
[[ -x $bin ]] || bash scripts/setup.d/claude.sh
(umask 077 && mkdir -p "$demo/secrets" && chmod 700 "$demo/secrets" &&
  printf '%s\n' "$ANTHROPIC_API_KEY" >"$demo/secrets/anthropic")
[[ -f $demo/config.json ]] || echo '{}' >"$demo/config.json"
jq --arg bin "$bin" --arg session "$PWD/tools/claude/claude-session" \
   --arg key "$demo/secrets/anthropic" --arg base "${ANTHROPIC_BASE_URL:-}" '
  ({DISABLE_TELEMETRY: "1", DISABLE_ERROR_REPORTING: "1", DISABLE_AUTOUPDATER: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", CLAUDE_BIN: $bin}
   + (if $base != "" then {ANTHROPIC_BASE_URL: $base} else {} end)) as $env
  | {ANTHROPIC_API_KEY: {file: $key}} as $sec
  | .templates += {
      "claude-plan": {description: "Claude Code plans a change (claude --permission-mode plan -p PROMPT)",
                      command: ("\"" + $bin + "\" --permission-mode plan -p \"${CLAUDE_PROMPT:-Plan a tidy-up of this directory}\""),
                      env: $env, secrets: $sec},
      "claude-tui": {description: "Claude Code, interactive: type into it from the page or runwire attach",
                     command: ("\"" + $session + "\""), env: $env, secrets: $sec}}
  | if .templates["sample-cli"] then
      .templates["sample-cli"].env += $env
      | .templates["sample-cli"].secrets = $sec
      | .templates["sample-cli"].description = "Stage-wise demo CLI with the real Claude Code audit"
    else . end' "$demo/config.json" >"$demo/config.json.new"
mv "$demo/config.json.new" "$demo/config.json"
echo "demo: Claude Code ${ANTHROPIC_BASE_URL:+at $ANTHROPIC_BASE_URL }in templates sample-cli," \
     "claude-plan and claude-tui (the key is a secret: $demo/secrets/anthropic)" >&2
