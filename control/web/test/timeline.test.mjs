// The stage timeline model: order, states, durations (live, replayed, with "ts"),
// progress, failure reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timeline, formatDuration, formatProgress, timelineAt, TIMELINE_MAX_DEPTH } from '../src/timeline.js';

function clock(start = 1000) {
  let t = start;
  const now = () => t;
  now.advance = (ms) => { t += ms; };
  return now;
}

test('stages in order of first appearance, with live durations', () => {
  const now = clock();
  const tl = new Timeline(now);
  tl.apply({ type: 'stage', stage: 'fetch', state: 'running', source: 'agent' });
  now.advance(250);
  tl.apply({ type: 'stage', stage: 'fetch', state: 'done', source: 'agent' });
  tl.apply({ type: 'stage', stage: 'unpack', state: 'running', source: 'agent' });
  now.advance(100);
  assert.deepEqual(tl.stages.map((x) => [x.name, x.state]), [['fetch', 'done'], ['unpack', 'running']]);
  assert.equal(tl.duration(tl.stages[0]), 250);
  assert.equal(tl.duration(tl.stages[1]), 100, 'running: time so far');
  assert.ok(tl.running);
});

test('replayed events without ts have no duration; with ts they do', () => {
  const tl = new Timeline(clock());
  tl.apply({ type: 'stage', stage: 'a', state: 'running' }, true);
  tl.apply({ type: 'stage', stage: 'a', state: 'done' }, true);
  assert.equal(tl.duration(tl.stages[0]), null);
  tl.apply({ type: 'stage', stage: 'b', state: 'running', ts: 5000 }, true);
  tl.apply({ type: 'stage', stage: 'b', state: 'done', ts: 6500 }, true);
  assert.equal(tl.duration(tl.stages[1]), 1500);
  assert.equal(formatDuration(1500), '1.5 s');
});

test('progress, failure reason, and a session that ends under a running stage', () => {
  const tl = new Timeline(clock());
  tl.apply({ type: 'stage', stage: 'fetch', state: 'running', done: 1 << 20, total: 4 << 20 });
  assert.equal(tl.progress(tl.stages[0]), 0.25);
  assert.equal(formatProgress(tl.stages[0]), '1.0 MiB of 4.0 MiB');
  tl.apply({ type: 'stage', stage: 'verify', state: 'failed', reason: 'sha256 mismatch' });
  assert.equal(tl.stages[1].reason, 'sha256 mismatch');
  tl.apply({ type: 'state', state: 'failed' });
  assert.equal(tl.stages[0].state, 'failed');
  assert.equal(tl.stages[0].reason, 'session failed');
  assert.equal(tl.apply({ type: 'stage' }), false, 'an event without a stage name is ignored');
});

test('a cancelled session: the running stage shows as cancelled, with the reason', () => {
  const tl = new Timeline(clock());
  tl.apply({ type: 'stage', stage: 'audit', state: 'running' });
  tl.apply({ type: 'stage', stage: 'later', state: 'skipped' });
  tl.apply({ type: 'state', state: 'cancelled', reason: 'cancelled by the owner' });
  assert.equal(tl.stages[0].state, 'cancelled');
  assert.equal(tl.stages[0].reason, 'cancelled by the owner');
  assert.equal(tl.stages[1].state, 'skipped', 'a stage already over keeps its state');
  assert.deepEqual(tl.session, { state: 'cancelled', reason: 'cancelled by the owner' });
  assert.equal(tl.running, false);
});

test("a cancelled session: the agent's run stage, failed of the SIGHUP, is the cancel", () => {
  const tl = new Timeline(clock());
  tl.apply({ type: 'stage', stage: 'run', source: 'agent', state: 'running' });
  tl.apply({ type: 'stage', stage: 'check', state: 'failed', reason: 'real failure' });
  tl.apply({ type: 'stage', stage: 'run', source: 'agent', state: 'failed', reason: 'killed by signal 1' });
  tl.apply({ type: 'state', state: 'cancelled', reason: 'cancelled by the owner' });
  assert.equal(tl.stages[0].state, 'cancelled');
  assert.equal(tl.stages[0].reason, 'cancelled by the owner');
  assert.equal(tl.stages[0].message, 'killed by signal 1');
  assert.equal(tl.stages[1].state, 'failed', "a CLI's own failure stays one");
});

test('nested stages: each under its parent, siblings in order, depth capped, cycles shown', () => {
  const tl = new Timeline(clock());
  const stage = (name, parent) => tl.apply({ type: 'stage', stage: name, state: 'running', ...(parent ? { parent } : {}) });
  stage('Prepare');
  stage('AUDIT');
  stage('scan', 'AUDIT');
  stage('Report');
  stage('ask', 'AUDIT');
  stage('sub', 'scan');
  stage('orphan', 'nobody');         // its parent never appeared: top level
  stage('self', 'self');              // its own parent: ignored
  assert.deepEqual(tl.ordered().map((x) => [x.stage.name, x.depth]), [
    ['Prepare', 0], ['AUDIT', 0], ['scan', 1], ['sub', 2], ['ask', 1], ['Report', 0], ['orphan', 0], ['self', 0],
  ]);
  const deep = new Timeline(clock());
  for (let i = 0; i < 10; i++) deep.apply({ type: 'stage', stage: `s${i}`, state: 'done', ...(i ? { parent: `s${i - 1}` } : {}) });
  assert.equal(Math.max(...deep.ordered().map((x) => x.depth)), TIMELINE_MAX_DEPTH);
  const cyc = new Timeline(clock());
  cyc.apply({ type: 'stage', stage: 'a', state: 'done', parent: 'b' });
  cyc.apply({ type: 'stage', stage: 'b', state: 'done', parent: 'a' });
  assert.deepEqual(cyc.ordered().map((x) => x.stage.name), ['a', 'b'], 'a cycle is still shown');
});

test('timelineAt: the timeline as it stood at a moment (replay follows the recording)', () => {
  const events = [
    { type: 'stage', stage: 'fetch', state: 'running', ts: 1000 },
    { type: 'stage', stage: 'fetch', state: 'done', ts: 1500 },
    { type: 'stage', stage: 'build', state: 'running', ts: 1600 },
    { type: 'stage', stage: 'build', state: 'done', ts: 3000 },
  ];
  const at = (t) => timelineAt(events, t).stages.map((s) => [s.name, s.state]);
  assert.deepEqual(at(900), []);
  assert.deepEqual(at(1200), [['fetch', 'running']]);
  assert.deepEqual(at(2000), [['fetch', 'done'], ['build', 'running']]);
  assert.equal(timelineAt(events, 2000).duration(timelineAt(events, 2000).stages[1]), 400, 'running: up to that moment');
  assert.deepEqual(at(5000), [['fetch', 'done'], ['build', 'done']]);
});
