// timeline.test.mjs: the stage timeline and the session's facts while it runs (issue 15). A
// CLI's sub-steps ("parent" in the stage event) sit under their stage; long names and
// details wrap inside the panel; a skipped stage has a still mark, not a spinner; cancel asks
// first, and a cancelled run shows as cancelled with its reason. The output size and the
// time run count up while the session runs. The share box closes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, waitForText, waitForStatus, api, waitForSession, assertNoProblems,
  keepShot, screenshot,
} from './lib.mjs';

const LAPTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

// A shell line writing one stage event (docs/events.md) to RUNWIRE_EVENTS_FD.
const emit = (ev) => `printf '%s\\n' '${JSON.stringify(ev)}' >&$RUNWIRE_EVENTS_FD`;
const LONG_NAME = `check-${'dependency-tree-'.repeat(8)}end`;
const LONG_DETAIL = `scanning ${'node_modules/some-package/lib/'.repeat(6)}index.js and more`;
const AUDIT = 'AI-SECURITY-AUDIT';
const STAGED = [
  emit({ stage: 'Prepare Workspace', state: 'running' }),
  emit({ stage: 'Prepare Workspace', state: 'done' }),
  emit({ stage: AUDIT, state: 'running' }),
  emit({ stage: 'Scan dependencies', state: 'running', parent: AUDIT }),
  emit({ stage: 'Scan dependencies', state: 'done', parent: AUDIT }),
  emit({ stage: LONG_NAME, state: 'running', parent: AUDIT, message: LONG_DETAIL }),
  emit({ stage: 'Publish report', state: 'skipped' }),
  'echo audit under way',
  'sleep 60',
].join('; ');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function open(ctxOpts, command) {
  const { data } = await api('POST', '/api/sessions', { command });
  const ctx = await browser.newContext(ctxOpts);
  const page = await openPage(ctx, `/#/s/${data.sessionId}`);
  return { ctx, page, id: data.sessionId };
}

// The CLI's stages (the agent's own, fetch ... run, come first).
const AGENT_STAGES = ['fetch', 'verify', 'unpack', 'install', 'run'];
const stages = (page) => page.$$eval('#stages li', (lis, agent) => lis.filter((li) => !agent.includes(li.dataset.stage)).map((li) => ({
  name: li.dataset.stage, state: li.dataset.state, depth: Number(li.dataset.depth), parent: li.dataset.parent || null,
  reason: li.querySelector('.stage-reason')?.textContent || null,
})), AGENT_STAGES);

for (const [label, opts] of [['laptop', LAPTOP], ['phone', PHONE]]) {
  test(`${label}: sub-steps under their stage, long names wrap, skipped is still, cancel shows why`, async () => {
    const { ctx, page, id } = await open(opts, STAGED);
    await waitForText(page, 'audit under way');
    await page.waitForSelector('#stages li[data-stage="Publish report"]', { timeout: 10000 });
    const st = await stages(page);
    assert.deepEqual(st.map((s) => [s.name, s.depth]), [
      ['Prepare Workspace', 0], [AUDIT, 0], ['Scan dependencies', 1], [LONG_NAME, 1], ['Publish report', 0],
    ], 'the audit\'s steps under it, in order');
    assert.equal(st[2].parent, AUDIT);

    // long names and details wrap inside the panel
    const fit = await page.evaluate((name) => {
      const tl = document.getElementById('timeline');
      const li = document.querySelector(`#stages li[data-stage="${name}"]`);
      const nameBox = li.querySelector('.stage-name').getBoundingClientRect();
      const msg = li.querySelector('.stage-message').getBoundingClientRect();
      const tlBox = tl.getBoundingClientRect();
      return { tlScroll: tl.scrollWidth, tlWidth: tl.clientWidth, nameRight: nameBox.right, msgRight: msg.right,
        tlRight: tlBox.right, nameHeight: nameBox.height, lineHeight: parseFloat(getComputedStyle(li).lineHeight) || 20,
        doc: document.documentElement.scrollWidth, vw: innerWidth };
    }, LONG_NAME);
    assert.ok(fit.tlScroll <= fit.tlWidth + 1, `the timeline does not overflow (${fit.tlScroll} > ${fit.tlWidth})`);
    assert.ok(fit.nameRight <= fit.tlRight && fit.msgRight <= fit.tlRight, 'name and detail stay inside the panel');
    assert.ok(fit.nameHeight > fit.lineHeight * 1.5, 'the long name wraps onto more lines');
    assert.ok(fit.doc <= fit.vw + 1, 'the page does not get wider');

    // a skipped stage is a still mark; only the running one spins
    const icons = await page.evaluate(() => {
      const look = (name) => {
        const icon = document.querySelector(`#stages li[data-stage="${name}"] .stage-icon`);
        const cs = getComputedStyle(icon);
        return { anim: cs.animationName, glyph: icon.textContent, topColor: cs.borderTopColor,
          rightColor: cs.borderRightColor, style: cs.borderTopStyle };
      };
      return { skipped: look('Publish report'), running: look('AI-SECURITY-AUDIT'), done: look('Prepare Workspace') };
    });
    assert.equal(icons.running.anim, 'spin', 'a running stage spins');
    assert.equal(icons.skipped.anim, 'none', 'a skipped stage does not');
    assert.notEqual(icons.skipped.style, 'dashed', 'no dashed ring (it reads as a spinner)');
    assert.ok(icons.skipped.glyph.trim(), 'a skipped stage has a mark of its own');
    assert.ok(icons.done.glyph.trim(), 'a done stage has a mark of its own');
    await keepShot(page, `${label}-timeline-running`);

    // cancel asks first: "keep it running" leaves it running
    await page.click('#cancel');
    assert.ok(await page.isVisible('#cancel-box'), 'cancel asks for confirmation');
    await page.click('#cancel-keep');
    assert.ok(await page.isHidden('#cancel-box'));
    const still = await api('GET', `/api/sessions/${id}`);
    assert.equal(still.data.state, 'running', 'not cancelled without a yes');
    await page.click('#cancel');
    await page.click('#cancel-confirm');
    await waitForSession(id, (s) => s.state === 'cancelled');
    await waitForStatus(page, 'ended');
    await page.waitForSelector('#run-state:not([hidden])', { timeout: 10000 });
    const runState = await page.textContent('#run-state');
    assert.match(runState, /cancelled/i);
    assert.match(runState, /owner/, `the reason is shown: "${runState}"`);
    const after = await stages(page);
    const audit = after.find((s) => s.name === AUDIT);
    assert.equal(audit.state, 'cancelled', 'the stage that was running shows as cancelled');
    assert.match(audit.reason || '', /owner/);
    assert.equal(after.find((s) => s.name === 'Publish report').state, 'skipped');
    assert.equal(await page.$eval('#stages li[data-stage="run"]', (li) => li.dataset.state), 'cancelled',
      "the agent's run stage ended by the cancel shows as cancelled, not failed");
    const cancelledIcon = await page.$eval(`#stages li[data-stage="${AUDIT}"] .stage-icon`,
      (i) => getComputedStyle(i).animationName);
    assert.equal(cancelledIcon, 'none', 'a cancelled stage does not spin');
    await keepShot(page, `${label}-timeline-cancelled`);
    assertNoProblems(page);
    await ctx.close();
  });
}

test('the facts count up while the session runs: output size and time', async () => {
  const { ctx, page, id } = await open(LAPTOP,
    'for i in $(seq 1 60); do echo "line $i of the live output"; sleep 0.1; done; sleep 60');
  await waitForText(page, 'line 3 of');
  await waitForStatus(page, 'live');
  // (one evaluate each: the facts are redrawn every half second, a handle would go stale)
  const fact = (cls) => page.evaluate((c) => document.querySelector(`#session-facts dd.${c}`)?.textContent ?? null, cls);
  const label = () => page.evaluate(() =>
    document.querySelector('#session-facts dd.live-duration')?.previousElementSibling?.textContent ?? null);
  await page.waitForSelector('#session-facts dd.live-bytes', { timeout: 10000 });
  await page.waitForSelector('#session-facts dd.live-duration', { timeout: 10000 });
  const bytes1 = await fact('live-bytes');
  const time1 = await fact('live-duration');
  assert.equal(await label(), 'Running for');
  // both move on while it runs (the page redraws them every half second)
  await page.waitForFunction(({ b, t }) => {
    const get = (c) => document.querySelector(`#session-facts dd.${c}`)?.textContent;
    return get('live-bytes') !== b && get('live-duration') !== t;
  }, { b: bytes1, t: time1 }, { timeout: 20000, polling: 100 });
  await waitForText(page, 'line 60 of');
  // the output size shown is what the page holds
  await page.waitForFunction(() => {
    const s = window.__runwire.session;
    const shown = document.querySelector('#session-facts dd.live-bytes')?.textContent;
    return shown && s.conn.cursor.next > 0 && shown.includes(String(s.conn.cursor.next < 1024
      ? `${s.conn.cursor.next} B` : (s.conn.cursor.next / 1024).toFixed(1)));
  }, null, { timeout: 10000, polling: 100 });
  assert.equal(await api('GET', `/api/sessions/${id}`).then((r) => r.data.state), 'running');
  await screenshot(page, 'timeline', 'live-facts');

  // the share box can be closed, with its button or Escape
  await page.click('#share');
  await page.waitForSelector('#share-box:not([hidden])');
  await page.click('#share-close');
  assert.ok(await page.isHidden('#share-box'), 'closed with its button');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'share', 'the focus goes back');
  await page.click('#share');
  await page.waitForSelector('#share-box:not([hidden])');
  await page.keyboard.press('Escape');
  assert.ok(await page.isHidden('#share-box'), 'closed with Escape');
  await api('DELETE', `/api/sessions/${id}`);
  await waitForStatus(page, 'ended');
  await page.waitForFunction(() => document.querySelector('#session-facts dd.live-duration')
    ?.previousElementSibling?.textContent === 'Ran for', null, { timeout: 10000 });
  assertNoProblems(page);
  await ctx.close();
});
