#!/usr/bin/env bash
# `make demo`: runs the embedded default (one runwire-control with local runners on
# 127.0.0.1) and shows a stage-wise session in this terminal. Control keeps running for
# the browser page and `runwire` until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
DEMO=$PWD/build/demo   # absolute: the sandbox binds the work directories by path
PORT=${RUNWIRE_DEMO_PORT:-8080}
mkdir -p "$DEMO"
rm -f "$DEMO/port"

config=()
if [[ -f build/bundles/sample-cli.zip ]]; then
  config=(--config "$DEMO/config.json")
fi
if [[ ${#config[@]} -gt 0 ]]; then
  sha=$(cut -d' ' -f1 build/bundles/sample-cli.zip.sha256)
  cat >"$DEMO/config.json" <<JSON
{"templates": {"sample-cli": {
   "description": "Stage-wise demo CLI (listr2, ora, chalk, boxen; offline Claude audit)",
   "bundle": {"url": "$PWD/build/bundles/sample-cli.zip", "sha256": "$sha"},
   "command": "node sample-cli.js run", "env": {"SAMPLE_CLI_OUT": "../out"}}}}
JSON
fi
# ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL) set: the real Claude Code, else the offline audit
if [[ -n ${ANTHROPIC_API_KEY:-} ]]; then
  bash scripts/demo-claude.sh "$DEMO" && config=(--config "$DEMO/config.json" --sandbox-ro "$PWD/tools/claude")
fi

"$BIN/runwire-control" --listen "127.0.0.1:$PORT" --port-file "$DEMO/port" \
  --data-dir "$DEMO/data" --local-runners 2 "${config[@]}" 2>"$DEMO/control.log" &
control=$!
trap 'kill $control 2>/dev/null; wait $control 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do [[ -s "$DEMO/port" ]] && break; sleep 0.05; done
if [[ ! -s "$DEMO/port" ]]; then
  echo "demo: runwire-control did not start; its log:" >&2
  cat "$DEMO/control.log" >&2
  exit 1
fi
export RUNWIRE_SERVER="http://127.0.0.1:$PORT"
echo "runwire-control is serving $RUNWIRE_SERVER/ (log: $DEMO/control.log)"
echo

if [[ ${#config[@]} -gt 0 ]]; then
  echo "Running the sample CLI (runwire run --template sample-cli):"
  "$BIN/runwire" run --template sample-cli || true
else
  "$BIN/runwire" run -- sh -c 'for s in fetch verify unpack install run; do
      printf "\033[36m==>\033[0m stage %s " "$s"; for i in 1 2 3; do printf .; sleep 0.2; done
      printf " \033[32mdone\033[0m\n"; done' || true
fi

echo
echo "Control is still running. In another terminal:"
echo "  build/bin/runwire --server $RUNWIRE_SERVER run -- sh -c 'for s in fetch build test; do echo \"stage \$s\"; sleep 1; done'"
echo "  build/bin/runwire --server $RUNWIRE_SERVER ls"
echo "  build/bin/runwire --server $RUNWIRE_SERVER run --template sample-cli"
echo "Open $RUNWIRE_SERVER/ in a browser. Ctrl-C stops."
if [[ ! -t 0 ]]; then
  exit 0  # not interactive (CI, a pipe): the demo has been shown
fi
wait $control
