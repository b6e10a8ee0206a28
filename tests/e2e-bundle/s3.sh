#!/usr/bin/env bash
# bundle.e2e.s3: a bundle uploaded to a real S3 API (npm s3rver, started here on a loopback port
# chosen at run time) and fetched through s3://bucket/key with an endpoint override. s3rver does
# not check SigV4 signatures, so a recording proxy in front of it (sigv4_proxy.py) recomputes
# each signature with the secret key and the test asserts on what bundle_tool sent: an
# AWS4-HMAC-SHA256 Authorization that verifies, x-amz-content-sha256 and the session token
# signed, nothing signed after a redirect to another host, no Authorization without keys.
. "$(dirname "$0")/lib.sh"

S3RVER="$RW_SRC/tests/node_modules/s3rver/bin/s3rver.js"
if [ ! -f "$S3RVER" ]; then
	echo "FAIL - s3rver is not installed (bash scripts/setup.d/s3rver.sh)"
	exit 1
fi
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# s3rver on a port of its choosing, with the bucket made at start-up.
mkdir -p "$WORK/s3data"
node "$S3RVER" -d "$WORK/s3data" -a 127.0.0.1 -p 0 --configure-bucket bundles \
	>"$WORK/s3rver.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
	grep -q "listening on" "$WORK/s3rver.out" 2>/dev/null && break
	sleep 0.05
done
S3_PORT=$(sed -n 's/.*S3rver listening on [0-9.]*:\([0-9]*\).*/\1/p' "$WORK/s3rver.out")
[ -n "$S3_PORT" ] || { cat "$WORK/s3rver.out"; echo "FAIL - s3rver did not start"; exit 1; }

python3 "$HERE/sigv4_proxy.py" --upstream-port "$S3_PORT" --port-file "$WORK/proxy.port" \
	--log "$WORK/proxy.log" --secret S3RVER 2>"$WORK/proxy.stderr" &
PIDS+=($!)
wait_file "$WORK/proxy.port"
P_PORT=$(cat "$WORK/proxy.port")
P_LOG="$WORK/proxy.log"

# The bundle, uploaded with curl's own SigV4 (s3rver wants x-amz-content-sha256).
mkdir -p "$WORK/src/app-1.0/bin"
echo 'console.log("from s3")' >"$WORK/src/app-1.0/index.js"
printf '#!/bin/sh\necho run\n' >"$WORK/src/app-1.0/bin/run"
chmod 755 "$WORK/src/app-1.0/bin/run"
(cd "$WORK/src" && tar czf "$WORK/bundle.tar.gz" app-1.0)
SUM=$(sha256 "$WORK/bundle.tar.gz")
upload() {  # upload FILE URL-ENCODED-KEY
	curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$1" \
		"http://127.0.0.1:$S3_PORT/bundles/$2" >/dev/null
}
check "upload to s3rver" upload "$WORK/bundle.tar.gz" app/bundle.tar.gz
check "upload under a key with a space and a plus" upload "$WORK/bundle.tar.gz" "app/my%20bundle%2Bv1.tar.gz"

S3=(--sha256 "$SUM" --s3-endpoint "http://127.0.0.1:$P_PORT" --s3-region us-east-1
	--allow-host 127.0.0.1 --allow-http-loopback)
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION

# Signed GET through the endpoint override.
run_tool "$WORK/r" --bundle s3://bundles/app/bundle.tar.gz "${S3[@]}" --dest "$WORK/d1"
check "s3:// fetch" test "$(result_field "$WORK/r" ok)" = true
check "tree unpacked, exec bit kept" test -x "$WORK/d1/bin/run"
GET='select(.method == "GET" and .path == "/bundles/app/bundle.tar.gz")'
check "one GET reached the S3 API" test "$(requests "$P_LOG" "$GET")" -eq 1
AUTH_RE='^AWS4-HMAC-SHA256 Credential=S3RVER/[0-9]{8}/us-east-1/s3/aws4_request, '
AUTH_RE+='SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$'
check "Authorization is AWS4-HMAC-SHA256 for S3RVER/us-east-1/s3" \
	jqe -s --arg re "$AUTH_RE" "any(.[] | $GET; .headers.authorization | test(\$re))" "$P_LOG"
check "x-amz-content-sha256 sent (hash of the empty body)" \
	jqe -s "any(.[] | $GET; .headers[\"x-amz-content-sha256\"] == \"$EMPTY_SHA\")" "$P_LOG"
check "the signature verifies with the secret key" \
	jqe -s "all(.[] | $GET; .sigv4 == \"valid\")" "$P_LOG"

# With a session token: sent as x-amz-security-token, and signed.
: >"$P_LOG"
AWS_SESSION_TOKEN=session-token-123 run_tool "$WORK/r" --bundle s3://bundles/app/bundle.tar.gz \
	"${S3[@]}" --dest "$WORK/d2"
check "fetch with a session token" test "$(result_field "$WORK/r" ok)" = true
TOKEN_OK='.[0].headers["x-amz-security-token"] == "session-token-123" and .[0].sigv4 == "valid"
	and (.[0].headers.authorization
	     | test("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))'
check "x-amz-security-token sent and signed" jqe -s "$TOKEN_OK" "$P_LOG"

# A key that needs percent-encoding signs and fetches.
: >"$P_LOG"
run_tool "$WORK/r" --bundle "s3://bundles/app/my bundle+v1.tar.gz" "${S3[@]}" --dest "$WORK/d3"
check "key with a space and a plus" test "$(result_field "$WORK/r" ok)" = true
check "... requested encoded, signature valid" \
	jqe -s '.[0].path == "/bundles/app/my%20bundle%2Bv1.tar.gz" and .[0].sigv4 == "valid"' "$P_LOG"

# A missing key: 404 from the S3 API, with its error code in the reason.
run_tool "$WORK/r" --bundle s3://bundles/app/missing.tar.gz "${S3[@]}" --dest "$WORK/d4" || true
check "missing key is not found" test "$(result_field "$WORK/r" code)" = "not found"
check "... with S3's error code" error_has "$WORK/r" "NoSuchKey"

# Credentials never follow a redirect to another host (here localhost, also allowed).
: >"$P_LOG"
AWS_SESSION_TOKEN=session-token-123 run_tool "$WORK/r" --bundle s3://bundles/moved/app/bundle.tar.gz \
	"${S3[@]}" --allow-host localhost --dest "$WORK/d5"
check "redirected fetch" test "$(result_field "$WORK/r" ok)" = true
check "first hop signed" jqe -s '.[0].sigv4 == "valid"' "$P_LOG"
BARE='.[1].host == $h and .[1].sigv4 == "absent"
	and (.[1].headers | keys | map(select(startswith("x-amz-"))) | length == 0)'
check "second hop to localhost carries no credentials" \
	jqe -s --arg h "localhost:$P_PORT" "$BARE" "$P_LOG"

# Without keys the request goes out unsigned (public objects).
: >"$P_LOG"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$TOOL" --bundle s3://bundles/app/bundle.tar.gz \
	"${S3[@]}" --dest "$WORK/d6" >"$WORK/r"
check "unsigned fetch without keys" jqe -s '.[0].sigv4 == "absent"' "$P_LOG"

# The endpoint's host passes the allowlist like any other.
run_tool "$WORK/r" --bundle s3://bundles/app/bundle.tar.gz --sha256 "$SUM" \
	--s3-endpoint "http://127.0.0.1:$P_PORT" --allow-host localhost --allow-http-loopback \
	--dest "$WORK/d7" || true
check "endpoint host off the allowlist refused" error_has "$WORK/r" "host 127.0.0.1 is not on the allowlist"

finish
