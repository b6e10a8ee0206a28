#!/usr/bin/env bash
# Runner credentials: the CLI sees none (not in its environment, not on an open fd, not in
# its parent's environment or command line); a used claim ticket or a wrong runner token is
# refused.
source "$(dirname "$0")/lib.sh"
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$TMP/runner-token"
start_control --local-runners 1

"$RW_BIN/runwire" run -- sh -c 'env; echo ===; tr "\0" "\n" </proc/self/environ; echo ===;
  ls -l /proc/self/fd/; echo ===; tr "\0" "\n" </proc/$PPID/environ; tr "\0" " " </proc/$PPID/cmdline' >"$TMP/probe.out" 2>&1
check "probe ran" grep -q '^===' "$TMP/probe.out"
check "no runner credential variables in the child" bash -c "! grep -qiE 'RUNWIRE_(RUNNER|CONTROL|TOKEN)|ticket' '$TMP/probe.out'"
check "only stdio and the events fd are open" bash -c "[ \$(grep -cE ' [0-9]+ -> ' '$TMP/probe.out') -le 5 ] && ! grep -qE ' (socket|pipe):.* [4-9] ->' '$TMP/probe.out'"
tickets=$(grep -c '"agent_spawned"' "$CONTROL_LOG")
check "no ticket value appears in logs" bash -c "! grep -qE '[0-9a-f]{64}' '$CONTROL_LOG'"

# A runner credential that control does not know, and a local ticket presented twice, are
# refused: the second agent gets ERROR auth and exits 2.
set +e
"$RW_BIN/runwire-agent" --control "ws://127.0.0.1:$PORT/agent" --token-file "$TMP/runner-token" \
  --grace 5 >"$TMP/agent.err" 2>&1; rc=$?
set -e
check "unknown runner credential refused (exit 2)" [ "$rc" = 2 ]
check "refusal logged" grep -q '"event":"agent_refused"' "$CONTROL_LOG"
