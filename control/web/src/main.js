// main.js: runwire's browser page (docs/browser.md). Start a session from a template or a
// command, open one from the list, watch its live terminal and stage timeline, type into
// it with a writer token, share a read-only link, cancel it, replay its recording.
//
// Routes (in the URL fragment, so control serves one page):
//   #/                        start form and the list of sessions
//   #/s/<id>                  a session, with a writer token minted for each connection
//   #/s/<id>?viewer=<token>   a read-only share: the one-time viewer token came with the link
import '@xterm/xterm/css/xterm.css';
import './app.css';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import * as api from './api.js';
import { startAuth } from './auth.js';
import { Connection, FatalStreamError, exitText } from './stream.js';
import { TermView } from './termview.js';
import { Timeline, timelineAt } from './timeline.js';
import { parseCast, Player, SPEEDS, allOutput, sessionTime } from './replay.js';
import {
  $, el, show, renderSessions, renderStages, renderRunState, renderFacts, sessionStateText,
} from './ui.js';
import { formatBytes, formatDuration } from './timeline.js';

const LIST_REFRESH_MS = 3000;
const RESIZE_DEBOUNCE_MS = 80;
const TICK_MS = 500;             // live facts and running stages' durations
const SEEK_STEP_S = 5;           // arrow keys in the replay
const FINAL = new Set(['exited', 'failed', 'cancelled']);
const STATUS_TEXT = {
  idle: 'not connected', connecting: 'connecting…', 'catching-up': 'catching up…', live: 'live',
  reconnecting: 'reconnecting', ended: 'ended', failed: 'disconnected', replay: 'replaying the recording',
};

const app = {
  config: null,
  auth: null,            // Firebase session, or null in the embedded default
  user: null,
  term: null,            // TermView
  cur: null,             // the open session (see openSession)
  pendingToken: null,    // {id, token} from POST /api/sessions, used by the first connection
  sessions: [],
  listTimer: null,
  booted: false,
};

// ---- connection status ----

function setStatus(status, detail) {
  const box = $('conn');
  box.dataset.status = status;
  let text = STATUS_TEXT[status] || status;
  if (status === 'live' && app.cur?.role === 'viewer') text += ' · read-only';
  if (detail) text += `: ${detail}`;
  $('conn-text').textContent = text;
}

// ---- the terminal ----

function setupTerminal() {
  app.term = new TermView($('terminal'));
  app.term.onInput((d) => app.cur?.conn?.sendInput(d));
  // F6 leaves the terminal (Tab belongs to the program running in it).
  app.term.term.attachCustomKeyEventHandler((e) => {
    if (e.type === 'keydown' && e.key === 'F6') {
      e.preventDefault();
      const visible = (sel) => [...document.querySelectorAll(sel)].find((b) => b.offsetParent !== null);
      (visible('.actions button:not([hidden])') || visible('#template, #command') || $('start')).focus();
      return false;
    }
    return true;
  });
  let timer = null;
  new ResizeObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(fitTerminal, RESIZE_DEBOUNCE_MS);
  }).observe($('terminal-pane'));
  window.addEventListener('resize', () => {
    clearTimeout(timer);
    timer = setTimeout(fitTerminal, RESIZE_DEBOUNCE_MS);
  });
}

// A writer's terminal follows the window and tells the session; a read-only viewer keeps
// the session's size (another person's window decides it).
function fitTerminal() {
  const cur = app.cur;
  if (cur && (cur.role === 'viewer' || cur.player || cur.fixedSize)) return;
  const before = { cols: app.term.term.cols, rows: app.term.term.rows };
  const size = app.term.fitToContainer();
  if (cur?.conn && cur.role === 'writer' && !cur.conn.ended &&
      (size.cols !== before.cols || size.rows !== before.rows || cur.sentSize !== `${size.cols}x${size.rows}`)) {
    if (cur.conn.sendResize(size.cols, size.rows)) cur.sentSize = `${size.cols}x${size.rows}`;
  }
}

// A read-only viewer and a finished session keep the session's own size: the output was
// drawn for it, and reflowing it into another width breaks boxes and tables. The pane
// scrolls (sideways too) when the terminal is larger than it.
function setFixedSize(cur, on, cols, rows) {
  if (cur) cur.fixedSize = on;
  $('terminal-pane').classList.toggle('fixed-size', on);
  if (on && cols && rows) app.term.resize(cols, rows);
  if (!on) fitTerminal();
}

// ---- routes ----

function parseRoute() {
  const h = location.hash || '#/';
  const m = /^#\/s\/([A-Za-z0-9_-]{1,64})(?:\?(.*))?$/.exec(h);
  if (!m) return { view: 'home' };
  const params = new URLSearchParams(m[2] || '');
  return { view: 'session', id: m[1], share: params.has('viewer'), viewerToken: params.get('viewer') || null };
}

async function route() {
  const r = parseRoute();
  document.body.classList.toggle('share-mode', r.view === 'session' && r.share);
  if (r.view === 'home') {
    closeSession();
    document.body.classList.remove('has-session');
    renderSessionList();
    return;
  }
  if (app.auth && !app.user && !r.share) return;   // after sign-in (onUser)
  if (app.cur?.id === r.id && app.cur.share === r.share && !r.viewerToken) return;
  if (r.viewerToken) {
    // the token is one-time: keep it out of the address bar and the history from now on
    history.replaceState(null, '', `#/s/${r.id}?viewer`);
  }
  openSession(r.id, { share: r.share, firstToken: r.viewerToken });
}

// ---- a session ----

function closeSession() {
  const cur = app.cur;
  if (!cur) return;
  cur.closed = true;
  cur.conn?.stop();
  cur.player?.stop();
  clearInterval(cur.tick);
  app.cur = null;
  app.term.setInputEnabled(false);
  app.term.reset();
  setStatus('idle');
  for (const id of ['share', 'cancel', 'replay', 'session-state', 'role-badge', 'share-box', 'replay-bar',
    'cancel-box', 'notice', 'run-state'])
    show($(id), false);
  $('terminal-pane').classList.remove('fixed-size');
  $('session-title').textContent = 'No session open';
  $('session-command').textContent = '';
  $('stages').replaceChildren();
  $('session-facts').replaceChildren();
  show($('stages-empty'), true);
  show($('placeholder'), true);
}

function openSession(id, { share = false, firstToken = null } = {}) {
  closeSession();
  document.body.classList.add('has-session');
  show($('placeholder'), false);
  if (!firstToken && app.pendingToken?.id === id) firstToken = app.pendingToken.token;
  app.pendingToken = null;
  const cur = {
    id, share, role: share ? 'viewer' : null, info: null, exit: null, verified: null,
    timeline: new Timeline(), hash: sha256.create(), hashing: true, recording: undefined,
    cast: null, player: null, sentSize: null, closed: false, runnerLost: false,
    events: [],            // the session's events as they came (the replay's timeline)
    fixedSize: false, runningSince: null,
  };
  app.cur = cur;
  $('session-title').textContent = `Session ${id.slice(0, 8)}`;
  $('session-title').title = id;
  show($('role-badge'), share);
  renderSessionList();
  app.term.fitToContainer();

  const mintToken = async () => {
    try {
      const r = await api.mintToken(id, share ? 'viewer' : undefined);
      return r.token;
    } catch (e) {
      if (e.status === 404 || e.status === 401 || e.status === 403) {
        throw new FatalStreamError(share
          ? 'this read-only link was used already; ask the session\'s owner for a new one'
          : `cannot reconnect: ${e.message}`);
      }
      throw e;
    }
  };
  cur.conn = new Connection({
    sessionId: id,
    firstToken,
    mintToken,
    handlers: {
      onStatus: (status, detail) => {
        if (cur.closed || cur.player) return;
        if (status !== 'live') app.term.setInputEnabled(false);
        // input opens only once the replay is parsed (see termview.js)
        if (status === 'live' && app.term.replaying) status = 'catching-up';
        setStatus(status, detail);
        if (status === 'ended' || status === 'failed') onSessionOver();
      },
      onHello: (hello) => onHello(cur, hello),
      onOutput: (parts) => {
        for (const p of parts) {
          app.term.write(p.data, p.replay);
          if (cur.hashing) cur.hash.update(p.data);
        }
      },
      onCaughtUp: () => {
        app.term.idle().then(() => {
          if (cur.closed || cur.conn.status !== 'live' || cur.player) return;
          app.term.setInputEnabled(cur.role === 'writer' && !cur.conn.ended);
          setStatus(cur.runnerLost ? 'reconnecting' : 'live', cur.runnerLost ? 'runner lost; waiting for it to come back' : '');
        });
      },
      onEvent: (ev, replayed) => onEvent(cur, ev, replayed),
      onExit: (exit) => onExit(cur, exit),
      onError: (f) => {
        if (f.code === 4) app.term.note(f.message);
        else if (f.message) app.term.note(`control: ${f.message}`);
      },
    },
  });
  cur.tick = setInterval(() => {
    if (cur.player) return;
    if (cur.timeline.running) renderStages($('stages'), cur.timeline);
    if (!cur.exit && !cur.conn.ended) renderInfo(cur);   // output and time so far
  }, TICK_MS);
  cur.conn.start();
  refreshInfo(cur);
}

function onHello(cur, hello) {
  cur.role = hello.role === 'writer' ? 'writer' : 'viewer';
  show($('role-badge'), cur.role === 'viewer');
  show($('share'), cur.role === 'writer' && !cur.share);
  updateStateBadge(cur, hello.state);
  if (cur.role === 'viewer' || FINAL.has(hello.state)) {
    setFixedSize(cur, true, hello.cols, hello.rows);
  } else {
    cur.sentSize = null;
    setFixedSize(cur, false);
  }
}

function renderTimeline(cur, tl = cur.timeline) {
  renderStages($('stages'), tl);
  renderRunState($('run-state'), tl);
  show($('stages-empty'), tl.stages.length === 0);
}

// A message where the user is looking (above the terminal), not only a line in xterm's
// buffer that scrolls away.
function showNotice(text) {
  $('notice-text').textContent = text;
  show($('notice'), true);
}

function onEvent(cur, ev, replayed) {
  if (ev.type !== 'resync') cur.events.push(ev);
  if (cur.timeline.apply(ev, replayed) && !cur.player) renderTimeline(cur);
  switch (ev.type) {
    case 'state':
      if (ev.state === 'running' && typeof ev.ts === 'number') cur.runningSince = ev.ts;
      updateStateBadge(cur, ev.state, ev.reason);
      refreshInfo(cur);
      if (!replayed) refreshList();
      break;
    case 'runner':
      cur.runnerLost = ev.state === 'lost';
      if (!replayed) {
        setStatus(cur.runnerLost ? 'reconnecting' : 'live', cur.runnerLost ? 'runner lost; waiting for it to come back' : '');
      }
      break;
    case 'resync': {
      cur.hashing = false;
      const why = ev.reason ? ` (${ev.reason})` : '';
      app.term.note(`${formatBytes(ev.skipped)} skipped: older than control's scrollback (the recording has them)`);
      showNotice(`${formatBytes(ev.skipped)} of this session's output, up to byte ${ev.offset ?? '?'}, ` +
        `are no longer kept${why}: the terminal goes on without them, so some screens are missing.` +
        (cur.share ? '' : ' The recording (Replay, once the session is over) may still have them.'));
      break;
    }
    default:
      break;
  }
}

function onExit(cur, exit) {
  cur.exit = exit;
  if (cur.hashing && cur.conn.cursor.complete && cur.conn.cursor.next === exit.total) {
    cur.verified = bytesToHex(cur.hash.digest()) === exit.sha256;
  } else {
    cur.verified = null;
  }
  cur.hashing = false;
  renderInfo(cur);
}

function onSessionOver() {
  const cur = app.cur;
  if (!cur) return;
  app.term.setInputEnabled(false);
  show($('cancel'), false);
  show($('cancel-box'), false);
  refreshInfo(cur);
  if (!cur.share) probeRecording(cur);
}

function updateStateBadge(cur, state, reason) {
  const badge = $('session-state');
  badge.className = `badge state-${state}`;
  badge.textContent = cur.info && cur.info.state === state ? sessionStateText(cur.info) : state;
  if (reason) badge.title = reason;
  show(badge, true);
  show($('cancel'), cur.role === 'writer' && !cur.share && !FINAL.has(state));
}

async function refreshInfo(cur) {
  if (cur.share && app.auth && !app.user) return;   // the stream alone shows it
  try {
    const info = await api.getSession(cur.id);
    if (cur.closed) return;
    cur.info = info;
    updateStateBadge(cur, info.state, info.reason);
    renderInfo(cur);
  } catch {
    // a share viewer may not own the session: the stream alone shows it
  }
}

// The session's facts; while it runs, its output so far and how long it has run, counted
// live (the tick calls this every TICK_MS).
function renderInfo(cur) {
  const i = cur.info || {};
  $('session-command').textContent = i.template ? `${i.template}: ${i.command || ''}` : (i.command || '');
  const over = !!cur.exit || FINAL.has(i.state) || !!cur.conn?.ended;
  const started = i.startedAt || cur.runningSince;
  let took = null;
  if (started && i.endedAt) took = formatDuration(i.endedAt - started);
  else if (started && !over) took = formatDuration(Date.now() - started);
  const seen = cur.conn ? cur.conn.cursor.next : 0;
  const bytes = cur.exit ? cur.exit.total : Math.max(i.bytes ?? 0, seen);
  const facts = [
    ['Session', cur.id, 'mono'],
    ['State', i.state ? sessionStateText(i) : null],
    ['Reason', i.reason],
    ['Created', i.createdAt ? new Date(i.createdAt).toLocaleTimeString() : null],
    [over ? 'Ran for' : 'Running for', took, 'live-duration'],
    ['Output', i.bytes !== undefined || seen || cur.exit ? formatBytes(bytes) : null, 'live-bytes'],
  ];
  if (cur.exit) {
    facts.push(['Exit', exitText(cur.exit)]);
    if (cur.verified === true) facts.push(['Verified', 'every byte, SHA-256 matches', 'ok']);
    else if (cur.verified === false) facts.push(['Verified', 'SHA-256 does NOT match', 'bad']);
  }
  renderFacts($('session-facts'), facts);
}

// ---- share, cancel ----

async function shareLink() {
  const cur = app.cur;
  if (!cur) return;
  try {
    const r = await api.mintToken(cur.id, 'viewer');
    const url = `${location.origin}${location.pathname}#/s/${cur.id}?viewer=${encodeURIComponent(r.token)}`;
    $('share-url').value = url;
    show($('share-box'), true);
    $('share-url').focus();
    $('share-url').select();
  } catch (e) {
    app.term.note(`cannot make a share link: ${e.message}`);
  }
}

async function copyShare() {
  const input = $('share-url');
  try {
    await navigator.clipboard.writeText(input.value);
    $('share-copy').textContent = 'Copied';
  } catch {
    input.select();
    $('share-copy').textContent = 'Press Ctrl+C';
  }
  setTimeout(() => { $('share-copy').textContent = 'Copy'; }, 2000);
}

function closeShare() {
  show($('share-box'), false);
  $('share').focus();
}

// Cancel asks first, in the page (a native confirm() would stop the page's stream while open).
function askCancel(open) {
  show($('cancel-box'), open);
  $('cancel').setAttribute('aria-expanded', String(open));
  (open ? $('cancel-keep') : $('cancel')).focus();
}

async function cancelCurrent() {
  const cur = app.cur;
  if (!cur) return;
  show($('cancel-box'), false);
  $('cancel').setAttribute('aria-expanded', 'false');
  $('cancel').disabled = true;
  try {
    cur.info = await api.cancelSession(cur.id);
    renderInfo(cur);
  } catch (e) {
    app.term.note(`cancel failed: ${e.message}`);
  } finally {
    $('cancel').disabled = false;
  }
  refreshList();
}

// ---- replay ----

async function probeRecording(cur) {
  if (cur.recording !== undefined) return;
  cur.recording = null;
  try {
    const text = await api.getRecording(cur.id);
    if (cur.closed || !text) return;
    cur.cast = parseCast(text);
    cur.recording = text;
    show($('replay'), cur.cast.events.length > 0);
  } catch {
    show($('replay'), false);
  }
}

function formatClock(sec) {
  const s = Math.max(0, Math.floor(sec));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// The timeline as it stood at replay position `pos`: stage events are placed by their "ts"
// on the recording's clock (it starts when the session was created), with the same idle
// gaps cut as the output.
function renderReplayTimeline(cur, pos) {
  const base = cur.info?.createdAt || (cur.cast.header.timestamp || 0) * 1000;
  let cutoff = base + sessionTime(cur.cast, pos) * 1000;
  // At the end, every event: a stage event and the output it goes with travel different
  // ways (the events pipe, the pty), so the last events may come after the last output.
  if (pos >= cur.cast.duration) cutoff = Math.max(cutoff, ...cur.events.map((e) => e.ts || 0));
  renderTimeline(cur, timelineAt(cur.events, cutoff));
}

function startReplay() {
  const cur = app.cur;
  if (!cur?.cast) return;
  cur.player?.stop();
  app.term.setInputEnabled(false);
  app.term.reset().then(() => {
    const h = cur.cast.header;
    if (h.width && h.height) app.term.resize(h.width, h.height);
    const seek = $('replay-seek');
    seek.max = String(cur.cast.duration || 0);
    seek.value = '0';
    cur.player = new Player(cur.cast, {
      onOutput: (s) => app.term.write(s, true),
      onResize: (c, r) => app.term.resize(c, r),
      onProgress: (t, d) => {
        $('replay-time').textContent = `${formatClock(t)} / ${formatClock(d)}`;
        if (!cur.dragging) seek.value = String(t);
        seek.setAttribute('aria-valuetext', `${t.toFixed(1)} of ${d.toFixed(1)} seconds`);
        renderReplayTimeline(cur, t);
      },
      onState: (playing) => { $('replay-play').textContent = playing ? 'Pause' : 'Play'; },
    });
    cur.player.setSpeed(Number($('replay-speed').value) || 1);
    show($('replay-bar'), true);
    show($('replay'), false);
    setStatus('replay');
    cur.player.play();
    $('replay-play').focus();
  });
}

// Jumps to `pos` seconds: the terminal is cleared and everything up to there written at
// once. Seeks that come while one is being drawn (dragging the bar) collapse into the last.
function seekReplay(pos, play = false) {
  const cur = app.cur;
  if (!cur?.player) return;
  cur.seekTarget = Math.min(Math.max(0, pos), cur.cast.duration);
  if (play) cur.playAfterSeek = true;
  if (cur.seeking) return;
  cur.seeking = true;
  cur.playAfterSeek = cur.playAfterSeek || cur.player.playing;
  cur.player.pause();
  const step = () => app.term.reset().then(() => {
    if (!cur.player) return;
    const target = cur.seekTarget;
    const h = cur.cast.header;
    if (h.width && h.height) app.term.resize(h.width, h.height);
    cur.player.seekTo(target);
    if (cur.seekTarget !== target) return step();
    cur.seeking = false;
    if (cur.playAfterSeek) cur.player.play();
    cur.playAfterSeek = false;
    return undefined;
  });
  step();
}

function restartReplay() {
  seekReplay(0, true);
}

function exitReplay() {
  const cur = app.cur;
  if (!cur?.player) return;
  cur.player.stop();
  cur.player = null;
  // The bar goes when the output is back, not before: until then the terminal still shows
  // the replay (a viewer, or a test, must not take that for the output).
  app.term.reset().then(() => {
    // (otherwise the replay left the terminal at the recording's last size: the output's own)
    if (cur.fixedSize && cur.conn.hello) app.term.resize(cur.conn.hello.cols, cur.conn.hello.rows);
    app.term.write(allOutput(cur.cast), true);
    show($('replay-bar'), false);
    show($('replay'), true);
    renderTimeline(cur);
    setStatus(cur.conn.status, cur.conn.exit ? exitText(cur.conn.exit) : '');
    $('replay').focus();
  });
}

// Keys of the replay, as asciinema's player has them: Space plays and pauses, the arrows
// step 5 s, wherever the focus is except a field one types into (buttons keep Space).
function onReplayKey(e) {
  const cur = app.cur;
  if (!cur?.player || $('replay-bar').hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t instanceof HTMLElement && (t.tagName === 'SELECT' || t.isContentEditable ||
    (t.tagName === 'TEXTAREA' && !t.classList.contains('xterm-helper-textarea')) ||
    (t.tagName === 'INPUT' && t.type !== 'range'));
  if (typing) return;
  if (e.key === ' ' && t.tagName !== 'BUTTON') {
    e.preventDefault();
    e.stopPropagation();
    cur.player.toggle();
  } else if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && t.id !== 'replay-seek') {
    e.preventDefault();
    e.stopPropagation();
    seekReplay(cur.player.at + (e.key === 'ArrowLeft' ? -SEEK_STEP_S : SEEK_STEP_S));
  }
}

// ---- start form and the list ----

function setupStartForm() {
  const templates = app.config.templates;
  const select = $('template');
  if (templates.length) {
    select.replaceChildren(
      ...templates.map((t) => el('option', { value: t.name, text: t.name })),
      el('option', { value: '', text: 'Custom command…' }));
    show($('template-field'), true);
  }
  const sync = () => {
    const t = templates.find((x) => x.name === select.value);
    $('template-desc').textContent = t?.description || '';
    show($('prompt-field'), !!t);
    show($('command-field'), !t);
  };
  select.addEventListener('change', sync);
  sync();
  $('start-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const t = templates.find((x) => x.name === select.value);
    const size = app.term.proposed();
    const req = { cols: size.cols, rows: size.rows };
    if (t) {
      req.template = t.name;
      const prompt = $('prompt').value.trim();
      if (prompt) req.prompt = prompt;
    } else {
      req.command = $('command').value.trim();
      if (!req.command) {
        $('start-error').textContent = 'Type a command to run.';
        $('command').focus();
        return;
      }
    }
    $('start').disabled = true;
    $('start-error').textContent = '';
    try {
      const r = await api.createSession(req);
      app.pendingToken = { id: r.sessionId, token: r.token };
      location.hash = `#/s/${r.sessionId}`;
      refreshList();
      app.term.focus();
    } catch (err) {
      $('start-error').textContent = err.message;
    } finally {
      $('start').disabled = false;
    }
  });
}

function renderSessionList() {
  renderSessions($('session-list'), app.sessions, app.cur?.id);
  show($('sessions-empty'), app.sessions.length === 0);
}

async function refreshList() {
  if (document.body.classList.contains('share-mode') || (app.auth && !app.user)) return;
  try {
    const list = await api.listSessions();
    list.sort((a, b) => (b.createdAt || 0) - (a.createdAt || 0));
    app.sessions = list;
    renderSessionList();
  } catch {
    // shown again on the next refresh
  }
}

// ---- sign-in ----

function setupSignIn() {
  const fb = app.auth;
  show($('signin-emulator'), fb.emulator);
  const fail = (e) => { $('signin-error').textContent = e.message || String(e); };
  $('signin-google').addEventListener('click', () => fb.signInGoogle().catch(fail));
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    $('signin-error').textContent = '';
    fb.signInEmail($('signin-email').value, $('signin-password').value).catch(fail);
  });
  $('signup').addEventListener('click', () => {
    if (!$('signin-form').reportValidity()) return;
    $('signin-error').textContent = '';
    fb.signUpEmail($('signin-email').value, $('signin-password').value).catch(fail);
  });
  $('sign-out').addEventListener('click', () => fb.signOut());
}

function onUser(user) {
  app.user = user;
  const signedIn = !!user;
  document.body.classList.toggle('signed-out', !signedIn);
  show($('signin'), !signedIn && !document.body.classList.contains('share-mode'));
  show($('user'), signedIn);
  $('user-name').textContent = user ? (user.email || user.name || user.uid) : '';
  if (!app.booted) return;
  const r = parseRoute();
  if (signedIn) {
    refreshList();
    // a session opened before signing in could not get a token: open it again
    if (r.view === 'session' && !r.share && (!app.cur || app.cur.conn?.status === 'failed')) openSession(r.id);
  } else if (!r.share) {
    closeSession();
    app.sessions = [];
    renderSessionList();
  }
}

// ---- start ----

async function boot() {
  setupTerminal();
  for (const s of SPEEDS) $('replay-speed').append(el('option', { value: s, text: `${s}×`, selected: s === 1 }));
  $('share').addEventListener('click', shareLink);
  $('share-copy').addEventListener('click', copyShare);
  $('share-close').addEventListener('click', closeShare);
  $('share-box').addEventListener('keydown', (e) => { if (e.key === 'Escape') closeShare(); });
  $('cancel').addEventListener('click', () => askCancel($('cancel-box').hidden));
  $('cancel-keep').addEventListener('click', () => askCancel(false));
  $('cancel-confirm').addEventListener('click', cancelCurrent);
  $('cancel-box').addEventListener('keydown', (e) => { if (e.key === 'Escape') askCancel(false); });
  $('notice-close').addEventListener('click', () => show($('notice'), false));
  $('replay').addEventListener('click', startReplay);
  $('replay-play').addEventListener('click', () => app.cur?.player?.toggle());
  $('replay-restart').addEventListener('click', restartReplay);
  $('replay-exit').addEventListener('click', exitReplay);
  $('replay-speed').addEventListener('change', () => app.cur?.player?.setSpeed(Number($('replay-speed').value)));
  $('refresh').addEventListener('click', refreshList);
  $('skip').addEventListener('click', (e) => {
    e.preventDefault();   // the fragment holds the route: a real anchor jump would leave it
    app.term.focus();
  });
  document.addEventListener('keydown', onReplayKey, true);
  const seek = $('replay-seek');
  seek.addEventListener('input', () => seekReplay(Number(seek.value)));
  seek.addEventListener('pointerdown', () => { if (app.cur) app.cur.dragging = true; });
  seek.addEventListener('pointerup', () => { if (app.cur) app.cur.dragging = false; });
  try {
    app.config = await api.getConfig();
  } catch (e) {
    setStatus('failed', `control unreachable: ${e.message}`);
    app.config = { templates: [], auth: { mode: 'local' } };
  }
  setupStartForm();
  // a share link needs no sign-in: its viewer token is the credential
  const first = parseRoute();
  document.body.classList.toggle('share-mode', first.view === 'session' && first.share);
  if (app.config.auth.mode === 'firebase') {
    try {
      app.auth = await startAuth(app.config.auth, onUser);
      setupSignIn();
      onUser(app.user);
    } catch (e) {
      setStatus('failed', `sign-in unavailable: ${e.message}`);
    }
  }
  document.body.classList.remove('booting');
  app.booted = true;
  window.addEventListener('hashchange', route);
  await route();
  fitTerminal();
  refreshList();
  app.listTimer = setInterval(() => {
    if (!document.hidden) refreshList();
  }, LIST_REFRESH_MS);
}

// For the browser tests (tests/browser): the terminal and the open session.
window.__runwire = {
  get term() { return app.term?.term; },
  get view() { return app.term; },
  get session() { return app.cur; },
  get status() { return app.cur?.conn?.status ?? 'idle'; },
  lines: () => app.term?.lines() ?? [],
  text: () => (app.term?.lines() ?? []).join('\n'),
  drop: () => app.cur?.conn?.drop(),
  ready: false,
};

boot().then(() => { window.__runwire.ready = true; });
