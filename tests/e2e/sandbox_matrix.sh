#!/usr/bin/env bash
# A hostile session against the sandbox of local runners (agent/sandbox.c, docs/security.md):
# while another session runs, it tries to read that session's work directory and recording,
# control's data directory and audit log, its agent's environment, fds and memory; to signal
# or trace its agent and control; to write outside its work directory; to fork without bound
# (a pids cgroup of 64); to write past the file-size limit (1 MiB) or allocate past the memory
# limit (64 MiB, a memory cgroup); and, with "network":
# "none", to reach control's port. Everything is refused, and control and the other session
# carry on unharmed. Without bubblewrap control starts with a warning for the local user and
# refuses to start with Firebase sign-in unless --unsafe-no-sandbox.
source "$(dirname "$0")/lib.sh"
jqe() { jq -e "$@" >/dev/null; }
command -v bwrap >/dev/null || { log "bwrap (Debian bubblewrap) is not installed"; exit 1; }
SANDBOX_RO=()   # sessions see nothing of this test's files

# The hostile CLI, shipped as a bundle from an operator's template. Each probe prints
# "BLOCKED name" or "LEAKED name: what it got".
mkdir -p "$TMP/src/app"
cat >"$TMP/src/app/hostile.sh" <<'EOF'
#!/bin/bash
probe() { # probe NAME COMMAND...: LEAKED when the command succeeds with output
  local name=$1 out; shift
  if out=$("$@" 2>/dev/null) && [ -n "$out" ]; then
    echo "LEAKED $name: $(printf '%s' "$out" | head -c 80 | tr -c '[:print:]' '.')"
  else
    echo "BLOCKED $name"
  fi
}
probe victim-work cat "$VICTIM_DIR/secret.txt"
# bwrap makes the parents of its own work directory as empty mount points: only its own id
probe victim-listing sh -c "ls -A '$DATA_DIR/work' | grep -vx '$RUNWIRE_SESSION_ID'"
probe recordings sh -c "cat '$DATA_DIR'/recordings/* | head -c 200"
probe audit-log head -c 200 "$DATA_DIR/audit.log"
probe data-dir sh -c "ls -A '$DATA_DIR' | grep -vx work"
probe agent-environ cat "/proc/$AGENT_PID/environ"
probe agent-fds ls "/proc/$AGENT_PID/fd"
probe agent-mem dd if="/proc/$AGENT_PID/mem" bs=1 count=16 skip=4194304
probe agent-visible sh -c 'cat /proc/[0-9]*/cmdline | tr "\0" " " | grep -oE "runwire-(agen[t]|contro[l])"'
probe signal-agent sh -c "kill -TERM $AGENT_PID && echo signalled"
probe signal-control sh -c "kill -0 $CONTROL_PID && echo signalled"
probe trace-agent python3 -c "
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(1) if libc.ptrace(16, $AGENT_PID, 0, 0) != 0 else print('attached')"
probe write-usr sh -c 'echo x > /usr/evil && echo written'
probe write-etc sh -c 'echo x > /etc/evil && echo written'
probe write-root sh -c 'echo x > /evil && echo written'
probe write-victim sh -c "echo x > '$VICTIM_DIR/evil' && echo written"
probe cache-listing ls -A "$DATA_DIR/runwire-cache"
probe cache-poison sh -c "echo 'echo poisoned' >> '$DATA_DIR/runwire-cache/$BUNDLE_SHA/tree/hostile.sh' && echo written"
probe shadow head -c 40 /etc/shadow
probe ssh-keys sh -c 'cat /etc/ssh/*key* /root/.ssh/* | head -c 40'
probe credential sh -c 'env | grep -iE "ticket|token|runwire_control"'
echo "FDS $(ls /proc/self/fd | tr '\n' ' ')"
echo "CAPS $(grep CapEff /proc/self/status)"
# Fork without bound: children that sleep, until fork fails.
python3 - <<'PY'
import os, signal, time
kids = []
for _ in range(500):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
print("FORKED", len(kids), flush=True)
for k in kids:
    os.kill(k, signal.SIGKILL)
for k in kids:
    os.waitpid(k, 0)
PY
# Past the file-size limit: the write stops at 1 MiB.
head -c 2097152 /dev/zero >"$HOME/big.bin" 2>/dev/null
echo "BIGFILE $? $(stat -c %s "$HOME/big.bin")"
echo "BUNDLE-WRITE $(echo x 2>/dev/null >mine.txt && echo written || echo read-only)"
# Past the memory limit (64 MiB): the kernel ends the process that asks for more.
python3 -c "b = bytearray(256 << 20); b[::4096] = b'x' * len(b[::4096]); print('allocated')" >/dev/null 2>&1
echo "MEMHOG $?"
echo "WORKDIR-WRITE $(echo ok > "$HOME/mine.txt" && cat "$HOME/mine.txt")"
echo hostile-done
EOF
cat >"$TMP/src/app/net.sh" <<'EOF'
#!/bin/bash
if python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 3)" \
   "$CONTROL_PORT" 2>/dev/null; then echo "NET reached-control"; else echo "NET refused"; fi
EOF
chmod 755 "$TMP/src/app/hostile.sh" "$TMP/src/app/net.sh"
(cd "$TMP/src" && zip -qr "$TMP/app.zip" app)
SUM=$(sha "$TMP/app.zip")
cat >"$TMP/config.json" <<EOF
{"templates": {
  "hostile": {"bundle": {"url": "$TMP/app.zip", "sha256": "$SUM"}, "command": "./hostile.sh",
              "limits": {"processes": 64, "fileSizeMiB": 1, "memoryMiB": 64}},
  "offline": {"bundle": {"url": "$TMP/app.zip", "sha256": "$SUM"}, "command": "./net.sh",
              "network": "none"},
  "online": {"bundle": {"url": "$TMP/app.zip", "sha256": "$SUM"}, "command": "./net.sh"}
 }}
EOF
start_control --config "$TMP/config.json" --local-runners 1
check "control says the sandbox is on" jqe -s 'any(.[]; .event == "sandbox" and .state == "on")' "$CONTROL_LOG"

# The victim: a session with a secret in its work directory and output in its recording.
"$RW_BIN/runwire" run -- sh -c 'echo victim-secret-7781 > "$HOME/secret.txt"; echo victim-output-7781; sleep 20; echo victim-finished' \
  >"$TMP/victim.out" 2>"$TMP/victim.err" &
VICTIM_RUN=$!
wait_for grep -q victim-output-7781 "$TMP/victim.out"
vsid=$(api GET /api/sessions | jq -r '[.sessions[] | select(.state == "running")][0].sessionId')
check "the victim's secret is on disk" grep -q victim-secret-7781 "$TMP/data/work/$vsid/secret.txt"

# The next session goes to the warm agent that control spawned after the victim's.
idle_agent() { # the pid of a ready agent that has no session
  jq -s -r '([.[] | select(.event == "session_assigned") | .agent_pid]) as $busy |
    [.[] | select(.event == "agent_ready" and (.agent_pid as $p | $busy | index($p) | not))] |
    last | .agent_pid // empty' "$CONTROL_LOG"
}
AGENT_PID=""
for _ in $(seq 200); do
  AGENT_PID=$(idle_agent)
  [ -n "$AGENT_PID" ] && break
  sleep 0.05
done
body=$(jq -n --arg v "$TMP/data/work/$vsid" --arg d "$TMP/data" --arg a "$AGENT_PID" \
  --arg c "$CONTROL_PID" --arg p "$PORT" --arg s "$SUM" '{template: "hostile", env: {VICTIM_DIR: $v,
  DATA_DIR: $d, AGENT_PID: $a, CONTROL_PID: $c, CONTROL_PORT: $p, BUNDLE_SHA: $s}}')
created=$(api POST /api/sessions "$body")
hsid=$(jq -r .sessionId <<<"$created")
"$RW_BIN/runwire" attach --token "$(jq -r .token <<<"$created")" "$hsid" >"$TMP/hostile.out" 2>"$TMP/hostile.err" || true
tr -d '\r' <"$TMP/hostile.out" >"$TMP/hostile.txt"
check "the hostile session ran to its end" grep -q hostile-done "$TMP/hostile.txt"
check "it ran on the agent it was told about" \
  jqe -s --arg s "$hsid" --argjson p "$AGENT_PID" 'any(.[]; .event == "session_assigned" and .session == $s and .agent_pid == $p)' "$CONTROL_LOG"
for probe in victim-work victim-listing recordings audit-log data-dir agent-environ agent-fds \
             agent-mem agent-visible signal-agent signal-control trace-agent write-usr write-etc \
             write-root write-victim cache-listing cache-poison shadow ssh-keys credential; do
  check "refused: $probe" grep -qx "BLOCKED $probe" "$TMP/hostile.txt"
done
grep '^LEAKED' "$TMP/hostile.txt" >&2 || true
check "no capabilities inside" grep -q 'CAPS CapEff:.0000000000000000' "$TMP/hostile.txt"
check "fds: stdio and the events pipe only (and ls's own)" \
  bash -c "grep -qE '^FDS 0 1 2 3 [0-9]+ \$' '$TMP/hostile.txt'"
forked=$(sed -n 's/^FORKED //p' "$TMP/hostile.txt")
check "fork without bound stops below the limit of 64 ($forked forks)" \
  bash -c "[ -n '$forked' ] && [ '$forked' -lt 64 ] && [ '$forked' -gt 10 ]"
check "file-size limit: the write stopped at 1 MiB" grep -qE '^BIGFILE [1-9][0-9]* 1048576$' "$TMP/hostile.txt"
check "memory limit: 256 MiB in a 64 MiB session is killed" grep -qx 'MEMHOG 137' "$TMP/hostile.txt"
check "control logged the session's cgroups (pids, memory)" \
  jqe -s --arg s "$hsid" 'any(.[]; .event == "sandbox" and .session == $s and .pids_cgroup and .memory_cgroup)' "$CONTROL_LOG"
check "its own work directory is writable" grep -q '^WORKDIR-WRITE ok$' "$TMP/hostile.txt"
check "its bundle is read-only to the command" grep -q '^BUNDLE-WRITE read-only$' "$TMP/hostile.txt"
check "nothing was written outside" bash -c "[ ! -e /usr/evil ] && [ ! -e /etc/evil ] && [ ! -e /evil ] && [ ! -e '$TMP/data/work/$vsid/evil' ]"
CACHED="$TMP/data/runwire-cache/$SUM/tree/hostile.sh"
check "the bundle cache holds the hostile bundle, unpoisoned" \
  cmp -s "$CACHED" "$TMP/src/app/hostile.sh"
check "the agent it attacked is the one that reported the session" \
  jqe -s --arg s "$hsid" 'any(.[]; .event == "session_exited" and .session == $s and .code == 0)' "$CONTROL_LOG"
check "the session's cgroups are gone" bash -c "! ls -d /sys/fs/cgroup/*/runwire-$hsid /sys/fs/cgroup/*/*/*/runwire-$hsid 2>/dev/null | grep -q ."

# Network: none cannot reach control's port; outbound (the default) can.
for t in offline online; do
  body=$(jq -n --arg t "$t" --arg p "$PORT" '{template: $t, env: {CONTROL_PORT: $p}}')
  created=$(api POST /api/sessions "$body")
  "$RW_BIN/runwire" attach --token "$(jq -r .token <<<"$created")" "$(jq -r .sessionId <<<"$created")" \
    >"$TMP/$t.out" 2>/dev/null || true
done
check "network none: control's port unreachable" grep -q "NET refused" "$TMP/offline.out"
check "network outbound: control's port reachable (the probe works)" grep -q "NET reached-control" "$TMP/online.out"

# Control and the victim are unharmed.
check "control healthy" bash -c "curl -sf '$SERVER/healthz' | grep -q ok"
check "control still running" kill -0 "$CONTROL_PID"
wait "$VICTIM_RUN"; vrc=$?
check "the victim finished normally (rc $vrc)" bash -c "[ $vrc = 0 ] && grep -q victim-finished '$TMP/victim.out'"

# Where bubblewrap cannot run: a warning for the single local user; Firebase refuses.
cat >"$TMP/nobwrap" <<'EOF'
#!/bin/sh
echo "bwrap: No permissions to creating new namespace" >&2
exit 1
EOF
chmod 755 "$TMP/nobwrap"
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port2" --data-dir "$TMP/d2" \
  --bwrap "$TMP/nobwrap" >"$TMP/nobwrap.log" 2>&1 &
NB_PID=$!
PIDS+=($NB_PID)
wait_for test -s "$TMP/port2"
check "no bubblewrap, local user: starts with a warning naming the reason" \
  jqe -s 'any(.[]; .event == "sandbox_unavailable" and (.reason | test("No permissions")))' "$TMP/nobwrap.log"
stop_pid "$NB_PID"
set +e
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/d3" --bwrap "$TMP/nobwrap" \
  --firebase-project demo-runwire --firebase-auth-emulator 127.0.0.1:9 >"$TMP/fb.log" 2>&1; rc=$?
set -e
check "no bubblewrap, Firebase sign-in: refuses to start (rc $rc)" \
  bash -c "[ $rc != 0 ] && grep -q 'unsafe-no-sandbox' '$TMP/fb.log'"
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port4" --data-dir "$TMP/d4" \
  --bwrap "$TMP/nobwrap" --firebase-project demo-runwire --firebase-auth-emulator 127.0.0.1:9 \
  --unsafe-no-sandbox >"$TMP/unsafe.log" 2>&1 &
UN_PID=$!
PIDS+=($UN_PID)
check "...unless --unsafe-no-sandbox, with a warning" \
  bash -c "wait_for() { for i in \$(seq 200); do \"\$@\" && return 0; sleep 0.05; done; return 1; }; wait_for test -s '$TMP/port4' && grep -q sandbox_off '$TMP/unsafe.log'"
stop_pid "$UN_PID"
