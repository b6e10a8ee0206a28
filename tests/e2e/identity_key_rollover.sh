#!/usr/bin/env bash
# Session signing keys, rotation-ready: ES256 key pairs named by kid. During a rollover the
# current key signs and the previous one is still accepted; once the previous key is retired,
# tokens it signed are refused, as are tokens from an unknown key or naming the wrong alg.
source "$(dirname "$0")/lib.sh"
MINT="python3 $RW_SRC/tests/e2e/mint_token.py /dev/null local"
for k in a b c; do openssl ecparam -genkey -name prime256v1 -noout -out "$TMP/$k.pem"; done
openssl ec -in "$TMP/a.pem" -pubout -out "$TMP/a.pub.pem" 2>/dev/null

attach_ok() { "$RW_BIN/runwire" attach --token "$1" "$2" >/dev/null 2>&1; }

# 1. key a is current: control's own tokens carry kid a and attach.
start_control --session-key-file "$TMP/a.pem" --session-key-id key-a
body=$(api POST /api/sessions '{"command":"echo signed-by-a"}')
tok=$(jq -r .token <<<"$body"); sid=$(jq -r .sessionId <<<"$body")
hdr=$(cut -d. -f1 <<<"$tok" | tr '_-' '/+' | base64 -d 2>/dev/null || true)
check "tokens are ES256 with kid key-a" bash -c "grep -q '\"alg\":\"ES256\"' <<<'$hdr' && grep -q '\"kid\":\"key-a\"' <<<'$hdr'"
check "an ES256 token attaches" attach_ok "$tok" "$sid"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; CONTROL_PID=""
rm -f "$TMP/port"

# 2. rollover: b signs, a (public half only) is still accepted.
start_control --session-key-file "$TMP/b.pem" --session-key-id key-b \
  --session-previous-key-file "$TMP/a.pub.pem" --session-previous-key-id key-a
body=$(api POST /api/sessions '{"command":"sleep 1; echo hi"}')
sid=$(jq -r .sessionId <<<"$body")
hdr=$(jq -r .token <<<"$body" | cut -d. -f1 | tr '_-' '/+' | base64 -d 2>/dev/null || true)
check "the new key signs" grep -q '"kid":"key-b"' <<<"$hdr"
check "a token signed by the previous key is accepted" attach_ok "$($MINT "$sid" --alg ES256 --kid key-a --key "$TMP/a.pem")" "$sid"
check "an unknown key is refused" bash -c "$(declare -f attach_ok); ! attach_ok \"\$($MINT $sid --alg ES256 --kid key-c --key $TMP/c.pem)\" $sid"
check "the right kid signed by another key is refused" bash -c "$(declare -f attach_ok); ! attach_ok \"\$($MINT $sid --alg ES256 --kid key-b --key $TMP/c.pem)\" $sid"
openssl ec -in "$TMP/b.pem" -pubout -out "$TMP/b.pub.pem" 2>/dev/null
check "minted tokens are well formed (control's mint and ours agree)" attach_ok "$($MINT "$sid" --alg ES256 --kid key-b --key "$TMP/b.pem")" "$sid"
check "HS256 signed with key-b's public PEM is refused" bash -c "$(declare -f attach_ok); ! attach_ok \"\$(python3 $RW_SRC/tests/e2e/mint_token.py $TMP/b.pub.pem local $sid --kid key-b)\" $sid"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; CONTROL_PID=""
rm -f "$TMP/port"

# 3. rollover done: a is retired.
start_control --session-key-file "$TMP/b.pem" --session-key-id key-b
sid=$(api POST /api/sessions '{"command":"sleep 1"}' | jq -r .sessionId)
set +e
"$RW_BIN/runwire" attach --token "$($MINT "$sid" --alg ES256 --kid key-a --key "$TMP/a.pem")" "$sid" >/dev/null 2>&1; rc=$?
set -e
check "a token signed with the retired key is refused" [ "$rc" != 0 ]
check "with a clear reason" grep -q '"reason":"token is not signed with a current session key"' "$CONTROL_LOG"

set +e
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/d2" --session-key-file "$TMP/a.pem" >"$TMP/nokid.out" 2>&1; rc=$?
head -c 31 /dev/urandom >"$TMP/short-secret"
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/d3" --session-secret-file "$TMP/short-secret" >"$TMP/short.out" 2>&1; rc2=$?
set -e
check "a key without a kid is refused at start" bash -c "[ $rc = 2 ] && grep -q 'session-key-id' '$TMP/nokid.out'"
check "a 31-byte secret is refused at start" bash -c "[ $rc2 = 2 ] && grep -q 'at least 32' '$TMP/short.out'"
