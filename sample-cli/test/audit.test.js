// The offline audit: the findings on the fixture workspace, their order, redaction, and the
// report the CLI streams when no AI backend is at hand.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { auditWorkspace, offlineReport, remediationPlan, severityCounts } from '../src/audit.js';
import { scanWorkspace } from '../src/workspace.js';
import { CLI_DIR, FAKE, cleanEnv, makeAuditWorkspace, runCli, tempDir } from './helpers.js';

// Every flaw of the fixture, in the audit's order: severity, then path, line, rule.
const EXPECTED = [
  'high file.dotenv .env:1',
  'high secret.anthropic-key .env:2',
  'high secret.aws-access-key config/aws.ini:2',
  'high secret.aws-secret-key config/aws.ini:3',
  'high secret.private-key keys/deploy.pem:1',
  'high code.os-system native/copy.c:9',
  'high shell.rm-rf scripts/clean.sh:6',
  'high shell.curl-pipe-sh scripts/clean.sh:11',
  'high code.exec-concat src/server.js:10',
  'high code.eval src/server.js:15',
  'high code.os-system tools/convert.py:16',
  'medium code.c-unbounded-copy native/copy.c:8',
  'medium supply.missing-lockfile package.json:1',
  'medium supply.install-script package.json:6',
  'medium supply.unpinned-dependency package.json:10',
  'medium shell.chmod-777 scripts/clean.sh:10',
  'medium code.unsafe-deserialize tools/convert.py:11',
];

const trail = (findings) => findings.map((f) => `${f.severity} ${f.rule} ${f.path}:${f.line}`);

test('the offline audit finds every flaw of the fixture, in a stable order', (t) => {
  const ws = makeAuditWorkspace(tempDir(t));
  const findings = auditWorkspace(scanWorkspace(ws).files);
  assert.deepEqual(trail(findings), EXPECTED);
  assert.deepEqual(severityCounts(findings), { high: 11, medium: 6, low: 0 });
  // The same tree scanned again gives the same answer, byte for byte.
  assert.deepEqual(auditWorkspace(scanWorkspace(ws).files), findings);
});

test('secrets never appear in the findings, only a redacted prefix', (t) => {
  const ws = makeAuditWorkspace(tempDir(t));
  const text = JSON.stringify(auditWorkspace(scanWorkspace(ws).files));
  for (const secret of [FAKE.awsKeyId, FAKE.awsSecret, FAKE.anthropicKey]) {
    assert.ok(!text.includes(secret), `a secret leaked into the findings: ${secret.slice(0, 4)}...`);
  }
  assert.match(text, /AKIA… \(20 chars, redacted\)/);
});

test('a line marked audit:allow is not reported; the same call unmarked is', () => {
  const files = [
    { path: 'a.js', lang: 'js', text: "const f = new Function('return 1'); // audit:allow reviewed\n" },
    { path: 'b.js', lang: 'js', text: "const f = new Function('return 1');\n" }, // audit:allow test input
  ];
  assert.deepEqual(trail(auditWorkspace(files)), ['medium code.new-function b.js:1']);
});

test('a recursive delete of a guarded variable is accepted, of a bare one is not', () => {
  const files = [
    { path: 'ok.sh', lang: 'sh', text: 'rm -rf "${BUILD_DIR:?}"/*\n' },
    { path: 'bad.sh', lang: 'sh', text: 'rm -rf "${BUILD_DIR}"/*\nrm -fr /\n' }, // audit:allow test input
  ];
  assert.deepEqual(trail(auditWorkspace(files)), ['high shell.rm-rf bad.sh:1', 'high shell.rm-rf bad.sh:2']);
});

test('rules look only at the languages they are about', () => {
  const files = [
    { path: 'notes.md', lang: 'md', text: 'Never call eval(input) or strcpy(a, b).\n' }, // audit:allow test input
    { path: 'x.c', lang: 'c', text: 'int main(void) { return eval(1); }\n' }, // audit:allow test input
    { path: 'x.py', lang: 'py', text: 'yaml.load(f, Loader=yaml.SafeLoader)\n' },
  ];
  assert.deepEqual(auditWorkspace(files), []);
});

test('a package.json with a lockfile and pinned ranges is clean', () => {
  const pkg = JSON.stringify({ name: 'x', dependencies: { chalk: '^5.0.0' } });
  const files = [
    { path: 'package.json', lang: 'json', text: pkg },
    { path: 'package-lock.json', lang: 'json', text: '{}' },
  ];
  assert.deepEqual(auditWorkspace(files), []);
});

test('the remediation plan has one step per rule, in the findings order', (t) => {
  const findings = auditWorkspace(scanWorkspace(makeAuditWorkspace(tempDir(t))).files);
  const plan = remediationPlan(findings);
  assert.equal(plan.length, new Set(findings.map((f) => f.rule)).size);
  assert.equal(plan[0].rule, 'file.dotenv');
  assert.deepEqual(plan.find((p) => p.rule === 'code.os-system').where, ['native/copy.c:9', 'tools/convert.py:16']);
  const report = offlineReport(findings, { workspace: 'w', fileCount: 11, prompt: 'p', why: 'test' });
  assert.match(report[0], /^OFFLINE AUDIT: static rules only, no AI model consulted \(test\)$/);
  assert.ok(report.includes('Summary: 11 high, 6 medium, 0 low'));
});

test('the CLI runs the offline audit when there is no claude and no key, labelled as such', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const out = path.join(dir, 'out');
  // A PATH with no claude on it, and no ANTHROPIC_API_KEY: the automatic choice is offline.
  const env = cleanEnv({ PATH: path.join(dir, 'empty-bin') });
  const run = await runCli([ws, '--out', out, '--prompt', 'Find the secrets'], { env, cwd: CLI_DIR });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Audit backend: offline audit \(OFFLINE\) \(no claude binary on PATH and no ANTHROPIC_API_KEY\)/);
  assert.match(run.stdout, /OFFLINE AUDIT: static rules only, no AI model consulted/);
  assert.match(run.stdout, /Prompt: Find the secrets/);
  // The findings stream in the audit's order.
  const shown = [...run.stdout.matchAll(/\[(HIGH|MEDIUM|LOW)\] (\S+) (\S+)/g)].map((m) => `${m[1].toLowerCase()} ${m[2]} ${m[3]}`);
  assert.deepEqual(shown, EXPECTED);
  for (const secret of [FAKE.awsKeyId, FAKE.awsSecret, FAKE.anthropicKey]) assert.ok(!run.stdout.includes(secret));

  const saved = JSON.parse(readFileSync(path.join(out, 'audit', 'findings.json'), 'utf8'));
  assert.deepEqual(trail(saved), EXPECTED);
  const report = readFileSync(path.join(out, 'audit', 'report.md'), 'utf8');
  assert.match(report, /^# Audit report \(offline audit\)/);
  const prd = readFileSync(path.join(out, 'PRD.md'), 'utf8');
  assert.match(prd, /11 high, 6 medium, 0 low/);
  assert.match(prd, /\| high \| secret\.aws-access-key \| config\/aws\.ini:2 \|/);
  const ev = run.events.find((e) => e.stage === 'AI-SECURITY-AUDIT (Claude Code/SDK)' && e.state === 'running');
  assert.equal(ev.backend, 'offline');
});
