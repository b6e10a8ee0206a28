#!/usr/bin/env bash
# Typing across replicas: control A runs the session, a writer attaches through B (both on
# one Redis, a real redis-server on a free loopback port). Its keystrokes, a paste larger
# than one frame, a resize and a signal reach the pty on A in order, byte for byte; a
# read-only token through B cannot type; with the holder's connections to Redis killed
# again and again while input flows, every keystroke still arrives exactly once; with Redis
# stopped while it types, the writer is told (an error frame) rather than losing input in
# silence.
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
# one entry as a replica's push writes it: numbered by the session's counter (8 bytes,
# big-endian, before the entry)
push_entry() {
  redis-cli -p "$REDIS_PORT" -x eval "local n = redis.call('INCR', KEYS[2])
    local b, v = '', n for j = 1, 8 do b = string.char(v % 256) .. b v = math.floor(v / 256) end
    redis.call('RPUSH', KEYS[1], b .. ARGV[1]) return n" 2 "runwire:input:$1" "runwire:inseq:$1" >/dev/null
}
(sleep 1
 printf '\x03\x07mallory!' | push_entry "$sid6"
 printf '\x09\x05local' | push_entry "$sid6"
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

# the holder's connections to Redis are killed 12 times while a writer types 4,000 keystrokes
# through B: takes whose answers were lost are read again and skipped by number, so the pty
# gets every keystroke exactly once, in order (the checksum of what it read)
KEYS8=4000
python3 - "$TMP/typed8" $KEYS8 <<'PY'
import random, sys
random.seed(8)
alpha = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+\n"
open(sys.argv[1], "wb").write(bytes(random.choice(alpha) for _ in range(int(sys.argv[2]))))
PY
want8=$(sha "$TMP/typed8")
body=$(api POST /api/sessions "{\"command\":\"stty raw -echo; printf READY; head -c $KEYS8 | sha256sum | sed 's/^/GOT /'\"}")
sid8=$(jq -r .sessionId <<<"$body")
tok8=$(api POST "/api/sessions/$sid8/tokens" '{}' | jq -r .token)
# the local ports of a process's TCP connections to Redis (from /proc: no extra tools)
redis_ports_of() {
  python3 - "$1" "$REDIS_PORT" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        t = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    f = line.split()
    if f[9] in inodes and int(f[2].split(":")[1], 16) == port:
        print(int(f[1].split(":")[1], 16))
PY
}
: >"$TMP/kills"
(sleep 1
 for i in $(seq 12); do
   for p in $(redis_ports_of "$CONTROL_PID"); do
     redis-cli -p "$REDIS_PORT" client kill addr "127.0.0.1:$p" >/dev/null 2>&1 && echo "$p" >>"$TMP/kills"
   done
   sleep 0.$((RANDOM % 4 + 2))
 done) &
bg=$!
r=$($TYPE "$B_PORT" "$sid8" "$tok8" --after READY --type "$TMP/typed8" --keys $KEYS8 --gap-ms 1 \
    --until "GOT " --wait 30)
wait "$bg"
log "typed through B while A's connections to Redis were killed ($(wc -l <"$TMP/kills") connections, $(grep -c '"input_take_failed"' "$CONTROL_LOG") takes' answers lost): $(jq -c '{errors, exit, bytes}' <<<"$r")"
check "A's connections to Redis were killed while input flowed" [ "$(wc -l <"$TMP/kills")" -ge 12 ]
check "every keystroke typed through B arrived exactly once, in order, across the kills" \
  wait_for bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q 'GOT $want8'"
check "and nothing was refused on the way" [ "$(jq '.errors | length' <<<"$r")" = 0 ]

# The same where a kill surely lands after Redis ran a take and before its answer arrived:
# a third replica C holds the session and reaches Redis through a fault proxy whose
# Redis-to-C direction is slow (a take's answer spends tens of ms in the proxy), cut with
# RST 12 times while a writer types through B: what was in flight is lost, and with it the
# answers of takes Redis ran. Every keystroke still arrives exactly once.
start_proxy() {
  local name=$1 upstream=$2
  shift 2
  "$RW_BIN/faultproxy" --upstream "127.0.0.1:$upstream" --port-file "$TMP/$name.port" \
    --log "$TMP/$name.log" "$@" 2>"$TMP/$name.err" &
  PIDS+=($!)
  wait_for test -s "$TMP/$name.port" || { log "proxy $name did not start"; exit 1; }
}
mkfifo "$TMP/c.fifo"
start_proxy c "$REDIS_PORT" --throttle-down 32K --cut-reset --control-fifo "$TMP/c.fifo"
exec 7<>"$TMP/c.fifo"   # held open: the proxy sees one writer for the whole test
mkdir -p "$TMP/c"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/c/port" \
  --data-dir "$TMP/c/data" ${SANDBOX_RO[@]+"${SANDBOX_RO[@]}"} \
  --store "redis://127.0.0.1:$(cat "$TMP/c.port")" --session-secret-file "$TMP/secret" \
  --local-runners 1 >"$TMP/control-c.err" 2>&1 &
C_PID=$!
PIDS+=($C_PID)
wait_for test -s "$TMP/c/port"
C="http://127.0.0.1:$(cat "$TMP/c/port")"
check "C ready" wait_for bash -c "$(declare -f ready); ready $C"
body=$(SERVER=$C api POST /api/sessions "{\"command\":\"stty raw -echo; printf READY; head -c $KEYS8 | sha256sum | sed 's/^/GOT /'\"}")
sid9=$(jq -r .sessionId <<<"$body")
tok9=$(SERVER=$C api POST "/api/sessions/$sid9/tokens" '{}' | jq -r .token)
(sleep 1.5
 for i in $(seq 12); do echo cut >&7; sleep 0.$((RANDOM % 3 + 2)); done) &
bg=$!
r=$($TYPE "$B_PORT" "$sid9" "$tok9" --after READY --type "$TMP/typed8" --keys $KEYS8 --gap-ms 1 \
    --until "GOT " --wait 40)
wait "$bg"
lost=$(grep -c '"input_take_failed"' "$TMP/control-c.err")
log "typed through B to C while C's link to Redis was cut 12 times ($lost takes' answers lost, $(grep -c '"store_unavailable"' "$TMP/control-c.err") outages said): $(jq -c '{errors, exit, bytes}' <<<"$r")"
check "takes' answers were lost on the way (the cuts hit input in flight)" [ "$lost" -ge 1 ]
check "every keystroke typed through B arrived once, in order, across takes whose answers were lost" \
  wait_for bash -c "jq -r .output <<<'$(jq -c . <<<"$r")' | grep -q 'GOT $want8'"
check "and nothing was refused on the way" [ "$(jq '.errors | length' <<<"$r")" = 0 ]

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
