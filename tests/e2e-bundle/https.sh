#!/usr/bin/env bash
# bundle.e2e.https: bundle_tool against a loopback HTTPS server with a test CA made here
# (server.py, port chosen at run time): a plain download; redirects to an allowed host, to a
# host off the allowlist, from https to http, and past the hop limit; TLS verification; a
# server that stalls before and during the body; a Content-Length and a chunked body over the
# cap (and at it); a wrong digest (nothing left behind); HTTP errors; GitHub's archive and
# zipball URLs with GITHUB_TOKEN sent to GitHub's hosts only; a cache hit that makes no request.
. "$(dirname "$0")/lib.sh"

make_ca "$WORK/ca"
CA="$WORK/ca/ca.pem"

# The bundles: GitHub-style zips with one top-level directory and an executable.
mkdir -p "$WORK/src/app-main/bin" "$WORK/files"
echo 'console.log("hello")' >"$WORK/src/app-main/index.js"
printf '#!/bin/sh\necho run\n' >"$WORK/src/app-main/bin/run"
chmod 755 "$WORK/src/app-main/bin/run"
head -c 300000 /dev/urandom >"$WORK/src/app-main/blob.bin"
(cd "$WORK/src" && zip -qr "$WORK/files/bundle.zip" app-main)
mkdir -p "$WORK/src/r-main"
echo 'github' >"$WORK/src/r-main/README.md"
(cd "$WORK/src" && zip -qr "$WORK/files/github.zip" r-main)
cp "$WORK/files/bundle.zip" "$WORK/files/cached.zip"
SUM=$(sha256 "$WORK/files/bundle.zip")
SIZE=$(stat -c %s "$WORK/files/bundle.zip")
GSUM=$(sha256 "$WORK/files/github.zip")

start_server S "$WORK/files" tls
start_server H "$WORK/files"       # plain http, for the downgrade test
B="https://127.0.0.1:$S_PORT"
COMMON=(--ca-file "$CA" --sha256 "$SUM")
n=0
newdest() { n=$((n + 1)); d="$WORK/out/d$n"; }  # sets $d to a fresh destination
mkdir -p "$WORK/out"

# Plain download.
newdest
run_tool "$WORK/r" --bundle "$B/files/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1
check "plain download" test "$(result_field "$WORK/r" ok)" = true
check "tree unpacked, top directory stripped" test -f "$d/index.js"
check "exec bit kept" test -x "$d/bin/run"
check "fetch progress ends with every byte" \
	jqe -s "any(.[]; .stage == \"fetch\" and .state == \"done\" and .done == $SIZE)" "$WORK/r"
STAGES='[.[] | select(.type == "stage" and .state != "running") | .stage + ":" + .state] | join(" ")'
check "stage order fetch, verify, unpack" \
	test "$(jq -r -s "$STAGES" "$WORK/r")" = "fetch:done verify:done unpack:done"
check "every stage event is from the agent" jqe -s 'all(.[]; .type == "result" or .source == "agent")' "$WORK/r"

# TLS is verified: without the test CA the same URL fails.
newdest
run_tool "$WORK/r" --bundle "$B/files/bundle.zip" --sha256 "$SUM" --dest "$d" --allow-host 127.0.0.1 || true
check "untrusted certificate refused" error_has "$WORK/r" "TLS with 127.0.0.1 failed"

# Redirect to an allowed host (localhost is another name for the same server).
newdest
run_tool "$WORK/r" --bundle "$B/redirect?to=https://localhost:$S_PORT/files/bundle.zip" \
	"${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 --allow-host localhost
check "redirect to an allowed host" test "$(result_field "$WORK/r" ok)" = true
check "the second hop reached localhost" test "$(requests "$S_LOG" ".host == \"localhost:$S_PORT\"")" -eq 1

# Redirect to a host off the allowlist: refused before any request to it.
newdest
run_tool "$WORK/r" --bundle "$B/redirect?to=https://localhost:$S_PORT/files/bundle.zip" \
	"${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 || true
check "redirect to a disallowed host refused" error_has "$WORK/r" "host localhost is not on the allowlist (redirect 1)"
check "code is 'refused as unsafe'" test "$(result_field "$WORK/r" code)" = "refused as unsafe"
check "no request reached the disallowed host" test "$(requests "$S_LOG" ".host == \"localhost:$S_PORT\"")" -eq 1
check "fetch failed event with the reason" \
	jqe -s 'any(.[]; .stage == "fetch" and .state == "failed" and (.reason | test("allowlist")))' "$WORK/r"
check "nothing at the destination" test ! -e "$d"

# Redirect from https to http: refused even to loopback with --allow-http-loopback.
newdest
run_tool "$WORK/r" --bundle "$B/redirect?to=http://127.0.0.1:$H_PORT/files/bundle.zip" \
	"${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 --allow-http-loopback || true
check "https -> http downgrade refused" error_has "$WORK/r" "redirect from https to http://127.0.0.1 refused"
check "the http server saw nothing" test "$(requests "$H_LOG")" -eq 0

# Plain http to loopback works only with the flag.
newdest
run_tool "$WORK/r" --bundle "http://127.0.0.1:$H_PORT/files/bundle.zip" "${COMMON[@]}" \
	--dest "$d" --allow-host 127.0.0.1 || true
check "plain http refused without --allow-http-loopback" error_has "$WORK/r" "plain http to 127.0.0.1 refused"
newdest
run_tool "$WORK/r" --bundle "http://127.0.0.1:$H_PORT/files/bundle.zip" "${COMMON[@]}" \
	--dest "$d" --allow-host 127.0.0.1 --allow-http-loopback
check "plain http to loopback with --allow-http-loopback" test -f "$d/index.js"

# Hop limit: 5 redirects are fine, 6 are not.
newdest
run_tool "$WORK/r" --bundle "$B/chain/5/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1
check "5 redirects followed" test "$(result_field "$WORK/r" ok)" = true
newdest
run_tool "$WORK/r" --bundle "$B/chain/6/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 || true
check "6 redirects refused" error_has "$WORK/r" "more than 5 redirects"

# A server that stalls: before the headers, and in the middle of the body.
for route in stall-headers stall-body/bundle.zip; do
	newdest
	start=$(date +%s)
	run_tool "$WORK/r" --bundle "$B/$route" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 \
		--low-speed-limit 1000 --low-speed-time 2 || true
	took=$(($(date +%s) - start))
	check "stall ($route) times out" test "$(result_field "$WORK/r" code)" = "timed out"
	check "stall ($route) gave up after about 2 s (took ${took}s)" test "$took" -le 10
done

# The whole-download timeout, with the low-speed rule out of the way.
newdest
start=$(date +%s)
run_tool "$WORK/r" --bundle "$B/stall-body/bundle.zip" "${COMMON[@]}" --dest "$d" \
	--allow-host 127.0.0.1 --low-speed-time 600 --timeout 2 || true
check "--timeout 2 stops a stalled download" test "$(result_field "$WORK/r" code)" = "timed out"
check "... after about 2 s" test $(($(date +%s) - start)) -le 6

# Size cap: Content-Length over the cap, at the cap, and a chunked body without it.
newdest
run_tool "$WORK/r" --bundle "$B/files/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 \
	--max-download $((SIZE - 1)) || true
check "Content-Length one byte over the cap refused" error_has "$WORK/r" "Content-Length"
check "... as a size limit" test "$(result_field "$WORK/r" code)" = "size limit exceeded"
newdest
run_tool "$WORK/r" --bundle "$B/files/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 \
	--max-download "$SIZE"
check "Content-Length exactly at the cap accepted" test "$(result_field "$WORK/r" ok)" = true
newdest
run_tool "$WORK/r" --bundle "$B/chunked/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 \
	--max-download $((SIZE - 1)) || true
check "chunked body over the cap refused while streaming" error_has "$WORK/r" "passes the cap of $((SIZE - 1)) bytes"
newdest
run_tool "$WORK/r" --bundle "$B/chunked/bundle.zip" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 \
	--max-download "$SIZE"
check "chunked body exactly at the cap accepted" test "$(result_field "$WORK/r" ok)" = true
newdest
start=$(date +%s)
run_tool "$WORK/r" --bundle "$B/huge-length" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 || true
check "a 10 GiB Content-Length refused at once with the default cap" error_has "$WORK/r" "Content-Length"
check "... without waiting for the body" test $(($(date +%s) - start)) -le 5

# Wrong digest: refused with both digests; the partial download is gone.
mkdir -p "$WORK/mismatch"
WRONG=$(printf '%064d' 0)
run_tool "$WORK/r" --bundle "$B/files/bundle.zip" --ca-file "$CA" --sha256 "$WRONG" \
	--dest "$WORK/mismatch/dest" --allow-host 127.0.0.1 || true
check "wrong digest refused" error_has "$WORK/r" "sha256 mismatch: expected $WRONG got $SUM"
check "verify failed event" has_event "$WORK/r" verify failed
check "nothing left beside the destination" test -z "$(ls -A "$WORK/mismatch")"

# Missing digest: refused before any request.
before=$(requests "$S_LOG")
newdest
run_tool "$WORK/r" --bundle "$B/files/bundle.zip" --ca-file "$CA" --dest "$d" --allow-host 127.0.0.1 || true
check "missing digest refused (fail closed)" error_has "$WORK/r" "no sha256 given"
check "... before any request" test "$(requests "$S_LOG")" -eq "$before"

# HTTP errors.
newdest
run_tool "$WORK/r" --bundle "$B/status/404" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 || true
check "404 is not found" test "$(result_field "$WORK/r" code)" = "not found"
newdest
run_tool "$WORK/r" --bundle "$B/status/403" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 || true
check "403 is an authentication failure" error_has "$WORK/r" "HTTP 403 from 127.0.0.1"
newdest
run_tool "$WORK/r" --bundle "$B/status/500?len=100000" "${COMMON[@]}" --dest "$d" --allow-host 127.0.0.1 || true
check "a 100 KB error body: the reason keeps its first 200 bytes" \
	test "$(result_field "$WORK/r" error)" = "HTTP 500 from 127.0.0.1: $(printf 'x%.0s' $(seq 200))"
newdest
run_tool "$WORK/r" --bundle "$B/bigredirect?to=/files/bundle.zip" "${COMMON[@]}" --dest "$d" \
	--allow-host 127.0.0.1
check "a redirect with a 100 KB body is still followed" test -f "$d/index.js"

# GitHub: names pinned to this server, GITHUB_TOKEN sent to github.com and api.github.com only.
GH=(--ca-file "$CA" --sha256 "$GSUM" --allow-host github.com --allow-host api.github.com
	--allow-host codeload.github.com --allow-host 127.0.0.1
	--resolve "github.com:$S_PORT:127.0.0.1" --resolve "api.github.com:$S_PORT:127.0.0.1"
	--resolve "codeload.github.com:$S_PORT:127.0.0.1")
: >"$S_LOG"
newdest
GITHUB_TOKEN=gh-secret-token run_tool "$WORK/r" \
	--bundle "https://api.github.com:$S_PORT/repos/owner/r/zipball/main" "${GH[@]}" --dest "$d"
check "API zipball through codeload" test -f "$d/README.md"
TO_API='(.host | startswith("api.github.com")) and .headers.authorization == "Bearer gh-secret-token"'
TO_CODELOAD_BARE='(.host | startswith("codeload.github.com")) and .headers.authorization == null'
check "token sent to api.github.com" test "$(requests "$S_LOG" "$TO_API")" -eq 1
check "token not sent after the redirect to codeload" \
	test "$(requests "$S_LOG" "$TO_CODELOAD_BARE")" -eq 1
: >"$S_LOG"
newdest
GITHUB_TOKEN=gh-secret-token run_tool "$WORK/r" \
	--bundle "https://github.com:$S_PORT/owner/r/archive/main.zip" "${GH[@]}" --dest "$d"
check "archive URL through codeload" test -f "$d/README.md"
ELSEWHERE='.headers.authorization != null and (.host | startswith("github.com:") | not)'
check "token only ever reached github.com" test "$(requests "$S_LOG" "$ELSEWHERE")" -eq 0
: >"$S_LOG"
newdest
GITHUB_TOKEN=gh-secret-token run_tool "$WORK/r" --bundle "$B/files/bundle.zip" "${COMMON[@]}" \
	--dest "$d" --allow-host 127.0.0.1
check "token never sent to another host" test "$(requests "$S_LOG" '.headers.authorization != null')" -eq 0

# Cache: the second run with the same digest makes no request.
: >"$S_LOG"
newdest
run_tool "$WORK/r" --bundle "$B/files/cached.zip" "${COMMON[@]}" --dest "$d" \
	--allow-host 127.0.0.1 --cache "$WORK/cache"
check "first run fetched" test "$(requests "$S_LOG")" -eq 1
check "first run was a miss" test "$(result_field "$WORK/r" cacheHit)" = false
newdest
run_tool "$WORK/r" --bundle "$B/files/cached.zip" "${COMMON[@]}" --dest "$d" \
	--allow-host 127.0.0.1 --cache "$WORK/cache"
check "second run was a hit" test "$(result_field "$WORK/r" cacheHit)" = true
check "second run made no request" test "$(requests "$S_LOG")" -eq 1
check "second run has the tree" test -x "$d/bin/run"
check "fetch reported as skipped" has_event "$WORK/r" fetch skipped

finish
