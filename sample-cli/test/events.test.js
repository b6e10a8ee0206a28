// Stage events on RUNWIRE_EVENTS_FD: valid JSON lines with the fields docs/events.md names, one
// per change of state, in order; and a bad descriptor costs one warning, never the run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { EVENT_MAX_LINE, openEventSink } from '../src/events.js';
import { AUDIT_STEPS, CLI, CLI_DIR, STAGES, cleanEnv, eventTrail, makeAuditWorkspace, runCli, tempDir } from './helpers.js';

const STATES = new Set(['running', 'done', 'failed', 'skipped']);

function assertValidLines(text) {
  assert.ok(text.endsWith('\n'), 'the last event ends its line');
  for (const line of text.slice(0, -1).split('\n')) {
    assert.ok(Buffer.byteLength(line) < 16 * 1024, 'an event line stays under 16 KiB');
    const e = JSON.parse(line);
    assert.equal(typeof e, 'object');
    assert.ok(e !== null && !Array.isArray(e), 'each line is a JSON object');
    assert.equal(typeof e.stage, 'string');
    assert.ok(STATES.has(e.state), `known state: ${e.state}`);
    if (e.state === 'failed') assert.equal(typeof e.reason, 'string');
    if (e.reason !== undefined) assert.ok(!e.reason.includes('\n'), 'a reason is one line');
  }
}

test('a successful run reports every stage and step, running then done, in order', async (t) => {
  const dir = tempDir(t);
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out'), '--backend', 'offline']);
  assert.equal(run.code, 0, run.stderr);
  assertValidLines(run.eventsText);
  const expected = [
    ...STAGES.slice(0, 3).flatMap((s) => [`${s} running`, `${s} done`]),
    `${STAGES[3]} running`,
    ...AUDIT_STEPS.flatMap((s) => [`${s} running`, `${s} done`]),
    `${STAGES[3]} done`,
  ];
  assert.deepEqual(eventTrail(run.events), expected);
  for (const e of run.events) {
    if (AUDIT_STEPS.includes(e.stage)) assert.equal(e.parent, STAGES[3]);
    else assert.equal(e.parent, undefined);
    if (e.state === 'done' && e.stage !== STAGES[3]) assert.equal(typeof e.message, 'string');
  }
  assert.match(run.events.find((e) => e.stage === 'Prepare Workspace' && e.state === 'done').message, /^11 files/);
  assert.equal(run.stderr, '');
});

test('a failing stage reports failed with a reason and the rest as skipped; exit status 1', async (t) => {
  const dir = tempDir(t);
  const empty = path.join(dir, 'empty');
  (await import('node:fs')).mkdirSync(empty);
  const run = await runCli([empty, '--out', path.join(dir, 'out'), '--backend', 'offline']);
  assert.equal(run.code, 1);
  assertValidLines(run.eventsText);
  assert.deepEqual(eventTrail(run.events), [
    'Prepare Workspace running',
    'Prepare Workspace failed',
    ...STAGES.slice(1, 3).map((s) => `${s} skipped`),
    `${STAGES[3]} skipped`,
    ...AUDIT_STEPS.map((s) => `${s} skipped`),
  ]);
  assert.match(run.events[1].reason, /has no files/);
  assert.match(run.stdout, /Workflow failed at Prepare Workspace/);
});

test('a descriptor that is not open costs one warning and the run goes on', async (t) => {
  const dir = tempDir(t);
  const env = cleanEnv({ RUNWIRE_EVENTS_FD: '97' });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out'), '--backend', 'offline'], { env, events: false });
  assert.equal(run.code, 0);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /sample-cli: stage events disabled: fd 97: EBADF/);
});

test('a value that is not a number costs one warning and the run goes on', async (t) => {
  const dir = tempDir(t);
  const env = cleanEnv({ RUNWIRE_EVENTS_FD: 'three' });
  const run = await runCli([makeAuditWorkspace(dir), '--out', path.join(dir, 'out'), '--backend', 'offline'], { env, events: false });
  assert.equal(run.code, 0);
  assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /not a file descriptor number/);
});

test('a reader that goes away (EPIPE) costs one warning and the run goes on', async (t) => {
  const dir = tempDir(t);
  const ws = makeAuditWorkspace(dir);
  const child = spawn(process.execPath, [CLI, ws, '--out', path.join(dir, 'out'), '--backend', 'offline'], {
    cwd: CLI_DIR, env: cleanEnv({ RUNWIRE_EVENTS_FD: '3' }), stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  child.stdio[3].destroy();
  let stderr = '';
  child.stdout.resume();
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /stage events disabled: fd 3: EPIPE/);
});

test('the sink writes one line per event, keeps reasons to one line and lines under the cap', (t) => {
  const file = path.join(tempDir(t), 'events');
  const fd = openSync(file, 'w');
  const warnings = [];
  const sink = openEventSink({ RUNWIRE_EVENTS_FD: String(fd) }, (m) => warnings.push(m));
  assert.equal(sink.enabled, true);
  sink.emit('build', 'running');
  sink.emit('build', 'failed', { reason: 'two\nlines', detail: 'x'.repeat(40000), done: 3, total: 4 });
  sink.emit('huge', 'done', { list: Array.from({ length: 5000 }, (_, i) => `item-${i}`) });
  closeSync(fd);
  const text = readFileSync(file, 'utf8');
  assertValidLines(text);
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { stage: 'build', state: 'running' });
  assert.equal(lines[1].reason, 'two lines');
  assert.equal(lines[1].done, 3);
  assert.ok(lines[1].detail.length <= 1024);
  assert.deepEqual(lines[2], { stage: 'huge', state: 'done' });
  assert.ok(EVENT_MAX_LINE === 16 * 1024);
  assert.deepEqual(warnings, []);
  assert.throws(() => sink.emit('build', 'finished'), /unknown stage state/);
});

test('without RUNWIRE_EVENTS_FD the sink is off and silent', () => {
  const warnings = [];
  const sink = openEventSink({}, (m) => warnings.push(m));
  assert.equal(sink.enabled, false);
  sink.emit('x', 'done');
  assert.deepEqual(warnings, []);
});
