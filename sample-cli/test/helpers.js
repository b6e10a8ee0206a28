// Shared by the sample-cli tests: a fixture workspace with its fake secrets, and a way to run
// the CLI with an events pipe on fd 3.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(CLI_DIR, 'sample-cli.js');
export const FIXTURE = path.join(CLI_DIR, 'test', 'fixtures', 'audit-workspace');

export const STAGES = ['Prepare Workspace', 'Generate Glossaries', 'Consolidate API Docs', 'AI-SECURITY-AUDIT (Claude Code/SDK)'];
export const AUDIT_STEPS = ['Preparing branch', 'Implementing code', 'Running tests', 'Assembling PRD', 'Uploading PRD'];

// The fake secrets are obviously fake (AWS's documented example key, FAKE markers) and are put
// together only here, at run time, so that no secret scanner finds them in the repository.
export const FAKE = {
  awsKeyId: ['AKIA', 'IOSFODNN7EXAMPLE'].join(''),
  awsSecret: ['wJalrXUtnFEMI/K7MDENG/', 'bPxRfiCYEXAMPLEKEY'].join(''),
  anthropicKey: ['sk-', 'ant-', 'api03-', 'FAKE0FAKE0FAKE0FAKE0FAKE0-NOTAREALKEY'].join(''),
  privateKeyBegin: ['-----BEGIN ', 'RSA PRIVATE KEY-----'].join(''),
};

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t, prefix = 'sample-cli-test-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Copies the fixture workspace into `dir` and adds the fake secrets; returns its path. */
export function makeAuditWorkspace(dir) {
  const ws = path.join(dir, 'workspace');
  cpSync(FIXTURE, ws, { recursive: true });
  mkdirSync(path.join(ws, 'config'));
  mkdirSync(path.join(ws, 'keys'));
  writeFileSync(path.join(ws, 'config', 'aws.ini'),
    `[default]\naws_access_key_id = ${FAKE.awsKeyId}\naws_secret_access_key = ${FAKE.awsSecret}\n`);
  writeFileSync(path.join(ws, '.env'), `PORT=8080\nANTHROPIC_API_KEY=${FAKE.anthropicKey}\n`);
  writeFileSync(path.join(ws, 'keys', 'deploy.pem'),
    `${FAKE.privateKeyBegin}\nFAKE-KEY-MATERIAL-FOR-TESTS-ONLY\n${FAKE.privateKeyBegin.replace('BEGIN', 'END')}\n`);
  return ws;
}

/** The environment of a test run: this one without anything that would steer the CLI. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(ANTHROPIC_|CLAUDE_|SAMPLE_CLI_|RUNWIRE_|FORCE_COLOR|NO_COLOR|CI$)/.test(k)) delete env[k];
  }
  return { ...env, ...extra };
}

/**
 * Runs the CLI with `args`; fd 3 is a pipe named in RUNWIRE_EVENTS_FD unless `events` is false.
 * Resolves with { code, stdout, stderr, eventsText, events (parsed lines) }. `onStdout` sees
 * stdout as it arrives (all so far, the new chunk, the child process).
 */
export function runCli(args, { env = cleanEnv(), cwd = CLI_DIR, events = true, onStdout, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: events ? { ...env, RUNWIRE_EVENTS_FD: '3' } : env,
      stdio: events ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let eventsText = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      onStdout?.(stdout, d, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    if (events) child.stdio[3].setEncoding('utf8').on('data', (d) => { eventsText += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = eventsText.split('\n').filter((l) => l !== '');
      resolve({ code, stdout, stderr, eventsText, events: lines.map((l) => JSON.parse(l)) });
    });
  });
}

/** Asserts-friendly view of events: "stage state" strings. */
export function eventTrail(events) {
  return events.map((e) => `${e.stage} ${e.state}`);
}
