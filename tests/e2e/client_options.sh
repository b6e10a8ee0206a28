#!/usr/bin/env bash
# Issue 15 (terminal client): options where people type them, help and version on every
# command, the session's id and page said first, messages said once, `cancel` showing the
# state it led to, and a non-terminal client stopped by a signal leaving the session running
# (and saying so). Plain pipes here; the terminal's side is tests/e2e/client_tty.sh.
source "$(dirname "$0")/lib.sh"
RW="$RW_BIN/runwire"
start_control --local-runners 2
unset RUNWIRE_SERVER   # each call says --server where a newcomer would type it

# ---- --version on the three binaries, --help on every command ----
for b in runwire runwire-agent runwire-control; do
  rc=0; "$RW_BIN/$b" --version >"$TMP/v.out" 2>&1 || rc=$?
  check "$b --version exits 0 (rc $rc)" [ "$rc" = 0 ]
  check "$b --version names itself and a version" grep -qE "^$b [0-9]+\.[0-9]+" "$TMP/v.out"
done
for cmd in run attach ls cancel replay; do
  rc=0; "$RW" "$cmd" --help >"$TMP/h.out" 2>"$TMP/h.err" || rc=$?
  check "runwire $cmd --help exits 0 (rc $rc)" [ "$rc" = 0 ]
  check "runwire $cmd --help prints its own usage" grep -q "^usage: runwire $cmd" "$TMP/h.out"
  check "runwire $cmd --help lists the global options" grep -q -- "--server URL" "$TMP/h.out"
done
"$RW" ls --help >"$TMP/h.out" || true
check "ls --help prints help, not the session table" bash -c "! grep -q '^SESSION' '$TMP/h.out'"
rc=0; "$RW" run -x 2>"$TMP/h.err" || rc=$?
check "an unknown option of run: status 2 (rc $rc)" [ "$rc" = 2 ]
check "... and a pointer to run's help" grep -q "runwire run --help" "$TMP/h.err"
rc=0; "$RW" --help >"$TMP/h.out" || rc=$?
check "runwire --help exits 0 and documents the detach status" \
  bash -c "[ $rc = 0 ] && grep -q '120 detached' '$TMP/h.out'"

# ---- run --server URL -- CMD: global options after the command's name ----
rc=0
"$RW" run --server "$SERVER" -- sh -c 'printf "0123456789\n"; exit 4' >"$TMP/run.out" \
  2>"$TMP/run.err" || rc=$?
check "run --server URL -- CMD: the program's status 4 (rc $rc)" [ "$rc" = 4 ]
check "run --server URL -- CMD: its output" grep -q 0123456789 "$TMP/run.out"
sid=$(sed -n 's/^runwire: session \([^:]*\): watch it at .*/\1/p' "$TMP/run.err")
check "run says the session id on stderr ($sid)" [ -n "$sid" ]
check "run says the page that shows it" grep -qF "watch it at $SERVER/#/s/$sid" "$TMP/run.err"
check "the session line comes first" bash -c "head -1 '$TMP/run.err' | grep -q '^runwire: session '"
check "nothing of it on stdout" bash -c "! grep -q 'runwire:' '$TMP/run.out'"
rc=0; "$RW" -q run --server "$SERVER" -- true 2>"$TMP/q.err" || rc=$?
check "-q: no session line (rc $rc)" bash -c "[ $rc = 0 ] && [ ! -s '$TMP/q.err' ]"

# ---- attach SESSION --since N (the README's order) ----
rc=0
"$RW" attach "$sid" --since 5 --server "$SERVER" >"$TMP/att.out" 2>"$TMP/att.err" || rc=$?
check "attach SESSION --since 5: the program's status (rc $rc)" [ "$rc" = 4 ]
check "attach SESSION --since 5: the output from byte 5" \
  bash -c "[ \"\$(head -c 5 '$TMP/att.out')\" = 56789 ]"

# ---- messages said once ----
rc=0; "$RW" cancel nosuchsession --server "$SERVER" 2>"$TMP/c.err" || rc=$?
check "cancel of an unknown session: status 1 (rc $rc)" [ "$rc" = 1 ]
check "cancel of an unknown session names it" grep -q "cannot cancel nosuchsession" "$TMP/c.err"
check "\"no such session\" said once ($(cat "$TMP/c.err"))" \
  [ "$(grep -o 'no such session' "$TMP/c.err" | wc -l)" = 1 ]
rc=0; "$RW" attach nosuchsession --server "$SERVER" 2>"$TMP/a.err" || rc=$?
check "attach of an unknown session: status 1, said once ($(cat "$TMP/a.err"))" \
  bash -c "[ $rc = 1 ] && [ \$(grep -oi 'not found\|no such session' '$TMP/a.err' | wc -l) = 1 ]"

# ---- cancel prints the state the cancel led to ----
"$RW" run --server "$SERVER" -- sh -c 'echo started; exec sleep 60' >"$TMP/long.out" \
  2>"$TMP/long.err" &
runpid=$!
PIDS+=("$runpid")
wait_for grep -qs started "$TMP/long.out" || log "the long session did not start"
long=$(sed -n 's/^runwire: session \([^:]*\): .*/\1/p' "$TMP/long.err")
"$RW" cancel "$long" --server "$SERVER" >"$TMP/cancel.out" 2>&1 || true
check "cancel prints the state after the cancel ($(cat "$TMP/cancel.out"))" \
  grep -qE "^$long (cancelled|exited) \((signal 1|exit 129)\)" "$TMP/cancel.out"
rc=0; wait "$runpid" || rc=$?
check "the watching client ends with the session (rc $rc)" [ "$rc" = 129 ]

# ---- a signal to a non-terminal client: the session goes on, and it is said ----
for sig in TERM INT; do
  rm -f "$TMP/sig.out"
  # setsid: a background job of a script ignores SIGINT; this one must meet it
  setsid "$RW" run --server "$SERVER" -- sh -c 'echo started; exec sleep 60' \
    >"$TMP/sig.out" 2>"$TMP/sig.err" </dev/null &
  runpid=$!
  PIDS+=("$runpid")
  wait_for grep -qs started "$TMP/sig.out" || log "the $sig session did not start"
  ssid=$(sed -n 's/^runwire: session \([^:]*\): .*/\1/p' "$TMP/sig.err")
  kill -"$sig" "$runpid" || true
  rc=0; wait "$runpid" || rc=$?
  want=$((128 + $(kill -l "$sig")))
  check "SIG$sig to the client: it exits $want (rc $rc)" [ "$rc" = "$want" ]
  check "SIG$sig to the client: it says the session keeps running" \
    grep -q "session $ssid keeps running; runwire attach $ssid resumes it" "$TMP/sig.err"
  check "SIG$sig to the client: the session is still running" \
    bash -c "curl -s '$SERVER/api/sessions/$ssid' | jq -e '.state == \"running\"' >/dev/null"
  "$RW" cancel "$ssid" --server "$SERVER" >/dev/null 2>&1 || true
done
