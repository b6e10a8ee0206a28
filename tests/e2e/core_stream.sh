#!/usr/bin/env bash
# The core path, pty -> agent -> control -> runwire: known bytes arrive byte-exact, exit
# codes and signals propagate, input reaches the program, the window size is the one asked
# for, a command that prints 13 KB and exits at once loses nothing, 20 sessions at once.
source "$(dirname "$0")/lib.sh"
start_control --local-runners 2 --max-runners 24

# Deterministic binary data with every byte value; -opost makes the pty pass it unchanged.
python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 7 + i // 256) % 256 for i in range(300000)))" >"$TMP/data.bin"
"$RW_BIN/runwire" -q run -- sh -c "stty -opost; cat '$TMP/data.bin'" >"$TMP/out.bin" 2>"$TMP/run.err"
check "binary output byte-exact" [ "$(sha "$TMP/out.bin")" = "$(sha "$TMP/data.bin")" ]

# Default terminal settings: what the program wrote through its pty, \n -> \r\n.
"$RW_BIN/runwire" run -- sh -c 'for s in fetch build test; do echo "stage $s"; done' >"$TMP/stages.out"
check "text through the pty" [ "$(cat "$TMP/stages.out")" = "$(printf 'stage fetch\r\nstage build\r\nstage test\r')" ]

set +e
"$RW_BIN/runwire" run -- true; rc0=$?
"$RW_BIN/runwire" run -- sh -c 'exit 3'; rc3=$?
"$RW_BIN/runwire" run -- sh -c 'kill -TERM $$'; rcsig=$?
set -e
check "exit code 0" [ "$rc0" = 0 ]
check "exit code 3" [ "$rc3" = 3 ]
check "signal 15 -> 143" [ "$rcsig" = 143 ]

# Input through cat: piped stdin is forwarded with -i, its end becomes ^D.
printf 'hello runwire\n' | "$RW_BIN/runwire" run -i -- cat >"$TMP/cat.out"; rc=$?
check "input echoed by cat" grep -q "hello runwire" "$TMP/cat.out"
check "cat exits 0 at end of input" [ "$rc" = 0 ]

"$RW_BIN/runwire" run --cols 101 --rows 33 -- stty size >"$TMP/size.out"
check "window size visible through stty size" grep -q "^33 101" "$TMP/size.out"

# 13 KB printed by a command that exits at once, many times over.
head -c 13000 /dev/urandom | base64 -w 100 | head -c 13000 >"$TMP/13k.txt"
ok=1
for i in $(seq 1 20); do
  "$RW_BIN/runwire" run -- sh -c "stty -opost; cat '$TMP/13k.txt'" >"$TMP/13k.out"
  [ "$(sha "$TMP/13k.out")" = "$(sha "$TMP/13k.txt")" ] || { ok=0; log "run $i: $(wc -c <"$TMP/13k.out") bytes"; }
done
check "13 KB then exit, 20 times, nothing lost" [ "$ok" = 1 ]

# 20 concurrent sessions, each with its own data.
pids=()
for i in $(seq 1 20); do
  python3 -c "import sys; sys.stdout.buffer.write(bytes(((j * $i) ^ (j >> 3)) % 256 for j in range(100000)))" >"$TMP/c$i.bin"
  "$RW_BIN/runwire" -q run -- sh -c "stty -opost; cat '$TMP/c$i.bin'" >"$TMP/c$i.out" 2>"$TMP/c$i.err" &
  pids+=($!)
done
ok=1
for i in $(seq 1 20); do
  wait "${pids[$((i - 1))]}" || { ok=0; log "session $i exited non-zero"; }
  [ "$(sha "$TMP/c$i.out")" = "$(sha "$TMP/c$i.bin")" ] || { ok=0; log "session $i differs"; }
done
check "20 concurrent sessions byte-exact" [ "$ok" = 1 ]
