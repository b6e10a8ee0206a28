#!/usr/bin/env bash
# `make demo`: runs the embedded default (one runwire-control with local runners on
# 127.0.0.1) and shows a stage-wise session in this terminal. Control keeps running for the
# browser page and `runwire` until Ctrl-C or SIGTERM, whether or not a terminal is attached
# (in the background, from a script), and then the demo ends with status 0.
#
# Environment: RUNWIRE_DEMO_PORT (default 8080; 0 picks a free port, printed),
# RUNWIRE_DEMO_BUILD (the build tree, default build: binaries in its bin/, state in demo/).
#
# Templates come from control's default config (<build>/runwire-control.json, written by
# scripts/build-bundle.sh), the same file a control started by hand reads.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${RUNWIRE_DEMO_BUILD:-build}
BIN=$BUILD/bin
DEMO=$(realpath -m "$BUILD/demo")   # absolute: the sandbox binds the work directories by path
PORT=${RUNWIRE_DEMO_PORT:-8080}
mkdir -p "$DEMO"
rm -f "$DEMO/port"

control=
stop_control() {
  if [[ -n $control ]]; then
    kill "$control" 2>/dev/null || true
    wait "$control" 2>/dev/null || true
    control=
  fi
}
# Ctrl-C and SIGTERM end the demo on purpose: status 0, so make reports no error.
trap stop_control EXIT
trap 'echo; echo "demo: stopping runwire-control"; stop_control; exit 0' INT TERM
# ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL) set: the real Claude Code, else the offline audit
# (its config starts from the default one, with the sample-cli template)
claude_config=()
if [[ -n ${ANTHROPIC_API_KEY:-} ]]; then
  if [[ -s $BUILD/runwire-control.json ]]; then
    jq 'del(._generated)' "$BUILD/runwire-control.json" >"$DEMO/config.json"
  else
    rm -f "$DEMO/config.json"
  fi
  bash scripts/demo-claude.sh "$DEMO" &&
    claude_config=(--config "$DEMO/config.json" --sandbox-ro "$PWD/tools/claude")
fi

"$BIN/runwire-control" --listen "127.0.0.1:$PORT" --port-file "$DEMO/port" \
  --data-dir "$DEMO/data" --local-runners 2 ${claude_config[@]+"${claude_config[@]}"} \
  2>"$DEMO/control.log" &
control=$!
while [[ ! -s $DEMO/port ]] && kill -0 "$control" 2>/dev/null; do sleep 0.05; done
if [[ ! -s $DEMO/port ]]; then
  wait "$control" 2>/dev/null || true
  control=
  echo "demo: runwire-control did not start; its log:" >&2
  cat "$DEMO/control.log" >&2
  if grep -q "Address already in use" "$DEMO/control.log"; then
    echo "demo: port $PORT is taken: pick another with RUNWIRE_DEMO_PORT, e.g." \
      "RUNWIRE_DEMO_PORT=8090 make demo (0 picks a free one)" >&2
  fi
  exit 1
fi
PORT=$(cat "$DEMO/port")
export RUNWIRE_SERVER="http://127.0.0.1:$PORT"
echo "runwire-control is serving $RUNWIRE_SERVER/ (log: $DEMO/control.log)"
echo

# The client reads the keyboard only in the foreground of a terminal: in the background it
# would be stopped (SIGTTIN) for touching the terminal.
client_in=/dev/null
if [[ -t 0 && $(ps -o tpgid= -p $$ | tr -d ' ') == $(ps -o pgid= -p $$ | tr -d ' ') ]]; then
  client_in=/dev/stdin
fi
if curl -sf "$RUNWIRE_SERVER/api/config" | jq -e '.templates | any(.name == "sample-cli")' >/dev/null 2>&1; then
  echo "Running the sample CLI (runwire run --template sample-cli):"
  "$BIN/runwire" run --template sample-cli <"$client_in" || true
else
  "$BIN/runwire" run -- sh -c 'for s in fetch verify unpack install run; do
      printf "\033[36m==>\033[0m stage %s " "$s"; for i in 1 2 3; do printf .; sleep 0.2; done
      printf " \033[32mdone\033[0m\n"; done' <"$client_in" || true
fi

echo
echo "runwire-control is still running on $RUNWIRE_SERVER (pid $control). In another terminal:"
echo "  $BIN/runwire --server $RUNWIRE_SERVER run -- sh -c 'for s in fetch build test; do echo \"stage \$s\"; sleep 1; done'"
echo "  $BIN/runwire --server $RUNWIRE_SERVER ls"
[[ -s $BUILD/runwire-control.json ]] &&
  echo "  $BIN/runwire --server $RUNWIRE_SERVER run --template sample-cli"
echo "Open $RUNWIRE_SERVER/ in a browser. Ctrl-C (or kill $$) stops it."
# `wait` returns early when a trapped signal arrives; the trap then exits.
while kill -0 "$control" 2>/dev/null; do
  wait "$control" || true
done
echo "demo: runwire-control exited; its log: $DEMO/control.log" >&2
control=
exit 1
