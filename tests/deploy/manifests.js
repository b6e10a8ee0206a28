'use strict';
// manifests.js: what scripts/deploy-check.sh asserts about a rendered overlay
// (`kubectl kustomize k8s/overlays/NAME`). check(objects, overlay) returns a list of
// failures, each "kind/name: what is wrong"; an empty list means the overlay passes.
//
// Three layers, because the schemas alone are not enough:
//  1. every object validates against the Kubernetes (kubernetes-models) or KEDA
//     (@kubernetes-models/keda) schema; the GKE load-balancer kinds, which have no model on
//     npm, against our own table of their documented fields;
//  2. the schemas accept unknown field names, so the ScaledJob (and the Job, pod and
//     containers inside it, and the containers of every workload) is compared with
//     allowlists of the documented fields: a typo such as `scalingstrategy` would otherwise
//     be dropped silently by the API server and KEDA would run its defaults;
//  3. the invariants of docs/deploy.md (isolation, scaling, identity, entrance).
// tests/deploy/hostile.js breaks a rendered copy once per invariant and expects a failure.

const path = require('path');

const PSS_LABEL = 'pod-security.kubernetes.io/enforce';
const RUNNER = 'runwire-runner';
const CONTROL = 'runwire-control';
const INTERNAL_SVC = 'runwire-control-internal';
const DIGEST_RE = /@sha256:[0-9a-f]{64}$/;
// A Cloud KMS key version's resource name, what --session-signer kms:... takes.
const KMS_VERSION_RE = /^projects\/[^/\s]+\/locations\/[^/\s]+\/keyRings\/[^/\s]+\/cryptoKeys\/[^/\s]+\/cryptoKeyVersions\/[1-9][0-9]*$/;
// Where a GKE pod's Workload Identity access token comes from (the GKE metadata server,
// metadata.google.internal), and KMS's port.
const METADATA_IP = '169.254.169.254';

// KEDA's ScaledJob as documented for 2.19 (keda.sh/docs/2.19/reference/scaledjob-spec and
// apis/keda/v1alpha1/scaledjob_types.go). rolloutStrategy is the deprecated spelling of
// rollout.strategy: refused here so that only one of them is ever set.
const SCALEDJOB_SPEC = ['jobTargetRef', 'pollingInterval', 'successfulJobsHistoryLimit',
  'failedJobsHistoryLimit', 'rollout', 'envSourceContainerName', 'minReplicaCount',
  'maxReplicaCount', 'scalingStrategy', 'triggers'];
const SCALING_STRATEGY = ['strategy', 'customScalingQueueLengthDeduction',
  'customScalingRunningJobPercentage', 'pendingPodConditions', 'multipleScalersCalculation'];
const ROLLOUT = ['strategy', 'propagationPolicy'];
const TRIGGER = ['type', 'name', 'useCachedMetrics', 'metadata', 'authenticationRef', 'metricType'];
const AUTH_REF = ['name', 'kind'];
// keda.sh/docs/2.19/scalers/metrics-api
const METRICS_API = ['url', 'format', 'valueLocation', 'targetValue', 'activationTargetValue',
  'unsafeSsl', 'authMode', 'method', 'keyParamName', 'aggregateFromKubeServiceEndpoints',
  'aggregationType'];
// batch/v1 JobSpec, core/v1 PodTemplateSpec, PodSpec and Container (Kubernetes 1.32).
const JOB_SPEC = ['activeDeadlineSeconds', 'backoffLimit', 'backoffLimitPerIndex',
  'completionMode', 'completions', 'managedBy', 'manualSelector', 'maxFailedIndexes',
  'parallelism', 'podFailurePolicy', 'podReplacementPolicy', 'selector', 'successPolicy',
  'suspend', 'template', 'ttlSecondsAfterFinished'];
const POD_TEMPLATE = ['metadata', 'spec'];
const POD_SPEC = ['activeDeadlineSeconds', 'affinity', 'automountServiceAccountToken',
  'containers', 'dnsConfig', 'dnsPolicy', 'enableServiceLinks', 'ephemeralContainers',
  'hostAliases', 'hostIPC', 'hostNetwork', 'hostPID', 'hostUsers', 'hostname',
  'imagePullSecrets', 'initContainers', 'nodeName', 'nodeSelector', 'os', 'overhead',
  'preemptionPolicy', 'priority', 'priorityClassName', 'readinessGates', 'resourceClaims',
  'resources', 'restartPolicy', 'runtimeClassName', 'schedulerName', 'schedulingGates',
  'securityContext', 'serviceAccount', 'serviceAccountName', 'setHostnameAsFQDN',
  'shareProcessNamespace', 'subdomain', 'terminationGracePeriodSeconds', 'tolerations',
  'topologySpreadConstraints', 'volumes'];
const CONTAINER = ['args', 'command', 'env', 'envFrom', 'image', 'imagePullPolicy',
  'lifecycle', 'livenessProbe', 'name', 'ports', 'readinessProbe', 'resizePolicy',
  'resources', 'restartPolicy', 'securityContext', 'startupProbe', 'stdin', 'stdinOnce',
  'terminationMessagePath', 'terminationMessagePolicy', 'tty', 'volumeDevices',
  'volumeMounts', 'workingDir'];
const CONTAINER_SC = ['allowPrivilegeEscalation', 'appArmorProfile', 'capabilities',
  'privileged', 'procMount', 'readOnlyRootFilesystem', 'runAsGroup', 'runAsNonRoot',
  'runAsUser', 'seLinuxOptions', 'seccompProfile', 'windowsOptions'];

// The GKE kinds without an npm model: their documented top-level spec fields
// (cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration,
// .../managed-certs) and the type of each one we use.
const GKE_KINDS = {
  'cloud.google.com/v1/BackendConfig': {
    spec: ['cdn', 'connectionDraining', 'customRequestHeaders', 'customResponseHeaders',
      'healthCheck', 'iap', 'logging', 'securityPolicy', 'sessionAffinity', 'timeoutSec'],
    check(o, fail) {
      const s = o.spec || {};
      if (s.timeoutSec !== undefined && !Number.isInteger(s.timeoutSec)) fail('spec.timeoutSec must be an integer');
      if (s.securityPolicy && typeof s.securityPolicy.name !== 'string') fail('spec.securityPolicy.name must be a string');
      if (s.healthCheck) unknownKeys(s.healthCheck, ['checkIntervalSec', 'timeoutSec',
        'healthyThreshold', 'unhealthyThreshold', 'type', 'requestPath', 'port'], 'spec.healthCheck', fail);
    },
  },
  'networking.gke.io/v1beta1/FrontendConfig': {
    spec: ['redirectToHttps', 'sslPolicy'],
    check(o, fail) {
      const r = (o.spec || {}).redirectToHttps;
      if (r && typeof r.enabled !== 'boolean') fail('spec.redirectToHttps.enabled must be a boolean');
    },
  },
  'networking.gke.io/v1/ManagedCertificate': {
    spec: ['domains'],
    check(o, fail) {
      const d = (o.spec || {}).domains;
      if (!Array.isArray(d) || d.length < 1 || d.length > 100 || d.some((x) => typeof x !== 'string'))
        fail('spec.domains must list 1 to 100 names');
    },
  },
};

function unknownKeys(obj, allowed, where, fail) {
  if (!obj || typeof obj !== 'object') return;
  for (const k of Object.keys(obj))
    if (!allowed.includes(k)) fail(`unknown field ${where}.${k}`);
}

// Model module of an apiVersion/kind, or null.
function modelOf(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const candidates = group === 'keda.sh'
    ? [`@kubernetes-models/keda/keda.sh/${version}/${kind}`]
    : [`kubernetes-models/${group ? group + '/' : ''}${version}/${kind}`];
  for (const m of candidates) {
    try {
      return require(m)[kind];
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw e;
    }
  }
  return null;
}

function id(o) {
  return `${o && o.kind}/${o && o.metadata && o.metadata.name}`;
}

// Every pod template in the objects: [owner, PodTemplateSpec, path].
function podTemplates(objs) {
  const out = [];
  for (const o of objs) {
    const s = o.spec || {};
    if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o.kind))
      out.push([o, s.template || {}, 'spec.template']);
    else if (o.kind === 'CronJob')
      out.push([o, ((s.jobTemplate || {}).spec || {}).template || {}, 'spec.jobTemplate.spec.template']);
    else if (o.kind === 'ScaledJob')
      out.push([o, (s.jobTargetRef || {}).template || {}, 'spec.jobTargetRef.template']);
    else if (o.kind === 'Pod')
      out.push([o, { metadata: o.metadata, spec: s }, 'spec']);
  }
  return out;
}

function matches(selector, labels) {
  if (!selector || !Object.keys(selector).length) return false;
  return Object.entries(selector).every(([k, v]) => (labels || {})[k] === v);
}

// The restricted Pod Security Standard (kubernetes.io/docs/concepts/security/pod-security-standards).
const RESTRICTED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral',
  'persistentVolumeClaim', 'projected', 'secret'];
function checkRestricted(spec, fail) {
  const psc = spec.securityContext || {};
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (spec[k]) fail(`${k} is not allowed (restricted)`);
  if (spec.hostUsers === true) fail('hostUsers: true is not allowed');
  for (const v of spec.volumes || []) {
    const type = Object.keys(v).find((k) => k !== 'name');
    if (!RESTRICTED_VOLUMES.includes(type)) fail(`volume ${v.name} of type ${type} is not allowed (restricted)`);
  }
  if (psc.runAsUser === 0) fail('pod runAsUser 0 (restricted)');
  const podSeccomp = (psc.seccompProfile || {}).type;
  for (const c of [...(spec.containers || []), ...(spec.initContainers || [])]) {
    const sc = c.securityContext || {};
    const w = `container ${c.name}`;
    if (sc.privileged) fail(`${w}: privileged (restricted)`);
    if (sc.allowPrivilegeEscalation !== false) fail(`${w}: allowPrivilegeEscalation must be false (restricted)`);
    const caps = sc.capabilities || {};
    if (!(caps.drop || []).includes('ALL')) fail(`${w}: capabilities.drop must include ALL (restricted)`);
    for (const a of caps.add || [])
      if (a !== 'NET_BIND_SERVICE') fail(`${w}: capability ${a} may not be added (restricted)`);
    if (!(sc.runAsNonRoot === true || (sc.runAsNonRoot === undefined && psc.runAsNonRoot === true)))
      fail(`${w}: runAsNonRoot must be true (restricted)`);
    if (sc.runAsUser === 0) fail(`${w}: runAsUser 0 (restricted)`);
    const seccomp = (sc.seccompProfile || {}).type || podSeccomp;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp))
      fail(`${w}: seccompProfile must be RuntimeDefault or Localhost (restricted)`);
    for (const p of c.ports || []) if (p.hostPort) fail(`${w}: hostPort (restricted)`);
  }
}

function argValue(container, flag) {
  for (const a of container.args || []) {
    if (a.startsWith(flag + '=')) return a.slice(flag.length + 1);
  }
  const i = (container.args || []).indexOf(flag);
  return i >= 0 ? container.args[i + 1] : undefined;
}

// The value a container's $(VAR) reference in an argument stands for, when VAR comes from a
// ConfigMap of the render (env valueFrom.configMapKeyRef); plain text is returned as is.
// {value} on success, {error} saying what is missing otherwise.
function expandArg(objs, container, text) {
  let error;
  const value = text.replace(/\$\((\w+)\)/g, (_, name) => {
    const e = (container.env || []).find((x) => x.name === name);
    if (!e) { error = `$(${name}) is not in the container's env`; return ''; }
    if (typeof e.value === 'string') return e.value;
    const ref = (e.valueFrom || {}).configMapKeyRef;
    if (!ref) { error = `$(${name}) must come from a ConfigMap (configMapKeyRef)`; return ''; }
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata && o.metadata.name === ref.name);
    const v = cm && (cm.data || {})[ref.key];
    if (typeof v !== 'string') { error = `$(${name}): ConfigMap ${ref.name} has no key ${ref.key}`; return ''; }
    return v;
  });
  return error ? { error } : { value };
}

// Whether the egress rules of policy spec `s` let a pod reach `port` at `ip` (no policy
// type Egress: everything may be reached). `ip` undefined: some address outside the cluster.
function egressAllows(s, port, ip, proto = 'TCP') {
  if (!(s.policyTypes || []).includes('Egress')) return true;
  const inBlock = (b) => {
    if (!b) return false;
    const [net, bits] = b.cidr.split('/');
    const n = (a) => a.split('.').reduce((x, y) => x * 256 + Number(y), 0);
    const mask = (a, k) => (k === 0 ? 0 : Math.floor(n(a) / 2 ** (32 - k)));
    const hit = (c) => { const [cn, cb] = c.split('/'); return mask(ip || '8.8.8.8', Number(cb)) === mask(cn, Number(cb)); };
    return hit(`${net}/${bits}`) && !(b.except || []).some(hit);
  };
  return (s.egress || []).some((r) => {
    const ports = r.ports || [];
    const portOk = !ports.length || ports.some((x) => (x.protocol || 'TCP') === proto && (x.port === undefined || x.port === port));
    const to = r.to || [];
    const toOk = !to.length || to.some((x) => x.ipBlock && inBlock(x.ipBlock));
    return portOk && toOk;
  });
}

function underMount(container, file) {
  return (container.volumeMounts || []).find((m) => file && file.startsWith(m.mountPath.replace(/\/?$/, '/')));
}

// Every Secret and ConfigMap the objects refer to: [owner, kind, name].
function references(objs) {
  const refs = [];
  for (const [o, tpl] of podTemplates(objs)) {
    const spec = tpl.spec || {};
    for (const v of spec.volumes || []) {
      if (v.secret) refs.push([o, 'Secret', v.secret.secretName, (v.secret.items || []).map((i) => i.key)]);
      if (v.configMap) refs.push([o, 'ConfigMap', v.configMap.name, (v.configMap.items || []).map((i) => i.key)]);
      for (const src of (v.projected || {}).sources || []) {
        if (src.secret) refs.push([o, 'Secret', src.secret.name]);
        if (src.configMap) refs.push([o, 'ConfigMap', src.configMap.name]);
      }
    }
    for (const c of [...(spec.containers || []), ...(spec.initContainers || [])]) {
      for (const e of c.env || []) {
        const vf = e.valueFrom || {};
        if (vf.secretKeyRef) refs.push([o, 'Secret', vf.secretKeyRef.name, [vf.secretKeyRef.key]]);
        if (vf.configMapKeyRef) refs.push([o, 'ConfigMap', vf.configMapKeyRef.name, [vf.configMapKeyRef.key]]);
      }
      for (const e of c.envFrom || []) {
        if (e.secretRef) refs.push([o, 'Secret', e.secretRef.name]);
        if (e.configMapRef) refs.push([o, 'ConfigMap', e.configMapRef.name]);
      }
    }
  }
  for (const o of objs.filter((x) => x.kind === 'TriggerAuthentication'))
    for (const r of (o.spec || {}).secretTargetRef || []) refs.push([o, 'Secret', r.name, [r.key]]);
  return refs;
}

// The Secrets cloudbuild.yaml writes from Secret Manager (`create secret generic NAME`).
function deployTimeSecrets() {
  const file = path.join(__dirname, '..', '..', 'cloudbuild.yaml');
  const text = require('fs').readFileSync(file, 'utf8');
  return [...text.matchAll(/create secret generic (\S+)/g)].map((m) => m[1]);
}

function check(objs, overlay) {
  const errors = [];
  const failer = (o) => (msg) => errors.push(`${id(o)}: ${msg}`);
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const one = (k, name) => objs.find((o) => o.kind === k && o.metadata && o.metadata.name === name);

  // 1. schemas
  for (const o of objs) {
    const fail = failer(o);
    if (!o || typeof o !== 'object' || !o.apiVersion || !o.kind || !o.metadata || !o.metadata.name) {
      errors.push(`${id(o)}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
      continue;
    }
    const gke = GKE_KINDS[`${o.apiVersion}/${o.kind}`];
    if (gke) {
      unknownKeys(o, ['apiVersion', 'kind', 'metadata', 'spec'], '', fail);
      unknownKeys(o.spec, gke.spec, 'spec', fail);
      gke.check(o, fail);
      continue;
    }
    const Model = modelOf(o.apiVersion, o.kind);
    if (!Model) {
      fail(`no schema for ${o.apiVersion} ${o.kind}: add a model or a table to tests/deploy/manifests.js`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      fail(`schema: ${e.message}`);
    }
  }

  // What follows looks only at well-formed objects (the others are reported above).
  objs = objs.filter((o) => o && typeof o === 'object' && o.apiVersion && o.kind && o.metadata && o.metadata.name);

  // 2. unknown fields where the schemas do not look
  for (const o of byKind('ScaledJob')) {
    const fail = failer(o);
    const s = o.spec || {};
    unknownKeys(s, SCALEDJOB_SPEC, 'spec', fail);
    unknownKeys(s.scalingStrategy, SCALING_STRATEGY, 'spec.scalingStrategy', fail);
    unknownKeys(s.rollout, ROLLOUT, 'spec.rollout', fail);
    unknownKeys(s.jobTargetRef, JOB_SPEC, 'spec.jobTargetRef', fail);
    (s.triggers || []).forEach((t, i) => {
      unknownKeys(t, TRIGGER, `spec.triggers[${i}]`, fail);
      unknownKeys(t.authenticationRef, AUTH_REF, `spec.triggers[${i}].authenticationRef`, fail);
      if (t.type === 'metrics-api') unknownKeys(t.metadata, METRICS_API, `spec.triggers[${i}].metadata`, fail);
    });
    // The Job inside is checked against the batch/v1 schema as well.
    const Job = modelOf('batch/v1', 'Job');
    try {
      new Job({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'x' }, spec: s.jobTargetRef }).validate();
    } catch (e) {
      fail(`schema of spec.jobTargetRef (batch/v1 JobSpec): ${e.message}`);
    }
  }
  for (const [o, tpl, where] of podTemplates(objs)) {
    const fail = failer(o);
    unknownKeys(tpl, POD_TEMPLATE, where, fail);
    unknownKeys(tpl.spec, POD_SPEC, `${where}.spec`, fail);
    for (const c of (tpl.spec || {}).containers || []) {
      unknownKeys(c, CONTAINER, `${where}.spec.containers[${c.name}]`, fail);
      unknownKeys(c.securityContext, CONTAINER_SC, `${where}.spec.containers[${c.name}].securityContext`, fail);
    }
  }

  // 3. invariants
  const nsObjs = byKind('Namespace');
  if (nsObjs.length !== 1) errors.push(`expected exactly one Namespace, found ${nsObjs.length}`);
  const ns = nsObjs[0];
  const nsName = ns && ns.metadata.name;
  if (ns && ((ns.metadata.labels || {})[PSS_LABEL] !== 'restricted'))
    failer(ns)(`label ${PSS_LABEL} must be restricted`);
  for (const o of objs) {
    if (o.kind === 'Namespace') continue;
    if (o.kind.startsWith('Cluster') || o.kind === 'RuntimeClass') {
      failer(o)('cluster-scoped objects do not belong in this deployment');
      continue;
    }
    if (o.metadata && o.metadata.namespace !== nsName) failer(o)(`namespace ${o.metadata.namespace}, expected ${nsName}`);
  }

  // Every pod may run in a restricted namespace.
  for (const [o, tpl] of podTemplates(objs)) checkRestricted(tpl.spec || {}, failer(o));

  // Control has no Kubernetes API rights: no roles at all, no token in its pods.
  for (const k of ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'])
    for (const o of byKind(k)) failer(o)('control and runners need no Kubernetes API rights: no RBAC objects');
  for (const sa of byKind('ServiceAccount'))
    if (sa.automountServiceAccountToken !== false) failer(sa)('automountServiceAccountToken must be false');

  // control
  const dep = one('Deployment', CONTROL);
  let internalPort, advertisePort;
  if (!dep) errors.push(`Deployment/${CONTROL} missing`);
  else {
    const fail = failer(dep);
    const spec = dep.spec || {};
    const pod = (spec.template || {}).spec || {};
    const podLabels = ((spec.template || {}).metadata || {}).labels || {};
    if (!(spec.replicas >= 2)) fail('replicas must be at least 2');
    if (pod.serviceAccountName !== CONTROL) fail(`serviceAccountName must be ${CONTROL}`);
    if (pod.automountServiceAccountToken !== false) fail('automountServiceAccountToken must be false');
    const c = (pod.containers || []).find((x) => x.name === 'control');
    if (!c) fail('no container named control');
    else {
      if (((c.livenessProbe || {}).httpGet || {}).path !== '/healthz') fail('livenessProbe must GET /healthz');
      if (((c.readinessProbe || {}).httpGet || {}).path !== '/readyz') fail('readinessProbe must GET /readyz');
      const r = c.resources || {};
      for (const k of ['cpu', 'memory'])
        if (!(r.requests || {})[k] || !(r.limits || {})[k]) fail(`resources.requests and limits must set ${k}`);
      // Redis from a Secret, the password and the session key as files from Secrets.
      const store = argValue(c, '--store') || '';
      const m = store.match(/^\$\((\w+)\)$/);
      const env = m && (c.env || []).find((e) => e.name === m[1]);
      if (!env || !(env.valueFrom || {}).secretKeyRef) fail('--store must come from a Secret (env valueFrom.secretKeyRef)');
      // Session tokens: exactly one signer. gke signs with a Cloud KMS key version (no secret
      // to hand out), every other overlay with the HS256 secret file of a Secret.
      const secretFile = argValue(c, '--session-secret-file');
      const signer = argValue(c, '--session-signer');
      const fileFlags = ['--store-password-file', '--internal-token-file'];
      if (overlay === 'gke') {
        if (secretFile !== undefined || argValue(c, '--session-key-file') !== undefined)
          fail('gke: sign session tokens with Cloud KMS only: no --session-secret-file or --session-key-file');
        if (signer === undefined) fail('gke: --session-signer=kms:KEY_VERSION missing (session tokens signed by Cloud KMS)');
        else {
          const r = expandArg(objs, c, signer);
          if (r.error) fail(`--session-signer: ${r.error}`);
          else if (!r.value.startsWith('kms:') || !KMS_VERSION_RE.test(r.value.slice(4)))
            fail(`--session-signer must be kms:projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N, not ${r.value}`);
        }
        if ((pod.volumes || []).some((v) => v.secret && v.secret.secretName === 'runwire-session'))
          fail('gke: the session secret is not needed with Cloud KMS: no runwire-session volume');
        // The access token comes from the metadata server, the signature from KMS over HTTPS.
        for (const np of byKind('NetworkPolicy').filter((p) => matches(((p.spec || {}).podSelector || {}).matchLabels, podLabels))) {
          if (!egressAllows(np.spec, 80, METADATA_IP))
            failer(np)(`control must reach the metadata server ${METADATA_IP}:80 (Workload Identity token for Cloud KMS)`);
          if (!egressAllows(np.spec, 443))
            failer(np)('control must reach Cloud KMS on port 443');
          // metadata.google.internal and cloudkms.googleapis.com are names: DNS, which GKE
          // Autopilot serves at the metadata address.
          if (!egressAllows(np.spec, 53, METADATA_IP, 'UDP'))
            failer(np)(`control must reach DNS (UDP 53 at ${METADATA_IP}) to resolve the metadata server and KMS`);
        }
      } else {
        if (signer !== undefined) fail(`${overlay}: --session-signer is for gke (Cloud KMS); this overlay uses --session-secret-file`);
        fileFlags.push('--session-secret-file');
      }
      for (const flag of fileFlags) {
        const file = argValue(c, flag);
        const mount = underMount(c, file);
        const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
        if (!vol || !vol.secret) fail(`${flag} must name a file in a mounted Secret`);
      }
      const il = argValue(c, '--internal-listen') || '';
      internalPort = Number(il.split(':').pop());
      if (!internalPort) fail('--internal-listen ADDR:PORT missing');
      if (argValue(c, '--dispatcher') !== 'external') fail('--dispatcher must be external (KEDA)');
      // Runners land on any replica behind the Service; sessions wait on the replica that
      // created them. Each replica advertises its own pod's address (downward API), so that
      // another replica can send an idle runner there (docs/operations.md).
      const listenPort = Number((argValue(c, '--listen') || '').split(':').pop());
      const adv = argValue(c, '--advertise-url');
      const am = (adv || '').match(/^ws:\/\/\$\((\w+)\):(\d+)\/agent$/);
      if (!am) fail('--advertise-url must be ws://$(POD_IP):PORT/agent (this pod, not the Service)');
      else {
        const e = (c.env || []).find((x) => x.name === am[1]);
        if (!e || (((e.valueFrom || {}).fieldRef || {}).fieldPath !== 'status.podIP'))
          fail(`--advertise-url: $(${am[1]}) must come from the downward API (fieldRef status.podIP)`);
        advertisePort = Number(am[2]);
        if (advertisePort !== listenPort) fail(`--advertise-url port ${advertisePort} is not --listen's ${listenPort}`);
      }
    }
    const pdb = byKind('PodDisruptionBudget').find((p) => matches(((p.spec || {}).selector || {}).matchLabels, podLabels));
    if (!pdb) fail('no PodDisruptionBudget selects control');
    const svc = one('Service', CONTROL);
    if (!svc || !matches(svc.spec.selector, podLabels)) fail(`Service/${CONTROL} must select control`);
    const isvc = one('Service', INTERNAL_SVC);
    if (!isvc || !matches(isvc.spec.selector, podLabels)) fail(`Service/${INTERNAL_SVC} must select control`);
    else if (!(isvc.spec.ports || []).some((p) => p.port === internalPort)) fail(`Service/${INTERNAL_SVC} must expose the internal port ${internalPort}`);
    if (svc && (svc.spec.ports || []).some((p) => p.port === internalPort || p.targetPort === 'internal' || p.targetPort === internalPort))
      failer(svc)('the public Service must not expose the internal port');
  }

  // runners
  const sj = one('ScaledJob', RUNNER);
  let runnerLabels = {};
  if (!sj) errors.push(`ScaledJob/${RUNNER} missing`);
  else {
    const fail = failer(sj);
    const s = sj.spec || {};
    const jt = s.jobTargetRef || {};
    const tpl = jt.template || {};
    const pod = tpl.spec || {};
    runnerLabels = (tpl.metadata || {}).labels || {};
    const st = s.scalingStrategy || {};
    if (st.strategy !== 'accurate') fail('scalingStrategy.strategy must be accurate');
    if (JSON.stringify(st.pendingPodConditions) !== '["Ready"]') fail('scalingStrategy.pendingPodConditions must be ["Ready"]');
    if ((s.rollout || {}).strategy !== 'gradual') fail('rollout.strategy must be gradual (the default deletes running Jobs)');
    if (!(s.pollingInterval >= 1 && s.pollingInterval <= 10)) fail('pollingInterval must be 1..10 s');
    for (const k of ['successfulJobsHistoryLimit', 'failedJobsHistoryLimit'])
      if (!(s[k] >= 0 && s[k] <= 5)) fail(`${k} must be 0..5`);
    if (s.minReplicaCount) fail('minReplicaCount must be 0: the warm pool lives in the metric (--warm-target)');
    if (!(s.maxReplicaCount >= 1)) fail('maxReplicaCount must be set');
    if (jt.backoffLimit !== 0) fail('jobTargetRef.backoffLimit must be 0');
    if (!(jt.activeDeadlineSeconds > 0)) fail('jobTargetRef.activeDeadlineSeconds must be set');
    if (!(jt.ttlSecondsAfterFinished >= 0)) fail('jobTargetRef.ttlSecondsAfterFinished must be set');
    if (pod.runtimeClassName !== 'gvisor') fail('runner pods must run with runtimeClassName gvisor');
    if (pod.automountServiceAccountToken !== false) fail('runner pods must not mount an API token');
    if (pod.restartPolicy !== 'Never') fail('restartPolicy must be Never');
    const trig = (s.triggers || []).filter((t) => t.type === 'metrics-api');
    if (trig.length !== 1 || (s.triggers || []).length !== 1) fail('exactly one trigger, of type metrics-api');
    const t = trig[0] || { metadata: {} };
    const md = t.metadata || {};
    let url;
    try { url = new URL(md.url); } catch (e) { fail(`trigger url ${md.url} is not a URL`); }
    if (url) {
      if (url.pathname !== '/api/queue') fail('trigger url must be /api/queue');
      if (url.hostname !== `${INTERNAL_SVC}.${nsName}.svc.cluster.local`)
        fail(`trigger url must name ${INTERNAL_SVC}.${nsName}.svc.cluster.local (KEDA runs in its own namespace)`);
      if (Number(url.port) !== internalPort) fail(`trigger url port ${url.port} is not control's internal port ${internalPort}`);
    }
    if (md.valueLocation !== 'demand') fail('trigger valueLocation must be demand');
    if (md.authMode !== 'bearer') fail('trigger authMode must be bearer');
    const ta = one('TriggerAuthentication', (t.authenticationRef || {}).name);
    if (!ta) fail('trigger authenticationRef must name a TriggerAuthentication of this overlay');
    else if (!((ta.spec || {}).secretTargetRef || []).some((r) => r.parameter === 'token' && r.name))
      failer(ta)('secretTargetRef must give parameter token from a Secret');
    const c = (pod.containers || [])[0];
    if (!c || (pod.containers || []).length !== 1) fail('one container, the agent');
    else {
      const ready = argValue(c, '--ready-file');
      const cmd = ((c.readinessProbe || {}).exec || {}).command || [];
      if (!ready || !cmd.includes(ready)) fail('readinessProbe must be an exec probe on the agent\'s --ready-file');
      if (!underMount(c, ready)) fail('--ready-file must be on a mounted (writable) volume');
      const tokenFile = argValue(c, '--token-file');
      const mount = underMount(c, tokenFile);
      const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
      const src = vol && vol.projected && (vol.projected.sources || []).find((x) => x.serviceAccountToken);
      if (!src || src.serviceAccountToken.audience !== 'runwire' ||
          tokenFile !== `${mount.mountPath.replace(/\/$/, '')}/${src.serviceAccountToken.path}`)
        fail('--token-file must be a projected service-account token with audience runwire');
      const control = argValue(c, '--control') || '';
      if (!control.split(',').every((u) => /^wss?:\/\/runwire-control[:/.]/.test(u)))
        fail('--control must point at runwire-control');
      if (!(argValue(c, '--idle-exit') > 0)) fail('--idle-exit must be set');
    }
  }

  // No Service selects runners (nothing dials in).
  for (const svc of byKind('Service'))
    if (matches((svc.spec || {}).selector, runnerLabels)) failer(svc)('selects runner pods');

  // NetworkPolicy: no ingress to runners, egress only DNS, control, HTTPS.
  const np = byKind('NetworkPolicy').filter((p) => matches(((p.spec || {}).podSelector || {}).matchLabels, runnerLabels));
  if (!np.length) errors.push('no NetworkPolicy selects runner pods');
  const ctlLabels = dep ? (((dep.spec || {}).template || {}).metadata || {}).labels || {} : {};
  for (const p of np) {
    const fail = failer(p);
    const s = p.spec;
    const types = s.policyTypes || [];
    if (!types.includes('Ingress') || !types.includes('Egress')) fail('policyTypes must be Ingress and Egress');
    if ((s.ingress || []).length) fail('runners must get no ingress');
    for (const [i, r] of (s.egress || []).entries()) {
      const ports = (r.ports || []).map((x) => `${x.protocol || 'TCP'}/${x.port}`);
      const dns = ports.length && ports.every((x) => /\/53$/.test(x));
      const https = ports.length && ports.every((x) => x === 'TCP/443');
      const toControl = (r.to || []).length && r.to.every((x) => x.podSelector && !x.namespaceSelector &&
        !x.ipBlock && matches(x.podSelector.matchLabels, ctlLabels));
      if (!ports.length && !toControl) fail(`egress[${i}] allows every port`);
      else if (!(dns || https || toControl)) fail(`egress[${i}] is neither DNS, control nor HTTPS`);
      if (https && !dns && !toControl) {
        const blocks = (r.to || []).map((x) => x.ipBlock);
        if (!blocks.length || blocks.some((b) => !b || !(b.except || []).includes('10.0.0.0/8')
            || !(b.except || []).includes('169.254.0.0/16')))
          fail(`egress[${i}] HTTPS must exclude the private ranges and the metadata server`);
      }
    }
  }

  // Runners reach control pods directly on the advertised port (a redirect), both ways.
  if (advertisePort) {
    const toPods = (r) => (r.to || []).some((x) => x.podSelector && !x.namespaceSelector &&
      matches(x.podSelector.matchLabels, ctlLabels)) &&
      (r.ports || []).some((x) => (x.protocol || 'TCP') === 'TCP' && x.port === advertisePort);
    for (const p of np)
      if (!(p.spec.egress || []).some(toPods))
        failer(p)(`runners must reach control pods directly on ${advertisePort} (--advertise-url)`);
    for (const p of byKind('NetworkPolicy').filter((x) => matches(((x.spec || {}).podSelector || {}).matchLabels, ctlLabels) &&
                                                        ((x.spec || {}).policyTypes || []).includes('Ingress'))) {
      const lets = (p.spec.ingress || []).some((r) =>
        (!(r.ports || []).length || r.ports.some((x) => (x.protocol || 'TCP') === 'TCP' && x.port === advertisePort)) &&
        (!(r.from || []).length || r.from.some((f) => f.podSelector && !f.namespaceSelector && matches(f.podSelector.matchLabels, runnerLabels))));
      if (!lets) failer(p)(`control pods must accept runners on ${advertisePort} (--advertise-url)`);
    }
  }

  // The entrance routes only the public Service.
  for (const ing of byKind('Ingress')) {
    const fail = failer(ing);
    const backends = [];
    if ((ing.spec || {}).defaultBackend) backends.push(ing.spec.defaultBackend);
    for (const r of (ing.spec || {}).rules || []) for (const p of ((r.http || {}).paths || [])) backends.push(p.backend);
    for (const b of backends)
      if (!b.service || b.service.name !== CONTROL) fail(`routes to ${b.service && b.service.name}, only ${CONTROL} may be routed`);
  }

  // Every Secret and ConfigMap referred to exists: in the render, or (gke) among those
  // cloudbuild.yaml writes. kustomize renames generated ones (hash suffix) only in the fields
  // it knows, not in a TriggerAuthentication.
  const external = overlay === 'gke' ? deployTimeSecrets() : [];
  for (const [o, kind, name, keys] of references(objs)) {
    const target = one(kind, name);
    if (target) {
      const have = Object.keys({ ...(target.data || {}), ...(target.stringData || {}) });
      for (const k of keys || []) if (!have.includes(k)) failer(o)(`refers to key ${k} of ${kind} ${name}, which has ${have.join(', ')}`);
      continue;
    }
    if (kind === 'Secret' && external.includes(name)) continue;
    failer(o)(`refers to ${kind} ${name}, which ${overlay === 'gke' && kind === 'Secret' ? 'neither the overlay nor cloudbuild.yaml creates' : 'the overlay does not create'}`);
  }

  if (overlay === 'gke') {
    for (const [o, tpl] of podTemplates(objs))
      for (const c of [...((tpl.spec || {}).containers || []), ...((tpl.spec || {}).initContainers || [])])
        if (!DIGEST_RE.test(c.image || '')) failer(o)(`image ${c.image} must be pinned by digest (@sha256:...)`);
    for (const s of byKind('Secret')) failer(s)('the gke overlay carries no Secret: they come from Secret Manager');
    const ing = byKind('Ingress');
    if (ing.length !== 1) errors.push('gke: exactly one Ingress');
    const cert = byKind('ManagedCertificate')[0];
    const host = ing[0] && (((ing[0].spec || {}).rules || [])[0] || {}).host;
    if (!cert || !host || !((cert.spec || {}).domains || []).includes(host))
      errors.push('gke: the ManagedCertificate must cover the Ingress host');
    const svc = one('Service', CONTROL);
    const bcName = svc && (() => {
      try { return JSON.parse(((svc.metadata || {}).annotations || {})['cloud.google.com/backend-config']).default; } catch (e) { return undefined; }
    })();
    const bc = one('BackendConfig', bcName);
    if (!bc) errors.push(`gke: Service/${CONTROL} must name a BackendConfig (cloud.google.com/backend-config)`);
    else if (!((bc.spec || {}).securityPolicy || {}).name) failer(bc)('must attach the Cloud Armor policy (securityPolicy.name)');
    if (svc && !/"ingress":\s*true/.test(((svc.metadata || {}).annotations || {})['cloud.google.com/neg'] || ''))
      failer(svc)('needs container-native load balancing (cloud.google.com/neg)');
  }
  return errors;
}

function load(file) {
  const yaml = require('js-yaml');
  const text = require('fs').readFileSync(file, 'utf8');
  return yaml.loadAll(text).filter((o) => o !== null && o !== undefined);
}

module.exports = { check, load, DIGEST_RE, KMS_VERSION_RE };

if (require.main === module) {
  const [overlay, file] = process.argv.slice(2);
  if (!overlay || !file) {
    console.error('usage: node manifests.js OVERLAY RENDERED.yaml');
    process.exit(2);
  }
  const objs = load(file);
  const errors = check(objs, overlay);
  for (const e of errors) console.error(`deploy-check: ${overlay}: ${e}`);
  if (errors.length) process.exit(1);
  console.log(`deploy-check: ${overlay}: ${objs.length} objects valid (${path.basename(file)})`);
}
