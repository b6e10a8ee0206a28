// lib.mjs: helpers for runwire's browser tests. The page runs in Debian's Chromium
// (/usr/bin/chromium, headless, a fresh profile per launch), driven by playwright-core; no
// browser is ever downloaded. run.sh starts runwire-control on a loopback port and passes
// its URL in RW_URL and the screenshot directory in RW_ARTIFACTS.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const URL_BASE = process.env.RW_URL;
export const ARTIFACTS = process.env.RW_ARTIFACTS || 'browser-artifacts';
export const CHROMIUM = process.env.RW_CHROMIUM || '/usr/bin/chromium';
if (!URL_BASE) throw new Error('RW_URL is not set: run the browser tests through tests/browser/run.sh');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

// A browser with a fresh profile (playwright makes a new temporary user-data-dir per launch).
export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
}

// A page that records console errors, page errors and CSP violations; `page.problems()`
// returns them (each test asserts there are none).
export async function openPage(context, path = '/') {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    if (m.type() === 'error' || /Content Security Policy/i.test(t)) problems.push(`console ${m.type()}: ${t}`);
  });
  page.problems = () => problems.filter((p) => !/WebSocket connection to .* failed/.test(p));
  await page.goto(URL_BASE + path);
  await page.waitForFunction(() => window.__runwire && window.__runwire.ready, null, { timeout: 20000 });
  return page;
}

// The terminal's buffer as lines (trailing blanks trimmed).
export const lines = (page) => page.evaluate(() => window.__runwire.lines());
export const text = (page) => page.evaluate(() => window.__runwire.text());
export const status = (page) => page.evaluate(() => window.__runwire.status);

export async function waitForText(page, needle, timeout = 20000) {
  await page.waitForFunction((n) => window.__runwire.text().includes(n), needle, { timeout, polling: 50 });
}

export async function waitForStatus(page, wanted, timeout = 20000) {
  await page.waitForFunction((w) => window.__runwire.status === w, wanted, { timeout, polling: 50 });
}

// Waits until the terminal holds exactly what control says the session printed so far
// and nothing is left to parse.
export async function waitSettled(page, timeout = 20000) {
  await page.waitForFunction(() => {
    const s = window.__runwire.session;
    return s && s.conn && !s.conn.cursor.catchingUp && !window.__runwire.view.replaying &&
      window.__runwire.view.queue.length === 0 && window.__runwire.view.inFlight === 0;
  }, null, { timeout, polling: 50 });
}

let shot = 0;
// Saves a screenshot as RW_ARTIFACTS/<test file>-NN-<name>.png and returns its path.
export async function screenshot(page, prefix, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  shot++;
  const file = join(ARTIFACTS, `${prefix}-${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// control's HTTP API from the test itself.
export async function api(method, path, body) {
  const res = await fetch(URL_BASE + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => null);
  return { status: res.status, data };
}

export async function waitForSession(id, pred, timeout = 20000) {
  const end = Date.now() + timeout;
  for (;;) {
    const { data } = await api('GET', `/api/sessions/${id}`);
    if (data && pred(data)) return data;
    if (Date.now() > end) throw new Error(`session ${id} did not reach the expected state: ${JSON.stringify(data)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Starts a session through the page's form; returns its id (from the URL).
export async function startFromForm(page, command) {
  await page.fill('#command', command);
  await page.click('#start');
  await page.waitForFunction(() => /^#\/s\//.test(location.hash), null, { timeout: 10000 });
  return page.evaluate(() => location.hash.slice(4).split('?')[0]);
}

export function assertNoProblems(page) {
  assert.deepEqual(page.problems(), [], 'the page logged errors or CSP violations');
}

// Counts occurrences of `needle` in `haystack`.
export function count(haystack, needle) {
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

// Cancels the open session from the page: the Cancel button, then the confirmation.
export async function cancelFromPage(page) {
  await page.click('#cancel');
  await page.click('#cancel-confirm');
}

// Screenshots that the issue asks to keep (the layouts at 390x844 and 1280x800):
// build/browser-shots/ beside RW_ARTIFACTS (build/browser-artifacts).
export const SHOTS = process.env.RW_SHOTS || join(ARTIFACTS, '..', 'browser-shots');
export async function keepShot(page, name, opts = {}) {
  mkdirSync(SHOTS, { recursive: true });
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, ...opts });
  return file;
}

// Pixels of a rectangle of the page as it is drawn (a screenshot, decoded in the page
// itself: no image library in the tests). Returns {width, height, data: [r,g,b,a,...]}.
export async function pixels(page, clip) {
  const png = await page.screenshot({ clip });
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    return { width: c.width, height: c.height, data: Array.from(g.getImageData(0, 0, c.width, c.height).data) };
  }, png.toString('base64'));
}

// The rectangle of terminal cell (col, row) of the visible screen, in CSS pixels.
export async function cellRect(page, col, row) {
  return page.evaluate(({ col, row }) => {
    const t = window.__runwire.term;
    const screen = document.querySelector('#terminal .xterm-screen').getBoundingClientRect();
    const w = screen.width / t.cols;
    const h = screen.height / t.rows;
    return { x: screen.x + col * w, y: screen.y + row * h, width: w, height: h };
  }, { col, row });
}
