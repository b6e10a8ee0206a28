#!/usr/bin/env bash
# deploy.images: builds images/control and images/runner the way a registry build would, with
# no daemon and no registry, and runs a session through them (docs/images.md):
#
#   1. mmdebstrap builds a Debian 12 root from the Debian mirror, the stand-in for the pinned
#      debian:bookworm-slim (cached as a tarball keyed by its options and package list);
#   2. buildah builds both Dockerfiles on it (vfs storage, chroot isolation, BASE passed as a
#      build argument since a local image cannot carry the registry's digest); its layer
#      cache lives beside the tarball;
#   3. umoci unpacks each image into a root file system and its OCI runtime config;
#   4. bwrap runs each image's entrypoint with the config's user, environment and working
#      directory, on a read-only root with a writable volume, as Kubernetes would: control
#      on loopback, then runners that dial it and claim sessions. A session's bytes come
#      back byte-exact (runwire checks the exit's SHA-256 and so does this test).
#
# Also checked: the two Dockerfiles' shared stages are the same text and their bases are
# pinned by digest; both images run as uid 10001; control's image has no shell and holds the
# page; the runner's has Node.js and the Claude Code CLI on the PATH, no bubblewrap, no
# compiler, no setuid file and nothing that holds a credential.
#
# Needs root (CI runs as root), mmdebstrap, buildah, umoci, bwrap (tests/deps.txt) and the
# network to the Debian mirror and the npm registry on a cold cache. Environment:
# RW_IMAGES_CACHE (default ~/.cache/runwire/images), RW_DEBIAN_MIRROR (default
# http://deb.debian.org), RW_BUILD_CA (a CA file for npm behind a TLS-inspecting proxy;
# default: the system bundle), RW_IMAGES_CACHE_MAX_GB (default 16: a bigger cache is wiped).
source "$RW_SRC/tests/e2e/lib.sh"
TEST_NAME=deploy.images
chmod 0755 "$TMP"            # the images' user (10001) reaches its volumes through $TMP

# --- tools: a missing one is a failure that says what to install, never a skip -------------
missing=()
for t in mmdebstrap buildah umoci bwrap setpriv jq curl python3 sha256sum flock; do
  command -v "$t" >/dev/null || missing+=("$t")
done
if ((${#missing[@]})); then
  log "missing ${missing[*]}: run scripts/setup.sh (tests/deps.txt lists mmdebstrap, buildah, umoci)"
  exit 1
fi
[[ $(id -u) == 0 ]] || { log "needs root (mmdebstrap's root mode, buildah's chroot isolation)"; exit 1; }
[[ -x "$RW_BIN/runwire" ]] || { log "no $RW_BIN/runwire: build first"; exit 1; }

CACHE=${RW_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runwire/images}
MIRROR=${RW_DEBIAN_MIRROR:-http://deb.debian.org}
UID_SVC=10001
mkdir -p "$CACHE"
# one build at a time per cache (the storage is not shared safely between two buildah runs)
exec 9>"$CACHE/lock"
flock 9

t0=$SECONDS
lap() { log "$1 (${2:-$((SECONDS - t0))} s)"; t0=$SECONDS; }

# --- the Dockerfiles themselves ----------------------------------------------------------------
shared() { sed -n '/^# --- shared stages/,/^# --- end of the shared stages/p' "$1"; }
check "the shared stages of the two Dockerfiles are the same text" \
  diff <(shared "$RW_SRC/images/control/Dockerfile") <(shared "$RW_SRC/images/runner/Dockerfile")
check "the shared stages are there (three)" [ "$(shared "$RW_SRC/images/runner/Dockerfile" | grep -c '^FROM ')" = 3 ]
for f in "$RW_SRC"/images/*/Dockerfile; do
  check "$(basename "$(dirname "$f")"): BASE pinned by digest" \
    grep -qE '^ARG BASE=debian:bookworm-slim@sha256:[0-9a-f]{64}$' "$f"
  check "$(basename "$(dirname "$f")"): every FROM is BASE, a stage of the file, or scratch" \
    bash -c "! grep -E '^FROM ' '$f' | grep -vE '^FROM (\\\$\\{BASE\\}|cdeps|scratch)( AS [a-z]+)?$'"
done

# --- 1. the base: Debian 12 from the mirror, as debian:bookworm-slim is made ------------------
# minbase (Essential, Priority required, apt) with the slim image's dpkg settings: no
# documentation but copyright files, and unsafe-io as the image's docker-apt-speedup has.
MM_ARGS=(--variant=minbase --format=tar --mode=root --components=main
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='force-unsafe-io'
  --aptopt='Acquire::Languages "none"'
  bookworm)
MM_SOURCES=("deb $MIRROR/debian bookworm main" "deb $MIRROR/debian bookworm-updates main"
  "deb $MIRROR/debian-security bookworm-security main")
key=$(printf '%s\n' "${MM_ARGS[@]}" "${MM_SOURCES[@]}" | sha256sum | cut -c1-16)
base_tar=$CACHE/base-$key.tar
if [[ ! -s "$base_tar" ]]; then
  log "mmdebstrap: a bookworm root from $MIRROR (cached as ${base_tar/#$HOME/\~})"
  rm -f "$CACHE"/base-*.tar
  mmdebstrap "${MM_ARGS[@]}" "$base_tar.tmp" "${MM_SOURCES[@]}" >"$TMP/mmdebstrap.log" 2>&1 ||
    { tail -n 30 "$TMP/mmdebstrap.log" >&2; log "mmdebstrap failed"; exit 1; }
  mv "$base_tar.tmp" "$base_tar"
  lap "base root built"
fi

# --- 2. buildah on vfs storage, in the cache -------------------------------------------------
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
B=(buildah --root "$CACHE/storage" --runroot "$CACHE/runroot" --storage-driver vfs)
# a cache that grew past its bound (vfs keeps full copies of every layer) starts over
max_gb=${RW_IMAGES_CACHE_MAX_GB:-16}
if [[ -d "$CACHE/storage" ]] && (($(du -s --block-size=1G "$CACHE/storage" | cut -f1) > max_gb)); then
  log "the layer cache is over $max_gb GB: starting it over"
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$CACHE/storage" "$CACHE/runroot"
fi
"${B[@]}" rm --all >/dev/null 2>&1 || true   # working containers an interrupted run left

BASE_IMAGE=localhost/runwire-test-base:$key
if ! "${B[@]}" inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  ctr=$("${B[@]}" from scratch)
  "${B[@]}" add "$ctr" "$base_tar" / >/dev/null
  # the config debian:bookworm-slim has
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash --os linux --arch amd64 "$ctr"
  "${B[@]}" commit --rm -q "$ctr" "$BASE_IMAGE" >/dev/null
  lap "base image imported"
fi

ca=${RW_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
CA_ARGS=()
[[ -f "$ca" ]] && CA_ARGS=(-v "$ca:/run/build-ca.crt:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.crt)
# --- 2, 3. build, export as a registry would hand the images out, unpack as a runtime would ----
# stamp: each line with the seconds since it started (the build logs say where time goes)
stamp() {
  local start=${EPOCHREALTIME/./} l ds
  while IFS= read -r l; do
    ds=$(((${EPOCHREALTIME/./} - start) / 100000))
    printf '%5d.%d %s\n' $((ds / 10)) $((ds % 10)) "$l"
  done
}
# build IMG: buildah bud of images/IMG/Dockerfile on the local base, into the layer cache.
build() {
  if ! "${B[@]}" bud --layers --jobs 2 --rm=false --isolation chroot --pull=never \
      --build-arg "BASE=$BASE_IMAGE" "${CA_ARGS[@]}" -f "$RW_SRC/images/$1/Dockerfile" \
      -t "localhost/runwire-$1:test" "$RW_SRC" 2>&1 | stamp >"$TMP/build-$1.log"; then
    tail -n 40 "$TMP/build-$1.log" >&2
    log "buildah could not build images/$1/Dockerfile"
    exit 1
  fi
  lap "built images/$1 ($(grep -c -- '--> Using cache' "$TMP/build-$1.log") steps from the cache)"
}
# export_image IMG: an OCI image layout, $TMP/oci-IMG.
export_image() {
  "${B[@]}" push -q -D "localhost/runwire-$1:test" "oci:$TMP/oci-$1:$1" >/dev/null
}
# unpack IMG: the layout unpacked by umoci: $TMP/IMG/rootfs and $TMP/IMG/config.json.
unpack() {
  umoci unpack --image "$TMP/oci-$1:$1" "$TMP/$1" >"$TMP/umoci-$1.log" 2>&1 ||
    { cat "$TMP/umoci-$1.log" >&2; log "could not unpack $1 with umoci"; return 1; }
  chmod 0755 "$TMP/$1"   # the bundle directory is private to root
  rm -rf "$TMP/oci-$1"
}

build runner
build control
export_image runner
export_image control
lap "exported both as OCI image layouts"

# The storage is tidied in the background while the images run. The working containers the
# builds left go (--rm=false above: with vfs each is a full copy of its image, slow to delete),
# and so does every image this run did not use (each step's image is named in the build
# logs), so that the cache holds one generation of layers.
keep=$(grep -ohE -- '--> (Using cache )?[0-9a-f]{11,64}' "$TMP"/build-*.log |
  grep -oE '[0-9a-f]{11,64}$' | cut -c1-11 | sort -u)
keep+=$'\n'$("${B[@]}" images --format '{{.ID}}' --filter reference='localhost/runwire-*' | cut -c1-11)
tidy_cache() {
  local pass gone id
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  for pass in 1 2 3 4 5 6 7 8; do
    gone=0
    for id in $("${B[@]}" images -a --noheading --format '{{.ID}}' | cut -c1-11 | sort -u); do
      grep -qx "$id" <<<"$keep" && continue
      "${B[@]}" rmi "$id" >/dev/null 2>&1 && gone=$((gone + 1))
    done
    ((gone)) || break
  done
}
tidy_cache &
tidy_pid=$!
# a failure from here on still waits for it (lib.sh's cleanup then reports and exits)
trap 'rc=$?; wait "$tidy_pid"; (exit $rc); cleanup' EXIT

unpack runner &
unpack_pid=$!
unpack control
wait "$unpack_pid" || exit 1
lap "unpacked both with umoci"

CTL=$TMP/control/rootfs
RUN=$TMP/runner/rootfs
cfg() { jq -r "$2" "$TMP/$1/config.json"; }

# --- what each image holds -------------------------------------------------------------------
for img in control runner; do
  check "$img: runs as uid $UID_SVC" [ "$(cfg $img .process.user.uid)/$(cfg $img .process.user.gid)" = "$UID_SVC/$UID_SVC" ]
  check "$img: no variable in its config names a credential" \
    bash -c "! jq -r '.process.env[]' '$TMP/$img/config.json' | cut -d= -f1 | grep -iE 'token|secret|key|passw|credential'"
done
check "control: entrypoint runwire-control" [ "$(cfg control '.process.args[0]')" = /usr/local/bin/runwire-control ]
check "runner: entrypoint runwire-agent" [ "$(cfg runner '.process.args[0]')" = /usr/local/bin/runwire-agent ]
check "control: no shell, no coreutils, no package manager" \
  bash -c "! ls '$CTL'/usr/bin/{sh,bash,dash,ls,cat,apt,dpkg} '$CTL'/bin/sh 2>/dev/null | grep -q ."
check "control: the only program is runwire-control" \
  [ "$(find "$CTL" -type f -perm /111 ! -name '*.so*' | sed "s|^$CTL||")" = /usr/local/bin/runwire-control ]
check "control: the page is in the image" test -s "$CTL/usr/local/share/runwire/web/index.html" -a -s "$CTL/usr/local/share/runwire/web/app.js"
check "control: package versions recorded for scanners" test -s "$CTL/var/lib/dpkg/status.d/libc6"
check "control: state directory owned by the service user" [ "$(stat -c %u "$CTL/var/lib/runwire")" = "$UID_SVC" ]
check "runner: Node.js is Debian's" bash -c "grep -q '^Package: nodejs$' '$RUN/var/lib/dpkg/status' && test -x '$RUN/usr/bin/node'"
check "runner: the Claude Code CLI on the PATH" test -x "$RUN/usr/local/bin/claude"
check "runner: no bubblewrap, compiler or npm" \
  bash -c "! ls '$RUN'/usr/bin/{bwrap,gcc,cc,make,npm} 2>/dev/null | grep -q ."
check "runner: no setuid or setgid file" bash -c "[ -z \"\$(find '$RUN' -xdev -type f -perm /6000)\" ]"
held=$(find "$RUN" -xdev \( -name .npmrc -o -name .git-credentials -o -name .netrc -o -name '.claude*' \
  -o -name '*.key' -o -name 'id_rsa*' -o -name 'id_ed25519*' -o -path '*/.docker/config.json' \) -print
  find "$RUN/root" "$RUN/etc/ssl/private" -mindepth 1 ! -name .bashrc ! -name .profile -print 2>/dev/null || true)
check "runner: nothing that holds a credential" [ -z "$held" ]
[[ -z "$held" ]] || log "found: $held"

# What a runtime does before it starts a container: the mount points, in the unpacked copy.
for img in control runner; do mkdir -p "$TMP/$img/rootfs"/{proc,dev,tmp,run/secrets,var/lib/runwire}; done

# --- 4. run them: bwrap with the OCI config's user, environment and working directory ---------
# run_image NAME VOLUME [bwrap args...] -- [arguments after the entrypoint's]: the image's
# root read-only, VOLUME (owned by the service user) on /var/lib/runwire, a fresh /tmp, the
# host's loopback network; the process as the image's user, outside and inside.
run_image() {
  local img=$1 vol=$2 extra=() env=() kv
  shift 2
  while [[ $1 != -- ]]; do extra+=("$1"); shift; done
  shift
  while IFS= read -r kv; do env+=(--setenv "${kv%%=*}" "${kv#*=}"); done < <(cfg "$img" '.process.env[]')
  mapfile -t args < <(cfg "$img" '.process.args[]')
  setpriv --reuid="$(cfg "$img" .process.user.uid)" --regid="$(cfg "$img" .process.user.gid)" \
    --clear-groups --inh-caps=-all \
    bwrap --unshare-user --uid "$(cfg "$img" .process.user.uid)" --gid "$(cfg "$img" .process.user.gid)" \
    --unshare-pid --unshare-ipc --unshare-uts --die-with-parent \
    --ro-bind "$TMP/$img/rootfs" / --proc /proc --dev /dev --tmpfs /tmp \
    --bind "$vol" /var/lib/runwire --ro-bind "$TMP/secrets" /run/secrets \
    --clearenv "${env[@]}" --chdir "$(cfg "$img" .process.cwd)" "${extra[@]}" \
    -- "${args[@]}" "$@"
}
volume() { install -d -m 0700 -o "$UID_SVC" -g "$UID_SVC" "$TMP/$1"; echo "$TMP/$1"; }
mkdir -p "$TMP/secrets"
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$TMP/secrets/runner-token"
chmod 0644 "$TMP/secrets/runner-token"   # the pod's mounted Secret, readable by its user

# The image's defaults (all addresses) with no sign-in configured: refused, saying why.
set +e
run_image control "$(volume ctl-default)" -- --runner-token-file /run/secrets/runner-token \
  >"$TMP/default.err" 2>&1; rc=$?
set -e
check "control with the image's defaults and no sign-in: refused (exit 2)" [ "$rc" = 2 ]
check "... saying why" grep -q "refusing to listen on 0.0.0.0 without user authentication" "$TMP/default.err"

CONTROL_LOG=$TMP/control.log
ctl_vol=$(volume ctl-data)
run_image control "$ctl_vol" -- --listen 127.0.0.1:0 --port-file /var/lib/runwire/port \
  --runner-token-file /run/secrets/runner-token >"$CONTROL_LOG" 2>&1 &
CONTROL_PID=$!
wait_for test -s "$ctl_vol/port" || { log "control from the image did not start"; exit 1; }
PORT=$(cat "$ctl_vol/port")
SERVER="http://127.0.0.1:$PORT"
export RUNWIRE_SERVER=$SERVER
check "control: /healthz" curl -sf -o /dev/null "$SERVER/healthz"
curl -sf "$SERVER/" >"$TMP/index.html" || true
check "control: serves the page from the image" cmp -s "$TMP/index.html" "$CTL/usr/local/share/runwire/web/index.html"
check "control: serves the page's script" bash -c "curl -sf '$SERVER/app.js' | cmp -s - '$CTL/usr/local/share/runwire/web/app.js'"

# start_runner: one agent from the runner image, dialling control; it claims one session.
start_runner() {
  run_image runner "$(volume "run-$1")" -- --control "ws://127.0.0.1:$PORT/agent" \
    --token-file /run/secrets/runner-token >"$TMP/runner-$1.err" 2>&1 &
  RUNNER_PID=$!
  PIDS+=("$RUNNER_PID")
}

# A session through both images: every byte value, unchanged (-opost), from Node.js.
N=300000
python3 -c "import sys; sys.stdout.buffer.write(bytes((i * 7 + (i >> 8)) % 256 for i in range($N)))" >"$TMP/data.bin"
start_runner 1
set +e
"$RW_BIN/runwire" -q run -- sh -c \
  "stty -opost; node -e 'const b = Buffer.alloc($N); for (let i = 0; i < $N; i++) b[i] = (i * 7 + (i >> 8)) & 255; process.stdout.write(b)'" \
  >"$TMP/out.bin" 2>"$TMP/run.err"; rc=$?
wait "$RUNNER_PID"; agent_rc=$?
set -e
check "session through the images: runwire exit 0 (its SHA-256 matched the exit's)" [ "$rc" = 0 ]
check "session through the images: byte-exact" [ "$(sha "$TMP/out.bin")" = "$(sha "$TMP/data.bin")" ]
check "runner exits 0 after its session" [ "$agent_rc" = 0 ]

# A second runner: what a session sees of the runner image (the CLI on the PATH, the user).
start_runner 2
set +e
"$RW_BIN/runwire" -q run -- sh -c 'id -u; command -v node; command -v claude; claude --version' >"$TMP/env.out" 2>"$TMP/env.err"; rc=$?
wait "$RUNNER_PID"
set -e
want=$(printf '%s\r\n' "$UID_SVC" /usr/bin/node /usr/local/bin/claude \
  "$(jq -r '.packages["node_modules/@anthropic-ai/claude-code"].version' "$RW_SRC/tools/claude/package-lock.json") (Claude Code)")
check "a session runs as $UID_SVC with node and the pinned claude on its PATH" [ "$rc/$(cat "$TMP/env.out")" = "0/$want" ]
[[ $FAILURES == 0 ]] || { log "session output:"; cat -A "$TMP/env.out" "$TMP/env.err" "$TMP"/runner-*.err >&2 || true; }
lap "ran both images"
wait "$tidy_pid"
lap "working containers and older layers dropped from the cache"
