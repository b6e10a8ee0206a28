// signin.test.mjs: with Firebase sign-in configured, the page asks who you are first, signs
// up and in through the real Firebase Auth emulator (run.sh starts it), and then works as
// the signed-in user: its API calls carry the ID token, its session streams.
// Screenshots: RW_ARTIFACTS/signin-*.png.
// needs: firebase-emulator
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, openPage, startFromForm, waitForText, waitForStatus, screenshot, api, assertNoProblems,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('sign up and in through the Firebase Auth emulator, then run a session', async () => {
  assert.ok(process.env.RW_EMULATOR, 'run.sh started the emulator');
  const cfg = await api('GET', '/api/config');
  assert.equal(cfg.data.auth.mode, 'firebase');
  const unauth = await api('GET', '/api/sessions');
  assert.equal(unauth.status, 401, 'control wants an ID token');

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await openPage(ctx);
  await page.waitForSelector('#signin:not([hidden])');
  assert.ok(await page.isHidden('#start-form'), 'nothing but sign-in before signing in');
  assert.ok(await page.isVisible('#signin-emulator'), 'the page says it uses the emulator');
  await screenshot(page, 'signin', 'sign-in');

  await page.fill('#signin-email', 'ada@example.com');
  await page.fill('#signin-password', 'correct horse battery');
  await page.click('#signup');
  await page.waitForSelector('#user:not([hidden])', { timeout: 20000 });
  assert.match(await page.textContent('#user-name'), /ada@example\.com/);
  assert.ok(await page.isVisible('#start-form'));

  await startFromForm(page, "sh -c 'echo signed in and running'");
  await waitForText(page, 'signed in and running');
  await waitForStatus(page, 'ended');
  await page.waitForFunction(() => document.querySelectorAll('#session-list li').length === 1);
  await screenshot(page, 'signin', 'signed-in-session');

  // a read-only share needs no sign-in: the viewer token is the credential
  await page.click('#share');
  await page.waitForSelector('#share-box:not([hidden])');
  const shareUrl = await page.inputValue('#share-url');
  const viewerCtx = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const viewer = await openPage(viewerCtx, shareUrl.slice(process.env.RW_URL.length));
  await waitForText(viewer, 'signed in and running');
  assert.ok(await viewer.isHidden('#signin'), 'no sign-in step for a share link');
  assert.ok(await viewer.isVisible('#role-badge'));
  assertNoProblems(viewer);
  await viewerCtx.close();

  // signed out: back to the sign-in step; signed in again with the password: the same user
  await page.click('#sign-out');
  await page.waitForSelector('#signin:not([hidden])');
  await page.fill('#signin-email', 'ada@example.com');
  await page.fill('#signin-password', 'correct horse battery');
  await page.click('#signin-submit');
  await page.waitForSelector('#user:not([hidden])', { timeout: 20000 });
  await page.waitForFunction(() => document.querySelectorAll('#session-list li').length === 1,
    null, { timeout: 10000 });
  assertNoProblems(page);
  await ctx.close();
});
