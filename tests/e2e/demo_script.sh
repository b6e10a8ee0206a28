#!/usr/bin/env bash
# `make demo` (scripts/demo.sh) run as people run it without a terminal (issue 15): in the
# background with no tty, control keeps serving after the demo says so, until SIGTERM ends it
# with status 0; RUNWIRE_DEMO_PORT=0 prints the real port; a busy port gets a hint naming
# RUNWIRE_DEMO_PORT; a control started with no --config serves the sample-cli template once
# scripts/build-bundle.sh has built the bundle (its default config beside the build tree);
# Ctrl-C under make in a pseudo-terminal ends it without a make error.
source "$(dirname "$0")/lib.sh"

# A build tree of our own: copies of the binaries (the default config is found beside the
# real path of the binary), the bundle and the config build-bundle.sh writes.
TREE=$TMP/tree
mkdir -p "$TREE/bin"
cp "$RW_BIN/runwire-control" "$RW_BIN/runwire-agent" "$RW_BIN/runwire" "$TREE/bin/"
BUNDLE_OUT_DIR="$TREE/bundles" BUNDLE_STAGE_DIR="$TMP/bundle-stage" \
  bash "$RW_SRC/scripts/build-bundle.sh" 2>"$TMP/bundle.log" || { cat "$TMP/bundle.log" >&2; exit 1; }
check "build-bundle.sh wrote the default config with the sample-cli template" \
  jq -e --arg url "$TREE/bundles/sample-cli.zip" '.templates["sample-cli"].bundle.url == $url' \
  "$TREE/runwire-control.json"

# wait_file FILE TEXT SECONDS: polls until FILE holds TEXT.
wait_file() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# ---- in the background, no terminal, RUNWIRE_DEMO_PORT=0 ----
RUNWIRE_DEMO_BUILD=$TREE RUNWIRE_DEMO_PORT=0 bash "$RW_SRC/scripts/demo.sh" </dev/null \
  >"$TMP/demo.out" 2>"$TMP/demo.err" &
demo=$!
PIDS+=("$demo")
check "the demo says control is still running" wait_file "$TMP/demo.out" "is still running" 120
port=$(sed -n 's|^runwire-control is serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$TMP/demo.out")
check "RUNWIRE_DEMO_PORT=0: the real port is printed ($port)" [ -n "$port" ] && [ "${port:-0}" != 0 ]
SERVER="http://127.0.0.1:${port:-0}"
check "control answers after the demo said it is still running" curl -sf -o /dev/null "$SERVER/healthz"
check "the demo script itself is still running" kill -0 "$demo"
check "a control started without --config serves the sample-cli template" \
  bash -c "curl -sf '$SERVER/api/config' | jq -e '.templates | any(.name == \"sample-cli\")'"
check "the demo ran the sample CLI through its template" grep -q "AI-SECURITY-AUDIT" "$TMP/demo.out"
cpid=$(sed -n 's|.* (pid \([0-9]*\))\..*|\1|p' "$TMP/demo.out")
kill -TERM "$demo"
set +e
wait "$demo"; rc=$?
set -e
check "SIGTERM ends the demo with status 0 (rc $rc)" [ "$rc" = 0 ]
check "and control with it" bash -c "! kill -0 ${cpid:-1} 2>/dev/null && ! curl -sf -o /dev/null '$SERVER/healthz'"
sanitizer_check "$TREE/demo/control.log"

# ---- a busy port ----
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(120)' "$TMP/busy" &
PIDS+=($!)
wait_for test -s "$TMP/busy"
busy=$(cat "$TMP/busy")
set +e
RUNWIRE_DEMO_BUILD=$TREE RUNWIRE_DEMO_PORT=$busy timeout 60 bash "$RW_SRC/scripts/demo.sh" \
  </dev/null >"$TMP/busy.out" 2>"$TMP/busy.err"; rc=$?
set -e
check "a busy port fails the demo (rc $rc)" [ "$rc" = 1 ]
check "with a hint naming RUNWIRE_DEMO_PORT" grep -q "RUNWIRE_DEMO_PORT" "$TMP/busy.err"

# ---- Ctrl-C under make, in a pseudo-terminal ----
# A tree without the template keeps this part quick (the shell demo).
TREE2=$TMP/tree2
mkdir -p "$TREE2/bin"
cp "$TREE/bin/"* "$TREE2/bin/"
printf '.PHONY: demo\ndemo:\n\t@bash %s/scripts/demo.sh\n' "$RW_SRC" >"$TMP/demo.mk"
check "Ctrl-C under make: the demo stops, control with it, no make error" \
  env RUNWIRE_DEMO_BUILD="$TREE2" RUNWIRE_DEMO_PORT=0 python3 - "$TMP/demo.mk" "$TMP/pty.out" <<'PY'
import os, pty, re, select, sys, time, urllib.request
mk, out_path = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("make", ["make", "--no-print-directory", "-C", os.path.dirname(mk), "-f", mk, "demo"])
out = b""
def read_until(pred, limit):
    global out
    end = time.time() + limit
    while not pred() and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read_until(lambda: b"Ctrl-C" in out, 90)
ok = b"Ctrl-C" in out
m = re.search(rb"serving http://127\.0\.0\.1:(\d+)/", out)
url = f"http://127.0.0.1:{m.group(1).decode()}/healthz" if m else None
os.write(fd, b"\x03")
read_until(lambda: False, 30)          # until EOF: make and the demo have exited
_, status = os.waitpid(pid, 0)
open(out_path, "wb").write(out)
text = out.decode("utf-8", "replace")
if not ok:
    print("the demo did not reach its last line:", text[-600:], file=sys.stderr); sys.exit(1)
if "***" in text:
    print("make reported an error:", text[-400:], file=sys.stderr); sys.exit(1)
if "stopping runwire-control" not in text:
    print("the demo did not stop on Ctrl-C:", text[-400:], file=sys.stderr); sys.exit(1)
try:
    urllib.request.urlopen(url, timeout=2)
    print("control still answers after Ctrl-C", file=sys.stderr); sys.exit(1)
except Exception:
    pass
print(f"make ended: {'signal %d' % os.WTERMSIG(status) if os.WIFSIGNALED(status) else 'exit %d' % os.WEXITSTATUS(status)}", file=sys.stderr)
PY
sanitizer_check "$TREE2/demo/control.log"
