#!/usr/bin/env bash
# run.sh: the stream benchmark of issue 3 (`make bench`; results and method in
# docs/benchmarks.md). Everything runs in one go on this machine, baselines beside runwire:
#
#   throughput   a CLI printing 256 MiB of 100-character lines (`cat` of a file), through
#                  raw pty     bench/ptyraw: the command under a pty, output read and dropped
#                  websocketd  the Debian package: a pipe, no pty, one WebSocket hop
#                  runwire     pty -> agent -> control -> one viewer (rwbench, discarding)
#                  client      `runwire run -- cat FILE`, the real terminal client, against a
#                              second control with its default settings (as users run it);
#                              output to a file, checked byte for byte (SHA-256) against what
#                              cat wrote through the pty: the bytes lost are reported
#                each RUNS times, interleaved; the median counts
#   echo         keystroke round trip viewer -> control -> agent -> pty -> back, 10,000 keys
#   start        POST /api/sessions to the first output byte with warm local runners, 200 times
#   memory       control with 1,000 waiting sessions, with 100 running idle ones, with 1,000
#                viewers on one session; the agent while it streams; control after 10,000
#                sessions of 1 MB each have ended (bench/ended_sessions.sh)
#
#   bench/run.sh [--smoke]     --smoke: tiny sizes, only that every step works (ctest bench.smoke)
#
# Environment: RW_BIN (default build/bin), BENCH_MIB (256), RUNS (3), KEYS (10000),
# STARTS (200), IDLE (1000), RUNNING_IDLE (100), VIEWERS (1000), ENDED (10000),
# BENCH_OUT (build/bench).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
RW_BIN=${RW_BIN:-$SRC/build/bin}
SMOKE=0
[[ "${1:-}" == --smoke ]] && SMOKE=1
if ((SMOKE)); then
  BENCH_MIB=${BENCH_MIB:-4} RUNS=${RUNS:-1} KEYS=${KEYS:-200} STARTS=${STARTS:-10}
  IDLE=${IDLE:-50} RUNNING_IDLE=${RUNNING_IDLE:-4} VIEWERS=${VIEWERS:-50} ENDED=${ENDED:-20}
else
  BENCH_MIB=${BENCH_MIB:-256} RUNS=${RUNS:-3} KEYS=${KEYS:-10000} STARTS=${STARTS:-200}
  IDLE=${IDLE:-1000} RUNNING_IDLE=${RUNNING_IDLE:-100} VIEWERS=${VIEWERS:-1000}
  ENDED=${ENDED:-10000}
fi
OUT=${BENCH_OUT:-$SRC/build/bench}
mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rw-bench.XXXXXX")
PIDS=()
RESULTS="$OUT/results.json"
: >"$RESULTS.tmp"

say() { printf '[bench] %s\n' "$*" >&2; }

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
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT

# record KEY JSON: one result into results.json
record() { jq -c --arg k "$1" '{($k): .}' <<<"$2" >>"$RESULTS.tmp"; }

# kib PID FIELD: a /proc/PID/status field (VmRSS, RssAnon, ...) in KiB, 0 when gone
kib() { awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# record_control_memory KEY FIELD N BASE WHAT: control's VmRSS and RssAnon now, recorded under
# KEY as {FIELD: N, control_base_kib: BASE, control_vmrss_kib, control_rssanon_kib}.
record_control_memory() {
  local key=$1 field=$2 n=$3 base=$4 what=$5 rss anon
  rss=$(kib "$CONTROL_PID" VmRSS)
  anon=$(kib "$CONTROL_PID" RssAnon)
  record "$key" "$(jq -n --arg f "$field" --arg n "$n" --arg base "$base" --arg rss "$rss" --arg anon "$anon" \
    '{($f): ($n | tonumber), control_base_kib: ($base | tonumber), control_vmrss_kib: ($rss | tonumber), control_rssanon_kib: ($anon | tonumber)}')"
  say "$n $what: control VmRSS $rss KiB (was $base), RssAnon $anon KiB"
}

CONTROL_PID=""
# start_control NAME [flags...]: a fresh control on a free loopback port; sets SERVER
start_control() {
  local name=$1 i
  shift
  stop_control
  rm -rf "$TMP/$name"
  mkdir -p "$TMP/$name"
  # --sandbox-ro: the sessions' programs read the benchmark's files from inside their sandbox
  RUNWIRE_LOG_LEVEL=warn "$RW_BIN/runwire-control" --listen 127.0.0.1:0 \
    --port-file "$TMP/$name/port" --data-dir "$TMP/$name/data" --sandbox-ro "$TMP" "$@" \
    >"$TMP/$name/control.log" 2>&1 &
  CONTROL_PID=$!
  PIDS+=("$CONTROL_PID")
  for i in $(seq 1 200); do
    [[ -s "$TMP/$name/port" ]] && break
    sleep 0.05
  done
  [[ -s "$TMP/$name/port" ]] || { say "control did not start"; cat "$TMP/$name/control.log" >&2; exit 1; }
  SERVER="http://127.0.0.1:$(cat "$TMP/$name/port")"
}
stop_control() {
  if [[ -n "$CONTROL_PID" ]]; then
    stop_pid "$CONTROL_PID"
    CONTROL_PID=""
  fi
}

# wait_idle_agents N: until control's local pool has N agents waiting for a session
idle_agents() { curl -s "$SERVER/metrics" | awk '/^runwire_agents_idle / { print $2 }'; }
wait_idle_agents() {
  local i
  for i in $(seq 1 400); do
    [[ "$(idle_agents)" -ge "$1" ]] 2>/dev/null && return 0
    sleep 0.05
  done
  say "no $1 idle agents after 20 s"
  return 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

for tool in ptyraw rwbench runwire runwire-control runwire-agent; do
  [[ -x "$RW_BIN/$tool" ]] || { say "$RW_BIN/$tool is missing: build first (make build)"; exit 1; }
done

# ---- the machine ----
MACHINE=$(jq -n --arg cpu "$(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }')" \
  --arg cores "$(nproc)" --arg mem "$(free -m | awk '/^Mem:/ { print $2 }')" \
  --arg kernel "$(uname -r)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
  '{cpu: $cpu, cores: ($cores | tonumber), mem_mib: ($mem | tonumber), kernel: $kernel, load_before: $load}')
record machine "$MACHINE"
say "machine: $(jq -c . <<<"$MACHINE")"

# ---- throughput ----
LINES=$((BENCH_MIB * 1048576 / 100))
python3 -c "
import sys
line = bytes(33 + (i * 7) % 90 for i in range(99)) + b'\n'
out = sys.stdout.buffer
for _ in range($LINES // 10000):
    out.write(line * 10000)
out.write(line * ($LINES % 10000))" >"$TMP/lines.txt"
DATA_BYTES=$(stat -c %s "$TMP/lines.txt")
say "throughput: $((DATA_BYTES >> 20)) MiB of 100-character lines, $RUNS runs each"

HAVE_WSD=0
command -v websocketd >/dev/null && HAVE_WSD=1
((HAVE_WSD)) || say "websocketd is not installed: its column stays empty (apt-get install websocketd)"

# What the client must write: cat's bytes after the pty's output processing (\n -> \r\n).
CLIENT_SHA=$(sed 's/$/\r/' "$TMP/lines.txt" | sha256sum | cut -d' ' -f1)
CLIENT_BYTES=$((DATA_BYTES + LINES))
# The real client's own control, with the defaults a user gets (scrollback included): it runs
# beside the throughput control below and is stopped after the loop.
mkdir -p "$TMP/client"
RUNWIRE_LOG_LEVEL=warn "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --local-runners 1 \
  --port-file "$TMP/client/port" --data-dir "$TMP/client/data" --sandbox-ro "$TMP" \
  >"$TMP/client/control.log" 2>&1 &
CLIENT_CONTROL_PID=$!
PIDS+=("$CLIENT_CONTROL_PID")
for _ in $(seq 1 200); do [[ -s "$TMP/client/port" ]] && break; sleep 0.05; done
CLIENT_SERVER="http://127.0.0.1:$(cat "$TMP/client/port")"

# A 64 MiB scrollback: the discarding viewer must not be resynced because this shared
# machine descheduled it for 100 ms (the default 4 MiB is 0.1 s of output at full speed).
start_control throughput --local-runners 1 --scrollback $((64 << 20))
: >"$TMP/raw.txt"; : >"$TMP/wsd.txt"; : >"$TMP/rw.txt"; : >"$TMP/agent_rss.txt"
: >"$TMP/client.txt"; : >"$TMP/client_runs.jsonl"
for run in $(seq 1 "$RUNS"); do
  # raw pty: what the terminal itself can carry (default termios, as every session has)
  r=$("$RW_BIN/ptyraw" sh -c "cat '$TMP/lines.txt'")
  jq -r .mib_per_s <<<"$r" >>"$TMP/raw.txt"
  say "run $run raw pty:   $(jq -c . <<<"$r")"

  if ((HAVE_WSD)); then
    wport=$(free_port)
    websocketd --port "$wport" --address 127.0.0.1 --binary --loglevel error \
      cat "$TMP/lines.txt" >"$TMP/websocketd.log" 2>&1 &
    wpid=$!
    PIDS+=("$wpid")
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$wport") 2>/dev/null && break
      sleep 0.05
    done
    r=$("$RW_BIN/rwbench" drain --url "ws://127.0.0.1:$wport/")
    stop_pid "$wpid"
    jq -r .mib_per_s <<<"$r" >>"$TMP/wsd.txt"
    say "run $run websocketd: $(jq -c . <<<"$r")"
  fi

  wait_idle_agents 1
  agent=$(pgrep -P "$CONTROL_PID" -x runwire-agent | head -1 || true)
  ( while kill -0 "$agent" 2>/dev/null; do
      echo "$(kib "$agent" VmRSS) $(kib "$agent" RssAnon)"
      sleep 0.05
    done ) >>"$TMP/agent_rss.txt" &
  sampler=$!
  r=$("$RW_BIN/rwbench" --server "$SERVER" throughput --command "cat '$TMP/lines.txt'")
  wait "$sampler" 2>/dev/null || true
  jq -r .mib_per_s <<<"$r" >>"$TMP/rw.txt"
  say "run $run runwire:   $(jq -c . <<<"$r")"
  [[ "$(jq -r .complete <<<"$r")" == true ]] || { say "runwire run $run incomplete"; exit 1; }

  # the real terminal client: its exit status, the bytes it wrote, and whether they are cat's
  t0=$EPOCHREALTIME
  crc=0
  "$RW_BIN/runwire" -q --server "$CLIENT_SERVER" run -- cat "$TMP/lines.txt" \
    >"$TMP/client.out" 2>"$TMP/client.err" || crc=$?
  t1=$EPOCHREALTIME
  got=$(stat -c %s "$TMP/client.out")
  r=$(jq -n --arg t0 "$t0" --arg t1 "$t1" --arg got "$got" --arg want "$CLIENT_BYTES" --arg rc "$crc" \
    --arg ok "$([[ "$(sha256sum <"$TMP/client.out" | cut -d' ' -f1)" == "$CLIENT_SHA" ]] && echo true || echo false)" \
    --arg msgs "$(wc -l <"$TMP/client.err")" \
    '{mib_per_s: (($want | tonumber) / 1048576 / (($t1 | tonumber) - ($t0 | tonumber))),
      bytes: ($got | tonumber), lost_bytes: (($want | tonumber) - ($got | tonumber)),
      sha256_ok: ($ok == "true"), exit_status: ($rc | tonumber), stderr_lines: ($msgs | tonumber)}')
  rm -f "$TMP/client.out"
  jq -r .mib_per_s <<<"$r" >>"$TMP/client.txt"
  jq -c . <<<"$r" >>"$TMP/client_runs.jsonl"
  say "run $run client:    $(jq -c . <<<"$r")$( [[ -s "$TMP/client.err" ]] && echo " said: $(head -c 300 "$TMP/client.err")")"
done
stop_pid "$CLIENT_CONTROL_PID"
client=$(median <"$TMP/client.txt")
raw=$(median <"$TMP/raw.txt")
rw=$(median <"$TMP/rw.txt")
wsd=$( ((HAVE_WSD)) && median <"$TMP/wsd.txt" || echo null)
agent_rss=$(sort -n "$TMP/agent_rss.txt" | tail -1 | cut -d' ' -f1)
agent_anon=$(sort -k2 -n "$TMP/agent_rss.txt" | tail -1 | cut -d' ' -f2)
record throughput "$(jq -n --argjson raw "$raw" --argjson wsd "$wsd" --argjson rw "$rw" \
  --argjson client "$client" --arg runs "$RUNS" --arg bytes "$DATA_BYTES" \
  --slurpfile rawall <(jq -s . <(cat "$TMP/raw.txt")) --slurpfile rwall <(jq -s . <(cat "$TMP/rw.txt")) \
  --slurpfile clientall <(jq -s . <(cat "$TMP/client.txt")) \
  '{bytes: ($bytes | tonumber), runs: ($runs | tonumber), raw_pty_mib_s: $raw, websocketd_mib_s: $wsd,
    runwire_mib_s: $rw, runwire_vs_raw: ($rw / $raw), raw_all: $rawall[0], runwire_all: $rwall[0]}')"
record client_throughput "$(jq -n --argjson mib "$client" --argjson raw "$raw" \
  --slurpfile runs <(jq -s . "$TMP/client_runs.jsonl") \
  '{mib_s: $mib, vs_raw: ($mib / $raw), lossless_runs: ([$runs[0][] | select(.sha256_ok)] | length),
    runs: $runs[0], max_lost_bytes: ([$runs[0][].lost_bytes] | max)}')"
record agent_memory "$(jq -n --arg rss "${agent_rss:-0}" --arg anon "${agent_anon:-0}" \
  '{peak_vmrss_kib: ($rss | tonumber), peak_rssanon_kib: ($anon | tonumber)}')"

# The agent's memory follows its window (8 MiB by default): bytes control has not yet
# acknowledged, which pile up when control lags. Once more with a 2 MiB window.
RUNWIRE_WINDOW=$((2 << 20)) start_control window2m --local-runners 1 --scrollback $((64 << 20))
wait_idle_agents 1
agent=$(pgrep -P "$CONTROL_PID" -x runwire-agent | head -1 || true)
( while kill -0 "$agent" 2>/dev/null; do
    echo "$(kib "$agent" VmRSS) $(kib "$agent" RssAnon)"
    sleep 0.05
  done ) >"$TMP/agent_rss_2m.txt" &
sampler=$!
r=$("$RW_BIN/rwbench" --server "$SERVER" throughput --command "cat '$TMP/lines.txt'")
wait "$sampler" 2>/dev/null || true
say "runwire, agent window 2 MiB: $(jq -c . <<<"$r")"
record agent_memory_window_2m "$(jq -n --arg rss "$(sort -n "$TMP/agent_rss_2m.txt" | tail -1 | cut -d' ' -f1)" \
  --arg anon "$(sort -k2 -n "$TMP/agent_rss_2m.txt" | tail -1 | cut -d' ' -f2)" --argjson rw "$(jq .mib_per_s <<<"$r")" \
  '{peak_vmrss_kib: ($rss | tonumber), peak_rssanon_kib: ($anon | tonumber), runwire_mib_s: $rw}')"
rm -f "$TMP/lines.txt"

# ---- keystroke echo ----
say "echo: $KEYS keys"
wait_idle_agents 1
r=$("$RW_BIN/rwbench" --server "$SERVER" echo --keys "$KEYS")
record echo "$r"
say "echo: $(jq -c . <<<"$r")"

# ---- session start with warm local runners ----
start_control start --local-runners 2 --max-runners 4
wait_idle_agents 2
say "start: $STARTS sessions"
r=$("$RW_BIN/rwbench" --server "$SERVER" start --sessions "$STARTS" --gap-ms 100 --command "echo started")
record start "$r"
say "start: $(jq -c . <<<"$r")"

# ---- memory: control with many sessions ----
# 1,000 sessions that wait: one runner, so all but one queue (sessions, tokens, recordings,
# queue entries; no runner or scrollback behind them)
start_control idle --local-runners 1 --max-runners 1
wait_idle_agents 1
base=$(kib "$CONTROL_PID" VmRSS)
r=$("$RW_BIN/rwbench" --server "$SERVER" create --count "$IDLE" --command "sleep 600")
sleep 1
record_control_memory idle_sessions sessions "$IDLE" "$base" "waiting sessions"

# running and idle: RUNNING_IDLE agents each with a session that printed a line and sleeps
start_control running --local-runners 1 --max-runners "$RUNNING_IDLE"
wait_idle_agents 1
base=$(kib "$CONTROL_PID" VmRSS)
"$RW_BIN/rwbench" --server "$SERVER" create --count "$RUNNING_IDLE" --command "echo idle; sleep 600" >/dev/null
for _ in $(seq 1 600); do
  n=$(curl -s "$SERVER/api/sessions" | jq '[.sessions[] | select(.state == "running")] | length')
  [[ "$n" -ge "$RUNNING_IDLE" ]] && break
  sleep 0.1
done
sleep 1
record_control_memory running_idle_sessions sessions "$n" "$base" "running idle sessions"

# 1,000 viewers on one session (attaching them one by one takes a while: a token and an
# upgrade each)
start_control viewers --local-runners 1
wait_idle_agents 1
sid=$(curl -s -X POST -H 'Content-Type: application/json' "$SERVER/api/sessions" \
  -d '{"command":"echo one session, many viewers; sleep 600"}' | jq -r .sessionId)
base=$(kib "$CONTROL_PID" VmRSS)
"$RW_BIN/rwbench" --server "$SERVER" viewers --session "$sid" --count "$VIEWERS" --hold 600 \
  >"$TMP/viewers.json" 2>"$TMP/viewers.err" &
vpid=$!
PIDS+=("$vpid")
for _ in $(seq 1 3000); do
  [[ -s "$TMP/viewers.json" ]] && break
  kill -0 "$vpid" 2>/dev/null || { cat "$TMP/viewers.err" >&2; exit 1; }
  sleep 0.1
done
sleep 1
nviewers=$(curl -s "$SERVER/api/sessions/$sid" | jq .viewers)
record_control_memory viewers viewers "$nviewers" "$base" "viewers on one session"
stop_pid "$vpid"
stop_control

# ---- memory after many sessions ended (issue 11) ----
say "ended: $ENDED sessions of 1 MB"
r=$(RW_BIN="$RW_BIN" ENDED="$ENDED" bash "$SRC/bench/ended_sessions.sh")
record ended_sessions "$r"

# ---- test 3 of issue 3 at full size: a 10 KiB/s viewer beside a fast one, 256 MiB ----
if ((!SMOKE)); then
  say "stopped viewer beside a fast one: tests/e2e/stream_slow_viewer.sh at $BENCH_MIB MiB"
  rc=0
  RW_BIN="$RW_BIN" RW_SRC="$SRC" STREAM_SLOW_MIB="$BENCH_MIB" \
    bash "$SRC/tests/e2e/stream_slow_viewer.sh" >"$TMP/slow.out" 2>"$TMP/slow.err" || rc=$?
  fast=$(grep -o 'fast viewer: .* in [0-9.]* s' "$TMP/slow.err" | grep -o '[0-9.]* s$' | cut -d' ' -f1)
  peak=$(grep -o 'control RSS peak [0-9]* KiB' "$TMP/slow.err" | grep -o '[0-9]*')
  sb=$(grep -o '(scrollback [0-9]* KiB' "$TMP/slow.err" | grep -o '[0-9]*')
  say "slow viewer test: status $rc, fast viewer $fast s, control RSS peak $peak KiB"
  record slow_viewer "$(jq -n --arg rc "$rc" --arg fast "${fast:-0}" --arg peak "${peak:-0}" --arg mib "$BENCH_MIB" \
    --arg sb "${sb:-0}" \
    '{mib: ($mib | tonumber), passed: ($rc == "0"), fast_viewer_seconds: ($fast | tonumber), control_peak_kib: ($peak | tonumber), scrollback_kib: ($sb | tonumber)}')"
  ((rc == 0)) || { cat "$TMP/slow.err" >&2; exit 1; }
fi

# sanitizer builds (bench.smoke under ASan): a report in any log fails the run
if grep -lE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$TMP"/*/control.log "$TMP"/*.err 2>/dev/null; then
  say "sanitizer report in the logs above"
  exit 1
fi

jq -s 'add' "$RESULTS.tmp" >"$RESULTS"
rm -f "$RESULTS.tmp"

# ---- the table ----
jq -r '
  def mib: . / 1024 | . * 10 | round / 10;
  def r2: . * 100 | round / 100;
  "| measure | result | target |",
  "| --- | --- | --- |",
  "| throughput, raw pty (ptyraw) | \(.throughput.raw_pty_mib_s | r2) MiB/s | baseline |",
  "| throughput, websocketd (pipe, one hop) | \(if .throughput.websocketd_mib_s then (.throughput.websocketd_mib_s | r2 | tostring) + " MiB/s" else "n/a" end) | for comparison |",
  "| throughput, runwire (pty, agent, control, viewer) | \(.throughput.runwire_mib_s | r2) MiB/s = \(.throughput.runwire_vs_raw | r2)x raw pty | >= 0.8x raw pty |",
  "| throughput, the terminal client (`runwire run -- cat`, default control, SHA-256 checked) | \(.client_throughput.mib_s | r2) MiB/s = \(.client_throughput.vs_raw | r2)x raw pty; lossless in \(.client_throughput.lossless_runs) of \(.client_throughput.runs | length) runs, at most \(.client_throughput.max_lost_bytes) bytes lost, exit statuses \([.client_throughput.runs[].exit_status] | map(tostring) | join(",")) | lossless, >= 0.8x raw pty |",
  "| keystroke echo, \(.echo.keys) keys | p50 \(.echo.p50_ms | r2) ms, p99 \(.echo.p99_ms | r2) ms | p99 <= 2 ms |",
  "| session start (POST to first byte), \(.start.sessions) sessions | p50 \(.start.p50_ms | r2) ms, p99 \(.start.p99_ms | r2) ms | p50 <= 50 ms |",
  "| control, \(.idle_sessions.sessions) waiting sessions | \(.idle_sessions.control_vmrss_kib | mib) MiB RSS (\(.idle_sessions.control_rssanon_kib | mib) MiB anonymous) | <= 200 MiB |",
  "| control, \(.running_idle_sessions.sessions) running idle sessions | \(.running_idle_sessions.control_vmrss_kib | mib) MiB RSS (\(.running_idle_sessions.control_rssanon_kib | mib) MiB anonymous) | (per-session cost) |",
  "| control, \(.viewers.viewers) viewers on one session | \(.viewers.control_vmrss_kib | mib) MiB RSS (\(.viewers.control_rssanon_kib | mib) MiB anonymous) | <= 200 MiB |",
  "| control after \(.ended_sessions.sessions) sessions of \(.ended_sessions.bytes_each) bytes ended | \(.ended_sessions.above_idle_kib | mib) MiB above idle (\(.ended_sessions.vmrss_kib | mib) MiB RSS) | <= 64 MiB above idle |",
  (if .slow_viewer then "| stopped viewer beside a fast one, \(.slow_viewer.mib) MiB, \(.slow_viewer.scrollback_kib | mib) MiB scrollback | fast viewer byte-exact in \(.slow_viewer.fast_viewer_seconds) s, control peak \(.slow_viewer.control_peak_kib | mib) MiB RSS, stopped viewer caught up from the log byte-exact | RSS <= scrollback + 64 MiB |" else empty end),
  "| agent while streaming (window 8 MiB, the default) | \(.agent_memory.peak_vmrss_kib | mib) MiB RSS (\(.agent_memory.peak_rssanon_kib | mib) MiB anonymous) | <= 4 MiB |",
  "| agent while streaming, --window 2 MiB | \(.agent_memory_window_2m.peak_vmrss_kib | mib) MiB RSS (\(.agent_memory_window_2m.peak_rssanon_kib | mib) MiB anonymous), \(.agent_memory_window_2m.runwire_mib_s | r2) MiB/s | <= 4 MiB |"
' "$RESULTS"
say "results: $RESULTS"
