#!/usr/bin/env bash
# replicas.sh: control replicas over Redis (issue 12; `make bench`; results in
# docs/benchmarks.md). One redis-server and two controls on this machine: A runs the
# sessions (local runners), B has none. Each figure is taken through A alone (the baseline,
# in the same run) and with the viewer attached through B, so every byte and keystroke
# crosses Redis:
#
#   throughput   a CLI printing BENCH_MIB MiB of 100-character lines, one viewer (rwbench),
#                RUNS times each way, interleaved; the median counts. Target: via B >= 0.7x.
#                Also through a control of its own with the memory store (M): the cost of
#                acknowledging the runner only what Redis holds
#   echo         KEYS keystrokes one at a time through `stty raw -echo; cat`, each awaited
#                (rwbench echo): p50 and p99 each way. Target: via B p99 <= 5 ms
#   redis memory SESSIONS running sessions, each with a writer attached through B that has
#                typed a line: Redis' used_memory before and after, and MEMORY USAGE of the
#                runwire:* keys, per session
#
#   bench/replicas.sh [--smoke]    --smoke: tiny sizes, only that every step works
#
# Environment: RW_BIN (default build/bin), BENCH_MIB (64), RUNS (3), KEYS (5000),
# SESSIONS (50), BENCH_OUT (build/bench).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
RW_BIN=${RW_BIN:-$SRC/build/bin}
if [[ "${1:-}" == --smoke ]]; then
  BENCH_MIB=${BENCH_MIB:-2} RUNS=${RUNS:-1} KEYS=${KEYS:-100} SESSIONS=${SESSIONS:-3}
else
  BENCH_MIB=${BENCH_MIB:-64} RUNS=${RUNS:-3} KEYS=${KEYS:-5000} SESSIONS=${SESSIONS:-50}
fi
OUT=${BENCH_OUT:-$SRC/build/bench}
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rw-bench-replicas.XXXXXX")
PIDS=()
RESULTS="$OUT/replicas.json"

say() { printf '[bench replicas] %s\n' "$*" >&2; }
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? pid
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n "${BENCH_KEEP:-}" ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for tool in rwbench runwire-control runwire-agent; do
  [[ -x "$RW_BIN/$tool" ]] || { say "$RW_BIN/$tool is missing: build first (make build)"; exit 1; }
done
command -v redis-server >/dev/null || { say "redis-server missing: run scripts/setup.sh"; exit 1; }

RP=$(free_port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
for i in $(seq 1 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.05; done
rcli() { redis-cli -p "$RP" "$@"; }
head -c 48 /dev/urandom | base64 >"$TMP/secret"
# control NAME RUNNERS [STORE]: a replica on the shared store (or STORE: "memory", a control
# of its own); sets URL (not in a subshell: its pid must reach PIDS, so that cleanup stops it)
control() {
  mkdir -p "$TMP/$1"
  RUNWIRE_CONFIG=none RUNWIRE_LOG_LEVEL=warn "$RW_BIN/runwire-control" --listen 127.0.0.1:0 \
    --port-file "$TMP/$1/port" --data-dir "$TMP/$1/data" --sandbox-ro "$TMP" \
    --store "${3:-redis://127.0.0.1:$RP}" --session-secret-file "$TMP/secret" --local-runners "$2" \
    --max-runners $((SESSIONS + 8)) >"$TMP/$1/control.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 1 200); do [[ -s "$TMP/$1/port" ]] && break; sleep 0.05; done
  URL="http://127.0.0.1:$(cat "$TMP/$1/port")"
}
control a 2; A=$URL
control b 0; B=$URL
control m 2 memory; M=$URL   # no Redis on the output path: what acknowledging only what
                             # Redis holds costs (docs/architecture.md, "Failover")
for u in "$A" "$B" "$M"; do
  for i in $(seq 1 200); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$u/readyz")" == 200 ]] && break
    sleep 0.05
  done
done
say "redis :$RP, A $A (runs the sessions), B $B (viewers only)"

# ---- throughput ----
python3 -c 'import sys; l = b"".join(b"%d" % (i % 10) for i in range(99)) + b"\n"
n = int(sys.argv[1]) << 20; sys.stdout.buffer.write((l * (n // 100 + 1))[:n])' "$BENCH_MIB" >"$TMP/lines.txt"
: >"$TMP/tp_a.txt"; : >"$TMP/tp_b.txt"; : >"$TMP/tp_m.txt"
for run in $(seq 1 "$RUNS"); do
  for way in m a b; do
    via=(); [[ $way == b ]] && via=(--via "$B")
    server=$A; [[ $way == m ]] && server=$M
    r=$("$RW_BIN/rwbench" --server "$server" "${via[@]}" throughput --verify --command "cat '$TMP/lines.txt'")
    [[ "$(jq .complete <<<"$r")" == true ]] || { say "run $run via $way incomplete: $r"; exit 1; }
    jq .mib_per_s <<<"$r" >>"$TMP/tp_$way.txt"
    say "throughput run $run via $way: $(jq -c '{mib_per_s, resyncs}' <<<"$r")"
  done
done
tp_a=$(median <"$TMP/tp_a.txt"); tp_b=$(median <"$TMP/tp_b.txt"); tp_m=$(median <"$TMP/tp_m.txt")

# ---- echo ----
ea=$("$RW_BIN/rwbench" --server "$A" echo --keys "$KEYS")
eb=$("$RW_BIN/rwbench" --server "$A" --via "$B" echo --keys "$KEYS")
say "echo through A: $(jq -c . <<<"$ea")"
say "echo through B: $(jq -c . <<<"$eb")"

# ---- Redis memory per running session ----
rcli memory purge >/dev/null 2>&1 || true
used0=$(rcli info memory | awk -F: '/^used_memory:/ { print $2 + 0 }')
sids=()
for i in $(seq 1 "$SESSIONS"); do
  sid=$(curl -s -X POST -H 'Content-Type: application/json' \
    -d '{"command":"stty raw -echo; printf READY; exec cat"}' "$A/api/sessions" | jq -r .sessionId)
  sids+=("$sid")
done
# a writer through B on each: types one line, sees it echoed (input and stream keys exist)
printf 'a typed line of forty characters, newline\n' >"$TMP/line"
for sid in "${sids[@]}"; do
  tok=$(curl -s -X POST -H 'Content-Type: application/json' -d '{}' "$A/api/sessions/$sid/tokens" | jq -r .token)
  python3 "$SRC/tests/e2e/rwtype.py" "${B##*:}" "$sid" "$tok" --after READY --type "$TMP/line" \
    --until newline --wait 20 >/dev/null
done
sleep 0.5   # the records and streams are put within a tick
used1=$(rcli info memory | awk -F: '/^used_memory:/ { print $2 + 0 }')
keys_bytes=0
for sid in "${sids[@]}"; do
  for k in "runwire:session:$sid" "runwire:stream:$sid" "runwire:input:$sid"; do
    b=$(rcli memory usage "$k" 2>/dev/null || true)
    [[ "$b" =~ ^[0-9]+$ ]] && keys_bytes=$((keys_bytes + b))
  done
done
per_session_used=$(( (used1 - used0) / SESSIONS ))
per_session_keys=$(( keys_bytes / SESSIONS ))
say "redis: used_memory +$((used1 - used0)) B for $SESSIONS sessions ($per_session_used B each); their keys $per_session_keys B each"

jq -n --argjson tpa "$tp_a" --argjson tpb "$tp_b" --argjson tpm "$tp_m" --argjson ea "$ea" --argjson eb "$eb" \
  --argjson n "$SESSIONS" --argjson pu "$per_session_used" --argjson pk "$per_session_keys" \
  --argjson mib "$BENCH_MIB" --argjson runs "$RUNS" \
  '{throughput: {mib: $mib, runs: $runs, one_replica_mib_per_s: $tpa, across_mib_per_s: $tpb,
     ratio: (if $tpa > 0 then $tpb / $tpa else 0 end), memory_store_mib_per_s: $tpm},
    echo: {one_replica: $ea, across: $eb},
    redis_memory: {sessions: $n, used_memory_per_session_bytes: $pu,
     keys_per_session_bytes: $pk}}' >"$RESULTS"
jq -r '"| figure | one replica (A) | viewer through B | target |",
  "|---|---|---|---|",
  "| throughput, \(.throughput.mib) MiB, median of \(.throughput.runs) | \(.throughput.one_replica_mib_per_s * 10 | round / 10) MiB/s | \(.throughput.across_mib_per_s * 10 | round / 10) MiB/s (\(.throughput.ratio * 100 | round) %) | >= 70 % |",
  "| keystroke echo, \(.echo.one_replica.keys) keys | p50 \(.echo.one_replica.p50_ms * 100 | round / 100) ms, p99 \(.echo.one_replica.p99_ms * 100 | round / 100) ms | p50 \(.echo.across.p50_ms * 100 | round / 100) ms, p99 \(.echo.across.p99_ms * 100 | round / 100) ms | p99 <= 5 ms |",
  "| Redis memory per running session (\(.redis_memory.sessions) sessions) | - | used_memory \(.redis_memory.used_memory_per_session_bytes) B, its keys \(.redis_memory.keys_per_session_bytes) B | |",
  "",
  "Throughput of one control with the memory store (no Redis on the output path): \(.throughput.memory_store_mib_per_s * 10 | round / 10) MiB/s."' "$RESULTS"
say "results in $RESULTS"
