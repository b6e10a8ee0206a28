// Stage events for runwire: one JSON object per line on the file descriptor named in
// RUNWIRE_EVENTS_FD (docs/events.md). A bad descriptor never stops the run: one warning on
// stderr, then events are dropped.
import { fstatSync, writeSync } from 'node:fs';

export const STATES = new Set(['running', 'done', 'failed', 'skipped']);
// The agent drops longer lines (AGENT_MAX_EVENT_LINE); stay well under it.
export const EVENT_MAX_LINE = 16 * 1024;
const EVENT_MAX_FIELD = 1024;
// How long a write may wait on a full non-blocking pipe before the event is dropped.
const EVENT_WRITE_PATIENCE_MS = 2000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function oneLine(value) {
  const s = String(value).replace(/\s+/g, ' ').trim();
  return s.length > EVENT_MAX_FIELD ? `${s.slice(0, EVENT_MAX_FIELD - 3)}...` : s;
}

/**
 * Opens the event sink named by `env.RUNWIRE_EVENTS_FD`. Returns { enabled, emit(stage, state,
 * extra) }; `emit` writes {"stage","state",...extra} as one line, with `reason` forced to one
 * line. `warn` receives the single warning when the descriptor is unusable.
 */
export function openEventSink(env = process.env, warn = (m) => process.stderr.write(`${m}\n`)) {
  const raw = env.RUNWIRE_EVENTS_FD;
  let fd = null;
  let warned = false;
  const disable = (why) => {
    fd = null;
    if (!warned) {
      warned = true;
      warn(`sample-cli: stage events disabled: ${why}`);
    }
  };

  if (raw !== undefined && raw !== '') {
    if (!/^\d+$/.test(raw.trim())) {
      disable(`RUNWIRE_EVENTS_FD=${JSON.stringify(raw)} is not a file descriptor number`);
    } else {
      fd = Number(raw.trim());
      try {
        fstatSync(fd);
      } catch (err) {
        disable(`fd ${fd}: ${err.code ?? err.message}`);
      }
    }
  }

  const write = (line) => {
    const buf = Buffer.from(line);
    let off = 0;
    const deadline = Date.now() + EVENT_WRITE_PATIENCE_MS;
    while (fd !== null && off < buf.length) {
      try {
        off += writeSync(fd, buf, off, buf.length - off);
      } catch (err) {
        if (err.code === 'EAGAIN' && Date.now() < deadline) {
          Atomics.wait(sleeper, 0, 0, 5);
          continue;
        }
        disable(`fd ${fd}: ${err.code ?? err.message}`);
      }
    }
  };

  const emit = (stage, state, extra = {}) => {
    if (fd === null) return;
    if (!STATES.has(state)) throw new Error(`unknown stage state ${state}`);
    const event = { stage, state };
    for (const [k, v] of Object.entries(extra)) {
      if (v === undefined || k === 'stage' || k === 'state') continue;
      event[k] = typeof v === 'string' ? oneLine(v) : v;
    }
    let line = `${JSON.stringify(event)}\n`;
    if (Buffer.byteLength(line) > EVENT_MAX_LINE) line = `${JSON.stringify({ stage, state })}\n`;
    write(line);
  };

  return { get enabled() { return fd !== null; }, emit };
}
