#!/usr/bin/env bash
# The bundle is reproducible: two builds (in different staging directories) give the same
# SHA-256. Then the zip is checked as runwire will see it (one top-level directory, no links,
# the program and its dependencies) and run from an unpacked copy with no PATH to speak of.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sample-cli-bundle.XXXXXX")
trap 'rm -rf "${WORK:?}"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for n in 1 2; do
  echo "== build $n" >&2
  BUNDLE_OUT_DIR="$WORK/out$n" BUNDLE_STAGE_DIR="$WORK/stage$n" bash "$ROOT/scripts/build-bundle.sh"
done
sum1=$(cut -d' ' -f1 "$WORK/out1/sample-cli.zip.sha256")
sum2=$(cut -d' ' -f1 "$WORK/out2/sample-cli.zip.sha256")
echo "build 1: $sum1" >&2
echo "build 2: $sum2" >&2
[[ "$sum1" == "$sum2" ]] || fail "two builds differ"
cmp -s "$WORK/out1/sample-cli.zip" "$WORK/out2/sample-cli.zip" || fail "zips differ byte for byte"
[[ "$sum1" =~ ^[0-9a-f]{64}$ ]] || fail "bad digest $sum1"
(cd "$WORK/out1" && sha256sum -c --quiet sample-cli.zip.sha256) || fail ".sha256 does not check"
grep -qx "$sum1  sample-cli.zip" "$WORK/out1/sample-cli.zip.sha256" || fail ".sha256 is not in sha256sum's format"

list=$(unzip -Z1 "$WORK/out1/sample-cli.zip")
if grep -v '^sample-cli/' <<<"$list"; then fail "entries outside sample-cli/"; fi
for want in sample-cli/sample-cli.js sample-cli/package.json sample-cli/package-lock.json sample-cli/README.md \
    sample-cli/src/cli.js sample-cli/node_modules/listr2/package.json sample-cli/node_modules/ora/package.json \
    sample-cli/node_modules/chalk/package.json sample-cli/node_modules/boxen/package.json \
    sample-cli/node_modules/@anthropic-ai/sdk/package.json; do
  grep -qx "$want" <<<"$list" || fail "missing $want"
done
if grep -E '^sample-cli/(test|out)/|\.map$' <<<"$list"; then fail "tests, outputs or source maps shipped"; fi
[[ $(LC_ALL=C sort <<<"$list") == "$list" ]] || fail "entries are not sorted"
if zipinfo "$WORK/out1/sample-cli.zip" | grep -E '^l'; then fail "the zip holds links"; fi

echo "== run from the unpacked bundle, offline" >&2
mkdir "$WORK/run" "$WORK/home"
unzip -q "$WORK/out1/sample-cli.zip" -d "$WORK/run"
cd "$WORK/run/sample-cli"
status=0
env -i PATH="$WORK/no-bin" HOME="$WORK/home" TERM=dumb RUNWIRE_EVENTS_FD=3 \
  "$(command -v node)" sample-cli.js run 3>"$WORK/events" >"$WORK/stdout" 2>"$WORK/stderr" || status=$?
[[ $status -eq 0 ]] || { cat "$WORK/stdout" "$WORK/stderr" >&2; fail "the bundled CLI exited with $status"; }
grep -q 'OFFLINE AUDIT' "$WORK/stdout" || fail "no offline audit in the output"
[[ ! -s "$WORK/stderr" ]] || { cat "$WORK/stderr" >&2; fail "the bundled CLI wrote to stderr"; }
"$(command -v node)" -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
  const done = lines.filter((e) => e.state === "done" && !e.parent).map((e) => e.stage);
  const want = ["Prepare Workspace", "Generate Glossaries", "Consolidate API Docs", "AI-SECURITY-AUDIT (Claude Code/SDK)"];
  if (JSON.stringify(done) !== JSON.stringify(want)) { console.error("stages done:", done); process.exit(1); }
' "$WORK/events" || fail "stage events not as expected"
echo "sample-cli bundle reproducible: sha256 $sum1, $(stat -c %s "$WORK/out1/sample-cli.zip") bytes"
