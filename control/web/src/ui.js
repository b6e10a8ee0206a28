// ui.js: small DOM helpers and the renderers of the page's lists (sessions, stages,
// facts). No inline styles or handlers: classes and properties only (the CSP forbids
// inline script; see docs/browser.md).
import { formatDuration, formatBytes, formatProgress } from './timeline.js';

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function show(node, on) {
  node.hidden = !on;
}

const STATE_LABEL = {
  waiting: 'waiting', starting: 'starting', running: 'running', exited: 'exited',
  failed: 'failed', cancelled: 'cancelled',
};

export function timeAgo(ms, now = Date.now()) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

export function sessionStateText(s) {
  if (!s) return '';
  if (s.state === 'exited') {
    if (s.signal) return `killed (signal ${s.signal})`;
    return `exited ${s.exitCode ?? ''}`.trim();
  }
  return STATE_LABEL[s.state] || s.state;
}

// The list of the user's sessions; the open one is marked.
export function renderSessions(list, sessions, currentId) {
  list.replaceChildren(...sessions.map((s) => {
    const current = s.sessionId === currentId;
    return el('li', { class: current ? 'current' : '' },
      el('a', { href: `#/s/${s.sessionId}`, class: 'session-link', 'aria-current': current ? 'page' : null,
        dataset: { session: s.sessionId } },
      el('span', { class: 'session-cmd', text: s.template ? `${s.template}` : s.command }),
      el('span', { class: 'session-meta' },
        el('span', { class: `badge state-${s.state}`, text: sessionStateText(s) }),
        el('span', { class: 'hint', text: `${timeAgo(s.createdAt)} · ${formatBytes(s.bytes ?? 0)}` }))));
  }));
}

const STAGE_TEXT = { waiting: 'waiting', running: 'running', done: 'done', failed: 'failed',
  skipped: 'skipped', cancelled: 'cancelled' };
// One glyph per final state, so that no state but "running" looks like a spinner (the icon
// of a running stage is a spinning ring drawn by app.css).
const STAGE_GLYPH = { waiting: '', running: '', done: '✓', failed: '✕', skipped: '–', cancelled: '⊘' };

// The timeline: each stage under its parent ("parent" in the stage event, docs/events.md),
// indented by depth; names, messages and reasons wrap.
export function renderStages(list, timeline) {
  list.replaceChildren(...timeline.ordered().map(({ stage: st, depth }) => {
    const dur = timeline.duration(st);
    const frac = timeline.progress(st);
    return el('li', { class: `stage stage-${st.state} depth-${depth}`,
      dataset: { stage: st.name, state: st.state, depth: String(depth), ...(st.parent ? { parent: st.parent } : {}) } },
      el('span', { class: 'stage-icon', 'aria-hidden': 'true', text: STAGE_GLYPH[st.state] || '' }),
      el('span', { class: 'stage-name', text: st.name }),
      el('span', { class: 'stage-state', text: STAGE_TEXT[st.state] || st.state }),
      el('span', { class: 'stage-duration', text: dur === null ? '' : formatDuration(dur) }),
      frac !== null ? el('progress', { class: 'stage-progress', max: 1, value: frac,
        'aria-label': `${st.name} progress` }) : null,
      frac !== null || st.done !== null ? el('span', { class: 'stage-count hint', text: formatProgress(st) }) : null,
      st.message ? el('span', { class: 'stage-message hint', text: st.message }) : null,
      st.reason && (st.state === 'failed' || st.state === 'cancelled')
        ? el('span', { class: 'stage-reason', text: st.reason }) : null);
  }));
}

// How the session ended, above the stages: "cancelled: <reason>", "failed: <reason>".
export function renderRunState(node, timeline) {
  const s = timeline.session;
  const over = s && (s.state === 'cancelled' || s.state === 'failed');
  node.hidden = !over;
  if (!over) return;
  node.className = `run-state run-${s.state}`;
  node.dataset.state = s.state;
  const label = STATE_LABEL[s.state].replace(/^./, (c) => c.toUpperCase());
  // "Cancelled: cancelled by its owner" says it twice
  if (!s.reason) node.textContent = label;
  else if (s.reason.toLowerCase().startsWith(s.state)) node.textContent = s.reason.replace(/^./, (c) => c.toUpperCase());
  else node.textContent = `${label}: ${s.reason}`;
}

// Facts about the open session as a definition list.
export function renderFacts(dl, facts) {
  dl.replaceChildren(...facts.filter(([, v]) => v !== null && v !== undefined && v !== '').flatMap(([k, v, cls]) => [
    el('dt', { text: k }), el('dd', { text: String(v), class: cls || null }),
  ]));
}
