// A chat flood from one peer (the headless native peer sending 60 messages at once) reaches a Chromium page
// through the per-peer rate limit: the page says the messages are arriving very fast, shows a burst at once
// and the rest at the steady rate, every one in order and none lost, and acks each one as it shows it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { joinAs, launchBrowser, reportOnFailure, startServer, waitForPeers } from './lib.mjs';
import { startPeer } from './peer.mjs';

const FLOOD = 60;
/** The UI's limit (ui/src/lib/chat/ratelimit.ts): 30 at once, then 5 a second, so 60 take ≈ 6 s. */
const SHOWN_WITHIN_MS = 60_000;

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a flood from one peer is shown at the rate limit, in order, nothing lost', reportOnFailure(async () => {
  const page = await joinAs(browser, server.url, 'Dora', 'flood-1');
  const peer = await startPeer(server.url, 'flood-1', 'Flood', ['--send', String(FLOOD), '--quiet', '--timeout', '90']);
  try {
    await waitForPeers(page, 1);
    await page
      .getByTestId('system-message')
      .filter({ hasText: 'Flood is sending messages very fast: they are shown at 5 a second.' })
      .waitFor({ timeout: SHOWN_WITHIN_MS });
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="chat-message"]').length === n, FLOOD, { timeout: SHOWN_WITHIN_MS });
    const order = await page.$$eval('[data-testid="chat-message"] .body', (bodies) => bodies.map((b) => Number(b.textContent.split(' ')[0])));
    assert.deepEqual(order, Array.from({ length: FLOOD }, (_, i) => i));
    const done = await peer.waitFor((e) => e.event === 'done', 'every message acked', SHOWN_WITHIN_MS);
    assert.equal(done.acked, FLOOD);
    assert.equal(done.ok, true);
  } finally {
    await peer.stop();
    await page.context().close();
  }
}));
