// stream.js: one session's live stream, WS /ws/<id>?since=<offset> with the subprotocols
// ["bearer", <one-time session token>] (docs/protocol.md, "Viewer <-> control").
//
// A dropped connection is made again by itself, with backoff, from the first offset the
// page has not taken (OutputCursor.next): control replays from its scrollback what was
// missed, so nothing is lost and nothing is shown twice. Every connection needs a fresh
// token (they are one-time): the first may come with the page (POST /api/sessions, a share
// link), later ones are minted through POST /api/sessions/{id}/tokens.
import { decodeMessage, encodeInput, encodeResize, encodeSignal, T } from './proto.js';
import { OutputCursor } from './cursor.js';

export const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 5000];
export const BACKOFF_JITTER = 0.3;
const FINAL_STATES = new Set(['exited', 'failed', 'cancelled']);

// A token could not be had and never will (the session is gone, the link was used).
export class FatalStreamError extends Error {}

export class Connection {
  // opts: sessionId; firstToken (optional); mintToken: async () => token (throws
  // FatalStreamError when it never will); handlers: onStatus(status, detail),
  // onHello(hello), onOutput(parts), onEvent(ev, replayed), onCaughtUp(), onExit(exit),
  // onError(frame). WebSocketImpl, baseUrl and random for tests.
  constructor(opts) {
    this.id = opts.sessionId;
    this.firstToken = opts.firstToken || null;
    this.mintToken = opts.mintToken;
    this.h = opts.handlers || {};
    this.WS = opts.WebSocketImpl || globalThis.WebSocket;
    this.baseUrl = opts.baseUrl || defaultBaseUrl();
    this.random = opts.random || Math.random;
    this.cursor = opts.cursor || new OutputCursor();
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;           // failed connections in a row
    this.connections = 0;       // connections that got a HELLO
    this.hello = null;
    this.role = null;
    this.sessionFinal = false;  // HELLO or a state event said the session ended
    this.exit = null;
    this.timer = null;
    this.status = 'idle';
    this.eventsTaken = 0;       // events of the session's log already delivered
    this.connEvents = 0;        // log events received on the current connection
    this.duplicateEvents = 0;   // events received again after a reconnect, dropped
  }

  start() {
    this._connect();
  }

  // Ends the stream on purpose (another session was opened): no reconnect.
  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
  }

  // Closes the socket as a network drop would (tests and the "reconnect" button).
  drop() {
    if (this.ws) this.ws.close(4000, 'dropped by the page');
  }

  get ended() {
    return !!this.exit || (this.sessionFinal && !this.cursor.catchingUp);
  }

  _setStatus(status, detail) {
    this.status = status;
    this.h.onStatus?.(status, detail);
  }

  async _connect() {
    if (this.stopped) return;
    this._setStatus(this.connections ? 'reconnecting' : 'connecting',
      this.attempt ? `attempt ${this.attempt + 1}` : '');
    let token = this.firstToken;
    this.firstToken = null;
    if (!token) {
      try {
        token = await this.mintToken();
      } catch (e) {
        if (e instanceof FatalStreamError) {
          this._setStatus('failed', e.message);
          return;
        }
        this._retry(`cannot get a token: ${e.message}`);
        return;
      }
    }
    if (this.stopped) return;
    const url = `${this.baseUrl}/ws/${encodeURIComponent(this.id)}?since=${this.cursor.next}`;
    let ws;
    try {
      ws = new this.WS(url, ['bearer', token]);
    } catch (e) {
      this._retry(e.message);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let gotHello = false;
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;
      if (typeof m.data === 'string') return;
      let frames;
      try {
        frames = decodeMessage(m.data);
      } catch (e) {
        ws.close(4002, 'protocol error');
        this.h.onError?.({ code: 1, message: `protocol error from control: ${e.message}` });
        return;
      }
      for (const f of frames) {
        if (f.type === T.HELLO) gotHello = true;
        this._frame(f);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (this.ended) {
        this._setStatus('ended', this.exit ? exitText(this.exit) : 'session over');
        return;
      }
      if (!gotHello) this.attempt++;
      this._retry(ev.code === 1006 || !ev.reason ? 'connection lost' : ev.reason);
    };
    ws.onerror = () => {};
  }

  _retry(why) {
    if (this.stopped) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (1 + BACKOFF_JITTER * this.random()));
    this._setStatus('reconnecting', `${why}; again in ${(delay / 1000).toFixed(1)} s`);
    this.timer = setTimeout(() => {
      this.timer = null;
      this._connect();
    }, delay);
  }

  _frame(f) {
    switch (f.type) {
      case T.HELLO:
        this.hello = f.json;
        this.role = f.json.role === 'writer' ? 'writer' : 'viewer';
        this.attempt = 0;
        this.connections++;
        this.connEvents = 0;
        this.cursor.attach(f.json);
        if (FINAL_STATES.has(f.json.state)) this.sessionFinal = true;
        this.h.onHello?.(f.json);
        this._setStatus(this.cursor.catchingUp ? 'catching-up' : 'live', '');
        if (!this.cursor.catchingUp) this.h.onCaughtUp?.();
        break;
      case T.OUTPUT: {
        const was = this.cursor.catchingUp;
        const parts = this.cursor.take(f.offset, f.data);
        if (parts.length) this.h.onOutput?.(parts);
        if (was && !this.cursor.catchingUp) {
          this._setStatus('live', '');
          this.h.onCaughtUp?.();
        }
        break;
      }
      case T.EVENT: {
        const ev = f.json;
        if (ev.type === 'resync') {
          this.cursor.resync(ev);      // about this connection, not in the session's log
        } else if (!this._newEvent(ev)) {
          this.duplicateEvents++;
          break;
        }
        if (ev.type === 'state' && FINAL_STATES.has(ev.state)) this.sessionFinal = true;
        this.h.onEvent?.(ev, this.cursor.catchingUp);
        break;
      }
      case T.EXIT:
        this.exit = f;
        this.sessionFinal = true;
        this.h.onExit?.(f);
        break;
      case T.ERROR:
        this.h.onError?.(f);
        break;
      default:
        break;
    }
  }

  // Control sends every connection the session's event log from its start (stage history
  // for late viewers), so after a reconnect the first events are ones the page has. An
  // event's place in the log is its "seq" when control gives one, else its position on
  // this connection.
  _newEvent(ev) {
    const index = Number.isInteger(ev.seq) ? ev.seq : this.connEvents;
    this.connEvents = index + 1;
    if (index < this.eventsTaken) return false;
    this.eventsTaken = index + 1;
    return true;
  }

  _send(buf) {
    if (!this.ws || this.ws.readyState !== 1 || this.role !== 'writer') return false;
    this.ws.send(buf);
    return true;
  }

  sendInput(data) {
    if (!this.ws || this.ws.readyState !== 1 || this.role !== 'writer') return false;
    for (const frame of encodeInput(data)) this.ws.send(frame);
    return true;
  }

  sendResize(cols, rows) {
    return this._send(encodeResize(cols, rows));
  }

  sendSignal(signo) {
    return this._send(encodeSignal(signo));
  }
}

function defaultBaseUrl() {
  const loc = globalThis.location;
  if (!loc) return 'ws://127.0.0.1';
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}`;
}

export function exitText(exit) {
  if (exit.signal) return `killed by signal ${exit.signal}`;
  return `exited with code ${exit.code}`;
}
