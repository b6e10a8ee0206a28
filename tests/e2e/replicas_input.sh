#!/usr/bin/env bash
# Typing across replicas: control A runs the session, a writer attaches through B (both on
# one Redis, a real redis-server on a free loopback port). Its keystrokes, a paste larger
# than one frame, a resize and a signal reach the pty on A in order, byte for byte; a
# read-only token through B cannot type; with Redis stopped while it types, the writer is
# told (an error frame) rather than losing input in silence.
source "$(dirname "$0")/lib.sh"
start_redis
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

# an entry in the store that is not from the session's owner (a hostile or broken peer with
# access to Redis) is dropped by the holder, which says so; the owner's own still gets through
body=$(api POST /api/sessions '{"command":"stty raw -echo; printf READY; head -c 2 | od -An -c; echo END"}')
sid6=$(jq -r .sessionId <<<"$body")
wait_for bash -c "redis-cli -p $REDIS_PORT get runwire:session:$sid6 | grep -q replica"
holder=$(redis-cli -p "$REDIS_PORT" get "runwire:session:$sid6" | jq -r .replica)
tok6=$(api POST "/api/sessions/$sid6/tokens" '{}' | jq -r .token)
printf 'Z' >"$TMP/z"
(sleep 1
 printf '\x03\x07mallory!' | redis-cli -p "$REDIS_PORT" -x rpush "runwire:input:$sid6" >/dev/null
 printf '\x09\x05local' | redis-cli -p "$REDIS_PORT" -x rpush "runwire:input:$sid6" >/dev/null
 redis-cli -p "$REDIS_PORT" sadd "runwire:inputs:$holder" "$sid6" >/dev/null
 redis-cli -p "$REDIS_PORT" publish "runwire:wake:$holder" "$sid6" >/dev/null) &
bg=$!
r=$($TYPE "$B_PORT" "$sid6" "$tok6" --after READY --type "$TMP/z" --keys 0 --wait 3)
wait "$bg"
printf 'Y' >"$TMP/y"
tok6=$(api POST "/api/sessions/$sid6/tokens" '{}' | jq -r .token)
r=$($TYPE "$B_PORT" "$sid6" "$tok6" --after READY --type "$TMP/y" --keys 0 --until END --wait 8)
check "entries not from the owner, or malformed, are dropped by the holder" \
  bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q 'Z *Y'"
check "and the holder logs it" grep -q '"remote_input_dropped"' "$CONTROL_LOG"

# the holder takes nothing (stopped): the writer through B is held back, then told after 5 s;
# nothing it typed is dropped unsaid
body=$(api POST /api/sessions '{"command":"stty raw -echo; printf READY; exec cat"}')
sid7=$(jq -r .sessionId <<<"$body")
tok7=$(api POST "/api/sessions/$sid7/tokens" '{}' | jq -r .token)
head -c 2000 /dev/zero | tr '\0' 'q' >"$TMP/q"
(sleep 1.5; kill -STOP "$CONTROL_PID"; sleep 6
 redis-cli -p "$REDIS_PORT" llen "runwire:input:$sid7" >"$TMP/llen"; sleep 3; kill -CONT "$CONTROL_PID") &
bg=$!
r=$($TYPE "$B_PORT" "$sid7" "$tok7" --after READY --type "$TMP/q" --keys 2000 --gap-ms 3 --wait 12)
wait "$bg"
check "a writer whose holder takes nothing is told its input was not delivered" \
  bash -c "jq -r '.errors[]' <<<'$(jq -c . <<<"$r")' | grep -q 'input backlog full: input not delivered'"
log "the session's input in Redis while its holder was stopped: $(cat "$TMP/llen") entries"
check "and the session's input in Redis filled up to its cap (256), not past it" \
  bash -c "[ \$(cat $TMP/llen) -ge 200 ] && [ \$(cat $TMP/llen) -le 256 ]"

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
