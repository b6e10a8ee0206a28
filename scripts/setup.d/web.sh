#!/usr/bin/env bash
# web.sh: the browser page's npm packages (control/web: xterm.js, the Firebase Web SDK,
# esbuild) from its committed lockfile with `npm ci`, only when control/web/node_modules is
# missing or older than package-lock.json. Run by scripts/setup.sh and by the build
# (cmake/web.cmake), which then needs no network.
set -euo pipefail
cd "$(dirname "$0")/../../control/web"

# npm writes node_modules/.package-lock.json on every install: its age is the install's age.
stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && ! package-lock.json -nt "$stamp" && -x node_modules/.bin/esbuild ]]; then
  echo "setup: control/web/node_modules up to date" >&2
  exit 0
fi
echo "setup: npm ci in control/web/" >&2
npm ci --no-audit --no-fund --prefer-offline --loglevel=error --update-notifier=false >&2
