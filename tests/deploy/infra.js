'use strict';
// infra.js: structural assertions on infra/*.tf, parsed with @cdktf/hcl2json (no provider
// can be downloaded here, so `terraform validate` cannot run on infra/; docs/deploy.md).
// check(model, gke) returns failures; `gke` is the rendered gke overlay, whose names
// (Cloud Armor policy, SSL policy, static address) must match what Terraform creates.
// With --hostile it also breaks a copy of the model once per assertion and expects each
// break to be reported.
// Usage: node infra.js INFRA_DIR RENDERED_GKE.yaml [--hostile]

const fs = require('fs');
const path = require('path');

// Roles a project-level grant may carry: logs, metrics, and deploying into the cluster.
const PROJECT_ROLES = ['roles/logging.logWriter', 'roles/monitoring.metricWriter',
  'roles/monitoring.viewer', 'roles/stackdriver.resourceMetadata.writer',
  'roles/autoscaling.metricsWriter', 'roles/container.developer'];
const KMS_ROLES = ['roles/cloudkms.signer', 'roles/cloudkms.publicKeyViewer'];
const REGISTRY_ROLES = ['roles/artifactregistry.reader', 'roles/artifactregistry.writer'];
const CHANNELS = ['RAPID', 'REGULAR', 'STABLE'];

// The module in DIR (its own .tf files, not subdirectories), with the modules it calls from
// local paths under model.modules[NAME] (their inputs in model.modules[NAME].inputs).
async function loadModel(dir) {
  const { parse } = require('@cdktf/hcl2json');
  const model = {};
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.tf')).sort().map((f) => path.join(dir, f));
  if (!files.length) throw new Error(`no .tf files in ${dir}`);
  for (const f of files) merge(model, await parse(f, fs.readFileSync(f, 'utf8')));
  model.modules = {};
  for (const [name, bodies] of Object.entries(model.module || {})) {
    const b = first(bodies);
    if (typeof b.source === 'string' && b.source.startsWith('./')) {
      const sub = await loadModel(path.join(dir, b.source));
      sub.inputs = b;
      sub.parent = model;
      model.modules[name] = sub;
    }
  }
  return model;
}

// hcl2json gives {resource: {type: {name: [body]}}}, per file; merge files like Terraform.
function merge(into, from) {
  for (const [k, v] of Object.entries(from)) {
    if (Array.isArray(v)) into[k] = (into[k] || []).concat(v);
    else if (v && typeof v === 'object') merge(into[k] || (into[k] = {}), v);
    else into[k] = v;
  }
}

const first = (x) => (Array.isArray(x) ? x[0] : x);
function resources(model, type) {
  return Object.entries((model.resource || {})[type] || {}).map(([name, bodies]) => [name, first(bodies)]);
}
function variable(model, name) {
  return first((model.variable || {})[name]);
}
// Resolves a reference to what it stands for, as far as literals go: "${var.x}" to the
// module input or the variable's default, "${local.x}" to the local, "${module.m.o}" to that
// module's output; strings made of such references are resolved piece by piece. Anything
// else (resource attributes) is left as written.
function resolve(model, v, depth = 0) {
  if (typeof v !== 'string' || depth > 8 || !model) return v;
  const one = (ref) => {
    let m = ref.match(/^var\.(\w+)$/);
    if (m) {
      if (model.inputs && m[1] in model.inputs) return resolve(model.parent, model.inputs[m[1]], depth + 1);
      return resolve(model, (variable(model, m[1]) || {}).default, depth + 1);
    }
    m = ref.match(/^local\.(\w+)$/);
    if (m) {
      for (const l of [].concat(model.locals || [])) if (l && m[1] in l) return resolve(model, l[m[1]], depth + 1);
      return undefined;
    }
    m = ref.match(/^module\.(\w+)\.(\w+)$/);
    if (m && model.modules && model.modules[m[1]]) {
      const sub = model.modules[m[1]];
      return resolve(sub, (first((sub.output || {})[m[2]]) || {}).value, depth + 1);
    }
    return '${' + ref + '}';
  };
  const whole = v.match(/^\$\{([\w.]+)\}$/);
  if (whole) return one(whole[1]);
  return v.replace(/\$\{([\w.]+)\}/g, (_, ref) => {
    const r = one(ref);
    return r === undefined ? '${' + ref + '}' : String(r);
  });
}

function check(model, gke) {
  const errors = [];
  const fail = (m) => errors.push(m);

  const tf = first(model.terraform) || {};
  const providers = first(tf.required_providers) || {};
  if (!tf.required_version) fail('terraform.required_version must be set');
  for (const p of ['google', 'helm'])
    if (!providers[p] || !/^hashicorp\//.test(providers[p].source || '') || !providers[p].version)
      fail(`required_providers.${p} must pin a hashicorp/${p} version`);

  for (const v of ['project_id', 'region', 'cluster_name', 'namespace', 'repository'])
    if (!variable(model, v)) fail(`variable "${v}" missing`);
  for (const [name, bodies] of Object.entries(model.variable || {})) {
    const b = first(bodies);
    if (!b.description || !b.type) fail(`variable "${name}" needs a description and a type`);
  }

  // GKE Autopilot
  const clusters = resources(model, 'google_container_cluster');
  if (clusters.length !== 1) fail(`expected one google_container_cluster, found ${clusters.length}`);
  for (const [n, c] of clusters) {
    const w = `google_container_cluster.${n}`;
    if (c.enable_autopilot !== true) fail(`${w}: enable_autopilot must be true`);
    const ch = resolve(model, (first(c.release_channel) || {}).channel);
    if (!CHANNELS.includes(ch)) fail(`${w}: release_channel.channel must be one of ${CHANNELS} (got ${ch})`);
    const pool = resolve(model, (first(c.workload_identity_config) || {}).workload_pool);
    if (typeof pool !== 'string' || !pool.endsWith('.svc.id.goog')) fail(`${w}: workload_identity_config.workload_pool must be PROJECT.svc.id.goog`);
    if ((first(c.private_cluster_config) || {}).enable_private_nodes !== true) fail(`${w}: nodes must be private`);
    if (c.remove_default_node_pool || c.node_pool || c.node_config) fail(`${w}: Autopilot manages nodes: no node pools or node_config`);
    const sa = (first((first(c.cluster_autoscaling) || {}).auto_provisioning_defaults) || {}).service_account;
    if (!sa || !/google_service_account\./.test(sa)) fail(`${w}: nodes must run as our own service account, not the Compute Engine default`);
  }

  // Artifact Registry
  const repos = resources(model, 'google_artifact_registry_repository');
  if (!repos.some(([, r]) => r.format === 'DOCKER')) fail('a DOCKER google_artifact_registry_repository is missing');

  // Memorystore
  const redis = resources(model, 'google_redis_instance');
  if (redis.length !== 1) fail(`expected one google_redis_instance, found ${redis.length}`);
  for (const [n, r] of redis) {
    const w = `google_redis_instance.${n}`;
    if (r.auth_enabled !== true) fail(`${w}: auth_enabled must be true`);
    if (typeof r.transit_encryption_mode !== 'string' || !r.transit_encryption_mode.includes('SERVER_AUTHENTICATION'))
      fail(`${w}: transit_encryption_mode must be set explicitly and able to be SERVER_AUTHENTICATION`);
    if (!r.authorized_network) fail(`${w}: authorized_network must be our VPC`);
    if (((r.redis_configs || {})['maxmemory-policy']) !== 'noeviction') fail(`${w}: maxmemory-policy must be noeviction (the queue and streams must not be evicted)`);
  }

  // KMS
  const keys = resources(model, 'google_kms_crypto_key');
  if (!keys.length) fail('google_kms_crypto_key for session tokens missing');
  for (const [n, k] of keys) {
    const w = `google_kms_crypto_key.${n}`;
    if (k.purpose !== 'ASYMMETRIC_SIGN') fail(`${w}: purpose must be ASYMMETRIC_SIGN`);
    if ((first(k.version_template) || {}).algorithm !== 'RSA_SIGN_PKCS1_2048_SHA256') fail(`${w}: algorithm must be RSA_SIGN_PKCS1_2048_SHA256 (RS256)`);
  }
  const kmsGrants = resources(model, 'google_kms_crypto_key_iam_member');
  if (!kmsGrants.some(([, g]) => g.role === 'roles/cloudkms.signer')) fail('control needs roles/cloudkms.signer on the session key');
  for (const [n, g] of kmsGrants) {
    if (!KMS_ROLES.includes(g.role)) fail(`google_kms_crypto_key_iam_member.${n}: role ${g.role} is more than signing needs`);
    const who = String(resolve(model, g.member));
    if (!who.endsWith(`/subject/ns/${resolve(model, '${var.namespace}')}/sa/runwire-control`))
      fail(`google_kms_crypto_key_iam_member.${n}: member ${who} is not control's Kubernetes service account`);
  }

  // The key version control signs with: an output (cloudbuild.yaml writes the same name into
  // the gke overlay's params.env), naming the key ring and key kms.tf creates, and the one the
  // grants are on.
  const rings = resources(model, 'google_kms_key_ring');
  const out = first((model.output || {}).session_key_version);
  if (!out) fail('output "session_key_version" missing (the --session-signer kms:... of the gke overlay)');
  else if (rings.length === 1 && keys.length === 1) {
    const [ringName, ring] = rings[0];
    const [keyName, key] = keys[0];
    const want = `projects/\${var.project_id}/locations/${resolve(model, ring.location)}/keyRings/${resolve(model, ring.name)}` +
      `/cryptoKeys/${resolve(model, key.name)}/cryptoKeyVersions/${resolve(model, '${var.session_key_version}')}`;
    const got = String(resolve(model, out.value));
    if (got !== want) fail(`output "session_key_version" is ${got}, but kms.tf creates ${want}`);
    if (key.key_ring !== `\${google_kms_key_ring.${ringName}.id}`) fail(`google_kms_crypto_key.${keyName}: key_ring must be google_kms_key_ring.${ringName}`);
    for (const [n, g] of kmsGrants)
      if (g.crypto_key_id !== `\${google_kms_crypto_key.${keyName}.id}`)
        fail(`google_kms_crypto_key_iam_member.${n}: crypto_key_id must be the session key (google_kms_crypto_key.${keyName}.id), not ${g.crypto_key_id}`);
    const cm = gke.find((o) => o.kind === 'ConfigMap' && (o.data || {})['kms-key-version']);
    const tail = want.replace(/^projects\/[^/]+\/locations\/[^/]+/, '');
    if (!cm || !cm.data['kms-key-version'].endsWith(tail))
      fail(`the gke overlay's kms-key-version (${cm && cm.data['kms-key-version']}) does not end in ${tail}`);
  } else fail('one google_kms_key_ring and one google_kms_crypto_key');

  // Least privilege
  for (const t of ['google_project_iam_binding', 'google_project_iam_policy', 'google_service_account_key'])
    for (const [n] of resources(model, t)) fail(`${t}.${n}: not allowed (authoritative IAM or a long-lived key)`);
  for (const [n, g] of resources(model, 'google_project_iam_member')) {
    const roles = /^\$\{each\.(value|key)\}$/.test(g.role) ? forEachValues(g.for_each) : [g.role];
    if (!roles) fail(`google_project_iam_member.${n}: roles must be a literal list`);
    for (const r of roles || [])
      if (!PROJECT_ROLES.includes(r)) fail(`google_project_iam_member.${n}: project role ${r} is not in the least-privilege list`);
  }
  for (const [n, g] of resources(model, 'google_artifact_registry_repository_iam_member'))
    if (!REGISTRY_ROLES.includes(g.role)) fail(`google_artifact_registry_repository_iam_member.${n}: role ${g.role}`);
  for (const [n, g] of resources(model, 'google_storage_bucket_iam_member'))
    if (g.role !== 'roles/storage.objectViewer') fail(`google_storage_bucket_iam_member.${n}: role ${g.role} (the deployer only reads its source)`);
  for (const [n, b] of resources(model, 'google_storage_bucket'))
    if (b.public_access_prevention !== 'enforced' || b.uniform_bucket_level_access !== true)
      fail(`google_storage_bucket.${n}: needs public_access_prevention enforced and uniform access`);
  for (const [n, g] of resources(model, 'google_secret_manager_secret_iam_member'))
    if (g.role !== 'roles/secretmanager.secretAccessor') fail(`google_secret_manager_secret_iam_member.${n}: role ${g.role}`);

  // KEDA
  const keda = resources(model, 'helm_release').filter(([, h]) => h.chart === 'keda');
  if (keda.length !== 1) fail('one helm_release of the keda chart');
  for (const [n, h] of keda) {
    if (h.repository !== 'https://kedacore.github.io/charts') fail(`helm_release.${n}: repository must be https://kedacore.github.io/charts`);
    const v = String(resolve(model, h.version) || '');
    const [maj, min] = v.split('.').map(Number);
    if (!(maj > 2 || (maj === 2 && min >= 19))) fail(`helm_release.${n}: KEDA ${v || '(unpinned)'} is older than 2.19`);
  }

  // Cloud Armor, attached through the gke overlay's BackendConfig
  const policies = resources(model, 'google_compute_security_policy');
  if (policies.length !== 1) fail('one google_compute_security_policy');
  for (const [n, p] of policies) {
    const rules = [].concat(p.rule || []);
    const ban = rules.find((r) => r.action === 'rate_based_ban');
    const thr = rules.find((r) => r.action === 'throttle');
    for (const [what, r] of [['rate_based_ban', ban], ['throttle', thr]]) {
      const o = r && first(r.rate_limit_options);
      const t = o && first(o.rate_limit_threshold);
      if (!o || !t || !t.count || !t.interval_sec || !o.enforce_on_key || !/^deny\(/.test(o.exceed_action || ''))
        fail(`google_compute_security_policy.${n}: needs a ${what} rule with a threshold, a key and a deny action`);
    }
    if (ban && !(first(ban.rate_limit_options) || {}).ban_duration_sec) fail(`google_compute_security_policy.${n}: the rate_based_ban rule needs ban_duration_sec`);
    if (!rules.some((r) => r.priority === 2147483647)) fail(`google_compute_security_policy.${n}: needs the default rule (priority 2147483647)`);
    const bc = gke.find((o) => o.kind === 'BackendConfig');
    const name = bc && ((bc.spec || {}).securityPolicy || {}).name;
    if (name !== p.name) fail(`google_compute_security_policy.${n}: named ${p.name}, but the gke BackendConfig attaches ${name}`);
  }
  const fc = gke.find((o) => o.kind === 'FrontendConfig');
  const ssl = resources(model, 'google_compute_ssl_policy').map(([, s]) => s.name);
  if (!fc || !ssl.includes((fc.spec || {}).sslPolicy)) fail(`the gke FrontendConfig's sslPolicy is not a google_compute_ssl_policy (${ssl})`);
  const ing = gke.find((o) => o.kind === 'Ingress');
  const ip = ing && ((ing.metadata || {}).annotations || {})['kubernetes.io/ingress.global-static-ip-name'];
  const addrs = resources(model, 'google_compute_global_address').map(([, a]) => a.name);
  if (!addrs.includes(ip)) fail(`the gke Ingress's static address ${ip} is not a google_compute_global_address (${addrs})`);
  const ns = gke.find((o) => o.kind === 'Namespace');
  if (!ns || resolve(model, '${var.namespace}') !== ns.metadata.name) fail('variable "namespace" default must be the gke overlay\'s namespace');

  return errors;
}

function forEachValues(fe) {
  const m = typeof fe === 'string' && fe.match(/^\$\{toset\(\[(.*)\]\)\}$/s);
  if (!m) return null;
  return m[1].replace(/(#|\/\/)[^\n]*/g, '').split(',').map((s) => s.trim()).filter(Boolean).map((s) => s.replace(/^"|"$/g, ''));
}

function hostile(model, gke) {
  const R = (m, t) => resources(m, t)[0][1];
  const cases = [
    ['no required_version', (m) => { delete m.terraform[0].required_version; }, 'required_version'],
    ['no project variable', (m) => { delete m.variable.project_id; }, 'variable "project_id" missing'],
    ['two clusters', (m) => { m.resource.google_container_cluster.other = m.resource.google_container_cluster.runwire; }, 'one google_container_cluster'],
    ['no Memorystore', (m) => { delete m.resource.google_redis_instance; }, 'one google_redis_instance'],
    ['no KMS key', (m) => { delete m.resource.google_kms_crypto_key; }, 'google_kms_crypto_key for session tokens missing'],
    ['KMS grant to someone else', (m) => { R(m, 'google_kms_crypto_key_iam_member').member = 'serviceAccount:x@y.iam.gserviceaccount.com'; }, "is not control's Kubernetes service account"],
    ['control cannot sign', (m) => { delete m.resource.google_kms_crypto_key_iam_member.control_sign; }, 'roles/cloudkms.signer'],
    ['no key version output', (m) => { delete m.output.session_key_version; }, 'output "session_key_version" missing'],
    ['key version output hard-coded', (m) => { m.output.session_key_version[0].value = 'projects/p/locations/us-east1/keyRings/k/cryptoKeys/session-tokens/cryptoKeyVersions/1'; }, 'output "session_key_version" is'],
    ['key renamed away from the names module', (m) => { R(m, 'google_kms_crypto_key').name = 'tokens'; }, 'but kms.tf creates'],
    ['key ring in another location', (m) => { R(m, 'google_kms_key_ring').location = 'global'; }, 'but kms.tf creates'],
    ['KMS grant on another key', (m) => { R(m, 'google_kms_crypto_key_iam_member').crypto_key_id = 'projects/p/locations/global/keyRings/k/cryptoKeys/other'; }, 'crypto_key_id must be the session key'],
    ['gke overlay names another key', (m, g) => { g.find((o) => o.kind === 'ConfigMap').data['kms-key-version'] = 'projects/P/locations/R/keyRings/runwire/cryptoKeys/other/cryptoKeyVersions/1'; }, "the gke overlay's kms-key-version"],
    ['secret admin', (m) => { R(m, 'google_secret_manager_secret_iam_member').role = 'roles/secretmanager.admin'; }, 'roles/secretmanager.admin'],
    ['no KEDA', (m) => { delete m.resource.helm_release; }, 'keda chart'],
    ['ban without threshold', (m) => { const r = R(m, 'google_compute_security_policy').rule.find((x) => x.action === 'rate_based_ban'); delete r.rate_limit_options[0].rate_limit_threshold; }, 'rate_based_ban rule with a threshold'],
    ['throttle that allows', (m) => { const r = R(m, 'google_compute_security_policy').rule.find((x) => x.action === 'throttle'); r.rate_limit_options[0].exceed_action = 'allow'; }, 'throttle rule with a threshold'],
    ['no Redis network', (m) => { delete R(m, 'google_redis_instance').authorized_network; }, 'authorized_network'],
    ['autopilot off', (m) => { R(m, 'google_container_cluster').enable_autopilot = false; }, 'enable_autopilot'],
    ['no release channel', (m) => { delete R(m, 'google_container_cluster').release_channel; }, 'release_channel'],
    ['release channel UNSPECIFIED', (m) => { R(m, 'google_container_cluster').release_channel = [{ channel: 'UNSPECIFIED' }]; }, 'release_channel'],
    ['no workload identity', (m) => { delete R(m, 'google_container_cluster').workload_identity_config; }, 'workload_pool'],
    ['public nodes', (m) => { R(m, 'google_container_cluster').private_cluster_config = [{ enable_private_nodes: false }]; }, 'private'],
    ['default node service account', (m) => { delete R(m, 'google_container_cluster').cluster_autoscaling; }, 'Compute Engine default'],
    ['node pool on autopilot', (m) => { R(m, 'google_container_cluster').node_pool = [{}]; }, 'no node pools'],
    ['registry not docker', (m) => { R(m, 'google_artifact_registry_repository').format = 'NPM'; }, 'DOCKER'],
    ['redis without auth', (m) => { R(m, 'google_redis_instance').auth_enabled = false; }, 'auth_enabled'],
    ['redis transit encryption unset', (m) => { delete R(m, 'google_redis_instance').transit_encryption_mode; }, 'transit_encryption_mode'],
    ['redis evicts', (m) => { R(m, 'google_redis_instance').redis_configs = { 'maxmemory-policy': 'allkeys-lru' }; }, 'noeviction'],
    ['KMS key symmetric', (m) => { R(m, 'google_kms_crypto_key').purpose = 'ENCRYPT_DECRYPT'; }, 'ASYMMETRIC_SIGN'],
    ['KMS key EC', (m) => { R(m, 'google_kms_crypto_key').version_template = [{ algorithm: 'EC_SIGN_P256_SHA256' }]; }, 'RSA_SIGN_PKCS1_2048_SHA256'],
    ['KMS admin for control', (m) => { R(m, 'google_kms_crypto_key_iam_member').role = 'roles/cloudkms.admin'; }, 'more than signing needs'],
    ['project owner', (m) => { m.resource.google_project_iam_member.extra = [{ role: 'roles/owner', member: 'x' }]; }, 'roles/owner'],
    ['editor in a for_each', (m) => { const g = R(m, 'google_project_iam_member'); g.for_each = g.for_each.replace('[', '["roles/editor",'); }, 'roles/editor'],
    ['authoritative binding', (m) => { m.resource.google_project_iam_binding = { b: [{ role: 'roles/viewer' }] }; }, 'authoritative'],
    ['service account key', (m) => { m.resource.google_service_account_key = { k: [{}] }; }, 'long-lived key'],
    ['bucket writer', (m) => { R(m, 'google_storage_bucket_iam_member').role = 'roles/storage.admin'; }, 'roles/storage.admin'],
    ['public bucket', (m) => { delete R(m, 'google_storage_bucket').public_access_prevention; }, 'public_access_prevention'],
    ['registry admin', (m) => { R(m, 'google_artifact_registry_repository_iam_member').role = 'roles/artifactregistry.admin'; }, 'artifactregistry.admin'],
    ['KEDA 2.18', (m) => { m.variable.keda_version[0].default = '2.18.3'; }, 'older than 2.19'],
    ['KEDA from elsewhere', (m) => { R(m, 'helm_release').repository = 'https://example.com/charts'; }, 'kedacore'],
    ['no ban rule', (m) => { const p = R(m, 'google_compute_security_policy'); p.rule = p.rule.filter((r) => r.action !== 'rate_based_ban'); }, 'rate_based_ban'],
    ['ban without duration', (m) => { const r = R(m, 'google_compute_security_policy').rule.find((x) => x.action === 'rate_based_ban'); delete r.rate_limit_options[0].ban_duration_sec; }, 'ban_duration_sec'],
    ['no throttle rule', (m) => { const p = R(m, 'google_compute_security_policy'); p.rule = p.rule.filter((r) => r.action !== 'throttle'); }, 'throttle'],
    ['no default rule', (m) => { const p = R(m, 'google_compute_security_policy'); p.rule = p.rule.filter((r) => r.priority !== 2147483647); }, 'default rule'],
    ['armor policy renamed', (m) => { R(m, 'google_compute_security_policy').name = 'other'; }, 'BackendConfig attaches'],
    ['ssl policy renamed', (m) => { R(m, 'google_compute_ssl_policy').name = 'other'; }, 'sslPolicy'],
    ['address renamed', (m) => { R(m, 'google_compute_global_address').name = 'other'; }, 'static address'],
    ['namespace differs', (m) => { m.variable.namespace[0].default = 'other'; }, 'namespace'],
    ['variable without description', (m) => { delete m.variable.region[0].description; }, 'description'],
    ['provider unpinned', (m) => { delete m.terraform[0].required_providers[0].google.version; }, 'required_providers.google'],
  ];
  let bad = 0;
  for (const [name, mutate, want] of cases) {
    const m = structuredClone(model); // modules point back at their parent
    const g = structuredClone(gke);
    mutate(m, g);
    const errors = check(m, g);
    if (!errors.some((e) => e.includes(want))) {
      bad++;
      console.error(`hostile: infra: "${name}" was not caught (wanted "${want}"; got ${JSON.stringify(errors)})`);
    }
  }
  return [cases.length, bad];
}

async function main() {
  const [dir, gkeFile, flag] = process.argv.slice(2);
  const gke = require('./manifests.js').load(gkeFile);
  const model = await loadModel(dir);
  const errors = check(model, gke);
  for (const e of errors) console.error(`deploy-check: infra: ${e}`);
  if (errors.length) process.exit(1);
  console.log(`deploy-check: infra: ${Object.values(model.resource).reduce((n, t) => n + Object.keys(t).length, 0)} resources pass`);
  if (flag === '--hostile') {
    const [n, bad] = hostile(model, gke);
    if (bad) process.exit(1);
    console.log(`deploy-check: infra: ${n} broken copies, each refused`);
  }
}

if (require.main === module) main().catch((e) => { console.error(`deploy-check: infra: ${e.stack || e}`); process.exit(1); });
module.exports = { check, loadModel };
