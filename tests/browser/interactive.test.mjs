// interactive.test.mjs: typing into a session, reloading mid-session (same content, nothing
// twice, replayed terminal queries never answered into the session), dropped connections
// resumed from the last offset, a read-only share in a second browser context, cancel.
// Screenshots: RW_ARTIFACTS/interactive-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, startFromForm, waitForText, waitForStatus, waitSettled, screenshot, text,
  lines, api, waitForSession, assertNoProblems, count, cancelFromPage,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const VIEWPORT = { viewport: { width: 1280, height: 760 } };

// Waits until control's byte count for the session stops moving, and returns it.
async function settledBytes(id, quietMs = 600) {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const { data } = await api('GET', `/api/sessions/${id}`);
    if (data.bytes !== last) {
      last = data.bytes;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return last;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('typing into cat: the echo comes back; a reload shows the same screen, nothing twice', async () => {
  const ctx = await browser.newContext(VIEWPORT);
  const page = await openPage(ctx);
  const id = await startFromForm(page, "sh -c 'echo ready for input; exec cat'");
  await waitForText(page, 'ready for input');
  await waitForStatus(page, 'live');
  await page.click('#terminal');
  await page.keyboard.type('hello runwire');
  await page.keyboard.press('Enter');
  // the pty echoes the line and cat prints it again
  await page.waitForFunction(() => (window.__runwire.text().match(/hello runwire/g) || []).length === 2,
    null, { timeout: 10000 });
  await screenshot(page, 'interactive', 'cat-echo');
  const bytes = await settledBytes(id);
  await waitSettled(page);
  const before = await lines(page);

  await page.reload();
  await page.waitForFunction(() => window.__runwire?.ready);
  await waitForStatus(page, 'live');
  await waitSettled(page);
  const afterReload = await lines(page);
  assert.deepEqual(afterReload, before, 'the same screen after a reload');
  assert.equal(count(afterReload.join('\n'), 'hello runwire'), 2, 'nothing twice');
  assert.equal(count(afterReload.join('\n'), 'ready for input'), 1, 'nothing twice');
  await screenshot(page, 'interactive', 'after-reload');
  assert.equal(await settledBytes(id), bytes, 'the reload sent nothing into the session');

  // still interactive after the reload
  await page.click('#terminal');
  await page.keyboard.type('second line');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (window.__runwire.text().match(/second line/g) || []).length === 2,
    null, { timeout: 10000 });
  await cancelFromPage(page);
  await waitForSession(id, (s) => s.state === 'cancelled' || s.state === 'exited');
  await waitForStatus(page, 'ended');
  assertNoProblems(page);
  await ctx.close();
});

test('replayed terminal queries are not answered into the session', async () => {
  const ctx = await browser.newContext(VIEWPORT);
  const page = await openPage(ctx);
  // Raw mode, no echo: every byte the session receives after the first key comes back as
  // cat -v text (ESC as "^["). The queries are DA1, DSR cursor position, DA2.
  const id = await startFromForm(page,
    "sh -c 'stty raw -echo; printf \"ready\\r\\n\"; dd bs=1 count=1 >/dev/null 2>&1; " +
    "printf \"ASK\\033[c\\033[6n\\033[>c\\r\\n\"; exec cat -v'");
  await waitForText(page, 'ready');
  await waitForStatus(page, 'live');
  await page.click('#terminal');
  await page.keyboard.type('g');
  // live queries are answered, as a terminal must (a program may wait for the answer)
  await waitForText(page, '^[[?1;2c');
  const bytes = await settledBytes(id);
  await waitSettled(page);
  const before = await lines(page);
  await screenshot(page, 'interactive', 'queries-live');

  await page.reload();
  await page.waitForFunction(() => window.__runwire?.ready);
  await waitForStatus(page, 'live');
  await waitSettled(page);
  await page.waitForTimeout(800);
  assert.equal(await settledBytes(id), bytes, 'no answer reached the session after the replay');
  assert.deepEqual(await lines(page), before);
  assert.equal(count(await text(page), '^[[?1;2c'), 1, 'the live answer, once');
  const guard = await page.evaluate(() => ({
    swallowed: window.__runwire.view.swallowedQueries,
    dropped: window.__runwire.view.droppedReplies,
  }));
  assert.ok(guard.swallowed >= 3, `replayed queries swallowed: ${JSON.stringify(guard)}`);
  await cancelFromPage(page);
  await waitForStatus(page, 'ended');
  assertNoProblems(page);
  await ctx.close();
});

test('dropped connections resume from the last offset: every line once, in order', async (t) => {
  const ctx = await browser.newContext(VIEWPORT);
  const page = await openPage(ctx);
  const N = 300;
  await startFromForm(page,
    `sh -c 'i=0; while [ $i -lt ${N} ]; do echo "line $i"; i=$((i+1)); sleep 0.01; done'`);
  await waitForText(page, 'line 5');
  let drops = 0;
  for (let k = 0; k < 4; k++) {
    await page.waitForTimeout(400);
    const st = await page.evaluate(() => window.__runwire.status);
    if (st === 'ended') break;
    await page.evaluate(() => window.__runwire.drop());
    drops++;
    if (k === 1) await screenshot(page, 'interactive', 'reconnecting');
  }
  assert.ok(drops >= 2, `dropped the connection ${drops} times while the session ran`);
  await waitForStatus(page, 'ended', 30000);
  const got = (await lines(page)).filter((l) => l.startsWith('line '));
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => `line ${i}`));
  const s = await page.evaluate(() => ({
    connections: window.__runwire.session.conn.connections,
    duplicates: window.__runwire.session.conn.cursor.duplicates,
    duplicateEvents: window.__runwire.session.conn.duplicateEvents,
    gaps: window.__runwire.session.conn.cursor.gaps,
    stages: window.__runwire.session.timeline.stages.map((st) => `${st.name}:${st.state}`),
  }));
  assert.ok(s.connections >= 2, `reconnected (${s.connections} connections)`);
  assert.equal(s.gaps, 0, 'no gap');
  assert.deepEqual(s.stages, ['run:done'], 'the stage history once, not replayed into a wrong state');
  // control honours since=: nothing below it is sent again (the page would drop it anyway)
  assert.equal(s.duplicates, 0, 'no byte sent twice');
  t.diagnostic(`events of the session's log received again after a reconnect: ${s.duplicateEvents}`);
  await page.waitForSelector('#session-facts dd.ok', { timeout: 5000 });
  await screenshot(page, 'interactive', 'resumed');
  assertNoProblems(page);
  await ctx.close();
});

test('a read-only share in a second browser context sees the output; its typing does nothing', async () => {
  const ctx = await browser.newContext(VIEWPORT);
  const page = await openPage(ctx);
  const id = await startFromForm(page, "sh -c 'echo shared output here; exec cat'");
  await waitForText(page, 'shared output here');
  await page.click('#share');
  await page.waitForSelector('#share-box:not([hidden])');
  const url = await page.inputValue('#share-url');
  assert.match(url, new RegExp(`#/s/${id}\\?viewer=[A-Za-z0-9._-]+$`));
  await screenshot(page, 'interactive', 'share-link');

  const viewerCtx = await browser.newContext(VIEWPORT);
  const viewer = await viewerCtx.newPage();
  const problems = [];
  viewer.on('pageerror', (e) => problems.push(e.message));
  await viewer.goto(url);
  await viewer.waitForFunction(() => window.__runwire?.ready);
  await waitForText(viewer, 'shared output here');
  await waitForStatus(viewer, 'live');
  assert.ok(await viewer.isVisible('#role-badge'), 'marked read-only');
  assert.ok(await viewer.isHidden('#cancel'), 'no cancel for a viewer');
  assert.ok(await viewer.isHidden('#share'), 'no share for a viewer');
  assert.match(await viewer.textContent('#conn-text'), /read-only/);
  assert.doesNotMatch(await viewer.evaluate(() => location.hash), /viewer=/, 'the one-time token left the address bar');

  const bytes = await settledBytes(id);
  await viewer.click('#terminal');
  await viewer.keyboard.type('typed by the viewer');
  await viewer.keyboard.press('Enter');
  await viewer.waitForTimeout(800);
  assert.equal(await settledBytes(id), bytes, 'nothing the viewer typed reached the session');
  assert.doesNotMatch(await text(page), /typed by the viewer/);
  assert.doesNotMatch(await text(viewer), /typed by the viewer/);

  // the viewer follows live output the writer causes
  await page.click('#terminal');
  await page.keyboard.type('from the writer');
  await page.keyboard.press('Enter');
  await waitForText(viewer, 'from the writer');
  await screenshot(viewer, 'interactive', 'share-viewer');

  await cancelFromPage(page);
  await waitForSession(id, (s) => s.state === 'cancelled' || s.state === 'exited');
  await waitForStatus(viewer, 'ended');
  await waitForStatus(page, 'ended');
  assert.equal(await page.isHidden('#cancel'), true);
  await screenshot(page, 'interactive', 'cancelled');
  assert.deepEqual(problems, []);
  assertNoProblems(page);
  await viewerCtx.close();
  await ctx.close();
});

test('keyboard only: start a session, type into it, leave the terminal with F6', async () => {
  const ctx = await browser.newContext(VIEWPORT);
  const page = await openPage(ctx);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'skip', 'first stop: skip link');
  const route = await page.evaluate(() => location.hash);
  await page.keyboard.press('Enter');
  assert.ok(await page.evaluate(() => document.activeElement.classList.contains('xterm-helper-textarea')),
    'the skip link leads to the terminal');
  assert.equal(await page.evaluate(() => location.hash), route, 'and keeps the route');
  await page.focus('#command');
  await page.keyboard.type("sh -c 'echo keyboard ready; exec cat'");
  await page.keyboard.press('Enter');
  await waitForText(page, 'keyboard ready');
  await waitForStatus(page, 'live');
  // the terminal has the focus after a start
  assert.ok(await page.evaluate(() => document.activeElement.classList.contains('xterm-helper-textarea')));
  await page.keyboard.type('typed without a mouse');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (window.__runwire.text().match(/typed without a mouse/g) || []).length === 2,
    null, { timeout: 10000 });
  await page.keyboard.press('F6');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'share', 'F6 leaves the terminal');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cancel');
  await page.keyboard.press('Enter');
  // cancel asks first; the focus is on the safe answer, the other is one Shift+Tab away
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cancel-keep');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cancel-confirm');
  await page.keyboard.press('Enter');
  await waitForStatus(page, 'ended');
  assertNoProblems(page);
  await ctx.close();
});
