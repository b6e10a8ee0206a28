"""cloudbuild_check.py: loads cloudbuild.yaml with the gcloud CLI's own Cloud Build config
loader (googlecloudsdk.api_lib.cloudbuild.config, the code `gcloud builds submit` runs),
which rejects unknown fields, wrong types and badly named substitutions, with the five
substitutions docs/deploy.md passes. The loader leaves two things to the server, which this
script checks the way the server does (MUST_MATCH, the default): every $NAME or ${NAME} in
the file is a built-in of `gcloud builds submit` or a defined substitution, and every
defined substitution is used. Then the steps this deployment relies on.

Run with gcloud's bundled Python: scripts/deploy-check.sh finds it.
Usage: python3 cloudbuild_check.py SDK_ROOT cloudbuild.yaml
"""
import os
import re
import sys

SDK, PATH = sys.argv[1], sys.argv[2]
sys.path.insert(0, SDK + "/lib")
sys.path.insert(0, SDK + "/lib/third_party")

from googlecloudsdk.api_lib.cloudbuild import cloudbuild_util, config  # noqa: E402

PARAMS = {
    "_REGION": "europe-west1",
    "_CLUSTER": "runwire",
    "_DOMAIN": "runwire.example.com",
    "_NAMESPACE": "runwire",
    "_REPO": "runwire",
}
BUILTINS = {"PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION"}
errors = []


def fail(msg):
    errors.append(msg)


try:
    messages = cloudbuild_util.GetMessagesModule()
    build = config.LoadCloudbuildConfigFromPath(PATH, messages, params=PARAMS)
except Exception as e:  # the loader's own refusal, reported as is
    print("deploy-check: cloudbuild: gcloud's loader refuses %s: %s" % (PATH, e), file=sys.stderr)
    sys.exit(1)

subs = {p.key: p.value for p in build.substitutions.additionalProperties}
for k in PARAMS:
    if k not in subs:
        fail("substitution %s missing" % k)

# Every reference resolves; every substitution is used (strings of every step, options...).
text = open(PATH).read()
body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
body = body.replace("$$", "")
used = set()
for m in re.finditer(r"\$(\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*))", body):
    name = m.group(2) or m.group(3)
    used.add(name)
    if name not in BUILTINS and name not in subs:
        fail("$%s is neither a built-in of gcloud builds submit nor a substitution "
             "(write $$ for a shell variable)" % name)
for k in subs:
    if k not in used:
        fail("substitution %s is defined but never used (the server refuses that)" % k)

# The steps this deployment relies on.
steps = {s.id: s for s in build.steps}
def script(step):
    return "\n".join(step.args or [])

for sid in ("build-control", "build-runner", "push", "pin", "secrets", "apply"):
    if sid not in steps:
        fail("step %s missing" % sid)
if not errors:
    for sid, df in (("build-control", "images/control/Dockerfile"), ("build-runner", "images/runner/Dockerfile")):
        if "--file=%s" % df not in script(steps[sid]):
            fail("step %s must build %s" % (sid, df))
    if "RepoDigests" not in script(steps["push"]):
        fail("step push must record the pushed digests")
    pin = script(steps["pin"])
    for need in ("kustomize edit set image \"runwire-control=", "kustomize edit set image \"runwire-runner=",
                 "kustomize edit set namespace \"${_NAMESPACE}\"", "domain=${_DOMAIN}",
                 # the issuer as infra/modules/names derives it (its tests pin the format)
                 'issuer="https://container.googleapis.com/v1/projects/$PROJECT_ID/locations/${_REGION}/clusters/${_CLUSTER}"',
                 "runner-jwks-url=$$issuer/jwks", "runner-issuer=$$issuer",
                 # the session-token key version as infra/modules/names derives it (its
                 # output session_key_version; the module's tests pin the same format)
                 "kms-key-version=projects/$PROJECT_ID/locations/${_REGION}/keyRings/${_CLUSTER}"
                 "/cryptoKeys/session-tokens/cryptoKeyVersions/${_KMS_KEY_VERSION}",
                 "sha256:" + "0" * 64):
        if need not in pin:
            fail("step pin must contain %r" % need)
    # pin rewrites params.env whole: every key the committed one has (the gke overlay's
    # ConfigMap, which control's env refers to) must be written again.
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    params = os.environ.get("RW_GKE_PARAMS") or os.path.join(root, "k8s/overlays/gke/params.env")
    for line in open(params):
        key = line.split("=", 1)[0].strip()
        if key and not key.startswith("#") and ('echo "%s=' % key) not in pin:
            fail("step pin must write %s into params.env (k8s/overlays/gke/params.env has it)" % key)
    if not re.match(r"^[1-9][0-9]*$", subs.get("_KMS_KEY_VERSION", "")):
        fail("substitution _KMS_KEY_VERSION must default to a key version number (1: the one infra/ creates)")
    if steps["pin"].dir != "k8s/overlays/gke":
        fail("step pin must run in k8s/overlays/gke")
    app = script(steps["apply"])
    for need in ("kubectl apply -k k8s/overlays/gke", "rollout status deployment/runwire-control"):
        if need not in app:
            fail("step apply must run %r" % need)
    order = [s.id for s in build.steps]
    if not order.index("secrets") < order.index("apply"):
        fail("Secrets must exist before apply")
    # Secret values never on a command line.
    if re.search(r"--from-literal", script(steps["secrets"])):
        fail("step secrets must not pass secret values on a command line (--from-literal)")
    declared = {s.env for s in build.availableSecrets.secretManager} if build.availableSecrets else set()
    for s in build.steps:
        for e in s.secretEnv or []:
            if e not in declared:
                fail("step %s uses secretEnv %s that availableSecrets does not declare" % (s.id, e))

for e in errors:
    print("deploy-check: cloudbuild: %s" % e, file=sys.stderr)
if errors:
    sys.exit(1)
print("deploy-check: cloudbuild: %s loads with gcloud's loader, %d steps, substitutions %s"
      % (PATH, len(build.steps), ",".join(sorted(subs))))
