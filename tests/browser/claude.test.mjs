// claude.test.mjs: the real Claude Code CLI in the page (claude.setup.bash: offline, against a
// loopback Messages API that pauses between its text deltas). The interactive TUI starts at
// its prompt in xterm.js; the person types a prompt and Enter, and the streamed answer is
// drawn. The seed's plan run takes its prompt from the page's prompt field and ends with 0.
// Screenshots: RW_ARTIFACTS/claude-*.png (the README shows claude-readme.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ARTIFACTS, launch, openPage, waitForText, waitForStatus, screenshot, text, waitForSession, assertNoProblems,
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

const apiRequests = () => readFileSync(process.env.RW_API_LOG, 'utf8').trim().split('\n')
  .filter(Boolean).map((l) => JSON.parse(l));

test('the Claude Code TUI: typed into from the page, its streamed answer drawn', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(ctx);
  const id = await startTemplate(page, 'claude-tui');
  await waitForText(page, 'Claude Code v', 30000);
  await waitForStatus(page, 'live');
  await waitForText(page, '❯');
  const start = await text(page);
  assert.doesNotMatch(start, /trust the files|select login|use this api key/i, 'no first-run dialog');
  await screenshot(page, 'claude', 'tui-prompt');

  await page.click('#terminal');
  await page.keyboard.type('Plan a tidy-up PAGE-PROMPT-3');
  await waitForText(page, 'PAGE-PROMPT-3');
  await page.keyboard.press('Enter');
  await waitForText(page, 'PLAN-BEGIN', 30000);
  await waitForText(page, 'PLAN-END', 30000);
  assert.match(await text(page), /Step 3: propose the changes/);
  await screenshot(page, 'claude', 'tui-answer');
  // the README's picture (docs/img/claude-code-tui.png): the form, the sessions and the
  // terminal, without the header line that shows this machine's paths in the command
  await page.screenshot({ path: join(ARTIFACTS, 'claude-readme.png'), clip: { x: 0, y: 90, width: 1000, height: 705 } });
  const req = apiRequests().find((r) => /PAGE-PROMPT-3/.test(r.last_user_text ?? ''));
  assert.ok(req, 'the API got the typed prompt');
  assert.equal(req.x_api_key, process.env.RW_CLAUDE_KEY, 'with the key from the template secret');

  await page.keyboard.type('/exit');
  await waitForText(page, 'Exit the CLI');
  await page.keyboard.press('Enter');
  await waitForStatus(page, 'ended', 30000);
  await waitForSession(id, (s) => s.state === 'exited' && s.exitCode === 0);
  assertNoProblems(page);
  await ctx.close();
});

test('the seed plan run: the prompt from the page, the plan shown, exit 0', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(ctx);
  const id = await startTemplate(page, 'claude-plan', 'Plan the audit PAGE-PLAN-8');
  await waitForText(page, 'PLAN-END', 30000);
  await waitForStatus(page, 'ended', 30000);
  await waitForSession(id, (s) => s.state === 'exited' && s.exitCode === 0);
  assert.ok(apiRequests().some((r) => /PAGE-PLAN-8/.test(r.last_user_text ?? '')), 'the API got the page\'s prompt');
  await screenshot(page, 'claude', 'plan');
  assertNoProblems(page);
  await ctx.close();
});
