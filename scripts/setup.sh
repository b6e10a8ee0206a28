#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine: installs the Debian packages runwire builds and
# tests with, only when one is missing, and the npm packages of the parts written in
# JavaScript (scripts/setup-npm.sh). Called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler, CMake, and the libraries DESIGN.md names (nothing vendored).
PKGS_BUILD=(build-essential cmake pkg-config
  libwebsockets-dev libjansson-dev libjwt-dev libcurl4-openssl-dev libarchive-dev
  libsodium-dev libssl-dev libhiredis-dev)
# Tests and demo: real peers and tools the suites drive.
PKGS_TEST=(curl jq procps python3 openssl zip unzip libarchive-tools bubblewrap
  redis-server websocketd)
# Optional extras named by the test suites of later parts (tests/deps.txt, one per line).
PKGS_EXTRA=()
if [[ -f tests/deps.txt ]]; then
  while read -r p; do [[ -n "$p" && "$p" != \#* ]] && PKGS_EXTRA+=("$p"); done < tests/deps.txt
fi

missing=()
for p in "${PKGS_BUILD[@]}" "${PKGS_TEST[@]}" "${PKGS_EXTRA[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present" >&2
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup: installing nodejs and npm" >&2
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi

# Each part that needs more (npm packages, test servers) adds a script to scripts/setup.d/.
for step in scripts/setup.d/*.sh; do
  [[ -e "$step" ]] && bash "$step"
done
