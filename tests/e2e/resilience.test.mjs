// A signaling outage must not end a call: the media and chat go peer to peer, so when the signaling server
// restarts mid-call the video keeps playing, the app reconnects by itself, and chat keeps working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  callState, decodedFrames, joinAs, launchBrowser, reportOnFailure, sendChat, sleep, startServer, waitForMessage, waitForPeers,
  waitForRemoteVideos,
} from './lib.mjs';

let server;
let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function waitForConnection(page, state) {
  await page.locator(`[data-testid="connection-state"][data-state="${state}"]`).waitFor({ timeout: 20_000 });
}

/** The page noticed the outage: 'reconnecting', or already 'offline' after a few failed attempts (a loaded
 * machine may pass through 'reconnecting' before the test looks). */
async function waitForOutage(page) {
  await page.locator('[data-testid="connection-state"]:is([data-state="reconnecting"], [data-state="offline"])').waitFor({ timeout: 20_000 });
}

test('signaling server restarted mid-call: the call survives and chat resumes', reportOnFailure(async () => {
  server = await startServer();
  const port = server.port;
  const alice = await joinAs(browser, server.url, 'Alice', 'restart-1');
  const bob = await joinAs(browser, server.url, 'Bob', 'restart-1');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('accept-button').click();
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob, 1);

  await server.stop();
  await waitForOutage(alice);
  const framesDuringOutage = (await decodedFrames(bob))[0];
  await sleep(1500);
  assert.ok((await decodedFrames(bob))[0] > framesDuringOutage, 'video keeps playing while signaling is down');
  await sendChat(alice, 'still there during the outage?');
  await waitForMessage(bob, 'still there during the outage?');

  server = await startServer({ port });
  await waitForConnection(alice, 'connected');
  await waitForConnection(bob, 'connected');
  // Same people, new signaling sessions: still one person listed, still in the call.
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  assert.equal(await alice.getByTestId('presence-item').count(), 1);
  assert.equal(await callState(alice), 'active');
  assert.equal(await callState(bob), 'active');
  const framesAfter = (await decodedFrames(alice))[0];
  await sleep(1000);
  assert.ok((await decodedFrames(alice))[0] > framesAfter, 'video still plays after the restart');

  await sendChat(bob, 'back after the restart');
  await waitForMessage(alice, 'back after the restart');
  await waitForMessage(bob, 'back after the restart', 'delivered');
  await sendChat(alice, 'and the other way');
  await waitForMessage(bob, 'and the other way');
  await waitForMessage(alice, 'and the other way', 'delivered');
  // The same peer connection carries on under the new ids: each side re-keyed it once the other's new session
  // answered its peer-id-check over it (a failed re-key would leave the old one and add a second after 1.5 s).
  for (const page of [alice, bob]) {
    assert.equal(await page.evaluate(() => window.__p2pchatDebug.peerConnections().length), 1, 'one link, re-keyed');
    const trace = await page.evaluate(() => window.__p2pchatDebug.signalTrace());
    assert.ok(trace.some((line) => / is now /.test(line)), `re-keyed:\n${trace.join('\n')}`);
  }

  // Hanging up still reaches the other side through the new sessions.
  await alice.getByTestId('hangup-button').click();
  await bob.locator('[data-testid="call-state"][data-phase="idle"]').waitFor();
  await alice.context().close();
  await bob.context().close();
}));
