// The web UI at phone sizes (390×844 and 360×800) in real Chromium against the real server, as a person
// holding a phone sees it: start screen with the conversations kept on the device, a room's chat, a
// full-screen incoming call, and a 1:1 call where the other person fills the stage and your own preview
// is a small inset. On every screen: nothing wider than the screen, and every button and field at least
// 44 px tall and wide (a fingertip). Screenshots go to tests/e2e/screenshots/phone-*.png for a person to
// look at (the lead checks them when the layout changes).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  joinAs, launchBrowser, reportOnFailure, sendChat, startServer, waitForMessage, waitForPeers, waitForRemoteVideos,
} from './lib.mjs';

const shots = path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots');
const PHONES = [['390x844', { width: 390, height: 844 }], ['360x800', { width: 360, height: 800 }]];
const MIN_TOUCH = 44;

let server;
let browser;
before(async () => {
  await mkdir(shots, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Visible controls smaller than a fingertip, and how far the page is wider than the screen. */
async function fitForFingers(page) {
  return page.evaluate((min) => {
    const small = [];
    for (const el of document.querySelectorAll('button, input:not([type="checkbox"]):not([type="radio"]), select, [role="button"]')) {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (r.width === 0 || r.height === 0 || style.visibility === 'hidden' || el.closest('[aria-hidden="true"]')) continue;
      if (r.height < min - 0.5 || r.width < min - 0.5) {
        small.push(`${el.dataset.testid ?? el.textContent?.trim().slice(0, 24) ?? el.tagName} ${Math.round(r.width)}×${Math.round(r.height)}`);
      }
    }
    // Wider than the screen: the page itself, or any visible element reaching past its right edge (a
    // scrolling box inside the page hides that from the page's own width).
    let overflow = document.scrollingElement.scrollWidth - window.innerWidth;
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) overflow = Math.max(overflow, Math.round(r.right - window.innerWidth));
    }
    return { small, overflow };
  }, MIN_TOUCH);
}

async function assertFitsPhone(page, screen) {
  const { small, overflow } = await fitForFingers(page);
  assert.deepEqual(small, [], `${screen}: controls under ${MIN_TOUCH} px`);
  assert.ok(overflow <= 0, `${screen}: the page is ${overflow} px wider than the screen`);
}

const box = (page, selector) => page.locator(selector).first().boundingBox();

for (const [size, viewport] of PHONES) {
  test(`phone ${size}: chat, full-screen incoming call, 1:1 call with the other person filling the stage, history`, reportOnFailure(async () => {
    const room = `phone-${size}`;
    const alice = await joinAs(browser, server.url, 'Alice', room, { viewport });
    const bob = await joinAs(browser, server.url, 'Bob', room, { viewport });
    await waitForPeers(alice, 1);

    // Chat: the log and the composer are on screen.
    await sendChat(alice, 'Hi Bob! Ready for the design review?');
    await waitForMessage(bob, 'design review');
    await sendChat(bob, 'Yes, calling you now.');
    await waitForMessage(alice, 'calling you now');
    await alice.screenshot({ path: path.join(shots, `phone-${size}-chat.png`) });
    await assertFitsPhone(alice, 'chat');
    const composer = await box(alice, '[data-testid="chat-input"]');
    assert.ok(composer && composer.y + composer.height <= viewport.height, 'the chat composer is on screen');

    // Incoming call: the ring fills the screen, its buttons are big.
    await bob.getByTestId('call-button').click();
    await alice.getByTestId('incoming-call').waitFor();
    await alice.screenshot({ path: path.join(shots, `phone-${size}-incoming.png`) });
    const ring = await box(alice, '[data-testid="incoming-call"] .ring');
    assert.ok(ring.width >= viewport.width - 1 && ring.height >= viewport.height - 1,
      `the incoming call fills the screen (${Math.round(ring.width)}×${Math.round(ring.height)})`);
    await assertFitsPhone(alice, 'incoming call');

    // 1:1 call: the other person fills the stage, your own preview is a small inset over it.
    await alice.getByTestId('accept-button').click();
    await waitForRemoteVideos(alice, 1);
    await alice.locator('[data-testid="quality-indicator"]').filter({ hasText: 'ms' }).waitFor();
    await alice.screenshot({ path: path.join(shots, `phone-${size}-call.png`) });
    const stage = await box(alice, '.stage');
    const remote = await box(alice, '.tile:has([data-testid="remote-video"])');
    const local = await box(alice, '.tile:has([data-testid="local-video"])');
    assert.ok(remote.width >= stage.width * 0.9, `the other person spans the stage (${Math.round(remote.width)} of ${Math.round(stage.width)} px)`);
    assert.ok(remote.height >= viewport.height * 0.4, `the other person is at least 40% of the screen tall (${Math.round(remote.height)} px)`);
    assert.ok(local.width * local.height <= remote.width * remote.height * 0.15, 'your own preview is a small inset');
    const inside = local.x >= remote.x && local.y >= remote.y &&
      local.x + local.width <= remote.x + remote.width && local.y + local.height <= remote.y + remote.height;
    assert.ok(inside, 'your own preview sits over the other person');
    assert.ok(stage.y + stage.height <= viewport.height + 1, 'the whole stage is on screen');
    const hangup = await box(alice, '[data-testid="hangup-button"]');
    assert.ok(hangup.y + hangup.height <= viewport.height, 'hang up is reachable without scrolling');
    await assertFitsPhone(alice, 'call');

    // The chat stays reachable during the call.
    await alice.getByTestId('chat-log').scrollIntoViewIfNeeded();
    await alice.screenshot({ path: path.join(shots, `phone-${size}-call-chat.png`) });
    await alice.getByTestId('hangup-button').click();

    // History: back on the start screen, the conversation is listed and opens again.
    await alice.getByRole('button', { name: 'Leave' }).click();
    const item = alice.locator('[data-testid="conversation"]').filter({ hasText: room });
    await item.first().waitFor();
    await alice.screenshot({ path: path.join(shots, `phone-${size}-history.png`), fullPage: true });
    await assertFitsPhone(alice, 'start screen with history');
    await item.first().click();
    await waitForMessage(alice, 'design review');

    await alice.context().close();
    await bob.context().close();
  }));
}
