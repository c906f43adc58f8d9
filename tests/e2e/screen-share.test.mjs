// Screen sharing in a call between real Chromium pages through the real server: Alice shares instead of
// her camera, and Bob's remote video changes from her (fake) camera to what she shares; stopping, with the
// button or with the browser's own "stop sharing", brings her camera back.
//
// Chromium 156 headless: `--use-fake-ui-for-media-stream` accepts the picker. With the fake devices the
// default fake screen draws the same green pattern as the fake camera (and at the same 1280×720), so the
// two cannot be told apart; `display-media-type=browser` makes getDisplayMedia capture the page's own tab
// for real instead, while the camera stays fake. The page is light grey and 1280×800, the camera green
// and 16:9: what Bob sees is checked by colour and shape.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TIMEOUT, describePages, joinAs, launchBrowser, reportOnFailure, sleep, startServer, waitForPeers, waitForRemoteVideos } from './lib.mjs';

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser({ args: ['--use-fake-device-for-media-stream=display-media-type=browser'] });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs in the page: what the remote video shows now — its size and whether it is the fake camera's green. */
function remoteLooks() {
  const video = document.querySelector('[data-testid="remote-video"]');
  if (!video || video.videoWidth === 0) return null;
  const canvas = document.createElement('canvas');
  canvas.width = 64;
  canvas.height = 64;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  g.drawImage(video, 0, 0, 64, 64);
  const px = g.getImageData(0, 0, 64, 64).data;
  const sum = [0, 0, 0];
  for (let i = 0; i < px.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += px[i + c];
  const [r, gr, b] = sum.map((s) => s / (px.length / 4));
  return { width: video.videoWidth, height: video.videoHeight, camera: gr > 90 && r < 60 && b < 60, mean: [r, gr, b].map(Math.round) };
}

/** Waits until Bob sees Alice's camera (`camera` true) or something else with the page's 16:10 shape. */
async function waitForRemote(page, camera, what) {
  const deadline = Date.now() + TIMEOUT;
  let looks = null;
  while (Date.now() < deadline) {
    looks = await page.evaluate(remoteLooks);
    const ratio = looks ? looks.width / looks.height : 0;
    if (looks && (camera ? looks.camera && Math.abs(ratio - 16 / 9) < 0.02 : !looks.camera && Math.abs(ratio - 1.6) < 0.02)) return;
    await sleep(200);
  }
  throw new Error(`Bob did not see ${what} within ${TIMEOUT} ms; his remote video: ${JSON.stringify(looks)}\n${await describePages()}`);
}

test('Alice shares her screen instead of her camera; Bob sees it; stopping (button or browser) brings the camera back', reportOnFailure(async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'share-1');
  const bob = await joinAs(browser, server.url, 'Bob', 'share-1');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('accept-button').click();
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob, 1);
  await waitForRemote(bob, true, "Alice's camera");

  const share = alice.getByTestId('share-screen-button');
  await share.click();
  await alice.locator('[data-testid="share-screen-button"][aria-pressed="true"]').waitFor();
  await waitForRemote(bob, false, "Alice's shared screen");

  await share.click();
  await alice.locator('[data-testid="share-screen-button"][aria-pressed="false"]').waitFor();
  await waitForRemote(bob, true, "Alice's camera again after she stopped sharing");

  // Sharing again, then the browser ends it (its own "Stop sharing" control fires `ended` on the track).
  await share.click();
  await waitForRemote(bob, false, "Alice's shared screen (second time)");
  const ended = await alice.evaluate(() => {
    for (const pc of window.__p2pchatDebug.peerConnections()) {
      const track = pc.getSenders().find((s) => s.track?.kind === 'video')?.track;
      if (track) {
        track.dispatchEvent(new Event('ended'));
        return track.label;
      }
    }
    return null;
  });
  assert.ok(ended, 'a video sender with the shared track');
  await alice.locator('[data-testid="share-screen-button"][aria-pressed="false"]').waitFor();
  await waitForRemote(bob, true, "Alice's camera after the browser ended sharing");

  for (const page of [alice, bob]) await page.context().close();
}));
