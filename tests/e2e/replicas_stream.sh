#!/usr/bin/env bash
# A session's output read on another replica: control A runs the session, a viewer attaches
# through B (both on one Redis, a real redis-server on a free loopback port) and gets every
# byte in order, the events and the exit with its digest, as a viewer on A does; from an
# offset too; input through B reaches the program.
source "$(dirname "$0")/lib.sh"
start_redis
head -c 48 /dev/urandom | base64 >"$TMP/secret"
start_control --store "$STORE" --session-secret-file "$TMP/secret" --local-runners 1
A=$SERVER
mkdir -p "$TMP/b"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/b/port" \
  --data-dir "$TMP/b/data" --store "$STORE" --session-secret-file "$TMP/secret" \
  --local-runners 0 >"$TMP/control-b.err" 2>&1 &
PIDS+=($!)
wait_for test -s "$TMP/b/port"
B="http://127.0.0.1:$(cat "$TMP/b/port")"
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"

# about 2.3 MB over a few seconds, then exit 7
body=$(api POST /api/sessions '{"command":"for i in 1 2 3; do seq $((i*100000-99999)) $((i*100000)); sleep 0.5; done; exit 7"}')
sid=$(jq -r .sessionId <<<"$body")
tok_b=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
tok_a=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
set +e
RUNWIRE_SERVER=$B timeout 60 "$RW_BIN/runwire" attach --token "$tok_b" "$sid" >"$TMP/b.out" 2>"$TMP/b.err"
rc_b=$?
RUNWIRE_SERVER=$A timeout 60 "$RW_BIN/runwire" attach --token "$tok_a" "$sid" >"$TMP/a.out" 2>"$TMP/a.err"
rc_a=$?
set -e
check "the viewer on A exits with the program's code (7)" [ "$rc_a" = 7 ]
check "the viewer on B, live, exits with the program's code (7)" [ "$rc_b" = 7 ]
check "A's output is the whole program's" [ "$(tr -d '\r' <"$TMP/a.out" | wc -l)" = 300000 ]
check "B's output is byte for byte A's" cmp "$TMP/a.out" "$TMP/b.out"
check "B said nothing was skipped" bash -c "! grep -qi 'skipped\|resync\|differ' $TMP/b.err"

# from an offset, after the end
since=1000000
tok_c=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
set +e
RUNWIRE_SERVER=$B timeout 30 "$RW_BIN/runwire" attach --since "$since" --token "$tok_c" "$sid" >"$TMP/c.out" 2>"$TMP/c.err"
rc_c=$?
set -e
check "a later viewer on B from offset $since exits 7" [ "$rc_c" = 7 ]
check "and gets exactly the bytes from that offset" cmp "$TMP/c.out" <(tail -c +$((since + 1)) "$TMP/a.out")

# input through B reaches the session on A (tests/e2e/replicas_input.sh tests it in depth)
body=$(api POST /api/sessions '{"command":"read -r line; echo \"done-typing $line\""}')
sid2=$(jq -r .sessionId <<<"$body")
tok_w=$(api POST "/api/sessions/$sid2/tokens" '{}' | jq -r .token)
set +e
(sleep 1; printf 'typed\n'; sleep 4) | RUNWIRE_SERVER=$B timeout 15 "$RW_BIN/runwire" attach -i --token "$tok_w" "$sid2" >"$TMP/w.out" 2>"$TMP/w.err"
set -e
check "input through B reaches the program on A" grep -q "done-typing typed" "$TMP/w.out"
