#!/usr/bin/env bash
# sample-cli's npm dependencies (from its lockfile, `npm ci`), installed only when
# sample-cli/node_modules is missing or older than package-lock.json. Run by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../../sample-cli"

# npm writes node_modules/.package-lock.json on every install: its age is the install's age.
stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && ! package-lock.json -nt "$stamp" ]]; then
  echo "setup: sample-cli/node_modules up to date" >&2
  exit 0
fi
echo "setup: npm ci in sample-cli/" >&2
npm ci --no-audit --no-fund --prefer-offline --loglevel=error --update-notifier=false >&2
