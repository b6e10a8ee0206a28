#!/usr/bin/env bash
# `runwire-agent run`, the pipeline for bundle authors without control: a local zip needs no
# allowlist; the command runs in the unpacked tree after --install, with the runner's scrubbed
# environment plus -e; stage lines (the agent's and the CLI's) go to stderr; the exit status is
# the command's (128+N for a signal), the install's when it fails (the command never runs), 125
# when the bundle cannot be prepared; plain http needs --allow-http-loopback; the work
# directory goes away unless --keep-work; the cache serves the second run.
source "$(dirname "$0")/lib.sh"
AGENT="$RW_BIN/runwire-agent"
export TMPDIR="$TMP/tmpdir"   # work directories land here: the test sees what stays behind
mkdir -p "$TMPDIR"

mkdir -p "$TMP/src/app" "$TMP/files"
cat >"$TMP/src/app/run.sh" <<'EOF'
#!/bin/sh
printf '{"stage":"author-stage","state":"done"}\n' >&"$RUNWIRE_EVENTS_FD"
echo "standalone-ran in $(basename "$(pwd)") args:$* greeting:${GREETING:-none} secret:${SECRET_FROM_CALLER:-none} installed:$(cat installed 2>/dev/null)"
exit "${EXIT_WITH:-0}"
EOF
chmod 755 "$TMP/src/app/run.sh"
(cd "$TMP/src" && zip -qr "$TMP/files/app.zip" app)
SUM=$(sha "$TMP/files/app.zip")
ZIP="$TMP/files/app.zip"
CACHE=(--cache-dir "$TMP/cache")

run() { # run NAME ARGS...: runwire-agent run, stdout/stderr in NAME.out/.err, status in rc
  local name=$1; shift
  set +e
  SECRET_FROM_CALLER=leaked "$AGENT" run "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  set -e
}

# --- a local zip, install, arguments, environment ---
run ok --bundle "$ZIP" --sha256 "$SUM" "${CACHE[@]}" --install 'echo yes > installed; echo install-says-hi' \
  -e GREETING=hello -e EXIT_WITH=0 -- ./run.sh one 'two words'
check "local bundle runs (rc $rc)" [ "$rc" = 0 ]
check "runs in the unpacked tree, after install, with args and -e" \
  grep -q "standalone-ran in bundle args:one two words greeting:hello secret:none installed:yes" "$TMP/ok.out"
check "install output on the terminal" grep -q install-says-hi "$TMP/ok.out"
check "caller's environment not passed on" bash -c "! grep -q leaked '$TMP/ok.out'"
stage_lines() { grep -oE '\[[a-z-]+\] [a-z]+' "$1" | grep -v ' running$' | tr '\n' ' '; }
check "stage lines on stderr, in order" [ "$(stage_lines "$TMP/ok.err")" = \
  "[fetch] done [verify] done [unpack] done [install] done [author-stage] done [run] done " ]
check "no work directory left behind" bash -c "[ -z \"\$(ls -A '$TMPDIR')\" ]"

# --- the command's status, and signals ---
run code --bundle "$ZIP" --sha256 "$SUM" "${CACHE[@]}" -e EXIT_WITH=3 -- ./run.sh
check "exit status of the command (rc $rc)" [ "$rc" = 3 ]
check "cache hit on the second run" grep -q '\[fetch\] skipped (cache hit)' "$TMP/code.err"
run sig --bundle "$ZIP" --sha256 "$SUM" "${CACHE[@]}" -- sh -c 'kill -TERM $$'
check "signal 15 -> 143 (rc $rc)" [ "$rc" = 143 ]

# --- install fails: its status, the command never runs ---
run inst --bundle "$ZIP" --sha256 "$SUM" "${CACHE[@]}" --install 'echo failing; exit 7' -- ./run.sh
check "install exit 7 -> 7 (rc $rc)" [ "$rc" = 7 ]
check "install failure shown" grep -q '\[install\] failed' "$TMP/inst.err"
check "the command did not run" bash -c "! grep -q standalone-ran '$TMP/inst.out'"

# --- the bundle cannot be prepared: 125 with the reason ---
ZERO=$(printf '0%.0s' $(seq 64))
run bad --bundle "$ZIP" --sha256 "$ZERO" --cache-dir none -- ./run.sh
check "wrong digest -> 125 (rc $rc)" [ "$rc" = 125 ]
check "wrong digest reason with both digests" grep -q "sha256 mismatch: expected $ZERO got $SUM" "$TMP/bad.err"
run bad2 --bundle "$ZIP" --sha256 "$ZERO" -q --cache-dir none -- ./run.sh
check "failure shown even with -q" grep -q "sha256 mismatch" "$TMP/bad2.err"
run missing --bundle "$TMP/files/none.zip" --sha256 "$SUM" --cache-dir none -- ./run.sh
check "missing file -> 125 (rc $rc)" [ "$rc" = 125 ]
check "missing file reason" grep -q '\[fetch\] failed: cannot open the bundle' "$TMP/missing.err"
check "no work directory left after failures" bash -c "[ -z \"\$(ls -A '$TMPDIR')\" ]"

# --- usage errors ---
run nosha --bundle "$ZIP" -- ./run.sh
check "no --sha256 -> usage error 2 (rc $rc)" bash -c "[ $rc = 2 ] && grep -q 'needs --bundle' '$TMP/nosha.err'"
run nocmd --bundle "$ZIP" --sha256 "$SUM"
check "no command -> usage error 2 (rc $rc)" [ "$rc" = 2 ]
run help --help
check "--help exits 0 and documents the flags" bash -c "[ $rc = 0 ] && grep -q -- '--allow-http-loopback' '$TMP/help.out'"

# --- plain http to loopback: only with the flag ---
python3 "$RW_SRC/tests/e2e-bundle/server.py" --root "$TMP/files" --port-file "$TMP/h.port" \
  --log "$TMP/h.log" 2>"$TMP/server.err" &
PIDS+=($!)
wait_for test -s "$TMP/h.port"
URL="http://127.0.0.1:$(cat "$TMP/h.port")/files/app.zip"
run http-no --bundle "$URL" --sha256 "$SUM" --cache-dir none --allow-host 127.0.0.1 -- ./run.sh
check "plain http refused without --allow-http-loopback (rc $rc)" \
  bash -c "[ $rc = 125 ] && grep -q '\[fetch\] failed' '$TMP/http-no.err'"
run http-host --bundle "$URL" --sha256 "$SUM" --cache-dir none --allow-http-loopback -- ./run.sh
check "a host not allowed is refused (rc $rc)" \
  bash -c "[ $rc = 125 ] && grep -q 'not on the allowlist' '$TMP/http-host.err'"
run http-ok --bundle "$URL" --sha256 "$SUM" --cache-dir none --allow-http-loopback \
  --allow-host 127.0.0.1 -- ./run.sh
check "http to loopback with the flags (rc $rc)" \
  bash -c "[ $rc = 0 ] && grep -q standalone-ran '$TMP/http-ok.out'"
check "fetch progress in bytes" grep -qE '\[fetch\] done [0-9]+ B$' "$TMP/http-ok.err"

# --- --keep-work ---
run keep --bundle "$ZIP" --sha256 "$SUM" "${CACHE[@]}" --keep-work -- ./run.sh
kept=$(sed -n 's/^runwire-agent: work directory kept: //p' "$TMP/keep.err")
check "--keep-work names the directory" [ -n "$kept" ]
check "--keep-work keeps the unpacked tree" test -x "$kept/bundle/run.sh"

# --- in a terminal: raw mode, keys reach the command, the terminal is restored ---
cat >"$TMP/drive_terminal.py" <<'EOF_PY'
import os, pty, sys, termios, time
agent, zipf, digest = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(agent, [agent, "run", "--bundle", zipf, "--sha256", digest, "--cache-dir", "none",
                     "--", "sh", "-c", 'read line; echo "got:$line"; exit 4'])
out, sent, deadline = b"", False, time.time() + 20
while time.time() < deadline:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
    if not sent and b"[run] running" in out:
        time.sleep(0.2)
        os.write(fd, b"typed-keys\r")
        sent = True
lflag = termios.tcgetattr(fd)[3]
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("\nEXIT=%d CANON=%d" % (os.waitstatus_to_exitcode(status), 1 if lflag & termios.ICANON else 0))
EOF_PY
python3 "$TMP/drive_terminal.py" "$AGENT" "$ZIP" "$SUM" >"$TMP/tty.out" 2>&1 || true
check "keys typed in the terminal reach the command" grep -q "got:typed-keys" "$TMP/tty.out"
check "exit status through a terminal" grep -q "EXIT=4" "$TMP/tty.out"
check "terminal back in canonical mode afterwards" grep -q "CANON=1" "$TMP/tty.out"
