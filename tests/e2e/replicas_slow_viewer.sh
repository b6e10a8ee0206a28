#!/usr/bin/env bash
# A viewer through another replica never falls out of the stream's window while it takes
# what it is sent (docs/architecture.md, "Failover"): A runs a session that writes 48 MiB (50,000,000 bytes) as
# fast as the pty goes (far faster than the viewer reads, and three times the 16 MiB Redis
# keeps), a viewer attaches through B and reads at about 12 MiB/s. B tells the store how far
# it has read, A holds the runner's acknowledgements within the window of it, and the viewer
# gets every byte, byte for byte, the digest verified, nothing skipped. A viewer that stops
# reading altogether holds nothing back for long: after 5 s it no longer counts, the session
# finishes, and that viewer (when it reads again) is told what it missed.
source "$(dirname "$0")/lib.sh"
start_redis
head -c 48 /dev/urandom | base64 >"$TMP/secret"
PA=$(free_port)
PB=$(free_port)
start_replica a "$PA" --local-runners 1 --sandbox-ro "$TMP"
start_replica b "$PB" --local-runners 0
A="http://127.0.0.1:$PA"
B="http://127.0.0.1:$PB"
check "A and B ready" wait_for bash -c "$(declare -f ready); ready $A && ready $B"
python3 -c 'import sys; l = b"".join(b"%d" % (i % 10) for i in range(99)) + b"\n"
sys.stdout.buffer.write(l * 500000)' >"$TMP/lines.txt"   # 50,000,000 bytes
sed 's/$/\r/' "$TMP/lines.txt" >"$TMP/expected"
SLOW='import sys, time
i, o = sys.stdin.buffer, sys.stdout.buffer
while True:
    b = i.read(262144)
    if not b:
        break
    o.write(b)
    time.sleep(0.02)'

# ---- a slow viewer through B ----
SERVER=$A
sid=$(api POST /api/sessions "$(jq -n --arg c "cat '$TMP/lines.txt'" '{command: $c}')" | jq -r .sessionId)
check "session created on A" [ "$(st)" = 201 ]
tok=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}' | jq -r .token)
set +e
RUNWIRE_SERVER=$B timeout 120 "$RW_BIN/runwire" attach --token "$tok" "$sid" 2>"$TMP/slow.err" |
  python3 -c "$SLOW" >"$TMP/slow.out"
rc=${PIPESTATUS[0]}
set -e
check "the slow viewer on B exits 0: every byte, digest verified" [ "$rc" = 0 ]
check "its output is the program's, byte for byte" cmp "$TMP/slow.out" "$TMP/expected"
check "it was never told of missing bytes" bash -c "! grep -qi 'skipped\|resync\|unverified\|never arrived' $TMP/slow.err"
check "B never skipped it ahead" bash -c "! grep -q remote_viewer_skipped $TMP/control-b.err"

# ---- a viewer that stops reading ----
sid2=$(api POST /api/sessions "$(jq -n --arg c "cat '$TMP/lines.txt'" '{command: $c}')" | jq -r .sessionId)
tok2=$(api POST "/api/sessions/$sid2/tokens" '{"role":"viewer"}' | jq -r .token)
mkfifo "$TMP/stall"
RUNWIRE_SERVER=$B timeout 120 "$RW_BIN/runwire" attach --token "$tok2" "$sid2" >"$TMP/stall" 2>"$TMP/stall.err" &
STALLED=$!
exec 7<>"$TMP/stall"   # held open, never read: the viewer's writes block once the pipe is full
ended() { curl -s "$A/api/sessions/$sid2" | jq -e '.state == "exited"' >/dev/null; }
ended_soon() { for _ in $(seq 1 60); do ended && return 0; sleep 0.5; done; return 1; }
check "a viewer that stops reading holds the session back for a while only: it ends" ended_soon
check "the session's own output is whole: verified on A" \
  bash -c "curl -s $A/api/sessions/$sid2 | jq -e '.verified == true and .bytes == $(stat -c %s "$TMP/expected")' >/dev/null"
cat <&7 >"$TMP/stall.out" &
DRAIN=$!
set +e
wait "$STALLED"; rc2=$?
set -e
kill "$DRAIN" 2>/dev/null || true
exec 7<&-
check "the stalled viewer, reading again, is told it missed bytes (exit not 0)" [ "$rc2" != 0 ]
check "and says how much never arrived" grep -q 'never arrived' "$TMP/stall.err"
