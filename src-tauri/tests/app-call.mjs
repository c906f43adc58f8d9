// Calls in the app where the webview has no RTCPeerConnection (native media: GStreamer + the app's
// webrtc-rs links), checked through the real window (WebKitWebDriver) against a Chromium page running the
// web UI, both in one room of a real signaling server:
//   1. the app calls the page, the page accepts: the app's window shows the page's (fake camera) video,
//      not black, saved as a screenshot; the page decodes the app's video and receives its sound
//      (inbound-rtp framesDecoded / packetsReceived from getStats); the app hangs up and both go idle;
//      In that call the window's device menu lists what GStreamer sees (Xvfb: no camera, said so; saved
//      as a screenshot), and "Share screen" sends the X display instead of the test pattern: the page's
//      video takes the screen's size (1280×800) and keeps playing, then the pattern (640×480) comes back
//      on "Stop sharing", in the same call (the page's view of the shared screen is saved too);
//   2. with the window in the background the page calls the app: the app rings (the incoming-call
//      notification is checked by run-app-tests.sh on D-Bus), the window accepts, shows the page's video,
//      and the page's hang-up ends the call in the window too.
// The app runs with P2PCHAT_TEST_MEDIA=1 (GStreamer's test pattern and tone: Xvfb has no camera) and
// P2PCHAT_FORCE_FALLBACK=1. Env: APP_BIN, WORK, ROOM, P2PCHAT_SERVER_URL. Prints PASS/FAIL lines; exit 1 on
// any failure. Bounded in time; stops the driver, app and browser it started.
import { execFileSync } from 'node:child_process';
import { focusElsewhere } from './desktop.mjs';
import { callPhaseScript, checks, openRoom, remoteTile, sleep, withApp, withLinkedPage } from './webdriver.mjs';

const work = process.env.WORK ?? '/tmp';
const room = process.env.ROOM ?? 'e2e-call';
const { pass, fail, exit } = checks();


/** What the page receives from the app: inbound-rtp counters of every peer connection. */
async function pageInbound(page) {
  return page.evaluate(async () => {
    const out = { videoFrames: 0, audioPackets: 0, videoTiles: 0 };
    for (const pc of window.__p2pchatDebug.peerConnections()) {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') out.videoFrames += s.framesDecoded ?? 0;
        if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioPackets += s.packetsReceived ?? 0;
      });
    }
    out.videoTiles = [...document.querySelectorAll('[data-testid="remote-video"]')].filter((v) => v.getVideoPlaybackQuality?.().totalVideoFrames > 0).length;
    return out;
  });
}

async function pollPage(read, pred, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await read();
    if (pred(last)) return last;
    await sleep(300);
  }
  return last;
}

/** The app shows the page's video: frames keep coming and the picture is not black. */
async function checkRemotePicture(d, what) {
  const deadline = Date.now() + 30000;
  let picture = null;
  let first = null;
  while (Date.now() < deadline) {
    picture = await remoteTile(d).catch((err) => ({ error: err.message }));
    if (picture?.frames && !first) first = picture.frames;
    if (picture?.frames && first && picture.frames >= first + 10 && picture.mean > 20 && picture.spread > 5) break;
    await sleep(500);
  }
  if (picture?.frames >= (first ?? 0) + 10 && picture.mean > 20 && picture.spread > 5) {
    pass(`${what}: the window shows the page's video (${picture.width}×${picture.height}, ${picture.frames} frames, mean luma ${picture.mean.toFixed(0)}, spread ${picture.spread.toFixed(0)}, rgb ${picture.rgb})`);
    return true;
  }
  fail(`${what}: the window's remote tile: ${JSON.stringify(picture)}`);
  return false;
}

/** Size and decoded frames of the page's remote video (the app's picture). */
async function pageVideo(page) {
  return page.$eval('[data-testid="remote-video"]', (v) => ({ width: v.videoWidth, height: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames }));
}

/** In a call: the device menu, then sharing the screen and back (see the top of this file). */
async function devicesAndScreen(d, page) {
  const [menu] = await d.waitFor('[data-testid="device-menu-button"]', { timeoutMs: 10000 });
  if (!menu) return fail('no device menu in the window during a native call');
  await d.click(menu);
  const listed = await d.until(`return [...document.querySelectorAll('[data-testid="device-menu"] select')].map((s) => s.dataset.testid + ':' + s.options.length).join(' ')
    + ' | ' + [...document.querySelectorAll('[data-testid$="-none"]')].map((p) => p.textContent).join(', ');`, (t) => typeof t === 'string' && t.includes('camera-select'), 15000);
  const noCamera = await d.run('return document.querySelector(\'[data-testid="camera-none"]\')?.textContent ?? null;');
  if (listed?.includes('camera-select') && listed.includes('microphone-select') && listed.includes('speaker-select') && noCamera === 'No camera found') {
    pass(`the device menu lists cameras, microphones and speakers (${listed})`);
  } else {
    fail(`the device menu: ${listed}, camera: ${noCamera}`);
  }
  execFileSync('import', ['-window', 'root', `${work}/app-devices.png`]);
  console.log(`note: screenshot of the device menu: ${work}/app-devices.png`);
  await d.click(menu); // closes it

  const [share] = await d.waitFor('[data-testid="share-screen-button"]', { timeoutMs: 10000 });
  if (!share) return fail('no share-screen button in the native call');
  await d.click(share);
  const shared = await pollPage(() => pageVideo(page), (v) => v.width === 1280 && v.height === 800, 20000);
  const sharedLater = await pollPage(() => pageVideo(page), (v) => v.frames > shared.frames + 10, 15000);
  const label = await d.run('return document.querySelector(\'[data-testid="share-screen-button"]\')?.textContent ?? null;');
  if (shared.width === 1280 && shared.height === 800 && sharedLater.frames > shared.frames + 10 && label === 'Stop sharing') {
    pass(`sharing the screen: the page plays the app's X display (${shared.width}×${shared.height}, ${sharedLater.frames} frames), same call`);
  } else {
    fail(`sharing the screen: page video ${JSON.stringify(shared)} → ${JSON.stringify(sharedLater)}, button "${label}"`);
  }
  await page.screenshot({ path: `${work}/app-share-seen-by-page.png` });
  execFileSync('import', ['-window', 'root', `${work}/app-share.png`]);
  console.log(`note: screenshots of the shared screen: ${work}/app-share.png (the window), ${work}/app-share-seen-by-page.png (the page)`);

  await d.click(share);
  const back = await pollPage(() => pageVideo(page), (v) => v.width === 640 && v.height === 480, 20000);
  const backLater = await pollPage(() => pageVideo(page), (v) => v.frames > back.frames + 10, 15000);
  if (back.width === 640 && backLater.frames > back.frames + 10) pass(`stop sharing: the page plays the app's camera (test pattern) again, ${back.width}×${back.height}`);
  else fail(`stop sharing: page video ${JSON.stringify(back)} → ${JSON.stringify(backLater)}`);
}

async function calls(d) {
  const { waitForPhase } = await import('../../tests/e2e/lib.mjs');
  if (!(await openRoom(d, room))) return fail(`room ${room} not listed on the start screen`);
  // The app links to the page natively (chat works first): then it may call.
  await withLinkedPage(d, room, pass, fail, async (page) => {
    const callButton = await d.waitFor('[data-testid="call-button"].primary', { timeoutMs: 15000 });
    if (!callButton.length) {
      const notice = await d.run('return document.querySelector(\'[data-testid="call-unavailable"]\')?.textContent ?? null;');
      return fail(`no native call button in the window (notice: ${notice})`);
    }

    // 1. The app calls; the page accepts.
    const started = Date.now();
    await d.click(callButton[0]);
    await page.getByTestId('accept-button').click({ timeout: 30000 });
    const phase = await d.until(callPhaseScript, (p) => p === 'active', 30000);
    if (phase === 'active') pass(`the page accepted: the app's call is active (${Date.now() - started} ms from the click)`);
    else fail(`app call phase after accept: ${phase}`);
    await checkRemotePicture(d, 'app calls page');
    const preview = await d.until('return Number(document.querySelector(\'img[data-testid="local-video"]\')?.dataset.frames ?? 0);', (n) => n > 10, 10000);
    if (preview > 10) pass(`the window shows its own preview (${preview} frames of the test pattern)`);
    else fail(`the window's own preview: ${preview} frames`);
    const inbound = await pollPage(() => pageInbound(page), (s) => s.videoFrames > 30 && s.audioPackets > 50);
    if (inbound.videoFrames > 30 && inbound.audioPackets > 50 && inbound.videoTiles >= 1) {
      pass(`the page receives the app's media: ${inbound.videoFrames} video frames decoded, ${inbound.audioPackets} audio packets, ${inbound.videoTiles} playing tile`);
    } else {
      fail(`the page's inbound media from the app: ${JSON.stringify(inbound)}`);
    }
    await devicesAndScreen(d, page);
    const quality = await d.until('return document.querySelector(\'[data-testid="quality-indicator"]\')?.textContent ?? null;', (t) => typeof t === 'string' && /ms/.test(t), 10000);
    console.log(`note: the window's quality indicator reads "${quality?.trim?.() ?? quality}"`);
    // The picture as a person sees it, from the X server.
    execFileSync('import', ['-window', 'root', `${work}/app-call.png`]);
    console.log(`note: screenshot of the call in the window: ${work}/app-call.png`);

    const [hangup] = await d.waitFor('[data-testid="hangup-button"]');
    await d.click(hangup);
    const appIdle = await d.until(callPhaseScript, (p) => p === 'idle', 10000);
    const pageIdle = await waitForPhase(page, 'idle').then(() => 'idle', (err) => err.message);
    if (appIdle === 'idle' && pageIdle === 'idle') pass('hang-up in the app ends the call on both sides');
    else fail(`after the app's hang-up: app ${appIdle}, page ${pageIdle}`);

    // 2. The window is in the background; the page calls the app.
    await sleep(1500);
    focusElsewhere();
    await page.getByTestId('call-button').click();
    const ringing = await d.until(callPhaseScript, (p) => p === 'incoming', 20000);
    if (ringing === 'incoming') pass('the page\'s call rings in the app (window in the background)');
    else return fail(`the app did not ring: phase ${ringing}`);
    const [accept] = await d.waitFor('[data-testid="accept-button"]');
    await d.click(accept);
    if ((await d.until(callPhaseScript, (p) => p === 'active', 20000)) === 'active') pass('the app accepted the page\'s call');
    else fail('the app did not go active after accepting');
    await checkRemotePicture(d, 'page calls app');
    const back = await pollPage(() => pageInbound(page), (s) => s.videoTiles >= 1 && s.audioPackets > 20);
    if (back.videoTiles >= 1) pass(`the page plays the app's video in the second call (${JSON.stringify(back)})`);
    else fail(`the page's media from the app in the second call: ${JSON.stringify(back)}`);
    await page.getByTestId('hangup-button').click();
    const endedInApp = await d.until(callPhaseScript, (p) => p === 'idle', 15000);
    if (endedInApp === 'idle') pass('hang-up in the page ends the call in the app');
    else fail(`after the page's hang-up the app is ${endedInApp}`);
  });
}

// The driver's and the app's own output (webrtc-rs logs a lot during calls) go to a file, not the report.
await withApp('calls', `${work}/app-call-app.log`, 280_000, fail, calls);
exit();
