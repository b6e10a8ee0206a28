#!/usr/bin/env bash
# Typing across replicas: control A runs the session, a writer attaches through B (both on
# one Redis, a real redis-server on a free loopback port). Its keystrokes, a paste larger
# than one frame, a resize and a signal reach the pty on A in order, byte for byte; a
# read-only token through B cannot type; with Redis stopped while it types, the writer is
# told (an error frame) rather than losing input in silence.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || { log "redis-server missing: run scripts/setup.sh"; exit 1; }
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=($REDIS_PID)
wait_for redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1
STORE="redis://127.0.0.1:$REDIS_PORT"
head -c 48 /dev/urandom | base64 >"$TMP/secret"
start_control --store "$STORE" --session-secret-file "$TMP/secret" --local-runners 2
A=$SERVER
mkdir -p "$TMP/b"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/b/port" \
  --data-dir "$TMP/b/data" --store "$STORE" --session-secret-file "$TMP/secret" \
  --local-runners 0 >"$TMP/control-b.err" 2>&1 &
PIDS+=($!)
wait_for test -s "$TMP/b/port"
B_PORT=$(cat "$TMP/b/port")
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready http://127.0.0.1:$B_PORT"
TYPE="python3 $RW_SRC/tests/e2e/rwtype.py"

# 3,000 keystrokes, one frame each, then a 200 KiB paste (4 frames of 64 KiB at most):
# printable bytes and newlines, so the pty in raw mode passes each as typed
KEYS=3000
python3 - "$TMP/typed" <<'PY'
import random, sys
random.seed(7)
alpha = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+\n"
keys = bytes(random.choice(alpha) for _ in range(3000))
paste = bytes(random.choice(alpha) for _ in range(200 * 1024))
open(sys.argv[1], "wb").write(keys + paste)
PY
total=$(stat -c %s "$TMP/typed")
want=$(sha "$TMP/typed")
body=$(api POST /api/sessions "{\"command\":\"stty raw -echo; printf READY; head -c $total | sha256sum | sed 's/^/GOT /'\"}")
sid=$(jq -r .sessionId <<<"$body")
tok=$(api POST "/api/sessions/$sid/tokens" '{}' | jq -r .token)
r=$($TYPE "$B_PORT" "$sid" "$tok" --after READY --type "$TMP/typed" --keys $KEYS --until "GOT " --wait 30)
log "typed through B: $(jq -c '{errors, exit, bytes}' <<<"$r")"
check "the session on A is held by A, not B" bash -c "grep -q '\"session_assigned\"' '$CONTROL_LOG'"
check "$KEYS keystrokes and a 200 KiB paste typed through B arrive byte for byte, in order" \
  wait_for bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q 'GOT $want'"
check "and nothing was refused on the way" [ "$(jq '.errors | length' <<<"$r")" = 0 ]

# a read-only token through B cannot type: refused with the reason, the pty gets nothing
body=$(api POST /api/sessions '{"command":"stty raw -echo; printf READY; if timeout 3 head -c 1 >/dev/null; then echo GOT-INPUT; else echo NO-INPUT; fi"}')
sid2=$(jq -r .sessionId <<<"$body")
tok_ro=$(api POST "/api/sessions/$sid2/tokens" '{"role":"viewer"}' | jq -r .token)
printf 'x' >"$TMP/one"
r=$($TYPE "$B_PORT" "$sid2" "$tok_ro" --after READY --type "$TMP/one" --keys 1 --until "INPUT" --wait 15)
check "a read-only viewer's input through B is refused, saying so" \
  bash -c "jq -r '.errors[]' <<<'$(jq -c . <<<"$r")' | grep -q 'read-only viewer: input refused'"
check "and the pty on A got nothing" bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q NO-INPUT"

# a resize through B reaches the pty (last writer wins, as on A)
body=$(api POST /api/sessions '{"command":"printf READY; sleep 1.5; stty size"}')
sid3=$(jq -r .sessionId <<<"$body")
tok3=$(api POST "/api/sessions/$sid3/tokens" '{}' | jq -r .token)
r=$($TYPE "$B_PORT" "$sid3" "$tok3" --after READY --resize 123x45 --wait 15)
check "a resize through B reaches the pty on A (stty size: 45 123)" \
  bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q '45 123'"

# a signal through B (SIGINT: 2) reaches the program
body=$(api POST /api/sessions '{"command":"trap \"echo GOT-INT; exit 0\" INT; printf READY; sleep 10 & wait"}')
sid4=$(jq -r .sessionId <<<"$body")
tok4=$(api POST "/api/sessions/$sid4/tokens" '{}' | jq -r .token)
r=$($TYPE "$B_PORT" "$sid4" "$tok4" --after READY --signal 2 --until GOT-INT --wait 15)
check "a signal through B reaches the program on A" \
  bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q GOT-INT"

# Redis stops while the writer types: it is told (an error frame), nothing is lost unsaid
body=$(api POST /api/sessions '{"command":"stty raw -echo; printf READY; exec cat"}')
sid5=$(jq -r .sessionId <<<"$body")
tok5=$(api POST "/api/sessions/$sid5/tokens" '{}' | jq -r .token)
head -c 5000 /dev/zero | tr '\0' 'k' >"$TMP/many"
( sleep 1.5; kill -KILL "$REDIS_PID" ) &
r=$($TYPE "$B_PORT" "$sid5" "$tok5" --after READY --type "$TMP/many" --keys 5000 --gap-ms 1 --wait 20)
log "typed through B while Redis stopped: $(jq -c '{errors, exit, bytes}' <<<"$r")"
check "the writer through B is told the store is unavailable" \
  bash -c "jq -r '.errors[]' <<<'$(jq -c . <<<"$r")' | grep -q 'session store unavailable'"
check "B says it on its log too" grep -q '"store_unavailable"' "$TMP/control-b.err"
