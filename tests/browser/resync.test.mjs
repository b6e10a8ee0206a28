// resync.test.mjs: a viewer told that retention deleted output it asked for (EVENT
// {"type":"resync","skipped":S,"offset":M}) sees it in a banner above the terminal, where
// it is looking, not only as a line in xterm's buffer that scrolls away (issue 15). Control
// runs with a 1 MiB data directory cap (resync.config.json): a live session that prints
// 3 MiB has the head of its log trimmed, and a page that opens it from offset 0 is told.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  launch, openPage, waitForText, api, waitForSession, assertNoProblems, keepShot,
} from './lib.mjs';

const LOG = process.env.RW_CONTROL_LOG;

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Polls control's log for a line with the event (and the session).
async function waitLogged(event, id, timeout = 30000) {
  const end = Date.now() + timeout;
  for (;;) {
    const text = readFileSync(LOG, 'utf8');
    if (text.split('\n').some((l) => l.includes(`"event":"${event}"`) && l.includes(id))) return;
    if (Date.now() > end) throw new Error(`control did not log ${event} for ${id}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('output deleted by retention: a banner says so, above the terminal', async () => {
  assert.ok(LOG, 'RW_CONTROL_LOG is set by run.sh');
  const total = 3 << 20;
  const { data } = await api('POST', '/api/sessions', {
    command: `head -c ${total} /dev/zero | tr '\\0' x; echo; echo TAIL-MARKER; sleep 60` });
  const id = data.sessionId;
  await waitForSession(id, (s) => s.bytes >= total, 30000);
  await waitLogged('session_log_trimmed', id);

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(ctx, `/#/s/${id}`);
  await waitForText(page, 'TAIL-MARKER', 30000);
  await page.waitForSelector('#notice:not([hidden])', { timeout: 10000 });
  const notice = await page.textContent('#notice-text');
  assert.match(notice, /(KiB|MiB) of this session's output, up to byte \d+, are no longer kept/, notice);
  // in view at the top of the session, above the terminal
  const where = await page.evaluate(() => {
    const n = document.getElementById('notice').getBoundingClientRect();
    const t = document.getElementById('terminal-pane').getBoundingClientRect();
    return { top: n.top, bottom: n.bottom, vh: innerHeight, above: n.bottom <= t.top + 1 };
  });
  assert.ok(where.top >= 0 && where.bottom <= where.vh, 'the banner is in the window');
  assert.ok(where.above, 'above the terminal');
  await keepShot(page, 'laptop-resync-banner');
  await page.click('#notice-close');
  assert.ok(await page.isHidden('#notice'), 'it can be dismissed');
  await api('DELETE', `/api/sessions/${id}`);
  assertNoProblems(page);
  await ctx.close();
});
