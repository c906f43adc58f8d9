// Read receipts and the typing indicator over the data channel: ✓✓ turns to "read" once the other
// person has seen the message (also when that person is the headless native peer), "is typing" shows
// while they type and ends when they stop; a person who turned either off in the settings sends
// neither (checked with a later message: the channel is ordered, so anything sent before it came first).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { joinAs, launchBrowser, reportOnFailure, sendChat, startServer, waitForMessage, waitForPeers } from './lib.mjs';
import { startPeer } from './peer.mjs';

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

const typingShown = (page) => page.getByTestId('typing-indicator').textContent().then((t) => t.trim());

test('read receipts and typing, both ways', reportOnFailure(async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'rr-1');
  const bob = await joinAs(browser, server.url, 'Bob', 'rr-1');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);

  await sendChat(alice, 'did you see this?');
  await waitForMessage(bob, 'did you see this?');
  await waitForMessage(alice, 'did you see this?', 'read');
  assert.match(await alice.locator('[data-testid="chat-message"][data-status="read"] .status').textContent(), /Read/);

  await bob.getByTestId('chat-input').pressSequentially('yes I');
  await alice.getByText('Bob is typing…').waitFor();
  await bob.getByTestId('chat-input').fill('');
  await alice.getByText('Bob is typing…').waitFor({ state: 'detached' });
  await bob.getByTestId('chat-input').pressSequentially('yes I did');
  await alice.getByText('Bob is typing…').waitFor();
  await bob.getByTestId('chat-input').press('Enter');
  await waitForMessage(alice, 'yes I did');
  assert.equal(await typingShown(alice), '');
  await waitForMessage(bob, 'yes I did', 'read');
  await alice.context().close();
  await bob.context().close();
}));

test('with read receipts and typing turned off, neither is sent', reportOnFailure(async () => {
  const carol = await joinAs(browser, server.url, 'Carol', 'rr-2');
  // Dave turns both off on the start screen (leaving the room to get there), then comes back.
  const dave = await joinAs(browser, server.url, 'Dave', 'rr-0');
  await dave.getByRole('button', { name: 'Leave' }).click();
  await dave.getByTestId('read-receipts-toggle').uncheck();
  await dave.getByTestId('typing-toggle').uncheck();
  await dave.getByTestId('room-input').fill('rr-2');
  await dave.getByTestId('join-button').click();
  await dave.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
  await waitForPeers(carol, 1);
  // Carol notes any typing indicator she is ever shown.
  await carol.evaluate(() => {
    const indicator = document.querySelector('[data-testid="typing-indicator"]');
    window.typingSeen = false;
    new MutationObserver(() => {
      if (indicator.textContent.trim()) window.typingSeen = true;
    }).observe(indicator, { childList: true, subtree: true, characterData: true });
  });
  await sendChat(carol, 'private hello');
  await waitForMessage(dave, 'private hello');
  await dave.getByTestId('chat-input').pressSequentially('quiet reply');
  await dave.getByTestId('chat-input').press('Enter');
  await waitForMessage(carol, 'quiet reply');
  assert.equal(await carol.locator('[data-testid="chat-message"]').filter({ hasText: 'private hello' }).getAttribute('data-status'), 'delivered');
  assert.equal(await carol.evaluate(() => window.typingSeen), false);
  await carol.context().close();
  await dave.context().close();
}));

test('the headless native peer sends read receipts for what it shows', reportOnFailure(async () => {
  const page = await joinAs(browser, server.url, 'Erin', 'rr-3');
  const peer = await startPeer(server.url, 'rr-3', 'Rusty');
  try {
    await peer.waitFor((e) => e.event === 'open', 'channel open');
    await waitForPeers(page, 1);
    await sendChat(page, 'hello native');
    await peer.waitFor((e) => e.event === 'msg' && e.body === 'hello native', 'message from the page');
    await waitForMessage(page, 'hello native', 'read');
    // And it hears the page's typing and receipts.
    await page.getByTestId('chat-input').pressSequentially('typing to Rust');
    await peer.waitFor((e) => e.event === 'typing' && e.on === true, 'typing from the page');
    const id = await peer.say('from Rust');
    await waitForMessage(page, 'from Rust');
    await peer.waitFor((e) => e.event === 'read' && e.ids.includes(id), 'read receipt from the page');
  } finally {
    await peer.stop();
    await page.context().close();
  }
}));
