// What each participant of a call decodes, read the same way by the room-of-8 test (sfu-room.test.mjs) and
// its benchmark (bench-sfu-room.mjs): headless native peers (`p2pchat-peer`, its `call-stats` lines: frames
// decoded and the sound's level per person) and Chromium pages of the app (their remote tiles and the
// inbound streams of their peer connections, through the test hooks).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { evaluateWithin, sleep } from './lib.mjs';
import { startPeer } from './peer.mjs';

/**
 * A native peer whose printed events also carry the time they arrived (`timed`), with its `name` and,
 * once ready, its peer `id`.
 */
export async function startNative(serverUrl, room, name, args = []) {
  const peer = await startPeer(serverUrl, room, name, [...args, '--quiet']);
  peer.timed = [];
  readline.createInterface({ input: peer.child.stdout }).on('line', (line) => {
    try {
      peer.timed.push({ at: Date.now(), e: JSON.parse(line) });
    } catch {}
  });
  peer.name = name;
  try {
    peer.id = (await peer.waitFor((e) => e.event === 'ready', `${name} ready`)).peer;
  } catch (err) {
    await peer.stop();
    throw err;
  }
  return peer;
}

/**
 * A native peer's latest `call-stats` per other participant since `since` (ms since the epoch), through
 * the SFU (`sfu` true), the mesh (false) or either (undefined): peer id → { frames, audio, sfu, at }.
 */
export function nativeStats(peer, { sfu, since = 0 } = {}) {
  const last = new Map();
  for (const { at, e } of peer.timed) {
    if (at < since || e.event !== 'call-stats' || (sfu !== undefined && e.sfu !== sfu)) continue;
    last.set(e.peer, { frames: e.video_frames_decoded, audio: e.audio_level, sfu: e.sfu, at });
  }
  return last;
}

/**
 * A native peer's times from `t0`: its first decoded remote frame, and when it decoded each of `others`
 * people through the SFU (or the mesh: `sfu` false); `all` is null until it decodes that many.
 */
export function nativeTimes(peer, t0, others, sfu = true) {
  let first = null;
  const firstFrom = new Map();
  for (const { at, e } of peer.timed) {
    if (at < t0 || e.event !== 'call-stats' || !(e.video_frames_decoded > 0)) continue;
    first ??= at - t0;
    if (e.sfu === sfu && !firstFrom.has(e.peer)) firstFrom.set(e.peer, at - t0);
  }
  const all = firstFrom.size >= others ? Math.max(...firstFrom.values()) : null;
  return { first, all, decoding: firstFrom.size };
}

/**
 * Longest a page's `getStats()` calls may take in `pageView`. In a CI run, reading a page in a call of 8
 * got no answer for 20 s while the page itself still answered (its failure report came at once): a
 * `getStats()` that never settled. A late one leaves those sounds at 0 for this look (`statsLate` counts
 * them), so a caller polling with `until` looks again.
 */
const STATS_MS = 3_000;

/**
 * What a page shows of each remote person: per tile (peer id), the frames its video element decoded,
 * whether that picture comes through Janus (its track is one of the SFU subscriber's), and the total
 * energy of that person's sound as received (inbound-rtp `totalAudioEnergy` of the audio track the page
 * plays for them); plus whether the page has an SFU connection at all.
 */
export function pageView(page) {
  return evaluateWithin(page, async (statsMs) => {
    const debug = window.__p2pchatDebug;
    const subscriber = debug.sfu()?.subscriber ?? null;
    const viaSfu = new Set((subscriber?.getTransceivers() ?? []).map((t) => t.receiver.track.id));
    const energy = new Map();
    const late = new Promise((resolve) => setTimeout(resolve, statsMs, null));
    const reports = await Promise.all([subscriber, ...debug.peerConnections()].filter(Boolean).map((pc) => Promise.race([pc.getStats(), late])));
    const statsLate = reports.filter((stats) => !stats).length;
    for (const stats of reports) {
      stats?.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') energy.set(s.trackIdentifier, s.totalAudioEnergy ?? 0);
      });
    }
    const audioOf = (peer, tile) => {
      const sfuAudio = document.querySelector(`[data-testid="remote-audio"][data-peer="${CSS.escape(peer)}"]`);
      const track = sfuAudio?.srcObject?.getAudioTracks()[0] ?? tile.srcObject?.getAudioTracks()[0];
      return track ? (energy.get(track.id) ?? 0) : 0;
    };
    const tiles = {};
    for (const v of document.querySelectorAll('[data-testid="remote-video"]')) {
      const track = v.srcObject?.getVideoTracks()[0];
      tiles[v.dataset.peer] = {
        frames: v.getVideoPlaybackQuality().totalVideoFrames,
        sfu: !!track && viaSfu.has(track.id),
        audio: audioOf(v.dataset.peer, v),
      };
    }
    return { tiles, sfu: subscriber !== null || !!debug.sfu()?.publisher, ...(statsLate ? { statsLate } : {}) };
  }, STATS_MS, 'reading the remote videos');
}

/**
 * Waits until `pred()` (may be async) is truthy, polling every `ms`; fails after `limit` ms saying `what`
 * (a string, or a function giving it then).
 */
export async function until(pred, what, limit, ms = 250) {
  const deadline = Date.now() + limit;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${typeof what === 'function' ? what() : what}: not within ${limit} ms`);
    await sleep(ms);
  }
}

/**
 * A looping fake camera for Chromium (`--use-file-for-fake-video-capture`): `seconds` of GStreamer's moving
 * test pattern at `width`×`height`, `fps` frames a second, as a Y4M file in a fresh temporary folder.
 * Chromium's own fake camera gives the 1280×720 the app asks for (ui/src/lib/call/media.ts).
 */
export function fakeCameraFile({ width = 320, height = 240, fps = 10, seconds = 3 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pchat-camera-'));
  const file = path.join(dir, 'camera.y4m');
  execFileSync('gst-launch-1.0', [
    '-q', 'videotestsrc', `num-buffers=${fps * seconds}`, 'pattern=ball', '!',
    `video/x-raw,width=${width},height=${height},framerate=${fps}/1,format=I420`, '!', 'y4menc', '!', 'filesink', `location=${file}`,
  ]);
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
