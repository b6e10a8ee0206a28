// player.test.mjs: replay as asciinema's player has it (issue 15): a seek bar that shows
// the position and jumps, Space plays and pauses wherever the focus is (the terminal too),
// the arrows step, and the stage timeline follows the replayed time instead of showing the
// end from the first frame.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, waitForText, waitForStatus, api, waitForSession, assertNoProblems, keepShot,
} from './lib.mjs';

const emit = (ev) => `printf '%s\\n' '${JSON.stringify(ev)}' >&$RUNWIRE_EVENTS_FD`;
// Two stages a second and a half apart, each announced in the output.
const COMMAND = [
  emit({ stage: 'alpha', state: 'running' }), 'echo ALPHA-BEGINS', 'sleep 1.5',
  emit({ stage: 'alpha', state: 'done' }),
  emit({ stage: 'beta', state: 'running' }), 'echo BETA-BEGINS', 'sleep 1.5',
  emit({ stage: 'beta', state: 'done' }), 'echo ALL-DONE',
].join('; ');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Where in the replay (seconds) the recording printed `needle`.
const timeOf = (page, needle) => page.evaluate((n) => {
  const ev = window.__runwire.session.cast.events.find((e) => e.code === 'o' && e.data.includes(n));
  return ev ? ev.t : null;
}, needle);

async function seek(page, pos) {
  await page.$eval('#replay-seek', (el, p) => {
    el.value = String(p);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, pos);
  await page.waitForFunction(() => {
    const s = window.__runwire.session;
    return s && !s.seeking && window.__runwire.view.queue.length === 0 && window.__runwire.view.inFlight === 0;
  }, null, { timeout: 10000, polling: 50 });
}

const stageStates = (page) => page.$$eval('#stages li', (lis) =>
  Object.fromEntries(lis.map((li) => [li.dataset.stage, li.dataset.state])));

test('seek bar, Space from the terminal, arrows, and a timeline that follows the replay', async () => {
  const { data } = await api('POST', '/api/sessions', { command: COMMAND });
  await waitForSession(data.sessionId, (s) => s.state === 'exited', 30000);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(ctx, `/#/s/${data.sessionId}`);
  await waitForText(page, 'ALL-DONE');
  await waitForStatus(page, 'ended');
  await page.waitForSelector('#replay:not([hidden])', { timeout: 10000 });
  assert.equal((await stageStates(page)).beta, 'done', 'before the replay: the end');

  await page.click('#replay');
  await page.waitForSelector('#replay-bar:not([hidden])');
  assert.ok(await page.isVisible('#replay-seek'), 'a seek bar');
  const max = Number(await page.$eval('#replay-seek', (el) => el.max));
  assert.ok(max >= 2.5, `the bar spans the recording (${max} s)`);

  // Space with the focus in the terminal pauses (xterm must not take it)
  await page.click('#terminal');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => document.getElementById('replay-play').textContent === 'Play', null,
    { timeout: 5000 });
  assert.equal(await page.evaluate(() => window.__runwire.session.player.playing), false, 'Space paused');

  // jump to just after alpha began: alpha running, beta not yet there
  const tAlpha = await timeOf(page, 'ALPHA-BEGINS');
  const tBeta = await timeOf(page, 'BETA-BEGINS');
  assert.ok(tAlpha !== null && tBeta !== null && tBeta - tAlpha > 1, `alpha at ${tAlpha} s, beta at ${tBeta} s`);
  await seek(page, tAlpha + 0.3);
  let out = await page.evaluate(() => window.__runwire.text());
  assert.ok(out.includes('ALPHA-BEGINS') && !out.includes('BETA-BEGINS'), `the screen at alpha: ${out}`);
  let st = await stageStates(page);
  assert.equal(st.alpha, 'running', 'the timeline at that moment: alpha running');
  assert.equal(st.beta, undefined, 'and beta not begun');
  const shown = Number(await page.$eval('#replay-seek', (el) => el.value));
  assert.ok(Math.abs(shown - (tAlpha + 0.3)) < 0.2, `the bar shows the position (${shown})`);
  assert.match(await page.textContent('#replay-time'), /^\d+:\d\d \/ \d+:\d\d$/);
  await keepShot(page, 'laptop-replay-at-alpha');

  // to the end: everything, both done
  await seek(page, max);
  out = await page.evaluate(() => window.__runwire.text());
  assert.ok(out.includes('ALL-DONE'));
  st = await stageStates(page);
  assert.deepEqual([st.alpha, st.beta], ['done', 'done']);

  // back to the start: an empty screen and no stages yet
  await seek(page, 0);
  assert.ok(!(await page.evaluate(() => window.__runwire.text())).includes('ALPHA-BEGINS'));

  // ArrowRight steps forward 5 s (past the end here), from the terminal too
  await page.click('#terminal');
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => Number(document.getElementById('replay-seek').value) > 0, null, { timeout: 5000 });

  // Space plays again, and the replay reaches the end by itself
  await seek(page, 0);
  await page.click('#terminal');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.__runwire.session.player.playing === true || window.__runwire.text().includes('ALL-DONE'),
    null, { timeout: 5000 });
  await waitForText(page, 'ALL-DONE', 20000);
  await page.waitForFunction(() => document.querySelector('#stages li[data-stage="beta"]')?.dataset.state === 'done',
    null, { timeout: 10000 });

  await page.click('#replay-exit');
  await page.waitForSelector('#replay-bar', { state: 'hidden' });
  assert.equal((await stageStates(page)).beta, 'done', 'back to the output: the whole timeline');
  assertNoProblems(page);
  await ctx.close();
});
