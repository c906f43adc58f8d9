// Calls through the SFU in real Chromium pages: Debian's Janus (tests/e2e/janus.mjs) and the real signaling
// server with --mesh-size 2, in the network namespace. A call of three moves from the mesh to Janus: every
// page decodes every other page's video through Janus (frames counting up) and hears them, and no media is
// left on the peer links; small tiles get a lower simulcast layer; someone hangs up (the others carry on under new keys) and joins again. A page that
// takes nobody's key receives their encrypted video from Janus and decodes none of it, while the others
// decode everyone, that page included. Janus killed mid-call: the call ends on every page with a notice
// (there is no other Janus to move to) and the chat, peer to peer, goes on.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  evaluateWithin, joinAs, launchBrowser, reportOnFailure, sendChat, sleep, startServer, waitForMessage, waitForPeers, waitForPhase,
} from './lib.mjs';
import { startJanus } from './janus.mjs';

let janus;
let server;
let browser;
before(async () => {
  janus = await startJanus();
  server = await startServer({ args: [...janus.serverArgs, '--mesh-size', '2'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await janus?.stop();
});

/**
 * What a page receives through Janus: per remote tile, whether its picture is the SFU's (its video track is
 * one of the subscriber connection's), the frames it shows, and per person the video frames decoded, video
 * packets received and audio energy of their streams on the subscriber connection; plus the tracks still
 * sent on the peer links.
 */
async function sfuView(page) {
  return evaluateWithin(page, async () => {
    const debug = window.__p2pchatDebug;
    const subscriber = debug.sfu()?.subscriber ?? null;
    const received = new Map((subscriber?.getTransceivers() ?? []).map((t) => [t.receiver.track.id, t.mid]));
    const tiles = [...document.querySelectorAll('[data-testid="remote-video"]')].map((v) => {
      const track = v.srcObject?.getVideoTracks()[0];
      return { peer: v.dataset.peer, sfu: !!track && received.has(track.id), frames: v.getVideoPlaybackQuality().totalVideoFrames };
    });
    const byMid = {};
    (await subscriber?.getStats())?.forEach((s) => {
      if (s.type === 'inbound-rtp') byMid[s.mid] = { kind: s.kind, frames: s.framesDecoded ?? 0, packets: s.packetsReceived ?? 0, energy: s.totalAudioEnergy ?? 0, width: s.frameWidth ?? 0 };
    });
    const meshTracks = debug.peerConnections().flatMap((pc) => pc.getSenders().filter((s) => s.track).map((s) => s.track.kind));
    return { tiles, byMid, meshTracks, published: !!debug.sfu()?.publisher };
  }, undefined, 'reading the SFU view');
}

/** Waits until `page` shows `count` remote tiles, each with the SFU's picture and frames counting up. */
async function waitForSfuVideos(page, count) {
  const deadline = Date.now() + 30_000;
  let last = null;
  let previous = null;
  for (;;) {
    const view = await sfuView(page);
    const frames = view.tiles.map((t) => t.frames);
    const growing = previous && previous.length === frames.length && frames.every((f, i) => f > previous[i]);
    if (view.tiles.length === count && view.tiles.every((t) => t.sfu && t.frames > 0) && growing) return view;
    previous = frames;
    last = view;
    if (Date.now() > deadline) throw new Error(`no ${count} SFU videos counting up: ${JSON.stringify(last)}`);
    await sleep(700);
  }
}

/** Waits until the widths of the video `page` receives through Janus satisfy `ok`. */
async function waitForVideoWidths(page, ok, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const widths = Object.values((await sfuView(page)).byMid).filter((m) => m.kind === 'video').map((m) => m.width);
    if (widths.length > 0 && widths.every(ok)) return;
    if (Date.now() > deadline) throw new Error(`received video widths ${JSON.stringify(widths)}: not ${what}`);
    await sleep(500);
  }
}

/** Every remote audio stream on the subscriber connection has sound (Chromium's fake microphone beeps). */
async function waitForSfuAudio(page, count) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const audio = Object.values((await sfuView(page)).byMid).filter((m) => m.kind === 'audio');
    if (audio.length === count && audio.every((m) => m.energy > 0)) return;
    if (Date.now() > deadline) throw new Error(`no sound from ${count} people through the SFU: ${JSON.stringify(audio)}`);
    await sleep(500);
  }
}

/** The first calls, the second accepts (a mesh of two), then the third accepts: the call moves to Janus. */
async function callOfThree([caller, second, third]) {
  await caller.getByTestId('call-button').click();
  await second.getByTestId('accept-button').click();
  await caller.locator('[data-testid="remote-video"]').waitFor();
  await third.getByTestId('accept-button').click();
}

async function threeInRoom(room, names) {
  const pages = [];
  for (const name of names) pages.push(await joinAs(browser, server.url, name, room));
  for (const page of pages) await waitForPeers(page, names.length - 1);
  return pages;
}

test('a call of three moves to the SFU: everyone sees and hears everyone, leaves and joins again', { timeout: 180_000 }, reportOnFailure(async () => {
  const [alice, bob, carol] = await threeInRoom('sfu-1', ['Alice', 'Bob', 'Carol']);
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('accept-button').click();
  // Two people: the mesh carries the call.
  await alice.locator('[data-testid="remote-video"]').waitFor();
  assert.equal((await sfuView(alice)).published, false);

  await carol.getByTestId('accept-button').click();
  for (const page of [alice, bob, carol]) await waitForSfuVideos(page, 2);
  for (const page of [alice, bob, carol]) await waitForSfuAudio(page, 2);
  // The media left the peer links (each kept its chat channel).
  for (const page of [alice, bob, carol]) assert.deepEqual((await sfuView(page)).meshTracks, []);

  // Each tile asks Janus for the simulcast layer its width needs (cameras 1280 wide: layers of 1280, 640 and
  // 320): tiles about 280 px wide get the middle one, half-phone-wide tiles the lowest.
  await waitForVideoWidths(alice, (w) => w > 320, 'the middle layer for tiles of ~280 px');
  await alice.setViewportSize({ width: 390, height: 844 });
  await waitForVideoWidths(alice, (w) => w > 0 && w <= 320, 'the lowest layer for tiles of ~170 px');
  await alice.setViewportSize({ width: 1280, height: 800 });

  // Carol hangs up: Alice and Bob carry on through Janus, under keys Carol does not have.
  await carol.getByTestId('hangup-button').click();
  await waitForPhase(carol, 'idle');
  for (const page of [alice, bob]) await waitForSfuVideos(page, 1);
  await sleep(2500); // past the switch to the new keys
  for (const page of [alice, bob]) await waitForSfuVideos(page, 1);

  // She joins again, straight onto the SFU.
  await carol.getByTestId('join-call-button').click();
  for (const page of [alice, bob, carol]) await waitForSfuVideos(page, 2);
  for (const page of [alice, bob, carol]) await page.context().close();
}));

test('a participant without the keys receives everyone\'s video and decodes none; the others see everyone', { timeout: 180_000 }, reportOnFailure(async () => {
  const [alice, bob, dave] = await threeInRoom('sfu-2', ['Alice', 'Bob', 'Dave']);
  await evaluateWithin(dave, () => window.__p2pchatDebug.ignoreSfuKeys(), undefined, 'ignoring keys');
  await callOfThree([alice, bob, dave]);
  for (const page of [alice, bob]) await waitForSfuVideos(page, 2);

  // Dave's tiles hold Janus's streams of Alice and Bob and packets keep arriving, but nothing decodes.
  const first = await sfuView(dave);
  await sleep(3000);
  const later = await sfuView(dave);
  assert.equal(later.tiles.length, 2);
  assert.ok(later.tiles.every((t) => t.sfu && t.frames === 0), JSON.stringify(later.tiles));
  const video = Object.entries(later.byMid).filter(([, m]) => m.kind === 'video');
  assert.equal(video.length, 2);
  assert.ok(video.every(([mid, m]) => m.frames === 0 && m.packets > (first.byMid[mid]?.packets ?? 0)), JSON.stringify([first.byMid, later.byMid]));
  for (const page of [alice, bob, dave]) await page.context().close();
}));

test('the signaling server restarts mid-call: the SFU call goes on, then moves to a room of the new sessions', { timeout: 180_000 }, reportOnFailure(async () => {
  const [alice, bob, carol] = await threeInRoom('sfu-4', ['Alice', 'Bob', 'Carol']);
  await callOfThree([alice, bob, carol]);
  for (const page of [alice, bob, carol]) await waitForSfuVideos(page, 2);

  // Janus keeps forwarding while the signaling server is gone.
  const port = server.port;
  await server.stop();
  for (const page of [alice, bob, carol]) await waitForSfuVideos(page, 2);
  // Back with fresh sessions (new peer ids, a server that knows no call): each page asks for its place
  // again, joins the new videoroom under its new id and hands its key out again.
  server = await startServer({ port, args: [...janus.serverArgs, '--mesh-size', '2'] });
  for (const page of [alice, bob, carol]) await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 30_000 });
  await sleep(3000);
  for (const page of [alice, bob, carol]) {
    const view = await waitForSfuVideos(page, 2);
    const people = await evaluateWithin(page, () => window.__p2pchatDebug.presence().map((p) => p.peer), undefined, 'the people list');
    assert.deepEqual(view.tiles.map((t) => t.peer).sort(), people.sort(), 'the tiles are the people under their new ids');
  }
  for (const page of [alice, bob, carol]) await page.context().close();
}));

// Last: it kills the test's Janus.
test('Janus killed mid-call: the call ends on every page with a notice, and the chat goes on', { timeout: 180_000 }, reportOnFailure(async () => {
  const [alice, bob, carol] = await threeInRoom('sfu-3', ['Alice', 'Bob', 'Carol']);
  await callOfThree([alice, bob, carol]);
  for (const page of [alice, bob, carol]) await waitForSfuVideos(page, 2);

  janus.kill();
  for (const page of [alice, bob, carol]) {
    await waitForPhase(page, 'idle');
    assert.match(await page.getByTestId('call-notice').textContent(), /media server was lost/);
  }
  await sendChat(alice, 'still here');
  for (const page of [bob, carol]) await waitForMessage(page, 'still here');
  for (const page of [alice, bob, carol]) await page.context().close();
}));
