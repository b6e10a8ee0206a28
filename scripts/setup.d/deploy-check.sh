#!/usr/bin/env bash
# deploy-check.sh: the npm packages of the offline deployment checks (scripts/deploy-check.sh)
# into tests/deploy/node_modules from the committed lockfile: kubernetes-models 4.5.1,
# @kubernetes-models/keda 0.4.2, @kubernetes-models/validate 4.0.0 (the newest releases need
# Node 22), @cdktf/hcl2json 0.21, dockerfilelint and js-yaml. Idempotent: does nothing when
# node_modules matches the lockfile. kubectl, terraform and the gcloud CLI are not Debian
# packages: scripts/deploy-check.sh says so and fails when one is missing.
# Called by scripts/setup.sh and by `make deploy-check`.
set -euo pipefail
cd "$(dirname "$0")/../../tests/deploy"

if ! command -v npm >/dev/null; then
  echo "setup: npm missing; make deploy-check will fail until it is installed" >&2
  exit 0
fi
stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && ! package-lock.json -nt "$stamp" && -d node_modules/@cdktf/hcl2json ]]; then
  echo "setup: tests/deploy/node_modules up to date" >&2
  exit 0
fi
echo "setup: npm ci in tests/deploy/ (Kubernetes and KEDA schemas, hcl2json, dockerfilelint)" >&2
npm ci --no-audit --no-fund --prefer-offline --loglevel=error --update-notifier=false >&2
