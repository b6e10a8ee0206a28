// templates.test.mjs: with templates in control's config (templates.config.json), the start
// form offers them with their descriptions and an optional prompt; a session started from
// one shows its stages in order; a failing stage shows its reason.
// Screenshots: RW_ARTIFACTS/templates-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, waitForText, waitForStatus, screenshot, text, api, assertNoProblems, count,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function startTemplate(page, name, prompt) {
  await page.selectOption('#template', name);
  if (prompt !== undefined) await page.fill('#prompt', prompt);
  await page.click('#start');
  await page.waitForFunction(() => /^#\/s\//.test(location.hash), null, { timeout: 10000 });
  return page.evaluate(() => location.hash.slice(4).split('?')[0]);
}

test('a template with a prompt: its stages appear in order as they run', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await openPage(ctx);
  assert.ok(await page.isVisible('#template'));
  assert.deepEqual(await page.$$eval('#template option', (os) => os.map((o) => o.value)),
    ['stages-demo', 'failing', '']);
  assert.match(await page.textContent('#template-desc'), /Three stages/);
  assert.ok(await page.isVisible('#prompt'));
  assert.ok(await page.isHidden('#command'), 'a template brings its own command');
  await page.fill('#prompt', 'tidy the README');
  await screenshot(page, 'templates', 'form');

  // every change of the stage list, as the page renders it
  await page.evaluate(() => {
    window.__stageLists = [];
    new MutationObserver(() => {
      const names = [...document.querySelectorAll('#stages li')].map((li) => li.dataset.stage)
        .filter((n) => n !== 'run');
      const last = window.__stageLists[window.__stageLists.length - 1];
      if (names.length && (!last || last.join() !== names.join())) window.__stageLists.push(names);
    }).observe(document.getElementById('stages'), { childList: true, subtree: true });
  });
  const id = await startTemplate(page, 'stages-demo', 'tidy the README');
  await page.waitForSelector('#stages li[data-stage="code"]', { timeout: 15000 });
  await screenshot(page, 'templates', 'stage-code');
  await page.waitForSelector('#stages li[data-stage="review"]', { timeout: 15000 });
  // each stage showed up while it ran, in order: one, then two, then three
  assert.deepEqual(await page.evaluate(() => window.__stageLists),
    [['plan'], ['plan', 'code'], ['plan', 'code', 'review']]);
  await waitForText(page, 'prompt: tidy the README');
  await waitForStatus(page, 'ended');
  assert.equal(count(await text(page), 'stage review'), 1);
  const states = await page.$$eval('#stages li', (lis) => lis.map((li) => `${li.dataset.stage}:${li.dataset.state}`));
  assert.deepEqual(states.filter((s) => !s.startsWith('run:')), ['plan:done', 'code:done', 'review:done']);
  const { data } = await api('GET', `/api/sessions/${id}`);
  assert.equal(data.template, 'stages-demo');
  assertNoProblems(page);
  await ctx.close();
});

test('a failing stage shows its reason; the exit code is shown', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await openPage(ctx);
  await startTemplate(page, 'failing');
  await page.waitForSelector('#stages li[data-stage="check"][data-state="running"]', { timeout: 15000 });
  await page.waitForSelector('#stages li[data-stage="check"][data-state="failed"]', { timeout: 15000 });
  assert.equal(await page.textContent('#stages li[data-stage="check"] .stage-reason'), '3 checks failed');
  await waitForStatus(page, 'ended');
  assert.match(await page.textContent('#conn-text'), /exited with code 3/);
  await screenshot(page, 'templates', 'failed-stage');
  assertNoProblems(page);
  await ctx.close();
});
