// The audit's AI backends: a fake `claude` on the PATH (plan mode, prompt, live output, errors)
// and a loopback server that speaks the Anthropic Messages streaming API (SSE).
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODEL, redactSecrets } from '../src/claude.js';
import { FAKE, cleanEnv, makeAuditWorkspace, runCli, tempDir } from './helpers.js';

// A stand-in for Claude Code: records how it was called, prints one line, and prints the second
// only once the test has seen the first on the CLI's stdout (so buffered output would hang it).
const FAKE_CLAUDE = `#!${process.execPath}
const fs = require('node:fs');
let fd3 = 'closed';
try { fd3 = fs.fstatSync(3).isFIFO() ? 'pipe' : 'other'; } catch {}
fs.writeFileSync(process.env.FAKE_CLAUDE_LOG, JSON.stringify({
  argv: process.argv.slice(2), cwd: process.cwd(), fd3, eventsVar: process.env.RUNWIRE_EVENTS_FD ?? null,
}));
// with FAKE_CLAUDE_JSON, the answer comes as Claude Code's stream-json events (text_delta)
const say = (text) => process.stdout.write(process.env.FAKE_CLAUDE_JSON
  ? JSON.stringify({ type: 'stream_event', event: { type: 'content_block_delta', index: 0,
    delta: { type: 'text_delta', text } } }) + '\\n' + '{"type":"system","subtype":"status"}\\n'
  : text);
say('PLAN-LINE-1 reading the workspace\\n');
const deadline = Date.now() + 15000;
(function wait() {
  if (fs.existsSync(process.env.FAKE_CLAUDE_GO)) {
    say('PLAN-LINE-2 rotate the AWS key, drop eval\\n');
    const status = Number(process.env.FAKE_CLAUDE_EXIT || 0);
    if (status) process.stderr.write('fake claude: usage limit reached\\n');
    process.exit(status);
  } else if (Date.now() > deadline) {
    process.stdout.write('NOT-STREAMED\\n');
    process.exit(9);
  } else {
    setTimeout(wait, 20);
  }
})();
`;

const STREAM_JSON = ['--output-format', 'stream-json', '--verbose', '--include-partial-messages'];

function fakeClaude(dir) {
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'claude'), FAKE_CLAUDE);
  chmodSync(path.join(bin, 'claude'), 0o755);
  return {
    bin,
    log: path.join(dir, 'claude-call.json'),
    go: path.join(dir, 'claude-go'),
  };
}

test('claude on the PATH runs in plan mode with the prompt, its output streamed live', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const fake = fakeClaude(dir);
  const prompt = 'Audit "this" workspace; list $SECRETS & risky calls';
  const env = cleanEnv({
    PATH: fake.bin, FAKE_CLAUDE_LOG: fake.log, FAKE_CLAUDE_GO: fake.go, FAKE_CLAUDE_JSON: '1',
    CLAUDE_PROMPT: prompt,
    // With both available, the automatic choice is Claude Code.
    ANTHROPIC_API_KEY: 'test-key-not-real',
  });
  const run = await runCli([ws, '--out', path.join(dir, 'out')], {
    env,
    onStdout: (all) => {
      if (all.includes('PLAN-LINE-1')) writeFileSync(fake.go, '');
    },
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const call = JSON.parse(readFileSync(fake.log, 'utf8'));
  assert.deepEqual(call.argv, ['--permission-mode', 'plan', '-p', prompt, ...STREAM_JSON]);
  assert.ok(!run.stdout.includes('text_delta'), 'the events are read, not shown');
  assert.equal(call.cwd, ws);
  // The events pipe (fd 3 here) and its name stay with the CLI.
  assert.equal(call.eventsVar, null);
  assert.notEqual(call.fd3, 'pipe');
  assert.match(run.stdout, /Audit backend: Claude Code CLI/);
  const first = run.stdout.indexOf('PLAN-LINE-1');
  assert.ok(first >= 0 && run.stdout.indexOf('PLAN-LINE-2') > first);
  assert.ok(!run.stdout.includes('NOT-STREAMED'));
  const report = readFileSync(path.join(dir, 'out', 'audit', 'report.md'), 'utf8');
  assert.match(report, /^# Audit report \(Claude Code CLI\)\n\nPLAN-LINE-1 reading the workspace\nPLAN-LINE-2/);
  assert.match(readFileSync(path.join(dir, 'out', 'PRD.md'), 'utf8'), /## Review \(Claude Code CLI\)/);
  assert.equal(run.events.find((e) => e.stage === 'AI-SECURITY-AUDIT (Claude Code/SDK)').backend, 'claude');
});

test('claude on the PATH but no key: the offline audit, labelled with why', async (t) => {
  const dir = tempDir(t);
  const fake = fakeClaude(dir);
  writeFileSync(fake.go, '');
  const env = cleanEnv({ PATH: `${fake.bin}:${process.env.PATH}`, FAKE_CLAUDE_LOG: fake.log, FAKE_CLAUDE_GO: fake.go });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out')], { env });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /offline audit/);
  assert.match(run.stdout, /no ANTHROPIC_API_KEY configured for Claude Code/);
  assert.ok(!existsSync(fake.log), 'claude was not run');
});

test('CLAUDE_BIN names the binary when it is not on the PATH', async (t) => {
  const dir = tempDir(t);
  const fake = fakeClaude(dir);
  writeFileSync(fake.go, '');
  const env = cleanEnv({ CLAUDE_BIN: path.join(fake.bin, 'claude'), FAKE_CLAUDE_LOG: fake.log,
    FAKE_CLAUDE_GO: fake.go, ANTHROPIC_API_KEY: 'k' });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out')], { env });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /Audit backend: Claude Code CLI/);
  assert.ok(existsSync(fake.log), 'claude ran');
});

test('--prompt wins over CLAUDE_PROMPT', async (t) => {
  const dir = tempDir(t);
  const fake = fakeClaude(dir);
  writeFileSync(fake.go, '');
  const env = cleanEnv({ PATH: fake.bin, FAKE_CLAUDE_LOG: fake.log, FAKE_CLAUDE_GO: fake.go, CLAUDE_PROMPT: 'from env', ANTHROPIC_API_KEY: 'k' });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out'), '--prompt', 'from flag'], { env });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(readFileSync(fake.log, 'utf8')).argv, ['--permission-mode', 'plan', '-p', 'from flag', ...STREAM_JSON]);
});

test('claude exiting non-zero fails the audit with its last error line', async (t) => {
  const dir = tempDir(t);
  const fake = fakeClaude(dir);
  writeFileSync(fake.go, '');
  const env = cleanEnv({ PATH: fake.bin, FAKE_CLAUDE_LOG: fake.log, FAKE_CLAUDE_GO: fake.go, FAKE_CLAUDE_EXIT: '3', ANTHROPIC_API_KEY: 'k' });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out')], { env });
  assert.equal(run.code, 1);
  const failed = run.events.find((e) => e.stage === 'Implementing code' && e.state === 'failed');
  assert.equal(failed.reason, 'claude exited with status 3: fake claude: usage limit reached');
  for (const s of ['Running tests', 'Assembling PRD', 'Uploading PRD']) {
    assert.ok(run.events.some((e) => e.stage === s && e.state === 'skipped'), `${s} skipped`);
  }
});

test('claude that outlives --timeout is stopped and the audit fails', async (t) => {
  const dir = tempDir(t);
  const fake = fakeClaude(dir);
  const env = cleanEnv({ PATH: fake.bin, FAKE_CLAUDE_LOG: fake.log, FAKE_CLAUDE_GO: fake.go, ANTHROPIC_API_KEY: 'k' });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out'), '--timeout', '1'], { env });
  assert.equal(run.code, 1);
  const failed = run.events.find((e) => e.stage === 'Implementing code' && e.state === 'failed');
  assert.equal(failed.reason, 'claude did not finish within 1 s');
});

test('SIGTERM mid-audit stops claude and reports the cut-short stages', async (t) => {
  const dir = tempDir(t);
  const fake = fakeClaude(dir);
  const env = cleanEnv({ PATH: fake.bin, FAKE_CLAUDE_LOG: fake.log, FAKE_CLAUDE_GO: fake.go, ANTHROPIC_API_KEY: 'k' });
  let child;
  const run = runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out')], {
    env,
    onStdout: (all, _chunk, proc) => {
      if (all.includes('PLAN-LINE-1') && !child) {
        child = proc;
        proc.kill('SIGTERM');
      }
    },
  });
  const result = await run;
  assert.equal(result.code, 143);
  assert.deepEqual(result.events.slice(-5).map((e) => `${e.stage} ${e.state}`), [
    'Implementing code failed',
    'AI-SECURITY-AUDIT (Claude Code/SDK) failed',
    'Running tests skipped',
    'Assembling PRD skipped',
    'Uploading PRD skipped',
  ]);
  const failed = result.events.find((e) => e.stage === 'Implementing code' && e.state === 'failed');
  assert.equal(failed.reason, 'terminated by SIGTERM');
  // The fake claude was stopped with the CLI, long before its own 15 s deadline.
  assert.ok(!result.stdout.includes('NOT-STREAMED'));
});

// A loopback stand-in for the Messages API. `gate` holds the rest of the answer back until the
// test has seen the first delta on the CLI's stdout.
async function fakeMessagesApi(t, { status = 200 } = {}) {
  const requests = [];
  let openGate;
  const gate = new Promise((r) => { openGate = r; });
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body || '{}') });
      if (status !== 200) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
        return;
      }
      const model = requests.at(-1).body.model;
      const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      send('message_start', { message: { id: 'msg_test', type: 'message', role: 'assistant', model, content: [],
        stop_reason: null, stop_sequence: null, usage: { input_tokens: 42, output_tokens: 1 } } });
      send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      send('ping', {});
      send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'REVIEW-1 three secrets ' } });
      send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'are committed\n' } });
      let timer;
      await Promise.race([gate, new Promise((r) => { timer = setTimeout(r, 15000); })]);
      clearTimeout(timer);
      send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'REVIEW-2 plan: rotate them\n' } });
      send('content_block_stop', { index: 0 });
      send('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 17 } });
      send('message_stop', {});
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${server.address().port}`, requests, openGate };
}

test('with ANTHROPIC_API_KEY the SDK streams from ANTHROPIC_BASE_URL with the chosen model', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const api = await fakeMessagesApi(t);
  const env = cleanEnv({
    PATH: path.join(dir, 'empty-bin'), HOME: dir,
    ANTHROPIC_API_KEY: 'test-key-not-real', ANTHROPIC_BASE_URL: api.url, CLAUDE_MODEL: 'claude-test-model',
  });
  const run = await runCli([ws, '--out', path.join(dir, 'out'), '--prompt', 'Review the secrets'], {
    env,
    onStdout: (all) => {
      if (all.includes('REVIEW-1 three secrets are committed')) api.openGate();
    },
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.equal(api.requests.length, 1);
  const [req] = api.requests;
  assert.equal(req.method, 'POST');
  assert.equal(req.url, '/v1/messages');
  // The key travels as x-api-key or as a bearer token, as the SDK's version chooses.
  const key = req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
  assert.equal(key, 'test-key-not-real');
  assert.ok(req.headers['anthropic-version']);
  assert.equal(req.body.model, 'claude-test-model');
  assert.equal(req.body.stream, true);
  assert.equal(req.body.max_tokens, 2048);
  const content = req.body.messages[0].content;
  assert.ok(content.startsWith('Review the secrets\n'));
  assert.match(content, /secret\.aws-access-key config\/aws\.ini:2/, 'the static findings go with the prompt');
  assert.match(content, /\[REDACTED\]/);
  for (const secret of [FAKE.awsKeyId, FAKE.awsSecret, FAKE.anthropicKey]) {
    assert.ok(!content.includes(secret), 'no secret is sent to the API');
  }
  assert.match(run.stdout, /Audit backend: Anthropic SDK \(Messages API at http:\/\/127\.0\.0\.1:\d+\)/);
  assert.ok(run.stdout.indexOf('REVIEW-2 plan: rotate them') > run.stdout.indexOf('REVIEW-1 three secrets are committed'));
  const report = readFileSync(path.join(dir, 'out', 'audit', 'report.md'), 'utf8');
  assert.equal(report, '# Audit report (Anthropic SDK)\n\nREVIEW-1 three secrets are committed\nREVIEW-2 plan: rotate them\n');
});

test('--model wins over CLAUDE_MODEL; with neither the default model is asked for', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const api = await fakeMessagesApi(t);
  api.openGate();
  const env = cleanEnv({ PATH: path.join(dir, 'empty-bin'), HOME: dir, ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: api.url });
  const a = await runCli([ws, '--out', path.join(dir, 'a'), '--model', 'flag-model', '--max-tokens', '300'],
    { env: { ...env, CLAUDE_MODEL: 'env-model' } });
  assert.equal(a.code, 0, a.stderr);
  const b = await runCli([ws, '--out', path.join(dir, 'b'), '--backend', 'sdk'], { env });
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(api.requests.map((r) => [r.body.model, r.body.max_tokens]), [['flag-model', 300], [DEFAULT_MODEL, 2048]]);
});

test('an API error fails the audit with the status in the reason', async (t) => {
  const dir = tempDir(t);
  const api = await fakeMessagesApi(t, { status: 401 });
  const env = cleanEnv({ PATH: path.join(dir, 'empty-bin'), HOME: dir, ANTHROPIC_API_KEY: 'bad', ANTHROPIC_BASE_URL: api.url });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out')], { env });
  assert.equal(run.code, 1);
  const failed = run.events.find((e) => e.stage === 'Implementing code' && e.state === 'failed');
  assert.equal(failed.reason, '401 authentication_error: invalid x-api-key');
  assert.match(run.stdout, /Workflow failed at Implementing code/);
  assert.equal(api.requests.length, 1, 'an authentication error is not retried');
});

test('--backend sdk without a key is a usage error', async (t) => {
  const dir = tempDir(t);
  const run = await runCli(['--backend', 'sdk', '--out', path.join(dir, 'out')], { events: false, env: cleanEnv({ HOME: dir }) });
  assert.equal(run.code, 2);
  assert.match(run.stdout, /ANTHROPIC_API_KEY is not set/);
});

test('secrets are redacted from what would leave the machine', () => {
  const text = `key=${FAKE.awsKeyId}\n${FAKE.privateKeyBegin}\ntoken ${FAKE.anthropicKey} end`;
  assert.equal(redactSecrets(text), 'key=[REDACTED]\n[REDACTED]\ntoken [REDACTED] end');
});
