#!/usr/bin/env bash
# Installs s3rver (a real S3 API on loopback, npm) for tests/e2e-bundle/s3.sh into
# tests/node_modules from tests/package.json and its lockfile. Idempotent: does nothing when the
# locked version is already there. Called by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

want=$(node -e 'console.log(require("./tests/package-lock.json").packages["node_modules/s3rver"].version)')
have=$(node -e 'try { console.log(require("./tests/node_modules/s3rver/package.json").version) } catch (e) { console.log("") }')
if [[ "$have" == "$want" ]]; then
  echo "setup: s3rver $have present" >&2
  exit 0
fi
echo "setup: installing s3rver $want into tests/node_modules" >&2
(cd tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
