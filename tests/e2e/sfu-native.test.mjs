// The native engine in calls through the SFU: three headless peers `p2pchat-peer` (webrtc-rs + GStreamer,
// 320×240 test pattern and tone) in one call with Debian's Janus (tests/e2e/janus.mjs) and the real
// signaling server at --mesh-size 2, in the network namespace. The call of three moves from the mesh to
// Janus (`sfu-move`, `sfu-joined`), and every peer decodes both others' video through it, frames counting
// up, every frame sealed end to end with the keys the peers gave each other over their chat channels
// (src-tauri/core/src/sfu). One hangs up: the two others carry on through Janus under new keys. Janus
// killed mid-call: every native peer's call ends, with a notice that the media server is unreachable. And the
// browser and the native engine in one SFU call: a native peer rings a Chromium page and another native
// peer; the page decodes both through Janus (frames the Rust side sealed) and both decode the page's
// simulcast video (frames the browser sealed) and each other, so both implementations of the frame format
// and the sfu-key message agree on the wire. And a page that enters a room where two native peers are in a
// call sees the call in progress, and sees it end when they hang up (their `in-call` / `left-call`).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { evaluateWithin, joinAs, launchBrowser, reportOnFailure, sleep, startServer, waitForPeers } from './lib.mjs';
import { startJanus } from './janus.mjs';
import { startPeer } from './peer.mjs';

let janus;
let server;
let browser;
const peers = [];
before(async () => {
  janus = await startJanus();
  server = await startServer({ args: [...janus.serverArgs, '--mesh-size', '2'] });
});
after(async () => {
  for (const peer of peers) await peer.stop();
  await browser?.close();
  await server?.stop();
  await janus?.stop();
});

/** Waits until `peer` decodes `from`'s video through the SFU, frames counting up; returns the count. */
async function decodesThroughSfu(peer, from, since = 0, ms = 45_000) {
  const seen = (min) => (e) => e.event === 'call-stats' && e.sfu === true && e.peer === from && e.video_frames_decoded > min && peer.events.indexOf(e) >= since;
  const first = await peer.waitFor(seen(10), `decoding ${from}'s video through the SFU`, ms);
  const later = await peer.waitFor(seen(first.video_frames_decoded + 10), `${from}'s frames counting up`, 15_000);
  return later.video_frames_decoded;
}

/**
 * A call of three native peers in `room`: the two `callees` answer calls and are linked with each other
 * first (a callee takes the others' accepts only from people it is linked with: the ringing rule), then
 * `caller` rings them both. Past --mesh-size 2 the call moves to the SFU. Returns the callees' and the
 * caller's peers, in that order, with their peer ids.
 */
async function callOfThree(room, callees, caller) {
  const answering = [];
  for (const name of callees) answering.push(await startPeer(server.url, room, name, ['--accept-calls', '--quiet']));
  peers.push(...answering);
  const [first, second] = answering;
  const firstId = (await first.waitFor((e) => e.event === 'ready', 'ready')).peer;
  const secondId = (await second.waitFor((e) => e.event === 'ready', 'ready')).peer;
  await first.waitFor((e) => e.event === 'open' && e.peer === secondId, `${callees[0]} linked with ${callees[1]}`);
  await second.waitFor((e) => e.event === 'open' && e.peer === firstId, `${callees[1]} linked with ${callees[0]}`);
  const calling = await startPeer(server.url, room, caller, ['--call', '--call-peers', '2', '--quiet']);
  peers.push(calling);
  const callerId = (await calling.waitFor((e) => e.event === 'ready', 'ready')).peer;
  return { natives: [first, second, calling], ids: [firstId, secondId, callerId] };
}

test('three native peers past the mesh size call through Janus, each decoding the others end-to-end encrypted', async () => {
  const { natives: [bob, carol, ann], ids: [bobId, carolId, annId] } = await callOfThree('sfu-native', ['Bob', 'Carol'], 'Ann');
  const ids = { Ann: annId, Bob: bobId, Carol: carolId };
  const everyone = [['Ann', ann], ['Bob', bob], ['Carol', carol]];
  for (const [name, peer] of everyone) {
    await peer.waitFor((e) => e.event === 'sfu-move', `${name} moving the call to the SFU`, 30_000);
    await peer.waitFor((e) => e.event === 'sfu-joined', `${name} joining the videoroom`, 30_000);
  }
  for (const [name, peer] of everyone) {
    for (const [other] of everyone.filter(([n]) => n !== name)) {
      const frames = await decodesThroughSfu(peer, ids[other]);
      assert.ok(frames > 20, `${name} decodes ${other}: ${frames}`);
    }
    assert.equal(peer.events.filter((e) => e.event === 'sfu-lost').length, 0, `${name} never lost the SFU`);
  }

  // Carol hangs up: Ann and Bob go on through Janus, under keys Carol never had.
  carol.child.stdin.write('/hangup\n');
  await ann.waitFor((e) => e.event === 'call-ended' && e.peer === ids.Carol, 'Ann sees Carol leave');
  await bob.waitFor((e) => e.event === 'call-ended' && e.peer === ids.Carol, 'Bob sees Carol leave');
  // Past the key switch (1 s): frames sealed with the new keys open.
  await new Promise((r) => setTimeout(r, 2000));
  await decodesThroughSfu(ann, ids.Bob, ann.events.length);
  await decodesThroughSfu(bob, ids.Ann, bob.events.length);
});

/** Frames shown by each remote video of the page that comes through Janus (its track is the subscriber's). */
async function sfuFrames(page) {
  return evaluateWithin(page, () => {
    const subscriber = window.__p2pchatDebug.sfu()?.subscriber ?? null;
    const received = new Set((subscriber?.getTransceivers() ?? []).map((t) => t.receiver.track.id));
    return [...document.querySelectorAll('[data-testid="remote-video"]')]
      .filter((v) => received.has(v.srcObject?.getVideoTracks()[0]?.id))
      .map((v) => v.getVideoPlaybackQuality().totalVideoFrames);
  }, undefined, 'reading the SFU videos');
}

test('a Chromium page and two native peers in one SFU call decode each other end to end', { timeout: 180_000 }, reportOnFailure(async () => {
  const room = 'sfu-native-browser';
  browser ??= await launchBrowser();
  const alice = await joinAs(browser, server.url, 'Alice', room);
  const natives = [await startPeer(server.url, room, 'Ferris', ['--accept-calls', '--quiet'])];
  const ids = [(await natives[0].waitFor((e) => e.event === 'ready', 'ready')).peer];
  await natives[0].waitFor((e) => e.event === 'open', 'Ferris linked with Alice');
  // Rusty rings Alice and Ferris in one call; Ferris answers at once, Alice by pressing Accept.
  natives.unshift(await startPeer(server.url, room, 'Rusty', ['--call', '--call-peers', '2', '--quiet']));
  ids.unshift((await natives[0].waitFor((e) => e.event === 'ready', 'ready')).peer);
  peers.push(...natives);
  await waitForPeers(alice, 2);
  await alice.getByTestId('accept-button').click();
  // The page shows both native peers' pictures through Janus, frames counting up (generous: 2 cores).
  const deadline = Date.now() + 60_000;
  let first = null;
  for (;;) {
    const frames = await sfuFrames(alice);
    if (frames.length === 2 && frames.every((f) => f > 0)) first ??= frames;
    if (first && frames.length === 2 && frames.every((f, i) => f > first[i] + 10)) break;
    if (Date.now() > deadline) {
      const seen = natives.map((p) => p.events.filter((e) => e.event !== 'call-stats').concat(p.events.filter((e) => e.event === 'call-stats').slice(-2)));
      throw new Error(`the page shows no 2 SFU videos counting up: ${JSON.stringify(frames)}; the native peers saw ${JSON.stringify(seen)}`);
    }
    await sleep(1000);
  }
  // Each native peer decodes the page (whose peer id is not a native one) and the other native peer.
  for (const [i, peer] of natives.entries()) {
    const other = ids[1 - i];
    await decodesThroughSfu(peer, other);
    const fromPage = await peer.waitFor((e) => e.event === 'call-stats' && e.sfu === true && !ids.includes(e.peer) && e.video_frames_decoded > 10, 'decoding the page through the SFU', 45_000);
    await decodesThroughSfu(peer, fromPage.peer, peer.events.indexOf(fromPage));
  }
  await alice.context().close();
}));

test('a page entering a room where native peers are in a call sees it in progress, and sees it end', { timeout: 120_000 }, reportOnFailure(async () => {
  const room = 'sfu-native-outside';
  browser ??= await launchBrowser();
  const bob = await startPeer(server.url, room, 'Bob', ['--accept-calls', '--quiet']);
  peers.push(bob);
  await bob.waitFor((e) => e.event === 'ready', 'ready');
  const ann = await startPeer(server.url, room, 'Ann', ['--call', '--quiet']);
  peers.push(ann);
  // A call of two: a mesh, nothing on Janus.
  await ann.waitFor((e) => e.event === 'call-connected', 'Ann in a call with Bob', 30_000);
  const pat = await joinAs(browser, server.url, 'Pat', room);
  const callState = () => pat.getByTestId('call-state').textContent();
  let seen;
  const shows = async (want) => {
    const deadline = Date.now() + 30_000;
    while (!want.test((seen = await callState()))) {
      if (Date.now() > deadline) throw new Error(`Pat's page shows "${seen}", not ${want}`);
      await sleep(250);
    }
  };
  await shows(/^Call in progress: (Ann, Bob|Bob, Ann)$/);
  await pat.getByTestId('join-call-button').waitFor();
  ann.child.stdin.write('/hangup\n');
  await shows(/^No call$/);
  await pat.context().close();
}));

test('the signaling server restarts mid-call: the natives\' SFU call goes on, then moves to a videoroom of their new sessions', { timeout: 240_000 }, async () => {
  const { natives: [dee, eve, fay] } = await callOfThree('sfu-native-restart', ['Dee', 'Eve'], 'Fay');
  const everyone = [['Dee', dee], ['Eve', eve], ['Fay', fay]];
  const ids = {};
  for (const [name, peer] of everyone) {
    ids[name] = (await peer.waitFor((e) => e.event === 'ready', 'ready')).peer;
    await peer.waitFor((e) => e.event === 'sfu-joined', `${name} joining the videoroom`, 30_000);
  }
  const eachDecodesTheOthers = async (names, since) => {
    for (const [name, peer] of everyone) {
      for (const [other] of everyone.filter(([n]) => n !== name)) await decodesThroughSfu(peer, names[other], since(peer));
    }
  };
  await eachDecodesTheOthers(ids, () => 0);

  // Janus keeps forwarding while the signaling server is gone.
  const port = server.port;
  await server.stop();
  await eachDecodesTheOthers(ids, (peer) => peer.events.length);
  // Back with fresh sessions (new peer ids, a server that knows no call): each peer asks for its place
  // again once it is back in the room, joins the new videoroom under its new id, and the others' keys
  // and the call follow them to their new ids.
  const marks = new Map(everyone.map(([, peer]) => [peer, peer.events.length]));
  server = await startServer({ port, args: [...janus.serverArgs, '--mesh-size', '2'] });
  const newIds = {};
  for (const [name, peer] of everyone) {
    const since = marks.get(peer);
    newIds[name] = (await peer.waitFor((e) => e.event === 'ready' && peer.events.indexOf(e) >= since, `${name}'s new session`, 60_000)).peer;
    assert.notEqual(newIds[name], ids[name], `${name} has a new peer id`);
    await peer.waitFor((e) => e.event === 'sfu-joined' && peer.events.indexOf(e) >= since, `${name} joining the new videoroom`, 60_000);
  }
  await eachDecodesTheOthers(newIds, (peer) => marks.get(peer));
  for (const [name, peer] of everyone) {
    assert.equal(peer.events.filter((e) => e.event === 'call-ended').length, 0, `${name}'s call went on`);
  }
});

// Last: it kills the test's Janus.
test('Janus killed mid-call: every native peer ends the call with a notice, nobody hangs', { timeout: 120_000 }, async () => {
  const { natives } = await callOfThree('sfu-native-lost', ['Bea', 'Cy'], 'Al');
  for (const peer of natives) await peer.waitFor((e) => e.event === 'sfu-joined', 'joining the videoroom', 30_000);
  await janus.kill();
  // Each asks to be placed again; nothing answers, so whoever gives up first ends the call with a notice
  // and hangs up, and the others' calls end with it (or with their own notice): nobody stays in a call.
  for (const peer of natives) {
    await peer.waitFor((e) => e.event === 'sfu-lost', 'losing the SFU', 20_000);
    const ended = new Set();
    await peer.waitFor((e) => {
      if (e.event === 'call-ended') ended.add(e.peer);
      return ended.size === 2;
    }, 'the call ending with both others', 30_000);
  }
  const notices = natives.flatMap((p) => p.events.filter((e) => e.event === 'media-notice').map((e) => e.notice));
  assert.ok(notices.some((n) => /The call ended: its media server is unreachable/.test(n ?? '')), `no notice: ${JSON.stringify(notices)}`);
});
