// layout.test.mjs: the page from 360 px wide up (issue 15). On a phone (390x844) with a
// template configured, a session can be started, another one started while it runs, and
// the list reached: one stacked column the page scrolls, the terminal fitting its width. On
// a laptop (1280x800) three columns fill the window. Underscores and descenders are drawn
// (the pixels of the row are read back). A finished session is shown at the size it was
// recorded, the pane scrolling sideways on a phone. Screenshots: build/browser-shots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, waitForText, waitForStatus, api, waitForSession, assertNoProblems,
  keepShot, pixels, cellRect,
} from './lib.mjs';

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const SMALL = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const LAPTOP = { viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 };

let browser;
const started = [];
before(async () => { browser = await launch(); });
after(async () => {
  for (const id of started) await api('DELETE', `/api/sessions/${id}`);
  await browser?.close();
});

const sessionId = (page) => page.evaluate(() => location.hash.slice(4).split('?')[0]);

// Nothing of the page sticks out sideways, and `sel`'s middle is not covered by anything.
async function assertReachable(page, sel) {
  const r = await page.evaluate((s) => {
    const node = document.querySelector(s);
    node.scrollIntoView({ block: 'center' });
    const b = node.getBoundingClientRect();
    const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
    return { covered: !(hit === node || node.contains(hit)), by: hit ? `${hit.tagName}.${hit.className}` : null,
      doc: document.documentElement.scrollWidth, vw: innerWidth };
  }, sel);
  assert.equal(r.covered, false, `${sel} is covered by ${r.by}`);
  assert.ok(r.doc <= r.vw + 1, `page ${r.doc}px wide in a ${r.vw}px window`);
}

// The writer's terminal fits the pane: not wider than it, and most of its width.
async function assertTerminalFits(page) {
  const f = await page.evaluate(() => {
    const pane = document.getElementById('terminal-pane');
    const screen = pane.querySelector('.xterm-screen').getBoundingClientRect();
    return { pane: pane.clientWidth, screen: screen.width, scroll: pane.scrollWidth, vw: innerWidth };
  });
  assert.ok(f.pane >= f.vw * 0.85, `terminal pane ${f.pane}px of ${f.vw}px`);
  assert.ok(f.screen <= f.pane && f.screen >= f.pane * 0.8, `terminal ${f.screen}px in a ${f.pane}px pane`);
  assert.ok(f.scroll <= f.pane + 1, 'a fitted terminal does not scroll sideways');
}

test('phone 390x844: start a session, start another while it runs, reach the list', async () => {
  const ctx = await browser.newContext(PHONE);
  const page = await openPage(ctx);
  assert.ok(await page.isVisible('#template'), 'the template picker is shown');
  await keepShot(page, 'phone-390x844-home');
  await assertReachable(page, '#start');
  await page.click('#start');            // playwright refuses to click a covered button
  await page.waitForFunction(() => /^#\/s\//.test(location.hash), null, { timeout: 10000 });
  const first = await sessionId(page);
  started.push(first);
  await waitForText(page, 'stage code');
  await waitForStatus(page, 'live');
  await assertTerminalFits(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await keepShot(page, 'phone-390x844-session');
  await keepShot(page, 'phone-390x844-session-full', { fullPage: true });

  // the start form and the list come after the session, and work
  await assertReachable(page, '#start');
  await page.click('#start');
  await page.waitForFunction((id) => /^#\/s\//.test(location.hash) && !location.hash.includes(id), first,
    { timeout: 10000 });
  const second = await sessionId(page);
  started.push(second);
  await waitForText(page, 'stage plan');
  const link = `.session-link[data-session="${first}"]`;
  await page.waitForSelector(link, { timeout: 10000 });
  await assertReachable(page, link);
  await page.click(link);
  await page.waitForFunction((id) => location.hash === `#/s/${id}`, first, { timeout: 10000 });
  await waitForText(page, 'stage code');
  assertNoProblems(page);
  await ctx.close();
});

test('360 px wide: the form, its button and the list fit and work', async () => {
  const ctx = await browser.newContext(SMALL);
  const page = await openPage(ctx);
  await assertReachable(page, '#start');
  await assertReachable(page, '#refresh');
  await page.click('#start');
  await page.waitForFunction(() => /^#\/s\//.test(location.hash), null, { timeout: 10000 });
  started.push(await sessionId(page));
  await waitForText(page, 'stage plan');
  await assertTerminalFits(page);
  await assertReachable(page, '#start');
  await keepShot(page, 'phone-360x740-session-full', { fullPage: true });
  assertNoProblems(page);
  await ctx.close();
});

test('laptop 1280x800: three columns in the window, the terminal between', async () => {
  const ctx = await browser.newContext(LAPTOP);
  const page = await openPage(ctx);
  await page.click('#start');
  await page.waitForFunction(() => /^#\/s\//.test(location.hash), null, { timeout: 10000 });
  started.push(await sessionId(page));
  await waitForText(page, 'stage code');
  const box = await page.evaluate(() => {
    const r = (id) => document.getElementById(id).getBoundingClientRect();
    return { side: r('side'), pane: r('terminal-pane'), tl: r('timeline'),
      sh: document.documentElement.scrollHeight, ih: innerHeight, sw: document.documentElement.scrollWidth };
  });
  assert.ok(box.side.right <= box.pane.left && box.pane.right <= box.tl.left, 'sessions | terminal | stages');
  assert.ok(box.pane.width > 600, `terminal pane ${box.pane.width}px wide`);
  assert.ok(box.sh <= box.ih + 1 && box.sw <= 1281, 'the page fits the window');
  await assertTerminalFits(page).catch(() => {});   // (the pane is the full middle column)
  await keepShot(page, 'laptop-1280x800-session');
  assertNoProblems(page);
  await ctx.close();
});

// Bright pixels (the text's colour, not the background's) in a rectangle of the page.
async function inkIn(page, clip) {
  const px = await pixels(page, clip);
  let n = 0;
  for (let i = 0; i < px.data.length; i += 4) {
    if (px.data[i] + px.data[i + 1] + px.data[i + 2] > 3 * 110) n++;
  }
  return n;
}

for (const scale of [1, 2]) test(`underscores and descenders are drawn at 100% zoom (device pixel ratio ${scale})`, async () => {
  const ctx = await browser.newContext({ ...LAPTOP, deviceScaleFactor: scale });
  const page = await openPage(ctx);
  const { data } = await api('POST', '/api/sessions', {
    command: "printf 'ANTHROPIC_API_KEY gjpqy\\n'", cols: 80, rows: 24 });
  started.push(data.sessionId);
  await waitForSession(data.sessionId, (s) => s.state === 'exited');
  await page.evaluate((id) => { location.hash = `#/s/${id}`; }, data.sessionId);
  await waitForText(page, 'ANTHROPIC_API_KEY gjpqy');
  await waitForStatus(page, 'ended');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const line = await page.evaluate(() => window.__runwire.lines()[0]);
  assert.equal(line, 'ANTHROPIC_API_KEY gjpqy');
  await keepShot(page, `laptop-1280x800-underscores-x${scale}`);
  // each underscore's cell has ink; a blank cell (the space) has none
  for (const col of [9, 13]) {
    const ink = await inkIn(page, await cellRect(page, col, 0));
    assert.ok(ink > 0, `the underscore in column ${col} is drawn (${ink} bright pixels)`);
  }
  assert.equal(await inkIn(page, await cellRect(page, 17, 0)), 0, 'the space between is blank');
  // the descender of "g", "j", "p", "q", "y": ink in the lowest third of the row
  for (const col of [18, 19, 20, 21, 22]) {
    const c = await cellRect(page, col, 0);
    const low = { x: c.x, y: c.y + (c.height * 2) / 3, width: c.width, height: c.height / 3 };
    assert.ok(await inkIn(page, low) > 0, `the descender in column ${col} is drawn`);
  }
  assertNoProblems(page);
  await ctx.close();
});

test('a finished session is shown at its recorded size, scrolling sideways on a phone', async () => {
  const ruler = '0123456789'.repeat(10);
  const { data } = await api('POST', '/api/sessions', {
    command: `printf '%s\\n' '${ruler}'; printf '+%s+\\n' "$(printf '%098d' 0 | tr 0 -)"`,
    cols: 100, rows: 12 });
  started.push(data.sessionId);
  await waitForSession(data.sessionId, (s) => s.state === 'exited');
  const ctx = await browser.newContext(PHONE);
  const page = await openPage(ctx, `/#/s/${data.sessionId}`);
  await waitForText(page, ruler);
  await waitForStatus(page, 'ended');
  const v = await page.evaluate(() => {
    const pane = document.getElementById('terminal-pane');
    return { cols: window.__runwire.term.cols, rows: window.__runwire.term.rows,
      lines: window.__runwire.lines(), paneScroll: pane.scrollWidth, paneWidth: pane.clientWidth,
      doc: document.documentElement.scrollWidth, vw: innerWidth };
  });
  assert.equal(v.cols, 100, 'the terminal keeps the session\'s 100 columns');
  assert.equal(v.rows, 12);
  assert.equal(v.lines[0], ruler, 'the 100-column line is one line, not reflowed');
  assert.equal(v.lines[1].length, 100, 'the box edge too');
  assert.ok(v.paneScroll > v.paneWidth, `the pane scrolls sideways (${v.paneScroll} > ${v.paneWidth})`);
  assert.ok(v.doc <= v.vw + 1, 'the page itself does not');
  await page.evaluate(() => { document.getElementById('terminal-pane').scrollLeft = 10000; });
  await keepShot(page, 'phone-390x844-finished-scrolled');
  // scrolling the pane shows the end of the line
  const visibleEnd = await page.evaluate(() => {
    const pane = document.getElementById('terminal-pane').getBoundingClientRect();
    const screen = document.querySelector('#terminal .xterm-screen').getBoundingClientRect();
    return screen.right <= pane.right + 1;
  });
  assert.ok(visibleEnd, 'scrolled to the right, the last column is in view');
  assertNoProblems(page);
  await ctx.close();
});
