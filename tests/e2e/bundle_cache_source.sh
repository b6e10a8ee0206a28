#!/usr/bin/env bash
# Issue 15 (bundle authors): a cache hit does not stand in for a source that is gone or not
# allowed. With the digest already cached, `runwire-agent run --bundle /nope.zip` and a URL
# from a host off the allowlist fail at fetch (exit 125) as they would without the cache;
# the real source still hits the cache. The check makes no request (the host is never
# asked: the cache hit promises no network).
source "$(dirname "$0")/lib.sh"
AGENT="$RW_BIN/runwire-agent"
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR" "$TMP/src"
printf '#!/bin/sh\necho bundle-ran\n' >"$TMP/src/run.sh"
chmod 755 "$TMP/src/run.sh"
(cd "$TMP/src" && zip -q "$TMP/b.zip" run.sh)
SUM=$(sha "$TMP/b.zip")
CACHE=(--cache-dir "$TMP/cache")

run() { # run NAME ARGS...: stdout/stderr in NAME.out/.err, status in rc
  local name=$1; shift
  rc=0
  "$AGENT" run "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null || rc=$?
}

run fill --bundle "$TMP/b.zip" --sha256 "$SUM" "${CACHE[@]}" -- ./run.sh
check "the first run fills the cache (rc $rc)" bash -c "[ $rc = 0 ] && grep -q bundle-ran '$TMP/fill.out'"
run hit --bundle "$TMP/b.zip" --sha256 "$SUM" "${CACHE[@]}" -- ./run.sh
check "the same source hits the cache (rc $rc)" \
  bash -c "[ $rc = 0 ] && grep -q '\[fetch\] skipped (cache hit)' '$TMP/hit.err'"

run nope --bundle "$TMP/nope.zip" --sha256 "$SUM" "${CACHE[@]}" -- ./run.sh
check "a missing file with a cached digest: exit 125 (rc $rc)" [ "$rc" = 125 ]
check "... said as a failed fetch ($(grep fetch "$TMP/nope.err" | head -1))" \
  grep -q '\[fetch\] failed: cannot open the bundle' "$TMP/nope.err"
check "... no cache hit, the command never ran" \
  bash -c "! grep -q 'cache hit' '$TMP/nope.err' && ! grep -q bundle-ran '$TMP/nope.out'"

# a loopback listener that records any connection: the check must not make one
PROBE_PORT=$(free_port)
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4)
open(sys.argv[2], "w").close()
while True:
    c, _ = s.accept(); open(sys.argv[2], "a").write("connected\n"); c.close()
' "$PROBE_PORT" "$TMP/probe.log" &
PIDS+=($!)
wait_for test -e "$TMP/probe.log"
run host --bundle "https://bundles.example.com/b.zip" --sha256 "$SUM" "${CACHE[@]}" \
  --allow-host other.example.com -- ./run.sh
check "a host off the allowlist with a cached digest: exit 125 (rc $rc)" [ "$rc" = 125 ]
check "... said as a failed fetch naming the host ($(grep fetch "$TMP/host.err" | head -1))" \
  grep -q '\[fetch\] failed: .*bundles.example.com' "$TMP/host.err"
check "... no cache hit" bash -c "! grep -q 'cache hit' '$TMP/host.err'"
run http --bundle "http://127.0.0.1:$PROBE_PORT/b.zip" --sha256 "$SUM" "${CACHE[@]}" -- ./run.sh
check "plain http without --allow-http-loopback, cached digest: exit 125 (rc $rc)" [ "$rc" = 125 ]
check "... and no connection was made" [ ! -s "$TMP/probe.log" ]
