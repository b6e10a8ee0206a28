#!/usr/bin/env bash
# Issue 3, test 2: a viewer whose connection a fault-injecting proxy cuts at 10 random
# (seeded) points, live and during replays. runwire reattaches by itself with a fresh token
# and `since` = the bytes it has written: the result is byte-exact, with no gap and no
# duplicate. Then `runwire attach --since N` of the finished session gives exactly the bytes
# from N, for N at the start, inside, at the last byte and at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

SIZE=$(scaled $((8 << 20)) $((4 << 20)))
CUTS=10
gen_bytes "$TMP/data.bin" "$SIZE" 2
# The program writes in 64 KiB pieces with a pause between them, so the cuts land both in
# live output and in replays from the scrollback.
cat >"$TMP/trickle.py" <<'EOF'
import sys, time
data = open(sys.argv[1], "rb").read()
for i in range(0, len(data), 65536):
    sys.stdout.buffer.write(data[i:i + 65536])
    sys.stdout.buffer.flush()
    time.sleep(0.004)
EOF
# the whole output stays in the scrollback: this test is about reattaching, not resync
start_control --scrollback "$SIZE"
start_proxy VIEW "$PORT" --seed 5 --cut-random "$CUTS" --cut-span "$SIZE"

t0=$EPOCHREALTIME
rc=0
RUNWIRE_SERVER="http://127.0.0.1:$VIEW_PORT" "$RW_BIN/runwire" -q run -- \
  sh -c "stty -opost; python3 '$TMP/trickle.py' '$TMP/data.bin'" >"$TMP/out.bin" \
  2>"$TMP/run.err" || rc=$?
log "$((SIZE >> 20)) MiB through $CUTS viewer cuts in $(since "$t0") s"
check_delivered "$rc" "$TMP/out.bin" "$TMP/run.err"
check "the proxy cut the viewer $CUTS times" [ "$(grep -c 'reason=cut-at' "$TMP/VIEW.log")" = "$CUTS" ]
check "the viewer reattached from where it was" \
  [ "$(grep -c '"event":"viewer_attach".*"since":[1-9]' "$CONTROL_LOG")" -ge 1 ]

# --since N of the finished session, straight to control
sid=$(newest_session)
check "session exited" [ "$(session_field "$sid" state)" = exited ]
for n in 0 1234567 $((SIZE - 1)) "$SIZE"; do
  rc=0
  "$RW_BIN/runwire" -q attach --since "$n" "$sid" >"$TMP/since.bin" 2>"$TMP/since.err" || rc=$?
  tail -c +$((n + 1)) "$TMP/data.bin" >"$TMP/want.bin"
  check "attach --since $n: exactly the bytes from $n (status $rc)" \
    bash -c "[ $rc = 0 ] && cmp -s '$TMP/since.bin' '$TMP/want.bin'"
done
# control itself starts there (runwire would also drop an overlap it had already written)
check "control sent from the offset asked for" \
  grep -q "\"event\":\"viewer_attach\".*\"since\":1234567" "$CONTROL_LOG"
