#!/usr/bin/env bash
# ended_sessions.sh: control's memory after many sessions have ended (issue 11: 10,000
# sessions of 1 MB each, at most 64 MiB above idle). Called by bench/run.sh; runs alone too:
#
#   RW_BIN=build/bin ENDED=10000 bench/ended_sessions.sh > result.json
#
# Starts its own control (local runners, 4 at a time; --max-data-bytes at 3 MB a session, so
# that retention deletes none of them and all 10,000 are there to cost memory: about 20 GB of
# logs and recordings on disk for the default run; without the sandbox, whose start-up, about
# 60 ms of CPU a session on two cores, measures nothing of control's memory and would make the
# run 40 minutes long), runs one session to warm up, reads control's memory (idle), creates
# ENDED sessions that each print ENDED_BYTES through their pty, waits until every one has
# ended, and prints one JSON object: sessions, bytes each, the sessions still kept, idle and
# final VmRSS / RssAnon in KiB, the difference, and the seconds it took. Progress on stderr.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
RW_BIN=${RW_BIN:-$SRC/build/bin}
ENDED=${ENDED:-10000}
ENDED_BYTES=${ENDED_BYTES:-1000000}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rw-bench-ended.XXXXXX")
CONTROL_PID=""

say() { printf '[bench ended] %s\n' "$*" >&2; }
cleanup() {
  local rc=$?
  if [[ -n "$CONTROL_PID" ]]; then
    kill -TERM "$CONTROL_PID" 2>/dev/null || true
    wait "$CONTROL_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
metric() { curl -s "$SERVER/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

RUNWIRE_LOG_LEVEL=warn "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port" \
  --data-dir "$TMP/data" --local-runners 4 --max-runners 4 --max-data-bytes "$(( (ENDED + 1) * 3 ))M" \
  --unsafe-no-sandbox --config none \
  >"$TMP/control.log" 2>&1 &
CONTROL_PID=$!
for _ in $(seq 1 200); do [[ -s "$TMP/port" ]] && break; sleep 0.05; done
[[ -s "$TMP/port" ]] || { say "control did not start"; cat "$TMP/control.log" >&2; exit 1; }
SERVER="http://127.0.0.1:$(cat "$TMP/port")"

# Ended, whether or not retention has deleted them since: all created, none left to run.
wait_ended() { # wait_ended N: until N sessions were created and none waits or runs
  local last=0 created live
  while :; do
    created=$(metric runwire_sessions_created_total)
    live=$(( $(metric 'runwire_sessions{state="waiting"}') + $(metric 'runwire_sessions{state="starting"}') +
             $(metric 'runwire_sessions{state="running"}') ))
    [[ "${created:-0}" -ge "$1" && "$live" -eq 0 ]] && return 0
    if (( SECONDS - last >= 10 )); then
      say "$((created - live)) of $1 sessions ended"
      last=$SECONDS
    fi
    sleep 0.5
  done
}

cmd="yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopq | head -c $ENDED_BYTES"
"$RW_BIN/rwbench" --server "$SERVER" create --count 1 --command "$cmd" >/dev/null
wait_ended 1
sleep 1
base_rss=$(kib "$CONTROL_PID" VmRSS)
base_anon=$(kib "$CONTROL_PID" RssAnon)
say "idle (one session ended): VmRSS $base_rss KiB, RssAnon $base_anon KiB; now $ENDED sessions of $ENDED_BYTES bytes"

t0=$SECONDS
"$RW_BIN/rwbench" --server "$SERVER" create --count "$ENDED" --command "$cmd" >/dev/null
wait_ended $((ENDED + 1))
failed=$(metric 'runwire_sessions{state="failed"}')
kept=$(metric 'runwire_sessions{state="exited"}')
seconds=$((SECONDS - t0))
sleep 2   # a retention tick, and the last agents' links closed
rss=$(kib "$CONTROL_PID" VmRSS)
anon=$(kib "$CONTROL_PID" RssAnon)
say "after $ENDED ended sessions: VmRSS $rss KiB (+$((rss - base_rss))), RssAnon $anon KiB (+$((anon - base_anon))), $seconds s"
jq -n --argjson n "$ENDED" --argjson b "$ENDED_BYTES" --argjson br "$base_rss" --argjson ba "$base_anon" \
  --argjson r "$rss" --argjson a "$anon" --argjson s "$seconds" --argjson f "${failed:-0}" --argjson k "${kept:-0}" \
  --argjson relayed "$(metric 'runwire_bytes_relayed_total{direction="in"}')" \
  '{sessions: $n, bytes_each: $b, bytes_relayed: $relayed, idle_vmrss_kib: $br, idle_rssanon_kib: $ba,
    vmrss_kib: $r, rssanon_kib: $a, above_idle_kib: ($r - $br), seconds: $s, failed: $f, kept: $k}'
