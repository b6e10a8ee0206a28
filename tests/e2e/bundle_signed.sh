#!/usr/bin/env bash
# Signed bundles, signed with the real minisign tool (Debian package minisign, keys made with
# -G -W). `runwire-agent run --minisign-key`: prehashed (minisign's default) and legacy (-l)
# signatures accepted, from a local file and over https through redirects; a tampered bundle,
# another key, a missing .minisig, a signature for another file, an altered trusted comment
# refused with the reason (exit 125, the command never runs). Through control: a template's
# "signers" and the operator's "bundles.signers" are enforced by the agent, a bad key in the
# config stops control at start.
source "$(dirname "$0")/lib.sh"
AGENT="$RW_BIN/runwire-agent"
command -v minisign >/dev/null || { log "minisign is not installed (tests/deps.txt)"; exit 1; }
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR" "$TMP/keys" "$TMP/src/app" "$TMP/files"

minisign -G -W -p "$TMP/keys/a.pub" -s "$TMP/keys/a.key" >/dev/null
minisign -G -W -p "$TMP/keys/b.pub" -s "$TMP/keys/b.key" >/dev/null
KEY_A=$(tail -n 1 "$TMP/keys/a.pub")
KEY_B=$(tail -n 1 "$TMP/keys/b.pub")
ID_A=$(sed -n 's/^untrusted comment: minisign public key //p' "$TMP/keys/a.pub")

printf '#!/bin/sh\necho "signed-bundle-ran"\n' >"$TMP/src/app/run.sh"
chmod 755 "$TMP/src/app/run.sh"
(cd "$TMP/src" && zip -qr "$TMP/files/app.zip" app)
echo other >"$TMP/src/app/other.txt"
(cd "$TMP/src" && zip -qr "$TMP/files/other.zip" app)
cp "$TMP/files/app.zip" "$TMP/files/legacy.zip"
cp "$TMP/files/app.zip" "$TMP/files/unsigned.zip"
minisign -S -s "$TMP/keys/a.key" -m "$TMP/files/app.zip" "$TMP/files/other.zip" >/dev/null
minisign -S -l -s "$TMP/keys/a.key" -m "$TMP/files/legacy.zip" >/dev/null
SUM=$(sha "$TMP/files/app.zip")
OTHER_SUM=$(sha "$TMP/files/other.zip")
check "minisign itself accepts its signature" \
  minisign -V -q -p "$TMP/keys/a.pub" -m "$TMP/files/app.zip"

run() { # run NAME ARGS...: runwire-agent run, output in NAME.out/.err, status in rc
  local name=$1; shift
  set +e
  "$AGENT" run --cache-dir none "$@" -- ./run.sh >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
  set -e
}
accepted() { # accepted NAME: ran, and the verify line names the signer
  [ "$rc" = 0 ] && grep -q signed-bundle-ran "$TMP/$1.out" &&
    grep -q "\[verify\] done (signed by key $ID_A)" "$TMP/$1.err"
}
refused() { # refused NAME TEXT: 125, the reason on a verify line, the command never ran
  [ "$rc" = 125 ] && grep -q "\[verify\] failed: .*$2" "$TMP/$1.err" &&
    ! grep -q signed-bundle-ran "$TMP/$1.out" ||
    { log "rc $rc; stderr:"; cat "$TMP/$1.err" >&2; return 1; }
}

# --- accepted: prehashed and legacy, key as a file or as its "RW..." line ---
run pre --bundle "$TMP/files/app.zip" --sha256 "$SUM" --minisign-key "$TMP/keys/a.pub"
check "prehashed signature (minisign -S) accepted (rc $rc)" accepted pre
run leg --bundle "$TMP/files/legacy.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "legacy signature (minisign -S -l) accepted (rc $rc)" accepted leg
check "the signature is legacy indeed" \
  bash -c "sed -n 2p '$TMP/files/legacy.zip.minisig' | base64 -d | head -c 2 | grep -qx Ed"
run two --bundle "$TMP/files/app.zip" --sha256 "$SUM" --minisign-key "$KEY_B" --minisign-key "$KEY_A"
check "any one of several keys (rc $rc)" accepted two

# --- refused ---
cp "$TMP/files/app.zip" "$TMP/files/tampered.zip"
cp "$TMP/files/app.zip.minisig" "$TMP/files/tampered.zip.minisig"
printf 'x' >>"$TMP/files/tampered.zip"   # a trailing byte: unzip still reads it
run tampered --bundle "$TMP/files/tampered.zip" --sha256 "$(sha "$TMP/files/tampered.zip")" \
  --minisign-key "$KEY_A"
check "tampered bundle refused even with its new digest" refused tampered "does not match the bundle's bytes"
run wrongkey --bundle "$TMP/files/app.zip" --sha256 "$SUM" --minisign-key "$KEY_B"
check "signature by another key refused" refused wrongkey "signed by key $ID_A, which is not among"
run missing --bundle "$TMP/files/unsigned.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "missing .minisig refused" refused missing "unsigned bundle: signers are required"
cp "$TMP/files/app.zip" "$TMP/files/swapped.zip"
cp "$TMP/files/other.zip.minisig" "$TMP/files/swapped.zip.minisig"
run swapped --bundle "$TMP/files/swapped.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "signature for another file refused" refused swapped "does not match the bundle's bytes"
cp "$TMP/files/app.zip" "$TMP/files/comment.zip"
sed '3s/file:app.zip/file:evil.zip/' "$TMP/files/app.zip.minisig" >"$TMP/files/comment.zip.minisig"
check "the trusted comment was altered" \
  bash -c "! cmp -s '$TMP/files/app.zip.minisig' '$TMP/files/comment.zip.minisig'"
run comment --bundle "$TMP/files/comment.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "altered trusted comment refused" refused comment "trusted comment does not match"
cp "$TMP/files/app.zip" "$TMP/files/junk.zip"
head -c 20000 /dev/zero | tr '\0' 'A' >"$TMP/files/junk.zip.minisig"
run junk --bundle "$TMP/files/junk.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "a .minisig past its 16 KiB cap refused" refused junk "could not be fetched.*cap"
run badkey --bundle "$TMP/files/app.zip" --sha256 "$SUM" --minisign-key "RWnotakey"
check "a malformed --minisign-key is a usage error (rc $rc)" \
  bash -c "[ $rc = 2 ] && grep -q 'neither a minisign public key' '$TMP/badkey.err'"
check "no work directory left behind" bash -c "[ -z \"\$(ls -A '$TMPDIR')\" ]"

# --- over https, through redirects: the .minisig follows the bundle's rules ---
make_test_ca "$TMP/ca"
python3 "$RW_SRC/tests/e2e-bundle/server.py" --root "$TMP/files" --port-file "$TMP/s.port" \
  --log "$TMP/s.log" --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" 2>"$TMP/server.err" &
PIDS+=($!)
wait_for test -s "$TMP/s.port"
B="https://127.0.0.1:$(cat "$TMP/s.port")"
HTTPS=(--ca-file "$TMP/ca/ca.pem" --allow-host 127.0.0.1)
run https "${HTTPS[@]}" --bundle "$B/chain/2/app.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "https with redirects: bundle and .minisig accepted (rc $rc)" accepted https
check "the .minisig came through the same redirect chain" \
  jq -e -s 'any(.[]; .path == "/chain/2/app.zip.minisig") and any(.[]; .path == "/files/app.zip.minisig")' "$TMP/s.log"
run https404 "${HTTPS[@]}" --bundle "$B/files/unsigned.zip" --sha256 "$SUM" --minisign-key "$KEY_A"
check "https: missing .minisig (404) refused" refused https404 "unsigned bundle.*HTTP 404"
check "https: the bundle itself was not downloaded when its signature is missing" \
  [ "$(jq -s '[.[] | select(.path == "/files/unsigned.zip")] | length' "$TMP/s.log")" = 0 ]
run httpshost --ca-file "$TMP/ca/ca.pem" --allow-host localhost --bundle "$B/files/app.zip" \
  --sha256 "$SUM" --minisign-key "$KEY_A"
check "https: the .minisig obeys the allowlist" refused httpshost "not on the allowlist"

# --- through control: templates' signers, the operator's signers ---
cat >"$TMP/config.json" <<EOF
{"templates": {
  "signed": {"bundle": {"url": "$TMP/files/app.zip", "sha256": "$SUM"},
             "signers": ["$KEY_B", "$KEY_A"], "command": "./run.sh"},
  "wrong-signer": {"bundle": {"url": "$TMP/files/app.zip", "sha256": "$SUM"},
                   "signers": ["$KEY_B"], "command": "./run.sh"},
  "unsigned": {"bundle": {"url": "$TMP/files/unsigned.zip", "sha256": "$SUM"},
               "command": "./run.sh"},
  "other": {"bundle": {"url": "$TMP/files/other.zip", "sha256": "$OTHER_SUM"},
            "command": "./run.sh"}
 },
 "bundles": {"signers": ["$KEY_A"]}}
EOF
start_control --config "$TMP/config.json" --local-runners 1
crun() { # crun NAME TEMPLATE: runwire run --template, status in rc
  set +e
  "$RW_BIN/runwire" run --template "$2" >"$TMP/$1.out" 2>"$TMP/$1.err"; rc=$?
  set -e
}
crun c-signed signed
check "template with signers runs (rc $rc)" \
  bash -c "[ $rc = 0 ] && grep -q signed-bundle-ran '$TMP/c-signed.out' && grep -q '\[verify\] done (signed by key $ID_A)' '$TMP/c-signed.err'"
crun c-signed2 signed
check "a signed template is verified again, never served unsigned from the cache (rc $rc)" \
  bash -c "[ $rc = 0 ] && grep -q '\[verify\] done (signed by key $ID_A)' '$TMP/c-signed2.err'"
crun c-wrong wrong-signer
check "template whose signer did not sign: exit 125 with the reason (rc $rc)" \
  bash -c "[ $rc = 125 ] && grep -q '\[verify\] failed: signed by key $ID_A, which is not among' '$TMP/c-wrong.err' && ! grep -q signed-bundle-ran '$TMP/c-wrong.out'"
crun c-unsigned unsigned
check "operator's bundles.signers: an unsigned bundle fails (rc $rc)" \
  bash -c "[ $rc = 125 ] && grep -q 'unsigned bundle' '$TMP/c-unsigned.err'"
crun c-other other
check "operator's bundles.signers: a signed bundle runs (rc $rc)" \
  bash -c "[ $rc = 0 ] && grep -q signed-bundle-ran '$TMP/c-other.out'"

# A key that is not one stops control at start, naming the template.
cat >"$TMP/bad-config.json" <<EOF
{"templates": {"t": {"bundle": {"url": "$TMP/files/app.zip", "sha256": "$SUM"},
                     "signers": ["untrusted comment: minisign public key"], "command": "true"}}}
EOF
set +e
"$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/data2" \
  --config "$TMP/bad-config.json" >"$TMP/bad-config.err" 2>&1; rc=$?
set -e
check "a malformed signer key stops control at start (rc $rc)" [ "$rc" != 0 ]
check "...naming the template and the key" \
  grep -qF 'template "t": "signers"[0] is not a minisign public key' "$TMP/bad-config.err"
