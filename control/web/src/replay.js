// replay.js: plays a finished session's recording (asciicast v2, from
// GET /api/sessions/{id}/recording) into the terminal, with play/pause and speed.
//
// asciicast v2: a JSON header line ({"version":2,"width","height",...}), then one JSON array
// per line: [seconds, "o", text] output, [seconds, "r", "COLSxROWS"] resize; other codes
// ("i" input, "m" marker) are skipped. Idle gaps are shortened to the header's
// idle_time_limit, or IDLE_LIMIT_S when it has none, so a session that waited an hour
// replays in seconds.

export const IDLE_LIMIT_S = 2;
export const SPEEDS = [0.5, 1, 2, 4, 8, 16];

// Parses a recording. Returns {header, events: [{t, code, data}], duration}, times in
// seconds after idle gaps were shortened. Throws on a header that is not asciicast v2;
// malformed event lines are skipped.
export function parseCast(text) {
  const lines = text.split('\n');
  let header;
  try {
    header = JSON.parse(lines[0]);
  } catch {
    throw new Error('not an asciicast recording');
  }
  if (!header || header.version !== 2) throw new Error('not an asciicast v2 recording');
  const limit = typeof header.idle_time_limit === 'number' && header.idle_time_limit > 0
    ? header.idle_time_limit : IDLE_LIMIT_S;
  const events = [];
  let last = 0;
  let shifted = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim()) continue;
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    if (!Array.isArray(ev) || ev.length < 3 || typeof ev[0] !== 'number' || typeof ev[2] !== 'string') continue;
    const [t, code, data] = ev;
    if (code !== 'o' && code !== 'r') continue;
    const gap = t - last;
    if (gap > limit) shifted += gap - limit;
    last = Math.max(last, t);
    events.push({ t: Math.max(0, t - shifted), raw: t, code, data });
  }
  const duration = events.length ? events[events.length - 1].t : 0;
  return { header, events, duration, limit };
}

// A time of the session (seconds since the recording started) as a position of the replay,
// whose idle gaps were shortened: the same cut parseCast made, applied to a moment between
// two output events (a stage event, say).
export function replayPosition(cast, raw) {
  let pos = 0;
  let last = 0;
  for (const ev of cast.events) {
    if (ev.raw > raw) break;
    pos = ev.t;
    last = ev.raw;
  }
  return Math.min(cast.duration, pos + Math.min(Math.max(0, raw - last), cast.limit ?? IDLE_LIMIT_S));
}

// The inverse: a replay position as seconds since the recording started.
export function sessionTime(cast, pos) {
  let base = { t: 0, raw: 0 };
  for (const ev of cast.events) {
    if (ev.t > pos) break;
    base = ev;
  }
  return base.raw + (pos - base.t);
}

// "120x40" -> {cols: 120, rows: 40}, or null.
export function parseSize(s) {
  const m = /^(\d{1,4})x(\d{1,4})$/.exec(s);
  return m ? { cols: Number(m[1]), rows: Number(m[2]) } : null;
}

// Plays parsed events through callbacks: onOutput(text), onResize(cols, rows),
// onProgress(t, duration), onState(playing), onEnd(). Timers are injectable for tests.
export class Player {
  constructor(cast, callbacks, timers = {
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (t) => clearTimeout(t),
    now: () => performance.now(),
  }) {
    this.cast = cast;
    this.cb = callbacks;
    this.timers = timers;
    this.speed = 1;
    this.index = 0;          // next event
    this.position = 0;       // seconds of the recording played
    this.playing = false;
    this.timer = null;
    this.anchor = null;      // {wall, pos} when playing
  }

  play() {
    if (this.playing) return;
    if (this.index >= this.cast.events.length) this.restartPosition();
    this.playing = true;
    this.anchor = { wall: this.timers.now(), pos: this.position };
    this.cb.onState?.(true);
    this._schedule();
  }

  pause() {
    if (!this.playing) return;
    this.position = this._pos();
    this.playing = false;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.cb.onState?.(false);
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  setSpeed(speed) {
    if (this.playing) {
      this.position = this._pos();
      this.anchor = { wall: this.timers.now(), pos: this.position };
    }
    this.speed = speed;
    if (this.playing) {
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      this._schedule();
    }
  }

  // Back to the start (the caller clears the terminal).
  restartPosition() {
    this.index = 0;
    this.position = 0;
  }

  // Jumps to `pos` seconds on a cleared terminal (the caller clears it first): everything
  // the recording printed up to there is written at once, then playing goes on from there
  // if it was playing.
  seekTo(pos) {
    const playing = this.playing;
    this.pause();
    this.index = 0;
    this.position = Math.min(Math.max(0, pos), this.cast.duration);
    const events = this.cast.events;
    this._deliverUpTo(this.position);
    this.cb.onProgress?.(this.position, this.cast.duration);
    if (playing && this.index < events.length) this.play();
  }

  get at() {
    return this._pos();
  }

  stop() {
    this.pause();
  }

  _pos() {
    if (!this.playing) return this.position;
    return this.anchor.pos + ((this.timers.now() - this.anchor.wall) / 1000) * this.speed;
  }

  /* Hands the callbacks every event up to `pos` not delivered yet: consecutive output in
   * one piece, a resize as its own call between them. */
  _deliverUpTo(pos) {
    const events = this.cast.events;
    let out = '';
    while (this.index < events.length && events[this.index].t <= pos) {
      const ev = events[this.index++];
      if (ev.code === 'o') {
        out += ev.data;
      } else {
        if (out) this.cb.onOutput?.(out);
        out = '';
        const size = parseSize(ev.data);
        if (size) this.cb.onResize?.(size.cols, size.rows);
      }
    }
    if (out) this.cb.onOutput?.(out);
  }

  _schedule() {
    this.timer = null;
    const events = this.cast.events;
    const pos = this._pos();
    this._deliverUpTo(pos);
    this.cb.onProgress?.(Math.min(pos, this.cast.duration), this.cast.duration);
    if (this.index >= events.length) {
      this.position = this.cast.duration;
      this.playing = false;
      this.cb.onState?.(false);
      this.cb.onEnd?.();
      return;
    }
    const wait = ((events[this.index].t - pos) * 1000) / this.speed;
    // wake at least every 250 ms so the position shown moves
    this.timer = this.timers.setTimeout(() => this._schedule(), Math.max(0, Math.min(wait, 250)));
  }
}

// Everything the recording printed, in one string (to show the final screen at once).
export function allOutput(cast) {
  let s = '';
  for (const ev of cast.events) if (ev.code === 'o') s += ev.data;
  return s;
}
