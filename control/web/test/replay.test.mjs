// asciicast v2 parsing (idle gaps shortened) and the player (play, pause, speed) on a fake
// clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCast, Player, allOutput, IDLE_LIMIT_S, replayPosition, sessionTime } from '../src/replay.js';

const CAST = [
  JSON.stringify({ version: 2, width: 80, height: 24 }),
  JSON.stringify([0.1, 'o', 'one\r\n']),
  JSON.stringify([0.5, 'r', '100x30']),
  JSON.stringify([1.0, 'o', 'two\r\n']),
  'not json',
  JSON.stringify([61.0, 'o', 'three\r\n']),
  JSON.stringify([61.2, 'i', 'typed']),
].join('\n');

function fakeTimers() {
  let now = 0;
  let pending = null;
  return {
    setTimeout: (f, ms) => { pending = { f, at: now + ms }; return 1; },
    clearTimeout: () => { pending = null; },
    now: () => now,
    // runs timers until `until` ms
    run(until) {
      while (pending && pending.at <= until) {
        const p = pending;
        pending = null;
        now = p.at;
        p.f();
      }
      now = until;
    },
  };
}

test('parse: output and resize kept, idle gaps cut to the limit, bad lines skipped', () => {
  const cast = parseCast(CAST);
  assert.deepEqual(cast.events.map((e) => e.code), ['o', 'r', 'o', 'o']);
  assert.equal(cast.events[3].t, 1.0 + IDLE_LIMIT_S, '60 s of idle replays as 2 s');
  assert.equal(allOutput(cast), 'one\r\ntwo\r\nthree\r\n');
  assert.throws(() => parseCast('{"version":1}'), /v2/);
});

test('play, pause and speed', () => {
  const cast = parseCast(CAST);
  const t = fakeTimers();
  let out = '';
  const sizes = [];
  let ended = false;
  const p = new Player(cast, {
    onOutput: (s) => { out += s; },
    onResize: (c, r) => sizes.push([c, r]),
    onEnd: () => { ended = true; },
  }, t);
  p.play();
  t.run(200);
  assert.equal(out, 'one\r\n');
  p.pause();
  t.run(5000);
  assert.equal(out, 'one\r\n', 'nothing while paused');
  p.setSpeed(4);
  p.play();
  t.run(5000 + 250);  // 1.0 s of recording at 4x
  assert.equal(out, 'one\r\ntwo\r\n');
  assert.deepEqual(sizes, [[100, 30]]);
  t.run(10000);
  assert.equal(out, 'one\r\ntwo\r\nthree\r\n');
  assert.ok(ended);
});

test('seek: everything up to the position at once, then on from there', () => {
  const cast = parseCast(CAST);
  const t = fakeTimers();
  let out = '';
  const sizes = [];
  const progress = [];
  const p = new Player(cast, {
    onOutput: (s) => { out += s; },
    onResize: (c, r) => sizes.push([c, r]),
    onProgress: (pos) => progress.push(pos),
  }, t);
  p.seekTo(1.5);
  assert.equal(out, 'one\r\ntwo\r\n', 'output up to 1.5 s');
  assert.deepEqual(sizes, [[100, 30]]);
  assert.equal(progress.at(-1), 1.5);
  assert.equal(p.playing, false, 'a paused player stays paused');
  t.run(10000);
  assert.equal(out, 'one\r\ntwo\r\n');
  out = '';
  p.seekTo(0);
  assert.equal(out, '', 'the start: nothing yet');
  p.play();
  p.seekTo(0.2);                    // while playing: goes on playing from there
  assert.equal(out, 'one\r\n');
  assert.equal(p.playing, true);
  t.run(20000);
  assert.equal(out, 'one\r\ntwo\r\nthree\r\n');
  p.seekTo(999);
  assert.equal(progress.at(-1), cast.duration, 'clamped to the end');
});

test('session time and replay position: the same idle cut both ways', () => {
  const cast = parseCast(CAST);
  assert.equal(replayPosition(cast, 0.5), 0.5);
  assert.equal(replayPosition(cast, 30), 1.0 + IDLE_LIMIT_S, 'inside a cut gap: where the gap ends');
  assert.equal(replayPosition(cast, 61.0), 1.0 + IDLE_LIMIT_S);
  assert.equal(sessionTime(cast, 0.5), 0.5);
  assert.equal(sessionTime(cast, 1.0 + IDLE_LIMIT_S), 61.0);
  assert.equal(sessionTime(cast, 2.0), 2.0, '1 s into the cut gap');
});
