// Two people in one room chat both ways over the peer-to-peer data channel and see their messages
// delivered (✓✓); text is shown as text, never as HTML; overlong messages get a clear error.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { joinAs, launchBrowser, sendChat, startServer, waitForMessage, waitForPeers } from './lib.mjs';

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

test('two people chat both ways with delivered status', async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'chat-1');
  const bob = await joinAs(browser, server.url, 'Bob', 'chat-1');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  assert.equal(await alice.getByTestId('presence-name').textContent().then((t) => t.trim()), 'Bob');

  await sendChat(alice, 'Hi Bob');
  await waitForMessage(bob, 'Hi Bob');
  await waitForMessage(alice, 'Hi Bob', 'delivered');

  await sendChat(bob, 'Hello Alice');
  await waitForMessage(alice, 'Hello Alice');
  await waitForMessage(bob, 'Hello Alice', 'delivered');

  const injected = '<img src=x onerror="window.pwned=1"><b>bold</b>';
  await sendChat(alice, injected);
  await waitForMessage(bob, 'bold');
  assert.equal(await bob.evaluate(() => window.pwned), undefined);
  assert.equal(await bob.locator('[data-testid="chat-log"] img').count(), 0);
  assert.ok((await bob.getByTestId('chat-log').textContent()).includes(injected));

  await sendChat(alice, 'x'.repeat(2001));
  assert.match(await alice.getByTestId('chat-error').textContent(), /limited to 2000/);
  await alice.context().close();
  await bob.context().close();
});

test('a message written while alone is delivered when someone joins', async () => {
  const carol = await joinAs(browser, server.url, 'Carol', 'chat-2');
  await sendChat(carol, 'anyone here?');
  await carol.locator('[data-testid="chat-message"][data-status="pending"]').waitFor();
  const dave = await joinAs(browser, server.url, 'Dave', 'chat-2');
  await waitForMessage(dave, 'anyone here?');
  await waitForMessage(carol, 'anyone here?', 'delivered');
  await carol.context().close();
  await dave.context().close();
});
