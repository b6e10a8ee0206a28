// page.test.mjs: the page opens, starts a session from its form, shows the terminal text
// and the stage timeline in order, proves the output complete (SHA-256), replays the
// recording, and lays out on a phone. Screenshots: RW_ARTIFACTS/page-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, startFromForm, waitForText, waitForStatus, screenshot, text, api,
  assertNoProblems, count,
} from './lib.mjs';

// Three stages the CLI reports itself (RUNWIRE_EVENTS_FD) around its own output. It waits a
// moment first so that the page sees every stage live: events without a "ts" that the page
// only gets replayed have no duration to show (docs/browser.md, "Stage timeline").
const STAGES = ['fetch', 'build', 'test'];
const STAGE_CMD = `sh -c 'sleep 1; for s in ${STAGES.join(' ')}; do ` +
  'printf "{\\"stage\\":\\"%s\\",\\"state\\":\\"running\\"}\\n" $s >&$RUNWIRE_EVENTS_FD; ' +
  'echo stage $s; sleep 0.3; ' +
  'printf "{\\"stage\\":\\"%s\\",\\"state\\":\\"done\\"}\\n" $s >&$RUNWIRE_EVENTS_FD; done\'';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the page opens with its start form, the session list and a connection status', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await openPage(ctx);
  assert.equal(await page.title(), 'runwire');
  assert.ok(await page.isVisible('#start-form'));
  assert.ok(await page.isVisible('#command'), 'no templates configured: a command box');
  assert.ok(await page.isHidden('#signin'), 'the embedded default has no sign-in step');
  assert.match(await page.textContent('#conn-text'), /not connected/);
  await screenshot(page, 'page', 'home');
  assertNoProblems(page);
  await ctx.close();
});

test('a session started from the form streams its output and its stages in order', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await openPage(ctx);
  const id = await startFromForm(page, STAGE_CMD);
  assert.match(id, /^[0-9a-f]{24}$/);
  await waitForText(page, 'stage fetch');
  await screenshot(page, 'page', 'running');
  await waitForText(page, 'stage test');
  await waitForStatus(page, 'ended');
  const out = await text(page);
  for (const s of STAGES) assert.equal(count(out, `stage ${s}`), 1, `"stage ${s}" once`);

  // the CLI's stages, in the order they ran, all done, each with a duration
  const stages = await page.$$eval('#stages li', (lis) => lis.map((li) => ({
    name: li.dataset.stage, state: li.dataset.state,
    duration: li.querySelector('.stage-duration')?.textContent || '',
  })));
  const cli = stages.filter((s) => STAGES.includes(s.name));
  assert.deepEqual(cli.map((s) => s.name), STAGES);
  for (const s of cli) {
    assert.equal(s.state, 'done', `${s.name} done`);
    assert.match(s.duration, /\d+ ms|\d\.\d s/, `${s.name} has a duration`);
  }
  // the EXIT frame's total and SHA-256 match what the page rendered
  await page.waitForSelector('#session-facts dd.ok', { timeout: 5000 });
  assert.match(await page.textContent('#session-facts'), /exited with code 0/);
  // the list shows the session with its final state
  await page.waitForFunction((sid) => {
    const a = document.querySelector(`.session-link[data-session="${sid}"] .badge`);
    return a && /exited/.test(a.textContent);
  }, id, { timeout: 10000 });
  await screenshot(page, 'page', 'ended');

  const { data } = await api('GET', `/api/sessions/${id}`);
  assert.equal(data.state, 'exited');
  assertNoProblems(page);
  await ctx.close();
});

test('a finished session replays from its recording with play/pause and speed', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await openPage(ctx);
  const id = await startFromForm(page, STAGE_CMD);
  await waitForStatus(page, 'ended');
  const rec = await fetch(`${process.env.RW_URL}/api/sessions/${id}/recording`);
  if (rec.status === 404) {
    assert.ok(await page.isHidden('#replay'), 'no recording: no replay button');
    await ctx.close();
    return;
  }
  await page.waitForSelector('#replay:not([hidden])', { timeout: 10000 });
  await page.click('#replay');
  await page.waitForSelector('#replay-bar:not([hidden])');
  await page.selectOption('#replay-speed', '0.5');
  assert.match(await page.textContent('#conn-text'), /replaying/);
  await waitForText(page, 'stage fetch', 10000);
  // pause: nothing more arrives while paused
  await page.click('#replay-play');
  assert.equal((await page.textContent('#replay-play')).trim(), 'Play');
  const paused = await text(page);
  await page.waitForTimeout(600);
  assert.equal(await text(page), paused, 'paused replay does not move');
  await screenshot(page, 'page', 'replay-paused');
  await page.focus('#replay-play');   // keyboard: the play button works with Enter too
  await page.keyboard.press('Enter');
  await waitForText(page, 'stage test', 10000);
  const replayed = await text(page);
  for (const s of STAGES) assert.equal(count(replayed, `stage ${s}`), 1);
  await page.click('#replay-exit');
  await page.waitForSelector('#replay-bar', { state: 'hidden' });
  await waitForText(page, 'stage test');
  assert.equal(count(await text(page), 'stage test'), 1, 'back to the output: shown once');
  assertNoProblems(page);
  await ctx.close();
});

test('the page is readable on a phone', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    deviceScaleFactor: 2 });
  const page = await openPage(ctx);
  await screenshot(page, 'page', 'phone-home');
  await startFromForm(page, STAGE_CMD);
  await waitForText(page, 'stage test');
  await waitForStatus(page, 'ended');
  // one column: the terminal spans the width, no horizontal scrolling of the page
  const layout = await page.evaluate(() => ({
    pane: document.getElementById('terminal-pane').getBoundingClientRect().width,
    doc: document.documentElement.scrollWidth,
    vw: window.innerWidth,
  }));
  assert.ok(layout.pane > layout.vw * 0.85, `terminal pane ${layout.pane}px of ${layout.vw}px`);
  assert.ok(layout.doc <= layout.vw + 1, `page ${layout.doc}px wide in a ${layout.vw}px window`);
  await screenshot(page, 'page', 'phone-session');
  assertNoProblems(page);
  await ctx.close();
});
