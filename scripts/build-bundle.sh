#!/usr/bin/env bash
# Builds the sample-cli bundle (`make bundle`): build/bundles/sample-cli.zip, holding the program
# and its production node_modules under one top-level directory `sample-cli/`, and
# build/bundles/sample-cli.zip.sha256 (as sha256sum prints it). The zip is reproducible: fixed
# modes and times, sorted entries, no extra attributes, so two builds give the same SHA-256.
#
# Environment: BUNDLE_OUT_DIR (default build/bundles), BUNDLE_STAGE_DIR (default
# build/bundle-stage). Needs node, npm, zip and sha256sum; after the first `npm ci` the npm
# cache is enough (no network).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

OUT_DIR=${BUNDLE_OUT_DIR:-$ROOT/build/bundles}
STAGE_DIR=${BUNDLE_STAGE_DIR:-$ROOT/build/bundle-stage}
NAME=sample-cli
# 1980-01-01T00:00:00Z: the earliest time a zip entry can hold.
EPOCH=315532800
# What the bundle ships from sample-cli/ (tests, fixtures and outputs stay behind).
SOURCES=(sample-cli.js package.json package-lock.json README.md src)

export TZ=UTC LC_ALL=C
umask 022

say() { echo "bundle: $*" >&2; }

for tool in node npm zip sha256sum jq; do
  command -v "$tool" >/dev/null || { say "missing $tool (run scripts/setup.sh)"; exit 1; }
done

say "staging sources in ${STAGE_DIR#"$ROOT"/}"
rm -rf "${STAGE_DIR:?}"
mkdir -p "$STAGE_DIR/$NAME" "$OUT_DIR"
for src in "${SOURCES[@]}"; do
  cp -R "$ROOT/$NAME/$src" "$STAGE_DIR/$NAME/$src"
done

say "installing production dependencies (npm ci --omit=dev)"
# No install scripts: every dependency is plain JavaScript. --prefer-offline: the npm cache
# that the first install filled is enough.
(cd "$STAGE_DIR/$NAME" &&
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline \
    --loglevel=error --update-notifier=false >&2)

# What no run needs: source maps, TypeScript sources and declarations, change logs, and the
# .bin links (the command is `node sample-cli.js`; a zip should carry no links).
say "pruning source maps, TypeScript sources, change logs and links"
find "$STAGE_DIR/$NAME/node_modules" -depth \( -name '*.map' -o -name '*.ts' -o -name '*.mts' \
  -o -name '*.cts' -o -name 'CHANGELOG*' -o -type l \) -delete
rm -rf "${STAGE_DIR:?}/$NAME/node_modules/.bin"

# Same modes and times whatever the checkout or the umask: 0755 for directories and
# executables, 0644 for the rest, every mtime at EPOCH.
count=$(find "$STAGE_DIR/$NAME" -type f | wc -l)
say "normalising $count files"
find "$STAGE_DIR/$NAME" -type d -exec chmod 0755 {} +
find "$STAGE_DIR/$NAME" -type f -perm /111 -exec chmod 0755 {} +
find "$STAGE_DIR/$NAME" -type f ! -perm /111 -exec chmod 0644 {} +
find "$STAGE_DIR/$NAME" -exec touch -h -d "@$EPOCH" {} +

say "zipping (sorted, no extra attributes, no directory entries)"
tmp_zip="$OUT_DIR/.$NAME.zip.tmp"
rm -f "$tmp_zip"
(cd "$STAGE_DIR" && find "$NAME" -type f | sort | zip -X -D -q -9 "$tmp_zip" -@)
mv -f "$tmp_zip" "$OUT_DIR/$NAME.zip"
(cd "$OUT_DIR" && sha256sum "$NAME.zip" > "$NAME.zip.sha256")

size=$(stat -c %s "$OUT_DIR/$NAME.zip")
say "wrote ${OUT_DIR#"$ROOT"/}/$NAME.zip ($size bytes, $count files)"
say "sha256 $(cut -d' ' -f1 "$OUT_DIR/$NAME.zip.sha256")"

# The config a build tree's runwire-control reads when started without --config
# (<dir of the binary>/../runwire-control.json, docs/bundles.md): the sample-cli template
# with this bundle, so `runwire run --template sample-cli` works against a control started by
# hand. The report goes to ../out: the bundle itself is read-only in the session's sandbox.
# A file written by someone else (no "_generated" key) is left alone.
CONTROL_CONFIG=$(dirname "$OUT_DIR")/runwire-control.json
if [[ ! -e $CONTROL_CONFIG ]] || jq -e 'has("_generated")' "$CONTROL_CONFIG" >/dev/null 2>&1; then
  jq -n --arg url "$(cd "$OUT_DIR" && pwd)/$NAME.zip" \
    --arg sha "$(cut -d' ' -f1 "$OUT_DIR/$NAME.zip.sha256")" '{
    _generated: "by scripts/build-bundle.sh; delete this key to keep your own edits",
    templates: {"sample-cli": {
      description: "Stage-wise demo CLI (listr2, ora, chalk, boxen; offline Claude audit)",
      bundle: {url: $url, sha256: $sha},
      command: "node sample-cli.js run",
      env: {SAMPLE_CLI_OUT: "../out"}}}}' >"$CONTROL_CONFIG.tmp"
  mv -f "$CONTROL_CONFIG.tmp" "$CONTROL_CONFIG"
  say "wrote ${CONTROL_CONFIG#"$ROOT"/} (the sample-cli template for runwire-control)"
else
  say "left ${CONTROL_CONFIG#"$ROOT"/} alone (not written by this script)"
fi
