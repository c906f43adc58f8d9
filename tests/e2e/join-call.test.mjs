// Joining a call in progress in real Chromium pages through the real server: Alice and Bob are in a call,
// Carol enters the room, sees the call and who is in it, joins with one click (no ringing), and all three
// see two remote videos; the two already in the call see her arrive. She hangs up and can join again.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { callState, joinAs, launchBrowser, reportOnFailure, startServer, waitForPeers, waitForPhase, waitForRemoteVideos } from './lib.mjs';

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

test('Carol joins Alice and Bob\'s call in progress with one click; all three see two remote videos', reportOnFailure(async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'join-1');
  const bob = await joinAs(browser, server.url, 'Bob', 'join-1');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('accept-button').click();
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob, 1);

  const carol = await joinAs(browser, server.url, 'Carol', 'join-1');
  await waitForPeers(carol, 2);
  // The room shows Carol that a call is on and who is in it; she is offered to join, not to ring.
  const join = carol.getByTestId('join-call-button');
  await join.waitFor();
  assert.equal(await carol.getByTestId('call-button').count(), 0);
  assert.match(await carol.getByTestId('call-state').textContent(), /Call in progress: (Alice, Bob|Bob, Alice)/);
  // Nobody in the call is offered to join it.
  assert.equal(await alice.getByTestId('join-call-button').count(), 0);

  await join.click();
  for (const page of [alice, bob, carol]) await waitForRemoteVideos(page, 2);
  for (const page of [alice, bob]) {
    await page.locator('[data-testid="system-message"]').filter({ hasText: 'Carol joined the call' }).waitFor();
    assert.match(await page.getByTestId('call-state').textContent(), /Carol/);
  }
  // No second ringing round: nobody saw an incoming call.
  for (const page of [alice, bob, carol]) assert.equal(await page.getByTestId('incoming-call').count(), 0);

  // Carol leaves the call; the others carry on and she can join again.
  await carol.getByTestId('hangup-button').click();
  await waitForPhase(carol, 'idle');
  for (const page of [alice, bob]) await waitForRemoteVideos(page, 1);
  await carol.getByTestId('join-call-button').click();
  for (const page of [alice, bob, carol]) await waitForRemoteVideos(page, 2);
  assert.equal(await callState(carol), 'active');

  for (const page of [alice, bob, carol]) await page.context().close();
}));
