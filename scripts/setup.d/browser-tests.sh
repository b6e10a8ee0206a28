#!/usr/bin/env bash
# browser-tests.sh: playwright-core for the browser tests (tests/browser) from its committed
# lockfile, only when tests/browser/node_modules is missing or older than package-lock.json.
# The browser itself is Debian's chromium (tests/deps.txt, installed by scripts/setup.sh):
# playwright never downloads one here. Run by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../../tests/browser"

stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && ! package-lock.json -nt "$stamp" && -d node_modules/playwright-core ]]; then
  echo "setup: tests/browser/node_modules up to date" >&2
else
  echo "setup: npm ci in tests/browser/ (playwright-core, no browser download)" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    npm ci --no-audit --no-fund --prefer-offline --loglevel=error --update-notifier=false >&2
fi
[[ -x /usr/bin/chromium ]] || echo "setup: /usr/bin/chromium missing: the browser tests will fail" >&2
