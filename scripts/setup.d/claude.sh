#!/usr/bin/env bash
# claude.sh: installs the pinned Claude Code CLI (npm @anthropic-ai/claude-code: a native
# linux-x64 binary inside the package, about 400 MB; its `engines` asks for Node 22 but the
# binary does not use Node) into tools/claude/node_modules from the committed lockfile. Local
# runners, `make demo` and the tests find it at tools/claude/node_modules/.bin/claude.
# Idempotent: does nothing when the locked version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=tools/claude

if ! command -v npm >/dev/null; then
  echo "setup: npm missing; the tests of the real Claude Code CLI will be skipped" >&2
  exit 0
fi
want=$(node -p "require('./$dir/package-lock.json').packages['node_modules/@anthropic-ai/claude-code'].version")
have=$("$dir/node_modules/.bin/claude" --version 2>/dev/null | cut -d' ' -f1 || true)
if [[ $have == "$want" ]]; then
  echo "setup: Claude Code CLI $have present" >&2
  exit 0
fi
echo "setup: installing the Claude Code CLI $want into $dir (about 400 MB, once)" >&2
# the binary comes in a platform package (optional dependency); engines is advisory here
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false \
  --update-notifier=false)
"$dir/node_modules/.bin/claude" --version >/dev/null
