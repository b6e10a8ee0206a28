#!/usr/bin/env bash
# bundle_bench: fetch + verify + unpack of a 100 MiB zip from a loopback HTTP server, with
# bundle_tool (one pass: download hashed on the way, then the checked two-pass unpack) against
# the three tools chained in the same run: `curl -o`, `sha256sum` (compared with the digest),
# `bsdtar -x`. Runs alternate, RUNS of each (default 3); the table shows each run and the
# medians. Goal (issue 4): bundle_tool within 1.2x of the chain.
#
# usage: bench/bundle_bench.sh            (after `make build`; RW_BIN overrides build/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RW_BIN=${RW_BIN:-$ROOT/build/bin}
RUNS=${RUNS:-3}
TOOL="$RW_BIN/bundle_tool"
[ -x "$TOOL" ] || { echo "bundle_bench: $TOOL is not built (make build)" >&2; exit 1; }
for t in curl sha256sum bsdtar zip python3; do
	command -v "$t" >/dev/null || { echo "bundle_bench: $t is missing (make setup)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rw-bundle-bench.XXXXXX")
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# The bundle: a Node-like tree of 4,000 small text files (compressible) and 61 MiB of
# incompressible binaries, zipped with one top-level directory: about 100 MiB of zip.
python3 - "$WORK/src/app-1.0" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(42)
words = [("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10))))
         for _ in range(5000)]
for i in range(4000):
    d = os.path.join(root, "node_modules", f"pkg{i // 40}", "lib")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"m{i}.js"), "w") as f:
        f.write(" ".join(rnd.choice(words) for _ in range(rnd.randint(1500, 3500))))
os.makedirs(os.path.join(root, "assets"), exist_ok=True)
for i in range(61):
    with open(os.path.join(root, "assets", f"blob{i}.bin"), "wb") as f:
        f.write(rnd.randbytes(1 << 20))
EOF
mkdir -p "$WORK/files"
(cd "$WORK/src" && zip -qr "$WORK/files/bench.zip" app-1.0)
rm -rf "$WORK/src"
SUM=$(sha256sum "$WORK/files/bench.zip" | cut -d' ' -f1)
SIZE=$(stat -c %s "$WORK/files/bench.zip")

python3 "$ROOT/tests/e2e-bundle/server.py" --root "$WORK/files" --port-file "$WORK/port" \
	--log /dev/null &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$WORK/port")/files/bench.zip"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

run_tool() {
	"$TOOL" --bundle "$URL" --sha256 "$SUM" --dest "$WORK/out/tool" --allow-host 127.0.0.1 \
		--allow-http-loopback >/dev/null
}
run_chain() {
	curl -sf -o "$WORK/out/chain.zip" "$URL"
	[ "$(sha256sum "$WORK/out/chain.zip" | cut -d' ' -f1)" = "$SUM" ]
	mkdir "$WORK/out/chain"
	bsdtar -xf "$WORK/out/chain.zip" -C "$WORK/out/chain"
}

tool_ms=()
chain_ms=()
for ((i = 0; i < RUNS; i++)); do
	for which in tool chain; do
		rm -rf "$WORK/out"
		mkdir -p "$WORK/out"
		sync
		t0=$(now_ms)
		"run_$which"
		t1=$(now_ms)
		if [ "$which" = tool ]; then tool_ms+=($((t1 - t0))); else chain_ms+=($((t1 - t0))); fi
	done
done

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
mt=$(median "${tool_ms[@]}")
mc=$(median "${chain_ms[@]}")
ratio=$(awk -v a="$mt" -v b="$mc" 'BEGIN { printf "%.2f", a / b }')
mib=$(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s / 1048576 }')

echo "bundle_bench: ${mib} MiB zip ($SIZE bytes), $RUNS runs each, loopback HTTP, $(nproc) cores"
echo
echo "| run | bundle_tool (ms) | curl + sha256sum + bsdtar (ms) |"
echo "| --- | ---: | ---: |"
for ((i = 0; i < RUNS; i++)); do
	echo "| $((i + 1)) | ${tool_ms[$i]} | ${chain_ms[$i]} |"
done
echo "| **median** | **$mt** | **$mc** |"
echo
echo "ratio bundle_tool / chain = $ratio (goal: at most 1.20)"
