// The workflow: stages in order on the terminal and in logs, the real outputs of each stage,
// the same outputs on every run, and the exit statuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { collectApiDocs } from '../src/apidocs.js';
import { buildGlossary } from '../src/glossary.js';
import { scanWorkspace } from '../src/workspace.js';
import { AUDIT_STEPS, CLI, CLI_DIR, STAGES, cleanEnv, makeAuditWorkspace, runCli, tempDir } from './helpers.js';

const OUTPUTS = ['workspace.json', 'glossary.json', 'glossary.md', 'api.json', 'API.md', 'audit/branch.json',
  'audit/findings.json', 'audit/report.md', 'PRD.md', 'PRD.md.sha256'];

function assertInOrder(text, needles) {
  let at = -1;
  for (const n of needles) {
    const i = text.indexOf(n, at + 1);
    assert.ok(i > at, `"${n}" appears after what came before it`);
    at = i;
  }
}

test('the header and the stages come out in order, with each stage done (no TTY)', async (t) => {
  const dir = tempDir(t);
  const out = path.join(dir, 'out');
  const run = await runCli([makeAuditWorkspace(dir), '--out', out, '--backend', 'offline']);
  assert.equal(run.code, 0, run.stderr);
  assertInOrder(run.stdout, [
    'Root Workflow - Stage-wise demo',
    ...STAGES.slice(0, 3).map((s) => `✔ ${s}`),
    ...AUDIT_STEPS.map((s) => `✔ ${s}`),
    `✔ ${STAGES[3]}`,
    'Workflow complete',
  ]);
  assert.doesNotMatch(run.stdout, /\x1b\[/, 'no escape sequences in logs');
  for (const f of OUTPUTS) assert.ok(existsSync(path.join(out, f)), `${f} written`);
  const prd = readFileSync(path.join(out, 'PRD.md'));
  const digest = createHash('sha256').update(prd).digest('hex');
  assert.equal(readFileSync(path.join(out, 'PRD.md.sha256'), 'utf8'), `${digest}  PRD.md\n`);
  assert.deepEqual(readdirSync(path.join(out, 'published')), [`PRD-${digest.slice(0, 12)}.md`]);
});

test('two runs on the same workspace write the same outputs', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  assert.equal((await runCli([ws, '--out', a, '--backend', 'offline'])).code, 0);
  assert.equal((await runCli([ws, '--out', b, '--backend', 'offline'])).code, 0);
  for (const f of OUTPUTS) {
    assert.equal(readFileSync(path.join(a, f), 'utf8'), readFileSync(path.join(b, f), 'utf8'), `${f} differs`);
  }
});

test('the glossary and the API doc come from the workspace itself', (t) => {
  const files = scanWorkspace(makeAuditWorkspace(tempDir(t))).files;
  const glossary = buildGlossary(files);
  const byName = Object.fromEntries(glossary.map((e) => [e.name, e]));
  assert.deepEqual(byName.archiveDirectory.definedIn, ['src/server.js:9']);
  assert.equal(byName.archiveDirectory.kind, 'function');
  assert.equal(byName.archiveDirectory.uses, 1);
  assert.deepEqual(byName.buildReport.definedIn, ['src/report.js:4']);
  assert.equal(byName.buildReport.files, 2);
  assert.equal(byName.COPY_NAME_MAX.kind, 'macro');
  assert.deepEqual(byName.copy_name.definedIn, ['native/copy.c:6', 'native/copy.h:8']);
  assert.equal(byName.load_report.kind, 'function');
  assert.equal(byName.clean_build.kind, 'function');
  assert.equal(byName.DEFAULT_PORT.kind, 'constant');
  const names = glossary.map((e) => e.name);
  assert.deepEqual(names, [...names].sort((x, y) => x.toLowerCase().localeCompare(y.toLowerCase())));

  const docs = collectApiDocs(files);
  assert.deepEqual(docs.guides.map((g) => g.path), ['README.md']);
  assert.deepEqual(docs.guides[0].headings.map((h) => `${h.level} ${h.text}`),
    ['1 Report service', '2 Running', '2 Layout', '3 src', '3 native']);
  const server = docs.modules.find((m) => m.path === 'src/server.js');
  assert.match(server.summary, /^HTTP entry point of the report service/);
  assert.deepEqual(server.entries.map((e) => e.name), ['archiveDirectory', 'applyFilter']);
  assert.equal(server.entries[0].doc, 'Archives the directory named in the query string (shell injection on purpose).');
  const header = docs.modules.find((m) => m.path === 'native/copy.h');
  assert.equal(header.entries.find((e) => e.name === 'copy_name').doc, 'Copies `src` into `dst`, which must hold COPY_NAME_MAX bytes.');
  const py = docs.modules.find((m) => m.path === 'tools/convert.py');
  assert.equal(py.entries.find((e) => e.name === 'load_report').doc, 'Reads the report with the full (unsafe) YAML loader.');
});

test('with no workspace given, the demo works on its own sources', async (t) => {
  const dir = tempDir(t);
  const run = await runCli([], { cwd: dir });
  assert.equal(run.code, 0, run.stderr);
  const inventory = JSON.parse(readFileSync(path.join(dir, 'out', 'workspace.json'), 'utf8'));
  assert.equal(inventory.name, 'sample-cli');
  const paths = inventory.files.map((f) => f.path);
  assert.ok(paths.includes('sample-cli.js') && paths.includes('src/workflow.js'));
  assert.ok(!paths.some((p) => p.startsWith('node_modules/')), 'dependencies are not part of the workspace');
});

test('the output directory inside the workspace is left out of it', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const first = await runCli(['run', '--workspace', ws, '--backend', 'offline'], { cwd: ws });
  assert.equal(first.code, 0, first.stderr);
  const again = await runCli(['run', '--workspace', ws, '--backend', 'offline'], { cwd: ws });
  assert.equal(again.code, 0, again.stderr);
  const inventory = JSON.parse(readFileSync(path.join(ws, 'out', 'workspace.json'), 'utf8'));
  assert.ok(!inventory.files.some((f) => f.path.startsWith('out/')));
});

test('--upload-url PUTs the PRD; an error answer fails the step', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const received = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, sha: req.headers['x-content-sha256'], body });
      res.statusCode = req.url === '/reject' ? 403 : 201;
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${server.address().port}`;

  const ok = await runCli([ws, '--out', path.join(dir, 'a'), '--backend', 'offline', '--upload-url', `${base}/prd`]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(received[0].method, 'PUT');
  assert.equal(received[0].url, '/prd');
  assert.equal(received[0].body, readFileSync(path.join(dir, 'a', 'PRD.md'), 'utf8'));
  assert.equal(received[0].sha, createHash('sha256').update(received[0].body).digest('hex'));
  assert.match(ok.stdout, /uploaded to http:\/\/127\.0\.0\.1:\d+\/prd \(HTTP 201/);

  const bad = await runCli([ws, '--out', path.join(dir, 'b'), '--backend', 'offline', '--upload-url', `${base}/reject`]);
  assert.equal(bad.code, 1);
  const failed = bad.events.filter((e) => e.state === 'failed').map((e) => [e.stage, e.reason]);
  assert.deepEqual(failed, [
    ['Uploading PRD', `upload to ${base} answered 403 Forbidden`],
    [STAGES[3], `Uploading PRD: upload to ${base} answered 403 Forbidden`],
  ]);
});

test('usage errors exit with status 2 and say why', async (t) => {
  const dir = tempDir(t);
  const missing = await runCli([path.join(dir, 'nope')], { events: false });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /is not a directory/);
  const badBackend = await runCli(['--backend', 'magic'], { events: false });
  assert.equal(badBackend.code, 2);
  assert.match(badBackend.stderr, /unknown backend magic/);
  const noClaude = await runCli(['--backend', 'claude', '--out', path.join(dir, 'o')], {
    events: false, env: cleanEnv({ PATH: path.join(dir, 'empty-bin') }),
  });
  assert.equal(noClaude.code, 2);
  assert.match(noClaude.stdout, /no claude binary on PATH/);
  const help = await runCli(['--help'], { events: false });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: node sample-cli.js \[run\]/);
});

test('under a pseudo-terminal (even one never sized) it renders live and finishes', { timeout: 60000 }, (t) => {
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
  assert.equal(probe.status, 0, 'script(1) from util-linux is needed to run the CLI under a pty');
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  mkdirSync(path.join(dir, 'home'));
  const cmd = (size) => `${size}exec "${process.execPath}" "${CLI}" "${ws}" --out "${path.join(dir, 'out')}" --backend offline --pace 20`;
  for (const size of ['stty cols 100 rows 30; ', '']) {
    const log = path.join(dir, 'typescript');
    writeFileSync(log, '');
    const r = spawnSync('script', ['-qec', cmd(size), log], {
      env: cleanEnv({ TERM: 'xterm-256color' }), encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(r.status, 0, `exit status under a pty (${size || 'unsized'}): ${r.error ?? r.stderr}`);
    const screen = readFileSync(log, 'utf8');
    assert.ok(screen.length < 2_000_000, 'the renderer does not spin');
    assert.match(screen, /\x1b\[/, 'the live renderer draws with escape sequences');
    for (const s of [...STAGES, ...AUDIT_STEPS]) assert.ok(screen.includes(s), `${s} drawn`);
    assert.match(screen, /Workflow complete/);
  }
});
