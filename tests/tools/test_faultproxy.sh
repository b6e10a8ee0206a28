#!/usr/bin/env bash
# tools.faultproxy: tests the stream tests' fault-injecting proxy against a python3 echo/sink
# server, all on loopback ports chosen at run time: 8 MiB pass intact both ways, --cut-at cuts at
# the exact byte (counted over all connections), a seed gives the same random plan, throttling
# slows a transfer down, SIGUSR1 and the control FIFO cut live connections, pause closes new ones.
set -euo pipefail

: "${RW_BIN:?RW_BIN must name the bin directory of the build}"
FP="$RW_BIN/faultproxy"
[ -x "$FP" ] || { echo "FAIL - $FP is not built"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rw-faultproxy.XXXXXX")
pids=()
cleanup() {
	for pid in ${pids[@]+"${pids[@]}"}; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in ${pids[@]+"${pids[@]}"}; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

failures=0
ok() { echo "ok - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...: runs COMMAND, reports ok or FAIL
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

# The peer: a loopback server (echo: sends back what it reads; sink: reads to EOF, then replies
# "COUNT SHA256") that records "COUNT SHA256 END" per connection, and the client side.
cat >"$work/peer.py" <<'EOF'
import hashlib, os, random, socket, sys, threading, time

def payload(n):
    # Deterministic test bytes: the same seed always gives the same stream.
    return random.Random(7).randbytes(n)

def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)

def handle(mode, s, out):
    h, count, end = hashlib.sha256(), 0, "eof"
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            h.update(b)
            count += len(b)
            if mode == "echo":
                s.sendall(b)
        if mode == "echo":
            s.shutdown(socket.SHUT_WR)
        else:
            s.sendall(("%d %s\n" % (count, h.hexdigest())).encode())
    except OSError as e:
        end = type(e).__name__
    write_atomic(out, "%d %s %s\n" % (count, h.hexdigest(), end))
    s.close()

def stall(s):
    # Never reads: the proxy must stop reading the sender rather than buffer without end.
    time.sleep(60)
    s.close()

def serve(mode, port_file, out_dir):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    write_atomic(port_file, "%d\n" % ls.getsockname()[1])
    n = 0
    while True:
        s, _ = ls.accept()
        n += 1
        if mode == "stall":
            threading.Thread(target=stall, args=(s,), daemon=True).start()
            continue
        threading.Thread(target=handle, args=(mode, s, os.path.join(out_dir, "conn.%d" % n)),
                         daemon=True).start()

def read_all(s):
    h, count = hashlib.sha256(), 0
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            h.update(b)
            count += len(b)
        end = "eof"
    except OSError as e:
        end = type(e).__name__
    return count, h.hexdigest(), end

def send(port, n, mode):
    # Prints "SECONDS SENT_SHA RECEIVED_COUNT RECEIVED_SHA END".
    data = payload(n)
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    t0 = time.monotonic()
    def sender():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    th = threading.Thread(target=sender)
    th.start()
    count, sha, end = read_all(s)
    th.join()
    print("%.3f %s %d %s %s" % (time.monotonic() - t0, hashlib.sha256(data).hexdigest(),
                                count, sha, end))

def hold(port, ready_file):
    # Sends 1000 bytes, says so, then waits for the proxy to end the connection.
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(payload(1000))
    except OSError:
        pass
    write_atomic(ready_file, "ready\n")
    count, _, end = read_all(s)
    print("closed %d %s" % (count, end))

def push(port, n):
    # Sends until the link stops taking bytes for a second; prints how many it took.
    data, sent = payload(1 << 20), 0
    s = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        while sent < n:
            sent += s.send(data)
    except OSError:
        pass
    print(sent)

cmd = sys.argv[1]
if cmd == "serve":
    serve(sys.argv[2], sys.argv[3], sys.argv[4])
elif cmd == "send":
    send(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
elif cmd == "hold":
    hold(int(sys.argv[2]), sys.argv[3])
elif cmd == "push":
    push(int(sys.argv[2]), int(sys.argv[3]))
elif cmd == "sha":
    print(hashlib.sha256(payload(int(sys.argv[2]))).hexdigest())
EOF

wait_file() {  # wait_file PATH: up to 10 s for PATH to exist
	for _ in $(seq 200); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $1" >&2
	return 1
}
wait_log() {  # wait_log FILE PATTERN: up to 10 s for a log line matching PATTERN
	for _ in $(seq 200); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "timed out waiting for '$2' in $1" >&2
	return 1
}

# start_server NAME MODE: a peer server; its port ends up in $work/NAME.port.
start_server() {
	mkdir -p "$work/$1.d"
	python3 "$work/peer.py" serve "$2" "$work/$1.port" "$work/$1.d" &
	pids+=($!)
	wait_file "$work/$1.port"
}

# start_proxy NAME SERVER ARGS...: a proxy in front of SERVER; sets proxy_pid, proxy_port and
# proxy_log.
start_proxy() {
	local name=$1 server=$2; shift 2
	proxy_log="$work/$name.log"
	"$FP" --listen 127.0.0.1:0 --upstream "127.0.0.1:$(cat "$work/$server.port")" \
		--port-file "$work/$name.port" --log "$proxy_log" "$@" &
	proxy_pid=$!
	pids+=("$proxy_pid")
	wait_file "$work/$name.port"
	proxy_port=$(cat "$work/$name.port")
}

# stop_proxy: SIGTERM, then the proxy must exit 0 and log its exit.
stop_proxy() {
	local rc=0
	kill -TERM "$proxy_pid"
	wait "$proxy_pid" || rc=$?
	[ "$rc" -eq 0 ] && grep -q ' exit total=' "$proxy_log"
}

field() { echo "$1" | awk -v n="$2" '{ print $n }'; }
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

start_server echo echo
start_server sink sink

# 1. 8 MiB through the proxy and back: the far side and the echo have the sender's SHA-256.
MIB=$((1024 * 1024))
start_proxy plain echo
out=$(python3 "$work/peer.py" send "$proxy_port" $((8 * MIB)) echo)
sent_sha=$(field "$out" 2)
wait_file "$work/echo.d/conn.1"  # the server records after its FIN, the client may be first
server_rec=$(cat "$work/echo.d/conn.1")
check "8 MiB reach the server intact" \
	[ "$(field "$server_rec" 1)" = $((8 * MIB)) -a "$(field "$server_rec" 2)" = "$sent_sha" ]
check "8 MiB come back intact" \
	[ "$(field "$out" 3)" = $((8 * MIB)) -a "$(field "$out" 4)" = "$sent_sha" ]
wait_log "$proxy_log" "close conn=1 reason=eof up=$((8 * MIB)) down=$((8 * MIB))"
check "proxy logs an orderly close with both byte counts" \
	grep -q "close conn=1 reason=eof up=$((8 * MIB)) down=$((8 * MIB))" "$proxy_log"
check "proxy exits 0 on SIGTERM" stop_proxy

# 2. --cut-at: the first connection is cut at byte 1,000,000; the second at 3,000,000 of the
# total, i.e. after 2,000,000 of its own. The sink sees exactly those counts and prefixes.
start_proxy cut sink --cut-at 1000000,3000000
python3 "$work/peer.py" send "$proxy_port" $((4 * MIB)) sink >/dev/null
wait_file "$work/sink.d/conn.1"
python3 "$work/peer.py" send "$proxy_port" $((4 * MIB)) sink >/dev/null
wait_file "$work/sink.d/conn.2"
rec1=$(cat "$work/sink.d/conn.1")
rec2=$(cat "$work/sink.d/conn.2")
check "cut at byte 1000000: the receiver got exactly 1000000 bytes ($rec1)" \
	[ "$(field "$rec1" 1)" = 1000000 -a "$(field "$rec1" 2)" = "$(python3 "$work/peer.py" sha 1000000)" ]
check "cut at total 3000000: the second connection got exactly 2000000 bytes ($rec2)" \
	[ "$(field "$rec2" 1)" = 2000000 -a "$(field "$rec2" 2)" = "$(python3 "$work/peer.py" sha 2000000)" ]
check "the cuts are logged with their byte counts" \
	grep -q "cut conn=1 reason=cut-at total=1000000" "$proxy_log"
check "the second cut is logged at total 3000000" \
	grep -q "cut conn=2 reason=cut-at total=3000000" "$proxy_log"
stop_proxy

# 3. --cut-random: the same seed gives the same plan, another seed a different one.
plan() {  # plan SEED RUN: the cut points a proxy plans for SEED
	start_proxy "plan$1-$2" sink --seed "$1" --cut-random 10 --cut-span 64M
	stop_proxy
	grep -o 'plan cut-at=[0-9]*' "$proxy_log"
}
plan_a=$(plan 42 a)
plan_b=$(plan 42 b)
plan_c=$(plan 43 a)
check "--cut-random plans 10 points" [ "$(echo "$plan_a" | wc -l)" -eq 10 ]
check "the same seed gives the same plan" [ "$plan_a" = "$plan_b" ]
check "another seed gives another plan" [ "$plan_a" != "$plan_c" ]

# 4. Throttling at 1 MiB/s: 2 MiB up take well over a second (expected ~1.9 s, the bucket
# starts full with 0.1 s of credit); 1.5 MiB echoed through a throttled downlink likewise.
start_proxy slowup sink --throttle-up 1M
out=$(python3 "$work/peer.py" send "$proxy_port" $((2 * MIB)) sink)
check "2 MiB at --throttle-up 1M take >= 1.5 s (took $(field "$out" 1) s)" \
	at_least "$(field "$out" 1)" 1.5
stop_proxy
start_proxy slowdown echo --throttle-down 1M
out=$(python3 "$work/peer.py" send "$proxy_port" $((3 * MIB / 2)) echo)
check "1.5 MiB at --throttle-down 1M take >= 1.0 s (took $(field "$out" 1) s)" \
	at_least "$(field "$out" 1)" 1.0
check "throttled bytes arrive intact" \
	[ "$(field "$out" 3)" = $((3 * MIB / 2)) -a "$(field "$out" 4)" = "$(field "$out" 2)" ]
stop_proxy

# 5. SIGUSR1 cuts a live connection: the client sees its connection end, the sink got the
# 1000 bytes sent before the cut.
start_server held sink
start_proxy usr1 held
python3 "$work/peer.py" hold "$proxy_port" "$work/hold1.ready" >"$work/hold1.out" &
hold_pid=$!
pids+=("$hold_pid")
wait_file "$work/hold1.ready"
wait_log "$proxy_log" "accept conn=1"
sleep 0.2  # let the 1000 bytes through before cutting
kill -USR1 "$proxy_pid"
wait "$hold_pid"
check "SIGUSR1 ends the live connection ($(cat "$work/hold1.out"))" grep -q '^closed' "$work/hold1.out"
check "the cut is logged as a signal cut" grep -q 'cut conn=1 reason=signal total=1000' "$proxy_log"
wait_file "$work/held.d/conn.1"
check "the sink got the 1000 bytes sent before the cut" \
	[ "$(field "$(cat "$work/held.d/conn.1")" 1)" = 1000 ]
wait_log "$proxy_log" "close conn=1 reason=cut"
stop_proxy

# 6. The control FIFO: pause closes new connections at once, resume forwards again, cut ends
# the live ones.
fifo="$work/ctl.fifo"
start_proxy fifo echo --control-fifo "$fifo"
echo pause >"$fifo"
wait_log "$proxy_log" "pause live=0"
out=$(python3 "$work/peer.py" send "$proxy_port" 1000 echo)
check "while paused a new connection is closed at once (got $(field "$out" 3) bytes)" \
	[ "$(field "$out" 3)" = 0 ]
check "the refusal is logged" grep -q 'refuse conn=1 .*reason=paused' "$proxy_log"
echo resume >"$fifo"
wait_log "$proxy_log" "resume"
out=$(python3 "$work/peer.py" send "$proxy_port" "$MIB" echo)
check "after resume 1 MiB goes through intact" \
	[ "$(field "$out" 3)" = "$MIB" -a "$(field "$out" 4)" = "$(field "$out" 2)" ]
python3 "$work/peer.py" hold "$proxy_port" "$work/hold2.ready" >"$work/hold2.out" &
hold_pid=$!
pids+=("$hold_pid")
wait_file "$work/hold2.ready"
wait_log "$proxy_log" "accept conn=3"
echo cut >"$fifo"
wait "$hold_pid"
check "a 'cut' line ends the live connection" grep -q '^closed' "$work/hold2.out"
check "the cut is logged as a FIFO cut" grep -q 'cut conn=3 reason=fifo' "$proxy_log"
check "proxy exits 0 on SIGTERM with the FIFO open" stop_proxy

# 7. Backpressure: a receiver that never reads stalls the sender after a bounded amount (the
# proxy's FP_BUF_CAP plus the kernel's socket buffers on each hop), instead of the proxy
# buffering all 256 MiB.
start_server stalled stall
start_proxy backpressure stalled
pushed=$(python3 "$work/peer.py" push "$proxy_port" $((256 * MIB)))
check "a receiver that does not read stalls the sender (it got $pushed bytes in)" \
	[ "$pushed" -gt 0 -a "$pushed" -lt $((64 * MIB)) ]
check "proxy exits 0 on SIGTERM with a stalled connection" stop_proxy

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed; logs:"
	tail -n 20 "$work"/*.log
	exit 1
fi
echo "all faultproxy checks passed"
