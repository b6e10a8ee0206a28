// timeline.js: the stage timeline beside the terminal, built from the session's events
// (docs/events.md): each stage with its state, duration, progress and failure reason.
// A pure model; the page renders it (ui.js).
//
// Durations: an event that carries "ts" (milliseconds since the epoch) is placed at that
// time. Without it, only events the page saw live have a time (when they arrived); stages
// known only from replayed events show no duration rather than a wrong one.

const FINAL = new Set(['done', 'failed', 'skipped', 'cancelled']);
// States an event may name; "cancelled" is the page's own, for a stage that was running when
// the session was cancelled.
export const STAGE_STATES = ['waiting', 'running', 'done', 'failed', 'skipped'];
// Nesting shown at most this deep (a "parent" chain longer than this is drawn flat there).
export const TIMELINE_MAX_DEPTH = 4;

function eventTime(ev, replayed, now) {
  if (typeof ev.ts === 'number' && Number.isFinite(ev.ts)) return ev.ts;
  if (typeof ev.ts === 'string' && !Number.isNaN(Date.parse(ev.ts))) return Date.parse(ev.ts);
  return replayed ? null : now();
}

export class Timeline {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.stages = [];             // in order of first appearance
    this.byName = new Map();
    this.session = null;          // last session state event
  }

  // Applies one EVENT body; `replayed` when it came before the connection caught up.
  // Returns true when something shown changed.
  apply(ev, replayed = false) {
    if (!ev || typeof ev !== 'object') return false;
    if (ev.type === 'state') {
      this.session = { state: ev.state, reason: ev.reason || null };
      if (ev.state === 'failed' || ev.state === 'cancelled') this._stopRunning(ev, replayed);
      return true;
    }
    if (ev.type !== 'stage' || typeof ev.stage !== 'string' || !ev.stage) return false;
    const t = eventTime(ev, replayed, this.now);
    let st = this.byName.get(ev.stage);
    if (!st) {
      st = { name: ev.stage, source: ev.source || 'cli', state: 'waiting', startedAt: null,
        endedAt: null, done: null, total: null, reason: null, message: null, parent: null };
      this.byName.set(ev.stage, st);
      this.stages.push(st);
    }
    const state = STAGE_STATES.includes(ev.state) ? ev.state : st.state;
    if (state === 'running' && st.startedAt === null) st.startedAt = t;
    if (FINAL.has(state)) {
      if (st.startedAt === null && st.state === 'waiting' && t !== null) st.startedAt = t;
      st.endedAt = t;
    } else {
      st.endedAt = null;
    }
    st.state = state;
    if (typeof ev.done === 'number') st.done = ev.done;
    if (typeof ev.total === 'number') st.total = ev.total;
    if (typeof ev.reason === 'string') st.reason = ev.reason;
    if (typeof ev.message === 'string') st.message = ev.message;
    if (typeof ev.detail === 'string') st.message = ev.detail;
    if (typeof ev.parent === 'string' && ev.parent && ev.parent !== ev.stage) st.parent = ev.parent;
    return true;
  }

  // The stages in the order to show them: each under its parent (a stage whose "parent" is
  // not known yet stands on its own), siblings in order of first appearance. Returns
  // [{stage, depth}], depth 0 for the top level, at most TIMELINE_MAX_DEPTH.
  ordered() {
    const children = new Map();
    const roots = [];
    for (const st of this.stages) {
      if (st.parent && this.byName.has(st.parent)) {
        if (!children.has(st.parent)) children.set(st.parent, []);
        children.get(st.parent).push(st);
      } else {
        roots.push(st);
      }
    }
    const out = [];
    const seen = new Set();
    const walk = (st, depth) => {
      if (seen.has(st)) return;
      seen.add(st);
      out.push({ stage: st, depth: Math.min(depth, TIMELINE_MAX_DEPTH) });
      for (const c of children.get(st.name) || []) walk(c, depth + 1);
    };
    for (const st of roots) walk(st, 0);
    // a cycle of parents has no root: show those stages flat rather than not at all
    for (const st of this.stages) walk(st, 0);
    return out;
  }

  // The session ended without the stage saying so: a running stage stops where it is, as
  // cancelled when the session was.
  _stopRunning(ev, replayed) {
    const t = eventTime(ev, replayed, this.now);
    const cancelled = ev.state === 'cancelled';
    for (const st of this.stages) {
      if (st.state === 'running') {
        st.state = cancelled ? 'cancelled' : 'failed';
        st.endedAt = t;
        if (!st.reason) st.reason = ev.reason || `session ${ev.state}`;
      } else if (cancelled && st.source === 'agent' && st.name === 'run' && st.state === 'failed') {
        // the agent saw the program die of the cancel's SIGHUP: that is the cancel, not a failure
        st.state = 'cancelled';
        st.message = st.reason;
        st.reason = ev.reason || 'session cancelled';
      }
    }
  }

  // Milliseconds the stage took (or has taken so far), or null when unknown.
  duration(st) {
    if (st.startedAt === null) return null;
    if (st.endedAt !== null) return Math.max(0, st.endedAt - st.startedAt);
    if (st.state === 'running') return Math.max(0, this.now() - st.startedAt);
    return null;
  }

  // Progress as a fraction 0..1, or null.
  progress(st) {
    if (typeof st.done !== 'number' || typeof st.total !== 'number' || st.total <= 0) return null;
    return Math.min(1, Math.max(0, st.done / st.total));
  }

  get running() {
    return this.stages.some((s) => s.state === 'running');
  }
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60000);
  const s = Math.round((ms % 60000) / 1000);
  return `${m} min ${s} s`;
}

export function formatBytes(n) {
  if (typeof n !== 'number') return '';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

// "1.0 MiB of 4.0 MiB" for the fetch stage (bytes), "3 of 10" for others.
export function formatProgress(st) {
  if (typeof st.done !== 'number') return '';
  const bytes = st.name === 'fetch';
  const f = bytes ? formatBytes : String;
  return typeof st.total === 'number' ? `${f(st.done)} of ${f(st.total)}` : f(st.done);
}

// The timeline as it stood at `cutoff` (ms since the epoch): built from the events with a
// "ts" at or before it, durations of running stages counted up to it. For replay, where the
// timeline follows the recording's time rather than showing the end.
export function timelineAt(events, cutoff) {
  const tl = new Timeline(() => cutoff);
  for (const ev of events) {
    if (typeof ev.ts === 'number' && ev.ts <= cutoff) tl.apply(ev, false);
  }
  return tl;
}
