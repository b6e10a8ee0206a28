#!/usr/bin/env bash
# firebase-emulator.sh: installs npm firebase-tools (the Firebase Auth emulator, JavaScript
# only, about 300 MB) into tests/firebase/node_modules from the committed lockfile, for
# tests/e2e-firebase. Idempotent: does nothing when the locked version is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=tests/firebase

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: node/npm missing; the Firebase emulator test will be skipped" >&2
  exit 0
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "setup: firebase-tools needs Node.js 20 or later (have $(node --version));" \
       "the Firebase emulator test will be skipped" >&2
  exit 0
fi

want=$(node -p "require('./$dir/package-lock.json').packages['node_modules/firebase-tools'].version")
have=$(node -p "require('./$dir/node_modules/firebase-tools/package.json').version" 2>/dev/null || true)
if [[ $have == "$want" && -e $dir/node_modules/.bin/firebase ]]; then
  echo "setup: firebase-tools $have present" >&2
  exit 0
fi

echo "setup: installing firebase-tools $want into $dir (about 300 MB)" >&2
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
