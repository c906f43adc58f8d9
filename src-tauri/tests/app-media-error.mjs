// A pipeline that fails mid-call reaches the person in the app's window (native media, GStreamer): the app
// calls a headless peer (p2pchat-peer --accept-calls) over its native link; its test pattern fails with a
// real GStreamer element error a few seconds into the call (P2PCHAT_TEST_MEDIA_FAIL_AFTER frames), and
//   - the call area shows the notice "Your camera stopped (…): the others no longer see you.", while the
//     call goes on (still active, the peer still hears the app);
//   - the peer indeed stops receiving the app's picture.
// The app runs with P2PCHAT_TEST_MEDIA=1 P2PCHAT_TEST_MEDIA_FAIL_AFTER=300 (10 s) P2PCHAT_FORCE_FALLBACK=1. Env: APP_BIN,
// PEER_BIN, WORK, ROOM, P2PCHAT_SERVER_URL. Prints PASS/FAIL lines; exit 1 on any failure. Bounded in time;
// stops the driver, app and peer it started.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { callPhaseScript, checks, openRoom, sleep, withApp } from './webdriver.mjs';

const work = process.env.WORK ?? '/tmp';
const room = process.env.ROOM ?? 'e2e-media-error';
const { pass, fail, exit } = checks();

const noticeScript = 'return document.querySelector(\'[data-testid="media-notice"]\')?.textContent ?? null;';

async function mediaError(d) {
  if (!(await openRoom(d, room))) return fail(`room ${room} not listed on the start screen`);
  const peer = spawn(process.env.PEER_BIN, ['--server', process.env.P2PCHAT_SERVER_URL, '--room', room, '--name', 'Peer', '--accept-calls', '--timeout', '150'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  /** The peer's latest call-stats line for the app, and its other events. */
  const peerState = { stats: null, events: [] };
  createInterface({ input: peer.stdout }).on('line', (line) => {
    try {
      const event = JSON.parse(line);
      if (event.event === 'call-stats') peerState.stats = event;
      else peerState.events.push(event.event);
    } catch {
      // not a JSON line
    }
  });
  try {
    const linked = await d.until('return document.querySelectorAll(\'[data-testid="presence-item"] .dot.connected\').length;', (n) => n >= 1, 45000);
    if (linked < 1) return fail(`the app never linked to the peer (${linked})`);
    const callButton = await d.waitFor('[data-testid="call-button"].primary', { timeoutMs: 15000 });
    if (!callButton.length) return fail('no native call button in the window');
    await d.click(callButton[0]);
    const phase = await d.until(callPhaseScript, (p) => p === 'active', 30000);
    if (phase !== 'active') return fail(`the peer did not answer: phase ${phase}, peer events ${JSON.stringify(peerState.events)}`);
    const before = await d.run(noticeScript);
    if (before === null) pass('the call is active, with no media notice yet');
    else fail(`a media notice before the failure: "${before}"`);

    const notice = await d.until(noticeScript, (t) => typeof t === 'string' && t.length > 0, 30000);
    const stillActive = await d.run(callPhaseScript);
    if (typeof notice === 'string' && /^Your camera stopped \(.+\): the others no longer see you\.$/.test(notice) && stillActive === 'active') {
      pass(`the window shows the camera's failure mid-call: "${notice}" (the call is still ${stillActive})`);
    } else {
      fail(`media notice "${notice}", phase ${stillActive}`);
    }
    // The other side sees it too: the app's picture stops (once what was in flight is decoded), its
    // sound goes on.
    let at = peerState.stats;
    let later = at;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      await sleep(3000);
      later = peerState.stats;
      if (at && later && later.video_frames_decoded === at.video_frames_decoded) break;
      at = later;
    }
    if (at && later && later.video_frames_decoded === at.video_frames_decoded && later.audio_level > 0.05) {
      pass(`the peer stops receiving the app's picture (${later.video_frames_decoded} frames, none for 3 s) and still hears it (level ${later.audio_level.toFixed(2)})`);
    } else {
      fail(`the peer's view of the app after the failure: ${JSON.stringify(at)} → ${JSON.stringify(later)}`);
    }
    const [hangup] = await d.waitFor('[data-testid="hangup-button"]');
    if (hangup) await d.click(hangup);
  } finally {
    peer.kill();
  }
}

// The app's own output goes to a file, not the report.
await withApp('media error', `${work}/app-media-error-app.log`, 150_000, fail, mediaError);
exit();
