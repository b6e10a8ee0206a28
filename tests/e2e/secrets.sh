#!/usr/bin/env bash
# Secrets by reference (docs/bundles.md, "Templates with secrets"): a template's secret read
# from a file when the session is created, and one a user gives with `runwire run --secret`,
# reach the command's environment (not the install's) and nowhere else: no byte of a marker
# value in any file control or its agents wrote (logs, audit log, session logs, events,
# recordings: the whole data directory), in any API answer, event or /metrics. A missing
# secret file is a clear error at creation naming the secret; a secret the template does not
# take from users, or one smuggled in as "env", is refused without echoing its value.
source "$(dirname "$0")/lib.sh"
jqe() { jq -e "$@" >/dev/null; }

FILE_MARK="rwsecretfile$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
USER_MARK="rwsecretuser$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$TMP/secrets"
printf '%s\n' "$FILE_MARK" >"$TMP/secrets/key"      # as `echo KEY > file` writes it
chmod 600 "$TMP/secrets/key"

# The CLI prints digests of what it got, never the values: what the CLI prints itself is the
# one place a secret could still show (docs/security.md), and this one prints none.
mkdir -p "$TMP/src/app"
cat >"$TMP/src/app/run.sh" <<'EOF'
#!/bin/sh
digest() { printf %s "$1" | sha256sum | cut -c1-64; }
echo "install-saw=$(cat install-saw)"
echo "file-secret=$(digest "${SECRET_KEY-}") user-secret=$(digest "${USER_KEY-}") plain=${PLAIN-}"
EOF
chmod 755 "$TMP/src/app/run.sh"
(cd "$TMP/src" && zip -qr "$TMP/app.zip" app)
SUM=$(sha "$TMP/app.zip")
INSTALL='if [ -n "${SECRET_KEY+x}${USER_KEY+x}" ]; then echo set; else echo unset; fi >install-saw'
digest() { printf %s "$1" | sha256sum | cut -c1-64; }
EMPTY=$(digest "")

jq -n --arg url "$TMP/app.zip" --arg sum "$SUM" --arg key "$TMP/secrets/key" \
  --arg missing "$TMP/secrets/absent" --arg big "$TMP/secrets/big" --arg install "$INSTALL" '
  {templates: {
    "file-secret": {bundle: {url: $url, sha256: $sum}, install: $install, command: "./run.sh",
                    env: {PLAIN: "plain-value"}, secrets: {SECRET_KEY: {file: $key}}},
    "user-secret": {bundle: {url: $url, sha256: $sum}, install: $install, command: "./run.sh",
                    userSecrets: ["USER_KEY"]},
    "missing":     {command: "true", secrets: {ABSENT_KEY: {file: $missing}}},
    "big-file":    {command: "true", secrets: {BIG_KEY: {file: $big}}}}}' >"$TMP/config.json"
start_control --config "$TMP/config.json" --local-runners 1

# --- a template's secret file: the command has it, the install does not ---
set +e
"$RW_BIN/runwire" run --template file-secret >"$TMP/file.out" 2>"$TMP/file.err"; rc=$?
set -e
check "file-secret session exits 0 (rc $rc)" [ "$rc" = 0 ]
check "the command got the file's value (one trailing newline dropped) and the plain env" \
  grep -q "file-secret=$(digest "$FILE_MARK") user-secret=$EMPTY plain=plain-value" "$TMP/file.out"
check "the install step did not get it" grep -q "install-saw=unset" "$TMP/file.out"

# --- a user's secret through runwire run --secret (from the client's environment) ---
set +e
USER_KEY="$USER_MARK" "$RW_BIN/runwire" run --template user-secret --secret USER_KEY \
  >"$TMP/user.out" 2>"$TMP/user.err"; rc=$?
set -e
check "user-secret session exits 0 (rc $rc)" [ "$rc" = 0 ]
check "the command got the user's value" \
  grep -q "file-secret=$EMPTY user-secret=$(digest "$USER_MARK") plain=" "$TMP/user.out"
check "the install step did not get it" grep -q "install-saw=unset" "$TMP/user.out"
check "--secret with an unset variable is a usage error" \
  bash -c "! env -u NOPE_KEY '$RW_BIN/runwire' run --template user-secret --secret NOPE_KEY 2>'$TMP/nope.err'; grep -q 'not set' '$TMP/nope.err'"

# --- refusals: clear, at creation, without the value ---
n_before=$(api GET /api/sessions | jq '.sessions | length')
api POST /api/sessions '{"template": "missing"}' >"$TMP/missing.json"
check "missing secret file: 500 at creation ($(st))" [ "$(st)" = 500 ]
check "the error names the secret" jqe '.error | test("secret \"ABSENT_KEY\" is unavailable")' "$TMP/missing.json"
check "the error does not show the operator's path" bash -c "! grep -q '$TMP/secrets' '$TMP/missing.json'"
check "control logged where it looked" grep -q '"secret_unavailable".*absent' "$CONTROL_LOG"
api POST /api/sessions "{\"template\": \"file-secret\", \"secrets\": {\"OTHER\": \"$USER_MARK\"}}" >"$TMP/other.json"
check "a secret the template does not take from users: 403 ($(st))" [ "$(st)" = 403 ]
check "... naming it" jqe '.error | test("no secret \"OTHER\"")' "$TMP/other.json"
api POST /api/sessions "{\"template\": \"user-secret\", \"env\": {\"USER_KEY\": \"$USER_MARK\"}}" >"$TMP/env.json"
check "a secret given as env: 400 ($(st))" [ "$(st)" = 400 ]
api POST /api/sessions "{\"command\": \"true\", \"secrets\": {\"USER_KEY\": \"$USER_MARK\"}}" >"$TMP/nott.json"
check "secrets without a template: 400 ($(st))" [ "$(st)" = 400 ]
api POST /api/sessions "{\"template\": \"user-secret\", \"secrets\": {\"USER_KEY\": \"$USER_MARK" >"$TMP/trunc.json"
check "a broken body: 400 ($(st))" [ "$(st)" = 400 ]
# the cap, TEMPLATE_MAX_SECRET_BYTES (16 KiB), one past its edge: from a user and from a file
big=$(head -c 16384 /dev/zero | tr '\0' 'k')
api POST /api/sessions "{\"template\": \"user-secret\", \"secrets\": {\"USER_KEY\": \"${big}k\"}}" >"$TMP/big.json"
check "a user's secret of 16 KiB + 1 byte: 400 ($(st))" [ "$(st)" = 400 ]
printf '%sk' "$big" >"$TMP/secrets/big"
api POST /api/sessions '{"template": "big-file"}' >"$TMP/bigfile.json"
check "a secret file of 16 KiB + 1 byte: 500 ($(st))" [ "$(st)" = 500 ]
check "... saying why" jqe '.error | test("BIG_KEY.*larger than 16 KiB")' "$TMP/bigfile.json"
check "no session was created by a refusal" [ "$(api GET /api/sessions | jq '.sessions | length')" = "$n_before" ]
check "control still serves" [ "$(api GET /api/config >/dev/null; st)" = 200 ]
printf '%s' "$big" >"$TMP/secrets/big"
api POST /api/sessions '{"template": "big-file"}' >/dev/null
check "a secret file of exactly 16 KiB is taken ($(st))" [ "$(st)" = 201 ]
USER_KEY="$big" "$RW_BIN/runwire" run --template user-secret --secret USER_KEY >"$TMP/big.out" 2>&1
check "a user's secret of exactly 16 KiB reaches the command" \
  grep -q "user-secret=$(digest "$big")" "$TMP/big.out"

# --- a config that puts a secret's name in "env" too is refused when control starts ---
jq '.templates["file-secret"].env.SECRET_KEY = "x"' "$TMP/config.json" >"$TMP/bad.json"
set +e
timeout 10 "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/bad-data" \
  --config "$TMP/bad.json" >"$TMP/bad.log" 2>&1; rc=$?
set -e
check "config with a secret also in env refused (rc $rc)" \
  bash -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'SECRET_KEY.*both a secret and in \"env\"' '$TMP/bad.log'"

jq '.templates["file-secret"].userSecrets = [range(16) | "K\(.)"]' "$TMP/config.json" >"$TMP/many.json"
set +e
timeout 10 "$RW_BIN/runwire-control" --listen 127.0.0.1:0 --data-dir "$TMP/bad-data" \
  --config "$TMP/many.json" >"$TMP/many.log" 2>&1; rc=$?
set -e
check "a template with 17 secret names refused (rc $rc)" \
  bash -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'more than 16 secrets' '$TMP/many.log'"

# --- everything a viewer, the API and /metrics show ---
for sid in $(api GET /api/sessions | jq -r '.sessions[].sessionId'); do
  api GET "/api/sessions/$sid" >>"$TMP/answers.txt"
  token=$(api POST "/api/sessions/$sid/tokens" '{}' | jq -r .token)
  python3 "$RW_SRC/tests/e2e/bundle_viewer.py" 127.0.0.1 "$PORT" "$sid" "$token" >>"$TMP/answers.txt"
  "$RW_BIN/runwire" attach "$sid" >>"$TMP/answers.txt" 2>&1 || true
  "$RW_BIN/runwire" replay --speed 0 "$sid" >>"$TMP/answers.txt" 2>&1 || true
done
for p in /api/sessions /api/config /metrics; do api GET "$p" >>"$TMP/answers.txt"; done
cat "$TMP"/*.json "$TMP"/*.out "$TMP"/*.err >>"$TMP/answers.txt"
check "the answers were collected" grep -q '"sessionId"' "$TMP/answers.txt"

# --- no byte of either value anywhere control or the agents wrote ---
leaks() { grep -rlaF -e "$FILE_MARK" -e "$USER_MARK" "$@" 2>/dev/null; }
check "the leak search finds a planted value (it would see a leak)" leaks "$TMP/secrets"
check "no secret in API answers, events, output, replays or /metrics" \
  bash -c "[ -z \"\$(grep -aF -e '$FILE_MARK' -e '$USER_MARK' '$TMP/answers.txt')\" ]"
stop_pid "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true; CONTROL_PID=""
check "the data directory has recordings and the audit log" \
  bash -c "ls '$TMP/data/audit.log' >/dev/null && [ -n \"\$(find '$TMP/data' -type f -name '*.cast')\" ]"
check "no secret in any file control or the agents wrote (data dir, logs, audit log)" \
  bash -c "[ -z \"\$(grep -rlaF -e '$FILE_MARK' -e '$USER_MARK' '$TMP/data' '$CONTROL_LOG' '$TMP/bad.log' '$TMP/bad-data' 2>/dev/null)\" ]"
check "... nor in what the command's output recorded" bash -c "! cat '$TMP'/data/recordings/*.cast | grep -qaF -e '$FILE_MARK' -e '$USER_MARK'"
check "the agents' log lines are in the log searched" grep -q '"session_claimed"' "$CONTROL_LOG"
