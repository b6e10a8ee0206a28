#!/usr/bin/env bash
# Issue 3, test 5: the recording, replayed (`runwire replay --speed 0`), gives the same bytes
# as the live stream. The program prints UTF-8 text with colours, 2-, 3- and 4-byte
# characters at every alignment (so frames split characters), control sequences, quotes,
# tabs and backslashes (escaped in the asciicast JSON).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/stream_lib.bash"

SIZE=$(scaled $((4 << 20)) $((1 << 20)))
cat >"$TMP/colours.py" <<'EOF'
import random, sys, time
size = int(sys.argv[1])
rnd = random.Random(6)
words = ["stage", "fetch", "verify", "unpack", "install", "run", "\u00e9t\u00e9", "\u00fcber",
         "\u2714", "\u2718", "\u00bb", "\u2026", "\u65e5\u672c\u8a9e", "\U0001f680", "\U0001f9ea",
         "\"quoted\"", "back\\slash", "tab\there", "\u0394\u03b5\u03bb\u03c4\u03b1"]
out = sys.stdout.buffer
written = 0
line = 0
while written < size:
    colour = 30 + line % 8
    text = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 24)))
    chunk = ("\x1b[1;%dm%6d\x1b[0m %s\x1b[K\r\n" % (colour, line, text)).encode()
    out.write(chunk)
    written += len(chunk)
    line += 1
    if line % 4096 == 0:
        out.flush()
        time.sleep(0.01)
out.flush()
EOF
# the whole output fits the scrollback: a viewer that is slow for a moment is not resynced
start_control --scrollback $((4 * SIZE))
rc=0
"$RW_BIN/runwire" -q run --cols 120 --rows 40 -- python3 "$TMP/colours.py" "$SIZE" \
  >"$TMP/live.out" 2>"$TMP/live.err" || rc=$?
check "the live run exits 0 (status $rc)" [ "$rc" = 0 ]
check "the live stream is complete" no_match "incomplete|corrupted|fell behind" "$TMP/live.err"
check "the program's text is valid UTF-8" iconv -f UTF-8 -t UTF-8 "$TMP/live.out" -o /dev/null
check "and has several MiB of it" [ "$(stat -c %s "$TMP/live.out")" -ge "$SIZE" ]
sid=$(newest_session)

rc=0
"$RW_BIN/runwire" replay --speed 0 "$sid" >"$TMP/replay.out" 2>"$TMP/replay.err" || rc=$?
check "runwire replay --speed 0 exits 0 (status $rc)" [ "$rc" = 0 ]
check "the replay gives the live stream's bytes" cmp "$TMP/live.out" "$TMP/replay.out"
check "the replayed bytes have the digest the session ended with" \
  [ "$(sha "$TMP/replay.out")" = "$(session_field "$sid" sha256)" ]

# The file itself: asciicast v2, served to the owner with its media type.
curl -s -D "$TMP/rec.head" -o "$TMP/rec.cast" "$SERVER/api/sessions/$sid/recording"
check "the recording is served as application/x-asciicast" grep -qi '^content-type: application/x-asciicast' "$TMP/rec.head"
check "the recording is asciicast v2 at the session's size" \
  bash -c "head -1 '$TMP/rec.cast' | jq -e '.version == 2 and .width == 120 and .height == 40' >/dev/null"
check "every event line is a JSON [time, kind, data]" \
  bash -c "tail -n +2 '$TMP/rec.cast' | jq -e 'length == 3 and (.[0] | type) == \"number\"' >/dev/null"

# Issue 11: replay streams: a recording past the old 16 MiB response cap plays whole.
BIG=$((20 << 20))
rc=0
"$RW_BIN/runwire" -q run -- sh -c "stty -opost; yes 'stage after stage, line after line' | head -c $BIG" \
  >"$TMP/big.out" 2>"$TMP/big.err" || rc=$?
check "a 20 MiB session runs to the end (status $rc)" [ "$rc" = 0 ]
sid=$(newest_session)
check "its recording is larger than 16 MiB" \
  [ "$(curl -s -o /dev/null -w '%{size_download}' "$SERVER/api/sessions/$sid/recording")" -gt $((16 << 20)) ]
rc=0
"$RW_BIN/runwire" replay --speed 0 "$sid" >"$TMP/big.replay" 2>"$TMP/big.replay.err" || rc=$?
check "runwire replay of it exits 0 (status $rc; $(head -c 200 "$TMP/big.replay.err"))" [ "$rc" = 0 ]
check "and gives every byte" cmp -s "$TMP/big.out" "$TMP/big.replay"
