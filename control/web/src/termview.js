// termview.js: the xterm.js terminal of the page: output written with flow control, input
// only while allowed, and no answers to terminal queries found in replayed output.
//
// Why the replay guard: xterm.js answers queries (DA, DSR cursor position, DECRQM, window
// reports, colour queries) through onData, the same path as keystrokes. Output written
// again after a reconnect or a reload still holds the queries the program sent long ago,
// and their answers would reach the session as if typed (a known bug of web terminals).
// Two layers stop that: (1) while any replayed chunk is queued or being parsed, onData is
// dropped: replay is always a prefix of what a connection sends, so while a replay chunk
// is pending the chunk being parsed is replay, and a keystroke in that short window is
// dropped too (the status says "catching up"); (2) parser hooks for the query sequences
// swallow them while replay is being parsed, so no answer is even produced.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';

const FLOW_HIGH = 256 << 10;     // bytes handed to xterm and not yet parsed, at most
const TERM_LINE_HEIGHT = 1.1;    // rows' height as a multiple of the font's

export class TermView {
  constructor(container) {
    this.term = new Terminal({
      cursorBlink: true,
      convertEol: false,
      scrollback: 10000,
      fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 14,
      // At line height 1.0 the glyph box of DejaVu Sans Mono is taller than the cell xterm
      // measures, and underscores and descenders are painted over by the row below
      // (ANTHROPIC_API_KEY read "ANTHROPIC API KEY"): give each row room for them.
      lineHeight: TERM_LINE_HEIGHT,
      allowProposedApi: false,
      theme: { background: '#0d1117', foreground: '#e6edf3', cursor: '#58a6ff',
        selectionBackground: '#264f78' },
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(container);
    this.queue = [];             // [{data, replay, cb}] not yet handed to xterm
    this.inFlight = 0;           // bytes handed to xterm, not yet parsed
    this.replayPending = 0;      // replay chunks queued or in flight
    this.inputEnabled = false;
    this.droppedReplies = 0;     // onData dropped while replay was pending (for tests)
    this.swallowedQueries = 0;   // query sequences swallowed in replay (for tests)
    this.idleWaiters = [];
    this._inputHandlers = [];
    this._installQueryGuard();
    this.term.onData((d) => this._onData(d));
    this.term.onBinary((d) => this._onData(d));
  }

  _installQueryGuard() {
    const p = this.term.parser;
    const swallow = () => {
      if (this.replayPending > 0) {
        this.swallowedQueries++;
        return true;            // handled: xterm's own handler (which answers) does not run
      }
      return false;
    };
    const csiQueries = [
      { final: 'c' }, { prefix: '>', final: 'c' }, { prefix: '=', final: 'c' },   // DA1 DA2 DA3
      { final: 'n' }, { prefix: '?', final: 'n' },                                 // DSR, CPR
      { intermediates: '$', final: 'p' }, { prefix: '?', intermediates: '$', final: 'p' }, // DECRQM
      { final: 't' },                                                              // window reports
      { prefix: '>', final: 'q' },                                                 // XTVERSION
      { prefix: '?', final: 'u' },                                                 // keyboard flags
      { final: 'x' },                                                              // DECREQTPARM
    ];
    for (const id of csiQueries) p.registerCsiHandler(id, swallow);
    p.registerDcsHandler({ intermediates: '$', final: 'q' }, swallow);             // DECRQSS
    p.registerDcsHandler({ intermediates: '+', final: 'q' }, swallow);             // XTGETTCAP
    // colour queries ("?" as the spec); setting colours in replay still applies
    for (const ident of [4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 104]) {
      p.registerOscHandler(ident, (data) => (data.includes('?') ? swallow() : false));
    }
  }

  _onData(d) {
    if (this.replayPending > 0) {
      this.droppedReplies++;
      return;
    }
    if (!this.inputEnabled) return;
    for (const h of this._inputHandlers) h(d);
  }

  // Keystrokes (and live query answers) for the session: `handler(string)`.
  onInput(handler) {
    this._inputHandlers.push(handler);
  }

  setInputEnabled(on) {
    this.inputEnabled = !!on;
    this.term.options.disableStdin = !on;
    this.term.options.cursorBlink = !!on;
  }

  // Queues terminal bytes; `replay` marks bytes written again (never answered).
  write(data, replay = false) {
    if (!data || !data.length) return;
    if (replay) this.replayPending++;
    this.queue.push({ data, replay });
    this._pump();
  }

  // A line of the page's own (status notes), dim, on a line of its own.
  note(text) {
    this.write(new TextEncoder().encode(`\r\n\x1b[2m[runwire] ${text}\x1b[0m\r\n`), true);
  }

  _pump() {
    while (this.queue.length && this.inFlight < FLOW_HIGH) {
      const { data, replay } = this.queue.shift();
      this.inFlight += data.length;
      this.term.write(data, () => {
        this.inFlight -= data.length;
        if (replay) this.replayPending--;
        this._pump();
        this._checkIdle();
      });
    }
  }

  _checkIdle() {
    if (this.queue.length || this.inFlight) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  // Resolves once everything written so far is parsed.
  idle() {
    if (!this.queue.length && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get replaying() {
    return this.replayPending > 0;
  }

  // Clears screen, scrollback and modes once what xterm already holds is parsed; queued
  // writes are dropped. Resolves when the terminal is blank.
  reset() {
    for (const c of this.queue) if (c.replay) this.replayPending--;
    this.queue = [];
    return new Promise((resolve) => {
      this.term.write('', () => {
        this.term.reset();
        resolve();
      });
    });
  }

  // Fits to the container; returns the new {cols, rows}.
  fitToContainer() {
    try {
      this.fit.fit();
    } catch {
      // not visible yet
    }
    return { cols: this.term.cols, rows: this.term.rows };
  }

  // What fits in the container, without resizing.
  proposed() {
    const d = this.fit.proposeDimensions();
    return d && d.cols > 0 && d.rows > 0 ? { cols: d.cols, rows: d.rows } : { cols: 80, rows: 24 };
  }

  resize(cols, rows) {
    if (cols !== this.term.cols || rows !== this.term.rows) this.term.resize(cols, rows);
  }

  // The buffer as text, one string per line, trailing blanks trimmed (for tests).
  lines() {
    const buf = this.term.buffer.active;
    const out = [];
    for (let i = 0; i < buf.length; i++) out.push(buf.getLine(i).translateToString(true));
    while (out.length && out[out.length - 1] === '') out.pop();
    return out;
  }

  focus() {
    this.term.focus();
  }
}
