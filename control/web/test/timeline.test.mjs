// The stage timeline model: order, states, durations (live, replayed, with "ts"),
// progress, failure reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Timeline, formatDuration, formatProgress } from '../src/timeline.js';

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
  tl.apply({ type: 'state', state: 'cancelled' });
  assert.equal(tl.stages[0].state, 'failed');
  assert.equal(tl.stages[0].reason, 'session cancelled');
  assert.equal(tl.apply({ type: 'stage' }), false, 'an event without a stage name is ignored');
});
