# lib.sh: shared by the tests/e2e-bundle scripts (sourced, not run).
#
# Gives: $TOOL (bundle_tool), $WORK (a fresh directory removed at exit), started processes
# stopped at exit by their recorded pids, ok/fail/check counters with the closing line
# "N passed, N failed", a test CA and server certificate (make_ca), the loopback test server
# (start_server), and helpers to read bundle_tool's JSON lines.

set -euo pipefail

: "${RW_BIN:?RW_BIN must name the bin directory of the build}"
: "${RW_SRC:?RW_SRC must name the source tree}"
TOOL="$RW_BIN/bundle_tool"
HERE="$RW_SRC/tests/e2e-bundle"
[ -x "$TOOL" ] || { echo "FAIL - $TOOL is not built"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rw-e2e-bundle.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in ${PIDS[@]+"${PIDS[@]}"}; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=0
FAILED=0
ok() { echo "ok - $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL - $*"; FAILED=$((FAILED + 1)); }
check() {  # check DESCRIPTION COMMAND...: runs COMMAND, reports ok or FAIL
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# make_ca DIR: a test CA and a server certificate for the loopback names and GitHub's hosts.
make_ca() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=runwire test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,DNS:github.com,DNS:api.github.com,DNS:codeload.github.com\n' \
		>"$d/san.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
}

# wait_file FILE [SECONDS]: waits until FILE exists and is not empty.
wait_file() {
	local i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $1" >&2
	return 1
}

# start_server NAME ROOT [tls]: starts server.py serving ROOT; sets ${NAME}_PORT and ${NAME}_LOG.
start_server() {
	local name=$1 root=$2 tls=${3:-}
	local pf="$WORK/$name.port" log="$WORK/$name.log"
	local args=(--root "$root" --port-file "$pf" --log "$log")
	[ "$tls" = tls ] && args+=(--cert "$WORK/ca/server.pem" --key "$WORK/ca/server.key")
	python3 "$HERE/server.py" "${args[@]}" 2>>"$WORK/$name.stderr" &
	PIDS+=($!)
	wait_file "$pf"
	printf -v "${name}_PORT" '%s' "$(cat "$pf")"
	printf -v "${name}_LOG" '%s' "$log"
}

# requests LOG [jq filter]: number of logged requests (matching the filter).
requests() {
	jq -s "[.[] | select(${2:-true})] | length" "$1"
}

# run_tool OUT ARGS...: runs bundle_tool, its JSON lines into OUT; returns its exit status.
run_tool() {
	local out=$1; shift
	"$TOOL" "$@" >"$out" 2>"$out.stderr"
}

# result_field OUT FIELD: a field of the closing {"type":"result"} line.
result_field() {
	jq -r "select(.type == \"result\") | .$2" "$1"
}

# has_event OUT STAGE STATE: true if OUT has that stage event.
has_event() {
	jq -e -s "any(.[]; .type == \"stage\" and .stage == \"$2\" and .state == \"$3\")" "$1" >/dev/null
}

# error_has OUT TEXT: the result's error contains TEXT.
error_has() {
	local e
	e=$(result_field "$1" error)
	[[ "$e" == *"$2"* ]] || { echo "  error was: $e" >&2; return 1; }
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }
jqe() { jq -e "$@" >/dev/null; }   # jq as a predicate
