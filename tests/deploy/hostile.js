'use strict';
// hostile.js: proves that each assertion of manifests.js can fail. It takes a rendered
// overlay, checks that it passes, then breaks a copy once per invariant (the way a careless
// edit would) and expects check() to report exactly that breakage.
// Usage: node hostile.js OVERLAY RENDERED.yaml

const { check, load } = require('./manifests.js');

const find = (objs, kind, name) => objs.find((o) => o.kind === kind && (!name || o.metadata.name === name));
const sj = (objs) => find(objs, 'ScaledJob', 'runwire-runner');
const runnerPod = (objs) => sj(objs).spec.jobTargetRef.template.spec;
const agent = (objs) => runnerPod(objs).containers[0];
const control = (objs) => find(objs, 'Deployment', 'runwire-control');
const controlPod = (objs) => control(objs).spec.template.spec;
const runnerNp = (objs) => find(objs, 'NetworkPolicy', 'runwire-runner');
const setArg = (c, flag, value) => {
  c.args = c.args.map((a) => (a.startsWith(flag + '=') ? `${flag}=${value}` : a));
};

// [name, mutation, text the failure must contain]
const CASES = [
  ['schema: replicas as a string', (o) => { control(o).spec.replicas = 'two'; }, 'schema'],
  ['schema: ScaledJob pollingInterval as a string', (o) => { sj(o).spec.pollingInterval = 'fast'; }, 'schema'],
  ['schema: Job inside the ScaledJob', (o) => { sj(o).spec.jobTargetRef.backoffLimit = 'none'; }, 'schema'],
  ['unknown kind', (o) => { o.push({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'runwire' } }); }, 'no schema'],
  ['unknown ScaledJob field (typo)', (o) => { sj(o).spec.scalingstrategy = { strategy: 'accurate' }; }, 'unknown field spec.scalingstrategy'],
  ['deprecated rolloutStrategy', (o) => { sj(o).spec.rolloutStrategy = 'gradual'; }, 'unknown field spec.rolloutStrategy'],
  ['unknown scalingStrategy field', (o) => { sj(o).spec.scalingStrategy.pendingPodCondition = ['Ready']; }, 'unknown field spec.scalingStrategy.pendingPodCondition'],
  ['unknown rollout field', (o) => { sj(o).spec.rollout.stategy = 'gradual'; }, 'unknown field spec.rollout.stategy'],
  ['unknown trigger field', (o) => { sj(o).spec.triggers[0].authRef = { name: 'x' }; }, 'unknown field spec.triggers[0].authRef'],
  ['unknown metrics-api parameter', (o) => { sj(o).spec.triggers[0].metadata.valueLocaton = 'demand'; }, 'unknown field spec.triggers[0].metadata.valueLocaton'],
  ['unknown JobSpec field', (o) => { sj(o).spec.jobTargetRef.backofLimit = 0; }, 'unknown field spec.jobTargetRef.backofLimit'],
  ['unknown PodSpec field', (o) => { runnerPod(o).runtimeClass = 'gvisor'; }, 'unknown field spec.jobTargetRef.template.spec.runtimeClass'],
  ['unknown container field', (o) => { controlPod(o).containers[0].readinessprobe = {}; }, 'unknown field spec.template.spec.containers[control].readinessprobe'],
  ['not a Kubernetes object', (o) => { o.push({ metadata: { name: 'x' } }); }, 'not a Kubernetes object'],
  ['two namespaces', (o) => { o.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } }); }, 'exactly one Namespace'],
  ['a cluster-scoped object', (o) => { o.push({ apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'gvisor' }, handler: 'runsc' }); }, 'cluster-scoped'],
  ['control under another ServiceAccount', (o) => { controlPod(o).serviceAccountName = 'default'; }, 'serviceAccountName'],
  ['control container renamed', (o) => { controlPod(o).containers[0].name = 'app'; }, 'no container named control'],
  ['Redis password not from a Secret', (o) => { setArg(controlPod(o).containers[0], '--store-password-file', '/etc/redis-password'); }, '--store-password-file'],
  ['internal token not from a Secret', (o) => { setArg(controlPod(o).containers[0], '--internal-token-file', '/tmp/token'); }, '--internal-token-file'],
  ['no internal listener', (o) => { const c = controlPod(o).containers[0]; c.args = c.args.filter((a) => !a.startsWith('--internal-listen')); }, '--internal-listen'],
  ['no --advertise-url', (o) => { const c = controlPod(o).containers[0]; c.args = c.args.filter((a) => !a.startsWith('--advertise-url')); }, '--advertise-url must be'],
  ['advertising the Service, not the pod', (o) => { setArg(controlPod(o).containers[0], '--advertise-url', 'ws://runwire-control:8080/agent'); }, '--advertise-url must be'],
  ['POD_IP not from the downward API', (o) => { controlPod(o).containers[0].env.find((e) => e.name === 'POD_IP').valueFrom = { configMapKeyRef: { name: 'runwire-params', key: 'warm-target' } }; }, 'fieldRef status.podIP'],
  ['advertised port not the listener', (o) => { setArg(controlPod(o).containers[0], '--advertise-url', 'ws://$(POD_IP):8081/agent'); }, 'is not --listen'],
  ['runners cannot reach control pods on 8080', (o) => { runnerNp(o).spec.egress.find((r) => (r.to || []).some((x) => x.podSelector)).ports[0].port = 8081; }, 'reach control pods directly'],
  ['control pods refuse runners on 8080', (o) => { find(o, 'NetworkPolicy', 'runwire-control').spec.ingress[0].ports[0].port = 8443; }, 'must accept runners'],
  ['local dispatcher', (o) => { setArg(controlPod(o).containers[0], '--dispatcher', 'local'); }, '--dispatcher must be external'],
  ['public Service selects nothing', (o) => { find(o, 'Service', 'runwire-control').spec.selector = { app: 'x' }; }, 'Service/runwire-control must select control'],
  ['internal Service on another port', (o) => { find(o, 'Service', 'runwire-control-internal').spec.ports[0].port = 9091; }, 'must expose the internal port'],
  ['no replica cap', (o) => { delete sj(o).spec.maxReplicaCount; }, 'maxReplicaCount must be set'],
  ['runner restarts', (o) => { runnerPod(o).restartPolicy = 'OnFailure'; }, 'restartPolicy must be Never'],
  ['a second trigger', (o) => { sj(o).spec.triggers.push({ type: 'cron', metadata: { timezone: 'UTC', start: '0 * * * *', end: '1 * * * *', desiredReplicas: '5' } }); }, 'exactly one trigger'],
  ['trigger url garbage', (o) => { sj(o).spec.triggers[0].metadata.url = 'not a url'; }, 'is not a URL'],
  ['a sidecar in the runner', (o) => { runnerPod(o).containers.push(JSON.parse(JSON.stringify(agent(o)))); runnerPod(o).containers[1].name = 'side'; }, 'one container, the agent'],
  ['ready file on the read-only root', (o) => { setArg(agent(o), '--ready-file', '/ready'); agent(o).readinessProbe.exec.command = ['test', '-f', '/ready']; }, 'mounted (writable) volume'],
  ['unknown pod template field', (o) => { control(o).spec.template.annotation = {}; }, 'unknown field spec.template.annotation'],
  ['unknown securityContext field', (o) => { agent(o).securityContext.runAsNonroot = true; }, 'securityContext.runAsNonroot'],
  ['strategy not accurate', (o) => { sj(o).spec.scalingStrategy.strategy = 'default'; }, 'must be accurate'],
  ['no pendingPodConditions', (o) => { delete sj(o).spec.scalingStrategy.pendingPodConditions; }, 'pendingPodConditions'],
  ['rollout default', (o) => { delete sj(o).spec.rollout; }, 'rollout.strategy must be gradual'],
  ['slow polling', (o) => { sj(o).spec.pollingInterval = 30; }, 'pollingInterval'],
  ['long history', (o) => { sj(o).spec.failedJobsHistoryLimit = 100; }, 'failedJobsHistoryLimit'],
  ['warm pool in minReplicaCount', (o) => { sj(o).spec.minReplicaCount = 2; }, 'minReplicaCount must be 0'],
  ['retries', (o) => { sj(o).spec.jobTargetRef.backoffLimit = 6; }, 'backoffLimit must be 0'],
  ['no deadline', (o) => { delete sj(o).spec.jobTargetRef.activeDeadlineSeconds; }, 'activeDeadlineSeconds'],
  ['no ttl', (o) => { delete sj(o).spec.jobTargetRef.ttlSecondsAfterFinished; }, 'ttlSecondsAfterFinished'],
  ['no gvisor', (o) => { delete runnerPod(o).runtimeClassName; }, 'gvisor'],
  ['runner API token', (o) => { runnerPod(o).automountServiceAccountToken = true; }, 'must not mount an API token'],
  ['trigger on the public port', (o) => { sj(o).spec.triggers[0].metadata.url = sj(o).spec.triggers[0].metadata.url.replace(':9090', ':8080'); }, 'internal port'],
  ['trigger in the wrong namespace', (o) => { sj(o).spec.triggers[0].metadata.url = 'http://runwire-control-internal.other.svc.cluster.local:9090/api/queue'; }, 'trigger url must name'],
  ['trigger on another path', (o) => { sj(o).spec.triggers[0].metadata.url = sj(o).spec.triggers[0].metadata.url.replace('/api/queue', '/metrics'); }, '/api/queue'],
  ['value location waiting', (o) => { sj(o).spec.triggers[0].metadata.valueLocation = 'waiting'; }, 'valueLocation must be demand'],
  ['no bearer', (o) => { delete sj(o).spec.triggers[0].metadata.authMode; }, 'authMode must be bearer'],
  ['TriggerAuthentication missing', (o) => { o.splice(o.indexOf(find(o, 'TriggerAuthentication')), 1); }, 'authenticationRef'],
  ['TriggerAuthentication without token', (o) => { find(o, 'TriggerAuthentication').spec.secretTargetRef[0].parameter = 'apiKey'; }, 'parameter token'],
  ['readiness probe on another file', (o) => { agent(o).readinessProbe.exec.command = ['test', '-e', '/tmp/other']; }, '--ready-file'],
  ['readiness over HTTP', (o) => { agent(o).readinessProbe = { httpGet: { path: '/', port: 80 } }; }, '--ready-file'],
  ['token with another audience', (o) => { runnerPod(o).volumes.find((v) => v.projected).projected.sources[0].serviceAccountToken.audience = 'https://kubernetes.default.svc'; }, 'audience runwire'],
  ['token file elsewhere', (o) => { setArg(agent(o), '--token-file', '/var/run/secrets/kubernetes.io/serviceaccount/token'); }, 'audience runwire'],
  ['agent dials elsewhere', (o) => { setArg(agent(o), '--control', 'ws://evil.example:8080/agent'); }, '--control'],
  ['agent never exits idle', (o) => { agent(o).args = agent(o).args.filter((a) => !a.startsWith('--idle-exit')); }, '--idle-exit'],
  ['restricted label missing', (o) => { delete find(o, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']; }, 'must be restricted'],
  ['restricted label baseline', (o) => { find(o, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'] = 'baseline'; }, 'must be restricted'],
  ['object in another namespace', (o) => { find(o, 'Service').metadata.namespace = 'default'; }, 'namespace default'],
  ['privilege escalation', (o) => { agent(o).securityContext.allowPrivilegeEscalation = true; }, 'allowPrivilegeEscalation'],
  ['capabilities kept', (o) => { agent(o).securityContext.capabilities.drop = ['NET_RAW']; }, 'drop must include ALL'],
  ['capability added', (o) => { controlPod(o).containers[0].securityContext.capabilities.add = ['SYS_ADMIN']; }, 'SYS_ADMIN'],
  ['root allowed', (o) => { delete agent(o).securityContext.runAsNonRoot; delete runnerPod(o).securityContext.runAsNonRoot; }, 'runAsNonRoot'],
  ['root user', (o) => { controlPod(o).securityContext.runAsUser = 0; }, 'runAsUser 0'],
  ['no seccomp', (o) => { delete runnerPod(o).securityContext.seccompProfile; }, 'seccompProfile'],
  ['seccomp unconfined', (o) => { controlPod(o).securityContext.seccompProfile.type = 'Unconfined'; }, 'seccompProfile'],
  ['privileged', (o) => { agent(o).securityContext.privileged = true; }, 'privileged'],
  ['hostPath volume', (o) => { runnerPod(o).volumes.push({ name: 'h', hostPath: { path: '/' } }); }, 'hostPath'],
  ['host network', (o) => { runnerPod(o).hostNetwork = true; }, 'hostNetwork'],
  ['hostPort', (o) => { controlPod(o).containers[0].ports[0].hostPort = 8080; }, 'hostPort'],
  ['a role for control', (o) => { o.push({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'c', namespace: 'runwire' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' }, subjects: [{ kind: 'ServiceAccount', name: 'runwire-control', namespace: 'runwire' }] }); }, 'no RBAC objects'],
  ['control SA mounts a token', (o) => { find(o, 'ServiceAccount', 'runwire-control').automountServiceAccountToken = true; }, 'automountServiceAccountToken must be false'],
  ['control pod mounts a token', (o) => { delete controlPod(o).automountServiceAccountToken; }, 'automountServiceAccountToken must be false'],
  ['one replica', (o) => { control(o).spec.replicas = 1; }, 'at least 2'],
  ['no liveness on /healthz', (o) => { controlPod(o).containers[0].livenessProbe.httpGet.path = '/'; }, '/healthz'],
  ['no readiness on /readyz', (o) => { delete controlPod(o).containers[0].readinessProbe; }, '/readyz'],
  ['no resources', (o) => { delete controlPod(o).containers[0].resources.limits; }, 'resources'],
  ['no PodDisruptionBudget', (o) => { o.splice(o.indexOf(find(o, 'PodDisruptionBudget')), 1); }, 'PodDisruptionBudget'],
  ['Redis URL in plain text', (o) => { setArg(controlPod(o).containers[0], '--store', 'redis://10.0.0.3:6379'); }, '--store must come from a Secret'],
  ['internal port public', (o) => { find(o, 'Service', 'runwire-control').spec.ports.push({ name: 'internal', port: 9090, targetPort: 'internal' }); }, 'must not expose the internal port'],
  ['a Service for runners', (o) => { o.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'r', namespace: 'runwire' }, spec: { selector: { 'app.kubernetes.io/name': 'runwire-runner' }, ports: [{ port: 80 }] } }); }, 'selects runner pods'],
  ['runner ingress allowed', (o) => { runnerNp(o).spec.ingress = [{ from: [{ podSelector: {} }] }]; }, 'no ingress'],
  ['runner policy without Ingress type', (o) => { runnerNp(o).spec.policyTypes = ['Egress']; }, 'policyTypes'],
  ['runner egress anywhere', (o) => { runnerNp(o).spec.egress.push({}); }, 'allows every port'],
  ['runner egress to Redis', (o) => { runnerNp(o).spec.egress.push({ ports: [{ protocol: 'TCP', port: 6379 }] }); }, 'neither DNS, control nor HTTPS'],
  ['runner HTTPS to the cluster', (o) => { runnerNp(o).spec.egress.find((r) => r.ports && r.ports[0].port === 443).to = [{ ipBlock: { cidr: '0.0.0.0/0' } }]; }, 'private ranges'],
  ['a Secret nobody creates', (o) => { find(o, 'TriggerAuthentication').spec.secretTargetRef[0].name = 'runwire-nope'; }, 'refers to Secret runwire-nope'],
  ['a ConfigMap nobody creates', (o) => { controlPod(o).containers[0].env.find((e) => e.valueFrom && e.valueFrom.configMapKeyRef).valueFrom.configMapKeyRef.name = 'runwire-nope'; }, 'refers to ConfigMap runwire-nope'],
  ['a ConfigMap key nobody sets', (o) => { controlPod(o).containers[0].env.find((e) => e.valueFrom && e.valueFrom.configMapKeyRef).valueFrom.configMapKeyRef.key = 'runner-jwks'; }, 'refers to key runner-jwks'],
  ['no NetworkPolicy for runners', (o) => { o.splice(o.indexOf(runnerNp(o)), 1); }, 'no NetworkPolicy selects runner pods'],
];

const ctl = (objs) => controlPod(objs).containers[0];
const dropArg = (c, flag) => { c.args = c.args.filter((a) => !a.startsWith(flag + '=')); };
const controlNp = (objs) => find(objs, 'NetworkPolicy', 'runwire-control');
const restrictEgress = (o, egress) => { const np = controlNp(o).spec; np.policyTypes = ['Ingress', 'Egress']; np.egress = egress; };
const DNS = { ports: [{ protocol: 'UDP', port: 53 }] };
const KMS_VERSION = 'projects/p/locations/europe-west1/keyRings/runwire/cryptoKeys/session-tokens/cryptoKeyVersions/1';

// Session tokens are signed with the secret file on every overlay but gke.
const DEV_CASES = [
  ['session key from a ConfigMap', (o) => { controlPod(o).volumes.find((v) => v.name === 'session').secret = undefined; controlPod(o).volumes.find((v) => v.name === 'session').configMap = { name: 'x' }; }, '--session-secret-file'],
  ['no session secret', (o) => { dropArg(ctl(o), '--session-secret-file'); }, '--session-secret-file must name a file'],
  ['Cloud KMS on a local cluster', (o) => { ctl(o).args.push(`--session-signer=kms:${KMS_VERSION}`); }, '--session-signer is for gke'],
];

const GKE_CASES = [
  // Session tokens signed by Cloud KMS, reached through the metadata server.
  ['no KMS signer', (o) => { dropArg(ctl(o), '--session-signer'); }, '--session-signer=kms:KEY_VERSION missing'],
  ['KMS signer without kms:', (o) => { setArg(ctl(o), '--session-signer', '$(RUNWIRE_KMS_KEY_VERSION)'); }, '--session-signer must be kms:'],
  ['KMS key, not a key version', (o) => { find(o, 'ConfigMap').data['kms-key-version'] = KMS_VERSION.replace(/\/cryptoKeyVersions\/1$/, ''); }, '--session-signer must be kms:'],
  ['KMS key version 0', (o) => { find(o, 'ConfigMap').data['kms-key-version'] = KMS_VERSION.replace(/1$/, '0'); }, '--session-signer must be kms:'],
  ['KMS key version from no env', (o) => { ctl(o).env = ctl(o).env.filter((e) => e.name !== 'RUNWIRE_KMS_KEY_VERSION'); }, "is not in the container's env"],
  ['KMS key version from a Secret', (o) => { ctl(o).env.find((e) => e.name === 'RUNWIRE_KMS_KEY_VERSION').valueFrom = { secretKeyRef: { name: 'runwire-internal', key: 'token' } }; }, 'must come from a ConfigMap'],
  ['KMS key version key missing', (o) => { delete find(o, 'ConfigMap').data['kms-key-version']; }, 'has no key kms-key-version'],
  ['session secret beside KMS', (o) => { ctl(o).args.push('--session-secret-file=/var/run/secrets/runwire/session/secret'); }, 'no --session-secret-file'],
  ['session Secret still mounted', (o) => { controlPod(o).volumes.push({ name: 'session', secret: { secretName: 'runwire-session' } }); }, 'no runwire-session volume'],
  ['control egress without the metadata server', (o) => { restrictEgress(o, [DNS, { ports: [{ protocol: 'TCP', port: 443 }] }]); }, 'metadata server 169.254.169.254:80'],
  ['control egress excepting link-local', (o) => { restrictEgress(o, [DNS, { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }] }]); }, 'metadata server 169.254.169.254:80'],
  ['control egress without 443', (o) => { restrictEgress(o, [DNS, { to: [{ ipBlock: { cidr: '169.254.169.254/32' } }], ports: [{ protocol: 'TCP', port: 80 }] }]); }, 'Cloud KMS on port 443'],
  ['control egress without DNS', (o) => { restrictEgress(o, [{ ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 443 }] }]); }, 'control must reach DNS'],

  ['two Ingresses', (o) => { const i = JSON.parse(JSON.stringify(find(o, 'Ingress'))); i.metadata.name = 'second'; o.push(i); }, 'exactly one Ingress'],
  ['BackendConfig timeout as text', (o) => { find(o, 'BackendConfig').spec.timeoutSec = '3600'; }, 'timeoutSec must be an integer'],
  ['BackendConfig health check typo', (o) => { find(o, 'BackendConfig').spec.healthCheck.path = '/readyz'; }, 'unknown field spec.healthCheck.path'],
  ['FrontendConfig redirect as text', (o) => { find(o, 'FrontendConfig').spec.redirectToHttps.enabled = 'yes'; }, 'redirectToHttps.enabled'],
  ['ManagedCertificate without domains', (o) => { find(o, 'ManagedCertificate').spec.domains = []; }, 'spec.domains'],
  ['image by tag', (o) => { agent(o).image = 'europe-docker.pkg.dev/p/r/runwire-runner:latest'; }, 'pinned by digest'],
  ['image by short digest', (o) => { controlPod(o).containers[0].image = 'x/runwire-control@sha256:abc'; }, 'pinned by digest'],
  ['a Secret in the overlay', (o) => { o.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'runwire' }, stringData: { a: 'b' } }); }, 'no Secret'],
  ['Ingress to the internal port', (o) => { find(o, 'Ingress').spec.rules[0].http.paths[0].backend.service = { name: 'runwire-control-internal', port: { number: 9090 } }; }, 'only runwire-control may be routed'],
  ['certificate for another host', (o) => { find(o, 'ManagedCertificate').spec.domains = ['other.example.com']; }, 'ManagedCertificate must cover'],
  ['no Cloud Armor', (o) => { delete find(o, 'BackendConfig').spec.securityPolicy; }, 'Cloud Armor'],
  ['BackendConfig not attached', (o) => { delete find(o, 'Service', 'runwire-control').metadata.annotations['cloud.google.com/backend-config']; }, 'must name a BackendConfig'],
  ['BackendConfig typo', (o) => { find(o, 'BackendConfig').spec.securityPolicyName = 'x'; }, 'unknown field spec.securityPolicyName'],
  ['no container-native LB', (o) => { delete find(o, 'Service', 'runwire-control').metadata.annotations['cloud.google.com/neg']; }, 'cloud.google.com/neg'],
];

// Copies that must still pass: the checks above must not refuse a correct variant.
const GKE_ACCEPT = [
  ['control egress narrowed to what KMS signing needs', (o) => {
    restrictEgress(o, [
      { to: [{ ipBlock: { cidr: '169.254.169.254/32' } }], ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 80 }] },
      { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8', '169.254.0.0/16'] } }], ports: [{ protocol: 'TCP', port: 443 }] },
      { ports: [{ protocol: 'TCP', port: 6379 }] },
    ]);
  }],
  ['KMS key version 12', (o) => { find(o, 'ConfigMap').data['kms-key-version'] = KMS_VERSION.replace(/1$/, '12'); }],
];

function main() {
  const [overlay, file] = process.argv.slice(2);
  const base = load(file);
  const clean = check(base, overlay);
  if (clean.length) {
    console.error(`hostile: ${overlay} does not pass to begin with:\n  ${clean.join('\n  ')}`);
    process.exit(1);
  }
  const cases = overlay === 'gke' ? [...CASES, ...GKE_CASES] : [...CASES, ...DEV_CASES];
  let bad = 0;
  for (const [name, mutate, want] of cases) {
    const objs = JSON.parse(JSON.stringify(base));
    mutate(objs);
    const errors = check(objs, overlay);
    if (!errors.some((e) => e.includes(want))) {
      bad++;
      console.error(`hostile: ${overlay}: "${name}" was not caught (wanted "${want}"; got ${JSON.stringify(errors)})`);
    }
  }
  for (const [name, mutate] of overlay === 'gke' ? GKE_ACCEPT : []) {
    const objs = JSON.parse(JSON.stringify(base));
    mutate(objs);
    const errors = check(objs, overlay);
    if (errors.length) {
      bad++;
      console.error(`hostile: ${overlay}: "${name}" is correct but was refused: ${JSON.stringify(errors)}`);
    }
  }
  if (bad) process.exit(1);
  console.log(`deploy-check: ${overlay}: ${cases.length} broken copies, each refused`);
}

main();
