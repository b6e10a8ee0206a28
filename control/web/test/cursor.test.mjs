// OutputCursor: what is rendered after duplicates, overlaps, resyncs, and which bytes are
// replay (never answered by the terminal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputCursor } from '../src/cursor.js';

const b = (s) => new TextEncoder().encode(s);
const s = (parts) => parts.map((p) => `${p.replay ? 'R' : 'L'}:${new TextDecoder().decode(p.data)}`);

test('replay below the HELLO end, live after it, split inside one frame', () => {
  const c = new OutputCursor();
  c.attach({ bytes: 6 });
  assert.ok(c.catchingUp);
  assert.deepEqual(s(c.take(0, b('abcd'))), ['R:abcd']);
  assert.deepEqual(s(c.take(4, b('efgh'))), ['R:ef', 'L:gh']);
  assert.ok(!c.catchingUp);
  assert.equal(c.next, 8);
});

test('after a reconnect, bytes already taken are cut, new ones kept, nothing twice', () => {
  const c = new OutputCursor();
  c.attach({ bytes: 0 });
  c.take(0, b('hello '));
  // control replays from 0 (or from since=6): either way the page shows each byte once
  c.attach({ bytes: 11 });
  assert.deepEqual(s(c.take(0, b('hello wor'))), ['R:wor']);
  assert.deepEqual(s(c.take(9, b('ld'))), ['R:ld']);
  assert.deepEqual(s(c.take(11, b('!'))), ['L:!']);
  assert.equal(c.duplicates, 6);
  assert.equal(c.gaps, 0);
  assert.ok(c.complete);
});

test('a resync moves on past skipped bytes and the output is no longer provably complete', () => {
  const c = new OutputCursor();
  c.attach({ bytes: 100 });
  c.resync({ type: 'resync', skipped: 60, offset: 60 });
  assert.equal(c.next, 60);
  assert.deepEqual(s(c.take(60, b('x'))), ['R:x']);
  assert.equal(c.skipped, 60);
  assert.ok(!c.complete);
});

test('a gap without a resync is counted', () => {
  const c = new OutputCursor();
  c.take(5, b('z'));
  assert.equal(c.gaps, 5);
  assert.ok(!c.complete);
});
