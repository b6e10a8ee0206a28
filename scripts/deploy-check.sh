#!/usr/bin/env bash
# shellcheck disable=SC2016  # the literal $ in the broken copies is the point
# deploy-check.sh: checks k8s/, infra/, cloudbuild.yaml and images/*/Dockerfile offline, on a
# machine with no cluster, no Docker daemon and no Terraform providers (docs/deploy.md,
# "Checked offline"). `make deploy-check`; `make test` runs it too.
#
#   1. kubectl kustomize renders every overlay;
#   2. every rendered object validates against the Kubernetes / KEDA schemas, plus field
#      allowlists and the deployment's invariants (tests/deploy/manifests.js);
#   3. terraform fmt; terraform validate of provider-free modules; the HCL's structure
#      (tests/deploy/infra.js);
#   4. cloudbuild.yaml through the gcloud CLI's own loader (tests/deploy/cloudbuild_check.py);
#   5. dockerfilelint and our own rules on images/*/Dockerfile (tests/deploy/dockerfiles.js).
#
# Each check is then run on deliberately broken copies and must refuse every one of them,
# so that a check that cannot fail is caught here. Any failure ends the script non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)

die() { echo "deploy-check: FAIL: $*" >&2; exit 1; }
ok() { echo "deploy-check: $*"; }

# Tools. kubectl, terraform and gcloud come from their vendors, not from Debian: when one is
# missing this fails and says where to get it, rather than skipping the check.
need() {
  command -v "$1" >/dev/null || die "$1 is not on PATH: $2"
}
need kubectl "install kubectl 1.32 or later (kustomize 5.5 built in): https://kubernetes.io/docs/tasks/tools/"
need terraform "install Terraform 1.11 or later: https://developer.hashicorp.com/terraform/install"
need gcloud "install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
need node "run scripts/setup.sh (Debian nodejs)"
bash scripts/setup.d/deploy-check.sh
nm=tests/deploy/node_modules
[[ -d $nm/kubernetes-models && -d $nm/@kubernetes-models/keda && -d $nm/@cdktf/hcl2json && -x $nm/.bin/dockerfilelint ]] ||
  die "tests/deploy/node_modules is incomplete: run scripts/setup.d/deploy-check.sh (needs npm)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TF_CLI_CONFIG_FILE=$tmp/terraformrc TF_IN_AUTOMATION=1
: >"$TF_CLI_CONFIG_FILE"

# expect_fail NAME CMD...: a check run on a broken copy must fail.
expect_fail() {
  local name=$1
  shift
  if "$@" >"$tmp/hostile.out" 2>&1; then
    cat "$tmp/hostile.out" >&2
    die "hostile: \"$name\" passed, but the copy is broken"
  fi
}

# 1 + 2: render and check each overlay.
overlays=()
for d in k8s/overlays/*/; do overlays+=("$(basename "$d")"); done
((${#overlays[@]})) || die "no overlays under k8s/overlays"
for o in "${overlays[@]}"; do
  kubectl kustomize "k8s/overlays/$o" >"$tmp/$o.yaml" || die "kubectl kustomize k8s/overlays/$o failed"
  ok "$o: rendered ($(grep -c '^kind: ' "$tmp/$o.yaml") objects)"
  node tests/deploy/manifests.js "$o" "$tmp/$o.yaml" || die "k8s/overlays/$o"
  node tests/deploy/hostile.js "$o" "$tmp/$o.yaml" || die "hostile copies of k8s/overlays/$o"
done
[[ -f $tmp/gke.yaml ]] || die "k8s/overlays/gke missing"
# The gke overlay as cloudbuild.yaml leaves it (what `kustomize edit set image` and
# `kustomize edit set namespace` write, and a new params.env): another namespace must reach
# the KEDA trigger's URL, the domain the Ingress and the certificate.
cp -r k8s "$tmp/k8s-deploy"
kz=$tmp/k8s-deploy/overlays/gke/kustomization.yaml
digest=sha256:$(printf 'runwire' | sha256sum | cut -d' ' -f1)
sed -i -e 's/^namespace: .*/namespace: team-a/' \
  -e "s|newName: REGION-docker.pkg.dev/PROJECT/runwire/|newName: europe-west1-docker.pkg.dev/acme/rw/|" \
  -e "s|digest: sha256:0\{64\}|digest: $digest|" "$kz"
sed -i -e 's/^domain=.*/domain=rw.example.org/' \
  -e 's|^kms-key-version=.*|kms-key-version=projects/acme/locations/europe-west1/keyRings/rw/cryptoKeys/session-tokens/cryptoKeyVersions/2|' \
  "$tmp/k8s-deploy/overlays/gke/params.env"
kubectl kustomize "$tmp/k8s-deploy/overlays/gke" >"$tmp/gke-deployed.yaml" || die "the deployed form of k8s/overlays/gke does not render"
for want in "url: http://runwire-control-internal.team-a.svc.cluster.local:9090/api/queue" \
  "host: rw.example.org" "- rw.example.org" "image: europe-west1-docker.pkg.dev/acme/rw/runwire-runner@$digest" \
  "image: europe-west1-docker.pkg.dev/acme/rw/runwire-control@$digest" \
  "kms-key-version: projects/acme/locations/europe-west1/keyRings/rw/cryptoKeys/session-tokens/cryptoKeyVersions/2" \
  "- --session-signer=kms:\$(RUNWIRE_KMS_KEY_VERSION)"; do
  grep -qF -- "$want" "$tmp/gke-deployed.yaml" || die "the deployed gke overlay lacks: $want"
done
node tests/deploy/manifests.js gke "$tmp/gke-deployed.yaml" || die "the deployed form of k8s/overlays/gke"
# A kustomization that names a missing file does not render.
cp -r k8s "$tmp/k8s"
sed -i 's/^resources:$/resources:\n  - missing.yaml/' "$tmp/k8s/base/kustomization.yaml"
grep -q missing.yaml "$tmp/k8s/base/kustomization.yaml" || die "hostile: the kustomize mutation did not apply"
expect_fail "kustomize with a missing resource" kubectl kustomize "$tmp/k8s/overlays/gke"
ok "kustomize: a broken copy does not render"

# 3: Terraform.
terraform fmt -check -recursive infra >/dev/null || {
  terraform fmt -check -diff -recursive infra >&2 || true
  die "terraform fmt: run terraform fmt -recursive infra"
}
ok "terraform fmt: infra/ formatted"
cp -r infra "$tmp/infra"
sed -i 's/^  enable_autopilot    = true/  enable_autopilot = true/' "$tmp/infra/main.tf"
cmp -s infra/main.tf "$tmp/infra/main.tf" && die "hostile: the fmt mutation did not apply"
expect_fail "terraform fmt of a misaligned copy" terraform fmt -check -recursive "$tmp/infra"
# terraform validate needs every provider a module uses, and none can be downloaded here:
# it runs on the modules that use none (infra/modules/names), with their `terraform test`
# suites; the root module (google, helm, random) is checked by structure below.
free=()
while IFS= read -r dir; do
  grep -qE '^\s*(resource|data|provider|module)\s' "$dir"/*.tf || free+=("$dir")
done < <(find infra -name '*.tf' -not -path '*/.terraform/*' -printf '%h\n' | sort -u)
tfcheck() { # tfcheck DIR: init (nothing to download), validate, test
  rm -rf "$tmp/tf" && cp -r "$1" "$tmp/tf"
  (cd "$tmp/tf" && terraform init -backend=false -input=false >/dev/null &&
    terraform validate -no-color >/dev/null &&
    if [[ -d tests ]]; then terraform test -no-color >"$tmp/tftest.out"; fi)
}
for dir in "${free[@]}"; do
  tfcheck "$dir" || { cat "$tmp/tftest.out" >&2 2>/dev/null || true; die "terraform validate/test $dir"; }
  ok "terraform validate + test: $dir ($(grep -c '^  run .*pass' "$tmp/tftest.out" 2>/dev/null || echo 0) runs pass)"
done
((${#free[@]})) || die "no provider-free module under infra/ (infra/modules/names is expected)"
# A module whose validation lets a bad namespace through fails its own tests.
cp -r infra/modules/names "$tmp/names-broken"
sed -i 's/\^\[a-z0-9\](\[-a-z0-9\]{0,61}\[a-z0-9\])?\$/^.*$/' "$tmp/names-broken/main.tf"
cmp -s infra/modules/names/main.tf "$tmp/names-broken/main.tf" && die "hostile: the names mutation did not apply"
expect_fail "terraform test of a module that accepts any namespace" tfcheck "$tmp/names-broken"
# ... and one that names the first key version whatever session_key_version says.
cp -r infra/modules/names "$tmp/names-kms"
sed -i 's|cryptoKeyVersions/${var.session_key_version}|cryptoKeyVersions/1|' "$tmp/names-kms/main.tf"
cmp -s infra/modules/names/main.tf "$tmp/names-kms/main.tf" && die "hostile: the key version mutation did not apply"
expect_fail "terraform test of a module that ignores session_key_version" tfcheck "$tmp/names-kms"
node tests/deploy/infra.js infra "$tmp/gke.yaml" --hostile || die "infra/"

# 4: cloudbuild.yaml with gcloud's own loader, on gcloud's bundled Python.
read -r gpy gsdk < <(gcloud info --format='value(basic.python_location,installation.sdk_root)' 2>/dev/null) ||
  die "gcloud info failed"
[[ -x $gpy && -f $gsdk/lib/googlecloudsdk/api_lib/cloudbuild/config.py ]] ||
  die "gcloud's Python ($gpy) or its Cloud Build config loader under $gsdk is missing"
cbcheck() { "$gpy" tests/deploy/cloudbuild_check.py "$gsdk" "$1"; }
cbcheck cloudbuild.yaml || die "cloudbuild.yaml"
# Broken copies: the loader's own refusals and ours.
cb=$tmp/cloudbuild.yaml
mutate_cb() { python3 -c "import sys; s=open('cloudbuild.yaml').read(); n=s.replace(sys.argv[1], sys.argv[2], 1); assert n != s, sys.argv[1]; open('$cb','w').write(n)" "$1" "$2"; }
mutate_cb 'timeout: 3600s' 'timeout: 3600s
tiemout: 10s'
expect_fail "cloudbuild unknown field" cbcheck "$cb"
mutate_cb '  _WARM_TARGET: "2"' '  _WARM_TARGET: "2"
  _lower: x'
expect_fail "cloudbuild badly named substitution" cbcheck "$cb"
mutate_cb '  _WARM_TARGET: "2"' '  _WARM_TARGET: "2"
  _UNUSED: x'
expect_fail "cloudbuild unused substitution" cbcheck "$cb"
mutate_cb 'echo "domain=${_DOMAIN}"' 'echo "domain=${_DOMAIN}" "$HOME"'
expect_fail "cloudbuild shell variable not escaped" cbcheck "$cb"
mutate_cb '  - id: build-runner' '  - id: 7
    name: x
    args: [{a: b}]
  - id: build-runner'
expect_fail "cloudbuild wrong type" cbcheck "$cb"
mutate_cb 'kubectl apply -k k8s/overlays/gke' 'kubectl apply -f /workspace/rendered.yaml'
expect_fail "cloudbuild without apply -k" cbcheck "$cb"
mutate_cb '--from-file=token="$$d/token"' '--from-literal=token="$$INTERNAL_TOKEN"'
expect_fail "cloudbuild secret on a command line" cbcheck "$cb"
mutate_cb "if grep -q 'sha256:0000000000000000000000000000000000000000000000000000000000000000'" "if false"
expect_fail "cloudbuild without the placeholder guard" cbcheck "$cb"
mutate_cb 'locations/${_REGION}/clusters' 'zones/${_REGION}/clusters'
expect_fail "cloudbuild with another runner issuer" cbcheck "$cb"
mutate_cb 'keyRings/${_CLUSTER}/cryptoKeys/session-tokens' 'keyRings/runwire/cryptoKeys/session-tokens'
expect_fail "cloudbuild with another KMS key ring" cbcheck "$cb"
mutate_cb '  _KMS_KEY_VERSION: "1"' '  _KMS_KEY_VERSION: latest'
expect_fail "cloudbuild with a KMS key version that is not a number" cbcheck "$cb"
# A key in the committed params.env that the pin step would not write again.
{ cat k8s/overlays/gke/params.env; echo "new-setting=x"; } >"$tmp/params.env"
RW_GKE_PARAMS=$tmp/params.env expect_fail "cloudbuild that drops a params.env key" cbcheck cloudbuild.yaml
ok "cloudbuild: 12 broken copies, each refused"

# 5: Dockerfiles. images/ is its own piece of work: whatever Dockerfiles exist are linted,
# and those cloudbuild.yaml builds must exist once images/ does.
dockerfiles=()
for f in images/*/Dockerfile; do [[ -f $f ]] && dockerfiles+=("$f"); done
if [[ -d images ]]; then
  for f in images/control/Dockerfile images/runner/Dockerfile; do
    [[ -f $f ]] || die "$f missing (cloudbuild.yaml builds it)"
  done
fi
if ((${#dockerfiles[@]})); then
  "$nm/.bin/dockerfilelint" -c tests/deploy "${dockerfiles[@]}" >"$tmp/dfl.out" 2>&1 || {
    cat "$tmp/dfl.out" >&2
    die "dockerfilelint"
  }
  node tests/deploy/dockerfiles.js "${dockerfiles[@]}" || die "images/*/Dockerfile"
  ok "dockerfilelint: ${dockerfiles[*]} clean"
else
  echo "deploy-check: NOTE: no images/*/Dockerfile in this tree: nothing to lint (the broken copy below still runs)" >&2
fi
printf 'FROM debian:bookworm\nRUN apt-get install gcc\nRUN sudo make\n' >"$tmp/Dockerfile"
expect_fail "dockerfilelint on a broken Dockerfile" "$nm/.bin/dockerfilelint" -c tests/deploy "$tmp/Dockerfile"
expect_fail "a base image by tag" node tests/deploy/dockerfiles.js "$tmp/Dockerfile"
printf 'FROM debian@sha256:%064d AS b\nFROM b\nUSER 0\n' 0 >"$tmp/Dockerfile"
expect_fail "a root USER" node tests/deploy/dockerfiles.js "$tmp/Dockerfile"
printf 'ARG BASE=debian:bookworm\nFROM ${BASE}\nUSER runwire\n' >"$tmp/Dockerfile"
expect_fail "a base image by tag through an ARG" node tests/deploy/dockerfiles.js "$tmp/Dockerfile"
printf 'ARG BASE=debian@sha256:%064d\nFROM ${BASE}\nUSER runwire\n' 0 >"$tmp/Dockerfile"
node tests/deploy/dockerfiles.js "$tmp/Dockerfile" >/dev/null || die "dockerfiles.js refuses a base pinned through an ARG"
ok "dockerfiles: 4 broken copies, each refused"

ok "all passed in $(($(date +%s) - t0)) s"
