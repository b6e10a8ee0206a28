# stream_lib.bash: helpers for the stream tests (tests/e2e/stream_*.sh), sourced after lib.sh.
# Named .bash, not .sh, because cmake/tests.cmake runs every tests/e2e/*.sh as a test.
#
# The stream tests put the fault-injecting proxy (tests/tools/faultproxy.c) on one link and
# compare the SHA-256 of what a viewer got with the bytes a deterministic program wrote
# through its pty (`stty -opost`, so they pass unchanged).

# The sanitizer build runs about 3x slower: sizes scale down there (make bench keeps the
# full sizes of issue 3).
case "${RW_SANITIZE:-}" in
  ON|on|1|TRUE|true|YES|yes) SANITIZED=1 ;;
  *) SANITIZED=0 ;;
esac

# scaled FULL SANITIZED_VALUE: the value for this build.
scaled() { if ((SANITIZED)); then echo "$2"; else echo "$1"; fi; }

# gen_bytes FILE SIZE SEED: SIZE deterministic bytes, every value 0..255.
gen_bytes() {
  python3 -c "
import random, sys
rnd, left = random.Random($3), $2
while left:
    n = min(left, 1 << 20)
    sys.stdout.buffer.write(rnd.randbytes(n))
    left -= n" >"$1"
}

# since T0: seconds since $EPOCHREALTIME was T0, one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# no_match REGEX FILE: true when FILE has no line matching REGEX.
no_match() { ! grep -qE "$1" "$2"; }

# start_external_control [flags...]: control waiting for agents that the test starts itself.
RUNNER_TOKEN_FILE="$TMP/runner-token"
start_external_control() {
  printf 'stream-test-runner-%s\n' "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    >"$RUNNER_TOKEN_FILE"
  start_control --dispatcher external --runner-token-file "$RUNNER_TOKEN_FILE" "$@"
}

# start_proxy NAME UPSTREAM_PORT [faultproxy flags...]: a faultproxy in front of
# 127.0.0.1:UPSTREAM_PORT; sets ${NAME}_PORT and ${NAME}_PID; its event log is $TMP/NAME.log.
start_proxy() {
  local name=$1 upstream=$2
  shift 2
  "$RW_BIN/faultproxy" --upstream "127.0.0.1:$upstream" --port-file "$TMP/$name.port" \
    --log "$TMP/$name.log" "$@" 2>"$TMP/$name.err" &
  PIDS+=($!)
  printf -v "${name}_PID" '%s' "$!"
  wait_for test -s "$TMP/$name.port" || { log "proxy $name did not start"; exit 1; }
  printf -v "${name}_PORT" '%s' "$(cat "$TMP/$name.port")"
}

# start_agent PORT [agent flags...]: an external agent dialing ws://127.0.0.1:PORT/agent,
# logging at debug level to $TMP/agent.err; sets AGENT_PID.
start_agent() {
  local port=$1
  shift
  RUNWIRE_LOG_LEVEL=debug "$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$port/agent" \
    --token-file "$RUNNER_TOKEN_FILE" --work-root "$TMP/work" "$@" >>"$TMP/agent.err" 2>&1 &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
}

# session_field SID FIELD: one field of GET /api/sessions/{id}.
session_field() { curl -s "$SERVER/api/sessions/$1" | jq -r ".$2"; }

# newest_session: the id of the most recent session.
newest_session() { curl -s "$SERVER/api/sessions" | jq -r '.sessions[0].sessionId'; }

# check_delivered RC OUT ERR [LABEL]: runwire exited with RC 0, reported no missing,
# corrupted or skipped byte on ERR, and OUT holds exactly the program's $TMP/data.bin.
check_delivered() {
  local rc=$1 out=$2 err=$3 label=${4:+$4: }
  check "${label}runwire exits 0 (status $rc)" [ "$rc" = 0 ]
  check "${label}runwire found the output complete and its digest matching" \
    no_match "incomplete|corrupted|fell behind" "$err"
  check "${label}every byte delivered, once: the program's SHA-256" \
    [ "$(sha "$out")" = "$(sha "$TMP/data.bin")" ]
}
