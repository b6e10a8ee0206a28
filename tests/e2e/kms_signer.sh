#!/usr/bin/env bash
# Session tokens signed by Cloud KMS (--session-signer kms:KEY_VERSION), against a loopback
# server that speaks the metadata-server token call and KMS asymmetricSign/publicKey as Google
# documents them, holding an RSA key made here: tokens verify with openssl and attach, a second
# replica with the same key version verifies them, forged and alg-confused tokens are refused,
# a bad CRC32C is refused, KMS down answers 503 and recovers, the access token is refreshed.
source "$(dirname "$0")/lib.sh"
KV=projects/rw-test/locations/global/keyRings/runwire/cryptoKeys/session-tokens/cryptoKeyVersions/1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/kms.pem" 2>/dev/null
openssl pkey -in "$TMP/kms.pem" -pubout -out "$TMP/pub.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/other.pem" 2>/dev/null
MINT="python3 $RW_SRC/tests/e2e/mint_token.py"
KPORT=$(free_port)
KMS="http://127.0.0.1:$KPORT"
export GCE_METADATA_HOST="127.0.0.1:$KPORT"

start_kms() { # access tokens live 4 s: control must refresh them
  python3 "$RW_SRC/tests/tools/fake_kms.py" --key "$TMP/kms.pem" --key-version "$KV" \
    --port "$KPORT" --token-ttl 4 2>>"$TMP/kms.err" &
  KMS_PID=$!
  PIDS+=("$KMS_PID")
  wait_for curl -sf -o /dev/null "$KMS/_test/stats"
}
stop_kms() { stop_pid "$KMS_PID"; wait "$KMS_PID" 2>/dev/null || true; }
kstat() { curl -sf "$KMS/_test/stats" | jq -r ".$1"; }
b64url_dec() { python3 -c 'import base64,sys; s=sys.argv[1]; sys.stdout.buffer.write(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))' "$1"; }
header_of() { b64url_dec "$(cut -d. -f1 <<<"$1")"; }
# verify_token TOKEN PUB: the JWS signature checked by openssl alone
verify_token() {
  printf '%s' "${1%.*}" >"$TMP/vt.in"
  b64url_dec "${1##*.}" >"$TMP/vt.sig"
  openssl dgst -sha256 -verify "$2" -signature "$TMP/vt.sig" "$TMP/vt.in" >/dev/null 2>&1
}
attach_ok() { "$RW_BIN/runwire" attach --token "$1" "$2" >"$TMP/attach.out" 2>&1; }
attach_refused() { ! "$RW_BIN/runwire" attach --token "$1" "$2" >/dev/null 2>&1; }
last_refusal() { grep viewer_refused "$1" | tail -1; }

start_kms
check "the fake metadata server refuses a request without Metadata-Flavor" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $KMS/computeMetadata/v1/instance/service-accounts/default/token)\" = 403 ]"
check "the fake KMS refuses a call without a bearer token" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $KMS/v1/$KV/publicKey)\" = 401 ]"
NOFLAVOR0=$(kstat no_flavor); UNAUTH0=$(kstat unauthorized)  # the two probes above

# 1. replica one signs with KMS
start_control --session-signer "kms:$KV" --kms-endpoint "$KMS"
api GET /readyz >/dev/null
check "ready once the public key is loaded" [ "$(st)" = 200 ]
body=$(api POST /api/sessions '{"command":"sleep 0.5; echo kms-signed-output"}')
check "a session is created" [ "$(st)" = 201 ]
tok=$(jq -r .token <<<"$body"); sid=$(jq -r .sessionId <<<"$body")
hdr=$(header_of "$tok")
check "the token is RS256 with the key version as kid" \
  bash -c "jq -e --arg kv '$KV' '.alg == \"RS256\" and .kid == \$kv' <<<'$hdr' >/dev/null"
check "its signature verifies with openssl and the KMS public key" verify_token "$tok" "$TMP/pub.pem"
check "but not with another key" bash -c "$(declare -f verify_token b64url_dec); TMP=$TMP; ! verify_token '$tok' <(openssl pkey -in $TMP/other.pem -pubout)"
check "the runwire client attaches with it" attach_ok "$tok" "$sid"
check "and sees the session's output" grep -q kms-signed-output "$TMP/attach.out"
check "one KMS sign call per token" [ "$(kstat signs)" = 1 ]
check "every metadata call carried Metadata-Flavor: Google" [ "$(kstat no_flavor)" = "$NOFLAVOR0" ]

vbody=$(api POST "/api/sessions/$sid/tokens" '{"role":"viewer"}')
check "a viewer token is minted through KMS too" [ "$(st)" = 201 ]
vtok=$(jq -r .token <<<"$vbody")
check "and verifies with openssl" verify_token "$vtok" "$TMP/pub.pem"

# 2. forged and alg-confused tokens
sid2=$(api POST /api/sessions '{"command":"sleep 30"}' | jq -r .sessionId)
check "an RS256 token with the right kid signed by another key is refused" \
  attach_refused "$($MINT /dev/null local "$sid2" --alg RS256 --kid "$KV" --key "$TMP/other.pem")" "$sid2"
check "as a bad signature" bash -c "grep viewer_refused '$CONTROL_LOG' | tail -1 | grep -q 'bad token signature'"
# the classic confusion: HS256 keyed with the public PEM exactly as KMS publishes it
confused=$(python3 - "$TMP/pub.pem" "$KV" "$sid2" <<'EOF'
import base64, hashlib, hmac, json, os, sys, time
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
pem, kv, sid = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
now = int(time.time())
s = b(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kv}).encode()) + "." + b(json.dumps(
    {"sub": "local", "sid": sid, "jti": os.urandom(8).hex(), "role": "writer", "iat": now, "exp": now + 600}).encode())
print(s + "." + b(hmac.new(pem, s.encode(), hashlib.sha256).digest()))
EOF
)
check "an HS256 token keyed with the public key PEM is refused" attach_refused "$confused" "$sid2"
check "before its signature is looked at" bash -c "grep viewer_refused '$CONTROL_LOG' | tail -1 | grep -q 'not signed with a current session key'"
check "an HS256 token without a kid is refused" attach_refused "$($MINT "$TMP/pub.pem" local "$sid2")" "$sid2"
check "an unsigned (alg none) token is refused" attach_refused "$($MINT /dev/null local "$sid2" --alg none --kid "$KV")" "$sid2"
check "a token signed by the KMS key itself attaches (the forger's tools are right)" \
  attach_ok "$($MINT /dev/null local "$sid2" --alg RS256 --kid "$KV" --key "$TMP/kms.pem")" "$sid2"

# 3. the access token (4 s) is refreshed before it expires, never presented stale
t0=$(kstat tokens)
sleep 3
api POST /api/sessions '{"command":"true"}' >/dev/null
check "a session after the access token's half life is created" [ "$(st)" = 201 ]
check "with a fresh access token from the metadata server" [ "$(kstat tokens)" -gt "$t0" ]
check "KMS never saw an expired or missing access token" [ "$(kstat unauthorized)" = "$UNAUTH0" ]

# 4. a signature whose CRC32C does not match is refused
curl -sf -X POST --data '{"bad_crc":true}' "$KMS/_test/mode" >/dev/null
body=$(api POST /api/sessions '{"command":"sleep 30"}')
check "a bad signatureCrc32c answers 503" [ "$(st)" = 503 ]
check "saying so" bash -c "jq -r .error <<<'$body' | grep -q 'signature failed its CRC32C check'"
check "and the session it was for is not left waiting" \
  bash -c "[ \"\$(curl -sf $SERVER/api/sessions | jq '[.sessions[] | select(.state == \"waiting\")] | length')\" = 0 ]"
bad_sid=$(curl -sf "$SERVER/api/sessions" | jq -r '[.sessions[] | select(.reason == "its session token could not be signed")][0].sessionId')
check "it failed, saying its token could not be signed" [ -n "$bad_sid" -a "$bad_sid" != null ]
check "and no runner ever started it (it waited out of the queue)" \
  bash -c "! grep -q '\"session_assigned\",\"session\":\"$bad_sid\"' '$CONTROL_LOG'"
curl -sf -X POST --data '{"bad_crc":false,"unverified_digest":true}' "$KMS/_test/mode" >/dev/null
api POST "/api/sessions/$sid2/tokens" >/dev/null
check "an answer that did not verify the digest's CRC32C answers 503" \
  bash -c "[ $(st) = 503 ] && jq -r .error '$TMP/api.body' | grep -q 'did not verify the digest'"
curl -sf -X POST --data '{"unverified_digest":false}' "$KMS/_test/mode" >/dev/null
check "control's digestCrc32c always matched its digest" [ "$(kstat bad_digest_crc)" = 0 ]

# 5. KMS down: 503 quickly, existing tokens still verify, then recovery
# control holds a long-lived access token when KMS restarts and forgets it: the next call
# gets a 401, and control must fetch a new one rather than fail
curl -sf -X POST --data '{"token_ttl":3600}' "$KMS/_test/mode" >/dev/null
sleep 2.2  # past the 4 s token's half life: the next call fetches a 3600 s one
pre=$(api POST "/api/sessions/$sid2/tokens" | jq -r .token)
stop_kms
t_start=$(date +%s%N)
code=$(curl -sS -D "$TMP/down.hdr" -o "$TMP/down.json" -X POST -H 'Content-Type: application/json' \
  --data '{"command":"true"}' -w '%{http_code}' "$SERVER/api/sessions")
ms=$(( ($(date +%s%N) - t_start) / 1000000 ))
check "KMS unreachable answers 503" [ "$code" = 503 ]
check "with a clear message" bash -c "[ \"\$(jq -r .error '$TMP/down.json')\" = 'cannot sign a session token now: Cloud KMS unreachable' ]"
check "the detail (address, port) goes to the log only" grep -q '"reason":"Cloud KMS unreachable (Failed to connect to 127.0.0.1' "$CONTROL_LOG"
check "and Retry-After" grep -qi '^retry-after: 5' "$TMP/down.hdr"
check "within the call timeouts (${ms} ms)" [ "$ms" -lt 6000 ]
api GET /healthz >/dev/null
check "the loop stays responsive" [ "$(st)" = 200 ]
check "a token minted before the outage still attaches" attach_ok "$pre" "$sid2"
start_kms
api POST /api/sessions '{"command":"true"}' >/dev/null
check "sessions are created again once KMS is back" [ "$(st)" = 201 ]
check "after one 401 for the access token the restarted KMS never issued, and a new one" \
  bash -c "[ $(kstat unauthorized) = 1 ] && [ $(kstat tokens) = 1 ]"

# 5b. a slow KMS does not hold up the event loop: other requests are answered meanwhile
curl -sf -X POST --data '{"sign_delay_ms":1500}' "$KMS/_test/mode" >/dev/null
t_start=$(date +%s%N)
curl -s -o "$TMP/slow.json" -w '%{http_code}' -X POST "$SERVER/api/sessions/$sid2/tokens" >"$TMP/slow.code" &
slow=$!
sleep 0.3
hz_ms=$(curl -s -o /dev/null -w '%{time_total}' "$SERVER/healthz" | awk '{printf "%d", $1 * 1000}')
wait "$slow"
total_ms=$(( ($(date +%s%N) - t_start) / 1000000 ))
log "while a sign took ${total_ms} ms, /healthz answered in ${hz_ms} ms"
check "the slow sign still succeeds" [ "$(cat "$TMP/slow.code")" = 201 ]
check "and took the KMS delay (${total_ms} ms)" [ "$total_ms" -ge 1500 ]
check "while /healthz answered at once (${hz_ms} ms)" [ "$hz_ms" -lt 300 ]
# a new session waits for its token out of the queue, and runs once it has one
curl -s -o "$TMP/slowcreate.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data '{"command":"echo slow-create-ran"}' "$SERVER/api/sessions" >"$TMP/slowcreate.code" &
slow=$!
sleep 0.8
held=$(curl -sf "$SERVER/api/sessions" | jq -r '[.sessions[] | select(.state == "waiting")][0].sessionId')
check "a session whose token is still being signed waits" [ -n "$held" -a "$held" != null ]
check "and no runner takes it yet" bash -c "! grep -q '\"session_assigned\",\"session\":\"$held\"' '$CONTROL_LOG'"
wait "$slow"
slow_sid=$(jq -r .sessionId "$TMP/slowcreate.json")
check "then it is created (201), the same session" [ "$(cat "$TMP/slowcreate.code")" = 201 -a "$slow_sid" = "$held" ]
check "and runs" wait_for bash -c "[ \"\$(curl -sf $SERVER/api/sessions/$slow_sid | jq -r .state)\" = exited ]"
# the creator leaves before the token comes: nobody knows the session's id, so it never runs
curl -s -o /dev/null --max-time 0.5 -X POST -H 'Content-Type: application/json' \
  --data '{"command":"echo orphan-ran"}' "$SERVER/api/sessions" || true
gone_reason="the request that created it went away before its token was signed"
check "a session whose creator left before its token came fails, saying so" wait_for bash -c \
  "curl -sf $SERVER/api/sessions | jq -e --arg r '$gone_reason' 'any(.sessions[]; .reason == \$r and .state == \"failed\")' >/dev/null"
gone_sid=$(curl -sf "$SERVER/api/sessions" | jq -r --arg r "$gone_reason" '[.sessions[] | select(.reason == $r)][0].sessionId')
check "and never ran" bash -c "! grep -q '\"session_assigned\",\"session\":\"$gone_sid\"' '$CONTROL_LOG'"
curl -sf -X POST --data '{"sign_delay_ms":0}' "$KMS/_test/mode" >/dev/null

# 6. a second replica with the same key version verifies the first one's tokens
tok1=$(api POST "/api/sessions/$sid2/tokens" | jq -r .token)
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port2" \
  --data-dir "$TMP/data2" --session-signer "kms:$KV" --kms-endpoint "$KMS" >"$TMP/control2.err" 2>&1 &
C2=$!
PIDS+=("$C2")
wait_for test -s "$TMP/port2"
S2="http://127.0.0.1:$(cat "$TMP/port2")"
RUNWIRE_SERVER=$S2 "$RW_BIN/runwire" attach --token "$tok1" "$sid2" >/dev/null 2>&1 || true
check "replica two accepts replica one's signature (the session itself lives on replica one)" \
  bash -c "grep viewer_refused '$TMP/control2.err' | tail -1 | grep -q 'no such session'"
RUNWIRE_SERVER=$S2 "$RW_BIN/runwire" attach --token "${tok1%.*}.$(cut -d. -f3 <<<"$vtok")" "$sid2" >/dev/null 2>&1 || true
check "and refuses a signature from elsewhere" \
  bash -c "grep viewer_refused '$TMP/control2.err' | tail -1 | grep -q 'bad token signature'"
body2=$(curl -sf -X POST -H 'Content-Type: application/json' --data '{"command":"sleep 0.3; echo replica-two"}' "$S2/api/sessions")
check "replica two's own token attaches to replica two" \
  bash -c "RUNWIRE_SERVER=$S2 '$RW_BIN/runwire' attach --token $(jq -r .token <<<"$body2") $(jq -r .sessionId <<<"$body2") | grep -q replica-two"

# 7. start-up with KMS down: control starts, is not ready, and becomes ready once KMS is back
stop_pid "$C2"; wait "$C2" 2>/dev/null || true
stop_kms
rm -f "$TMP/port2"
RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --port-file "$TMP/port2" \
  --data-dir "$TMP/data3" --session-signer "kms:$KV" --kms-endpoint "$KMS" >"$TMP/control3.err" 2>&1 &
C3=$!
PIDS+=("$C3")
wait_for test -s "$TMP/port2"
S3="http://127.0.0.1:$(cat "$TMP/port2")"
code=$(curl -s -o "$TMP/ready.json" -w '%{http_code}' "$S3/readyz")
check "not ready while the public key cannot be fetched" [ "$code" = 503 ]
check "saying why" grep -q 'session signing key not loaded from Cloud KMS' "$TMP/ready.json"
start_kms
curl -sf -X POST --data '{"bad_pem_crc":true}' "$KMS/_test/mode" >/dev/null
pem_crc_refused() { curl -s "$S3/readyz" | grep -q 'public key failed its CRC32C check'; }
check "a public key whose pemCrc32c does not match is refused" \
  bash -c "$(declare -f pem_crc_refused); S3=$S3; for i in \$(seq 1 60); do pem_crc_refused && exit 0; sleep 0.25; done; exit 1"
curl -sf -X POST --data '{"bad_pem_crc":false}' "$KMS/_test/mode" >/dev/null
ready3() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3/readyz")" = 200 ]; }
check "ready once KMS answers (retried every 5 s)" bash -c "$(declare -f ready3); S3=$S3; for i in \$(seq 1 60); do ready3 && exit 0; sleep 0.25; done; exit 1"
stop_pid "$C3"; wait "$C3" 2>/dev/null || true

# 8. no access token in any log; bad configurations refused at start
check "no access token in control's logs" bash -c "! grep -rq 'ya29' '$CONTROL_LOG' '$TMP/control2.err' '$TMP/control3.err' '$TMP/data/audit.log'"
bad() { # bad EXPECTED-TEXT FLAGS...: control exits 2 saying EXPECTED-TEXT
  local want=$1 rc=0; shift
  RUNWIRE_CONFIG=none "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/bad" "$@" >"$TMP/bad.out" 2>&1 || rc=$?
  [ "$rc" = 2 ] && grep -q "$want" "$TMP/bad.out"
}
check "a malformed key version is refused" bad 'want a KMS key version' --session-signer "kms:projects/p/keyRings/r"
check "an unknown signer is refused" bad 'want kms:' --session-signer "vault:x"
check "KMS and a secret file together are refused" bad 'use one' --session-signer "kms:$KV" --session-secret-file "$TMP/pub.pem"
check "plain http to a non-loopback KMS endpoint is refused" bad 'kms-endpoint' --session-signer "kms:$KV" --kms-endpoint http://kms.example.com
check "a key version name one past the limit is refused" bad 'at most 400' --session-signer "kms:$KV$(printf '%0350d' 0)"
