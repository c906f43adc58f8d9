// Native calls (webrtc-rs media + GStreamer, src-tauri/core/src/media) interoperate with the web UI: the
// headless peer `p2pchat-peer` with test sources (a moving pattern, a 440 Hz tone) calls and is called by
// a Chromium page (fake camera and microphone), and each side decodes the other's video and sound. Mute
// silences the far side's decoded sound, camera off stops its frames, hang-up ends the call on both
// sides; native ↔ native, a mesh of two browsers and a native peer, relay-only through coturn, a
// 3-second network cut that media survives without a new call, and screen sharing (an Xvfb display the
// test starts) that replaces the camera's picture and gives it back, in the same call.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  joinAs, selectedPairTypes, sleep, startRelayFixture, waitForPeers, waitForPhase, waitForRemoteVideos,
} from './lib.mjs';
import { startPeer } from './peer.mjs';

const SECRET = 'e2e-native-call-secret-at-least-32-bytes';
/** Level (RMS, 0..1) above which decoded sound counts as heard; the test tone is ≈ 0.28, silence 0. */
const HEARD = 0.02;
const SILENT = 0.003;
let fixture;
let server;
let browser;
before(async () => {
  fixture = await startRelayFixture(SECRET);
  ({ server, browser } = fixture);
});
after(async () => {
  await fixture?.stop();
});

/** Frames decoded so far by each remote video on the page. */
async function remoteFrames(page) {
  return page.$$eval('[data-testid="remote-video"]', (videos) => videos.map((v) => v.getVideoPlaybackQuality().totalVideoFrames));
}

/** The loudest decoded remote sound on the page right now (inbound-rtp audioLevel, 0..1). */
async function remoteAudioLevel(page) {
  return page.evaluate(async () => {
    let level = 0;
    for (const pc of window.__p2pchatDebug.peerConnections()) {
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.audioLevel === 'number') level = Math.max(level, s.audioLevel);
      });
    }
    return level;
  });
}

/** Polls `read` until `pred` holds (bounded); returns the last value. */
async function until(read, pred, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  let value;
  while (Date.now() < deadline) {
    value = await read();
    if (pred(value)) return value;
    await sleep(250);
  }
  throw new Error(`${what}: still ${JSON.stringify(value)} after ${ms} ms`);
}

/** The peer's newest `call-stats` line about `from`, after index `since`. */
function latestStats(peer, since = 0) {
  return peer.events.slice(since).filter((e) => e.event === 'call-stats').at(-1);
}

/** Waits for a `call-stats` line (after now) that satisfies `pred`. */
async function peerStats(peer, pred, what, ms = 20_000) {
  const since = peer.events.length;
  return peer.waitFor((e) => e.event === 'call-stats' && peer.events.indexOf(e) >= since && pred(e), what, ms);
}

/** Both directions carry picture and sound: the page decodes frames that keep coming and hears the tone;
 * the peer decodes frames and hears Chromium's fake microphone. */
async function assertTwoWayMedia(page, peer) {
  await waitForRemoteVideos(page, 1);
  const [first] = await remoteFrames(page);
  await until(async () => (await remoteFrames(page))[0], (n) => n > first + 10, 'browser frames counting up');
  await until(() => remoteAudioLevel(page), (l) => l > HEARD, 'browser hears the native tone');
  await peerStats(peer, (e) => e.video_frames_decoded > 10, 'native decodes video');
  await peerStats(peer, (e) => e.audio_level > HEARD, 'native hears the browser');
}

test('the native peer calls a Chromium page: video and sound both ways, mute, camera off, hang-up', async () => {
  const page = await joinAs(browser, server.url, 'Alice', 'nc-1');
  const peer = await startPeer(server.url, 'nc-1', 'Rusty', ['--call']);
  try {
    await waitForPhase(page, 'incoming');
    await page.getByTestId('accept-button').click();
    await peer.waitFor((e) => e.event === 'call-connected', 'call connected on the native side');
    await assertTwoWayMedia(page, peer);

    // The page mutes: the native side's decoded sound falls silent, and comes back on unmute.
    await page.getByTestId('mute-button').click();
    await peerStats(peer, (e) => e.audio_level < SILENT, 'native hears silence after the page muted');
    await page.getByTestId('mute-button').click();
    await peerStats(peer, (e) => e.audio_level > HEARD, 'native hears the page again');

    // The native side mutes, then turns its camera off: the page's level drops, its frames stop.
    peer.child.stdin.write('/mute\n');
    await until(() => remoteAudioLevel(page), (l) => l < SILENT, 'browser hears silence after the native mute');
    peer.child.stdin.write('/camera-off\n');
    await sleep(1000); // frames in flight
    const [stopped] = await remoteFrames(page);
    await sleep(2000);
    const [still] = await remoteFrames(page);
    assert.ok(still - stopped <= 2, `frames kept coming with the camera off: ${stopped} → ${still}`);
    peer.child.stdin.write('/camera-on\n');
    await until(async () => (await remoteFrames(page))[0], (n) => n > still + 10, 'frames again after camera on');

    // The page hangs up: the native side ends the call too.
    await page.getByTestId('hangup-button').click();
    await peer.waitFor((e) => e.event === 'call-ended', 'call ended on the native side');
    await waitForPhase(page, 'idle');
  } finally {
    await peer.stop();
    await page.context().close();
  }
});

/** An X server of `width`×`height` for the native peer to share; `stop()` ends it (by its PID). */
async function startXvfb(width, height) {
  const number = 50 + (process.pid % 400);
  const child = spawn('Xvfb', [`:${number}`, '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!existsSync(`/tmp/.X11-unix/X${number}`)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`Xvfb :${number} did not start`);
    await sleep(100);
  }
  return {
    display: `:${number}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await exited;
    },
  };
}

/** Size and decoded frames of the page's first remote video. */
async function remotePicture(page) {
  return page.$eval('[data-testid="remote-video"]', (v) => ({ width: v.videoWidth, height: v.videoHeight, frames: v.getVideoPlaybackQuality().totalVideoFrames }));
}

test('the native peer shares its screen instead of the camera and goes back, in the same call', async () => {
  const xvfb = await startXvfb(1024, 768);
  const page = await joinAs(browser, server.url, 'Erin', 'nc-screen');
  const display = process.env.DISPLAY;
  process.env.DISPLAY = xvfb.display; // for the peer's screen capture only (Chromium runs already)
  let peer;
  try {
    peer = await startPeer(server.url, 'nc-screen', 'Rusty', ['--call']);
  } finally {
    if (display === undefined) delete process.env.DISPLAY;
    else process.env.DISPLAY = display;
  }
  try {
    await waitForPhase(page, 'incoming');
    await page.getByTestId('accept-button').click();
    await peer.waitFor((e) => e.event === 'call-connected', 'call connected on the native side');
    await waitForRemoteVideos(page, 1);
    await until(() => remotePicture(page), (p) => p.width === 640 && p.height === 480, 'the camera picture');

    // Sharing: the page's decoder gets the screen's size, and frames keep coming (no new call).
    peer.child.stdin.write('/share-screen\n');
    const shared = await until(() => remotePicture(page), (p) => p.width === 1024 && p.height === 768, 'the screen picture');
    await until(() => remotePicture(page), (p) => p.frames > shared.frames + 10, 'screen frames counting up');
    assert.ok(!peer.events.some((e) => e.event === 'media-notice'), JSON.stringify(peer.events.filter((e) => e.event === 'media-notice')));

    // Stopping: the camera's picture is back.
    peer.child.stdin.write('/stop-share\n');
    const back = await until(() => remotePicture(page), (p) => p.width === 640 && p.height === 480, 'the camera picture again');
    await until(() => remotePicture(page), (p) => p.frames > back.frames + 10, 'camera frames counting up');
    await waitForPhase(page, 'active');
  } finally {
    await peer.stop();
    await page.context().close();
    await xvfb.stop();
  }
});

test('a Chromium page calls the native peer, which answers; the native side hangs up', async () => {
  const peer = await startPeer(server.url, 'nc-2', 'Rusty', ['--accept-calls']);
  const page = await joinAs(browser, server.url, 'Bob', 'nc-2');
  try {
    await peer.waitFor((e) => e.event === 'open', 'link open');
    await waitForPeers(page, 1);
    await page.getByTestId('call-button').click();
    await waitForPhase(page, 'active');
    await assertTwoWayMedia(page, peer);
    peer.child.stdin.write('/hangup\n');
    await waitForPhase(page, 'idle');
    await peer.waitFor((e) => e.event === 'call-ended', 'call ended on the native side');
  } finally {
    await peer.stop();
    await page.context().close();
  }
});

test('native ↔ native: two headless peers call each other', async () => {
  const callee = await startPeer(server.url, 'nc-3', 'Callee', ['--accept-calls']);
  await callee.waitFor((e) => e.event === 'ready', 'welcome');
  const caller = await startPeer(server.url, 'nc-3', 'Caller', ['--call']);
  try {
    for (const peer of [caller, callee]) {
      await peer.waitFor((e) => e.event === 'call-connected', 'call connected');
      await peerStats(peer, (e) => e.video_frames_decoded > 10 && e.audio_level > HEARD, 'decodes video and hears the tone');
    }
  } finally {
    await caller.stop();
    await callee.stop();
  }
});

test('relay-only: the native peer calls a page through coturn', async () => {
  const page = await joinAs(browser, server.url, 'Carol', 'nc-4', { query: '?relay=1' });
  const peer = await startPeer(server.url, 'nc-4', 'Rusty', ['--call', '--relay-only']);
  try {
    await waitForPhase(page, 'incoming');
    await page.getByTestId('accept-button').click();
    await assertTwoWayMedia(page, peer);
    assert.deepEqual(await selectedPairTypes(page), [['relay', 'relay']]);
  } finally {
    await peer.stop();
    await page.context().close();
  }
});

test('a mesh of two browsers and a native peer: everyone sees and hears the two others', async () => {
  const peer = await startPeer(server.url, 'nc-5', 'Rusty', ['--accept-calls']);
  await peer.waitFor((e) => e.event === 'ready', 'welcome');
  const alice = await joinAs(browser, server.url, 'Alice', 'nc-5');
  const bob = await joinAs(browser, server.url, 'Bob', 'nc-5');
  try {
    await waitForPeers(alice, 2);
    await waitForPeers(bob, 2);
    await alice.getByTestId('call-button').click();
    await waitForPhase(bob, 'incoming');
    await bob.getByTestId('accept-button').click();
    await waitForRemoteVideos(alice, 2);
    await waitForRemoteVideos(bob, 2);
    const from = new Set();
    await peer.waitFor((e) => {
      if (e.event === 'call-stats' && e.video_frames_decoded > 10 && e.audio_level > HEARD) from.add(e.peer);
      return from.size === 2;
    }, 'native decodes and hears both browsers');
    for (const page of [alice, bob]) await until(() => remoteAudioLevel(page), (l) => l > HEARD, 'a browser hears the others');
  } finally {
    await peer.stop();
    await alice.context().close();
    await bob.context().close();
  }
});

test('a 3-second network cut during a call: media resumes without a new call', async () => {
  const page = await joinAs(browser, server.url, 'Dave', 'nc-6');
  const peer = await startPeer(server.url, 'nc-6', 'Rusty', ['--call']);
  try {
    await waitForPhase(page, 'incoming');
    await page.getByTestId('accept-button').click();
    await assertTwoWayMedia(page, peer);
    const connected = peer.events.filter((e) => e.event === 'call-connected').length;
    // The test's own namespace: the peers' only route goes down and up (signaling stays on loopback).
    execFileSync('ip', ['link', 'set', 'v0', 'down']);
    await sleep(3000);
    execFileSync('ip', ['link', 'set', 'v0', 'up']);
    execFileSync('ip', ['route', 'replace', 'default', 'dev', 'v0']);
    const [before] = await remoteFrames(page);
    await until(async () => (await remoteFrames(page))[0], (n) => n > before + 30, 'browser frames after the cut', 40_000);
    const since = peer.events.length;
    await peer.waitFor((e) => e.event === 'call-stats' && peer.events.indexOf(e) > since + 2 && e.video_frames_decoded > (latestStats(peer, 0)?.video_frames_decoded ?? 0) - 1, 'native stats after the cut', 40_000);
    assert.equal(await page.getByTestId('call-state').getAttribute('data-phase'), 'active');
    assert.equal(peer.events.filter((e) => e.event === 'call-ended').length, 0, 'the call was not ended');
    assert.equal(peer.events.filter((e) => e.event === 'call-connected').length, connected);
  } finally {
    await peer.stop();
    await page.context().close();
  }
});

test('glare: the page and the native peer call each other at once and end up in one call', async () => {
  const page = await joinAs(browser, server.url, 'Erin', 'nc-7');
  // The page calls the moment its link to the peer connects; the peer rings the moment its channel opens.
  await page.evaluate(() => {
    const observer = new MutationObserver(() => {
      const button = document.querySelector('[data-testid="call-button"]');
      if (button && !button.disabled && document.querySelector('[data-testid="presence-item"] .dot.connected')) {
        observer.disconnect();
        button.click();
      }
    });
    observer.observe(document.body, { childList: true, subtree: true, attributes: true });
  });
  const peer = await startPeer(server.url, 'nc-7', 'Rusty', ['--call']);
  try {
    await waitForPhase(page, 'active');
    await assertTwoWayMedia(page, peer);
    assert.equal(peer.events.filter((e) => e.event === 'call-connected').length, 1, 'one call on the native side');
    const notices = await page.$$eval('[data-testid="chat-message"], .system', (rows) => rows.map((r) => r.textContent));
    assert.ok(!notices.some((t) => /busy|declined/i.test(t ?? '')), `a call was refused: ${notices.join(' | ')}`);
    await page.getByTestId('hangup-button').click();
    await peer.waitFor((e) => e.event === 'call-ended', 'call ended on the native side');
  } finally {
    await peer.stop();
    await page.context().close();
  }
});
