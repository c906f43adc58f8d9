// The app's window in a call through the SFU (issue 27; docs/app.md, "Calls through the SFU"): Debian's Janus
// (tests/e2e/janus.mjs) behind a signaling server with --mesh-size 2, the window (native media: the webview
// has no WebRTC, P2PCHAT_FORCE_FALLBACK=1, test pattern P2PCHAT_TEST_MEDIA=1) and two headless native peers
// (p2pchat-peer --accept-calls, a 320×240 pattern at 15 fps: the machine has 2 cores). The window calls the room; with both peers in, the call has three people,
// past the mesh size, and moves to Janus:
//   - the window decodes both peers through Janus: each one's tile counts frames up, a picture that is not
//     black, after the peers left the mesh (they publish to Janus only) — and the app says it joined the
//     call's videoroom;
//   - both peers decode the window's video through Janus (their call-stats with "sfu": true count up), so
//     its frames are sealed with the key it gave them over the native chat links;
//   - a screenshot of the window in the call (app-sfu.png in the work dir);
//   - one peer hangs up: the window and the other peer go on, each decoding the other under the keys
//     replaced when he left;
//   - Janus is killed: the window's call ends with the notice that its media server was lost.
// Env: APP_BIN, PEER_BIN, WORK, ROOM (and CARGO_TARGET_DIR / SIGNALING_SERVER_BIN for the server). Prints
// PASS/FAIL lines; exit 1 on any failure. Bounded in time; stops what it started.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { callPhaseScript, checks, openRoom, remoteTile, sleep, withApp } from './webdriver.mjs';
import { appWindows, until } from './desktop.mjs';
import { startServer } from '../../tests/e2e/lib.mjs';
import { startJanus } from '../../tests/e2e/janus.mjs';

const work = process.env.WORK ?? '/tmp';
const room = process.env.ROOM ?? 'e2e-sfu';
const { pass, fail, exit } = checks();

const noticeScript = 'return document.querySelector(\'[data-testid="call-notice"]\')?.textContent ?? null;';

/** A headless native peer answering calls; its JSON lines kept: its id, links, SFU events, stats per peer. */
function startPeer(name, server) {
  const child = spawn(process.env.PEER_BIN, ['--server', server, '--room', room, '--name', name, '--accept-calls', '--timeout', '240', '--video', 'test=320x240@15'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const peer = { name, child, id: null, open: new Set(), events: [], stats: {} };
  const log = createWriteStream(`${work}/app-sfu-peer-${name}.log`);
  createInterface({ input: child.stdout }).on('line', (line) => {
    log.write(`${line}\n`);
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.event === 'ready') peer.id = event.peer;
    else if (event.event === 'open') peer.open.add(event.peer);
    else if (event.event === 'call-stats') peer.stats[event.peer] = event;
    if (event.event !== 'call-stats') peer.events.push(event.event === 'media-notice' ? `notice: ${event.notice}` : event.event);
  });
  return peer;
}

/** Frames wanted to count a picture as moving, and how long they may take on the shared 2-core machine. */
const FRAMES = 10;
const WITHIN_MS = 20000;

/** Reads `read()` (something with a frame count) until it counted FRAMES more, or WITHIN_MS passed. */
async function gain(read, count) {
  const start = Date.now();
  const first = count(await read());
  let later;
  for (;;) {
    later = await read();
    const gained = count(later) - first;
    if (gained >= FRAMES || Date.now() - start > WITHIN_MS) return { gained, later, seconds: ((Date.now() - start) / 1000).toFixed(1) };
    await sleep(500);
  }
}

/** The frames `peer`'s tile in the window gains. */
const tileGain = (d, peer) => gain(() => remoteTile(d, peer), (t) => t?.frames ?? 0);

/** What `peer` decodes of the app through Janus. */
const peerGain = (peer, appId) => gain(async () => peer.stats[appId], (s) => s?.video_frames_decoded ?? 0);

async function sfuCall(d, janus, server, appLog) {
  if (!(await openRoom(d, room))) return fail(`room ${room} not listed on the start screen`);
  const peers = [startPeer('Ada', server), startPeer('Bo', server)];
  try {
    // Everyone linked with everyone (a callee takes a co-invitee's accept only over an open link).
    const linked = await d.until('return document.querySelectorAll(\'[data-testid="presence-item"] .dot.connected\').length;', (n) => n >= 2, 60000);
    const meshed = await until(() => peers.every((p) => p.id && p.open.size >= 2), 60000);
    if (linked < 2 || !meshed) return fail(`not everyone linked: the window sees ${linked}, peers ${peers.map((p) => `${p.name} ${p.open.size}`).join(', ')}`);
    const [ada, bo] = peers;
    const appId = [...ada.open].find((id) => id !== bo.id);
    const callButton = await d.waitFor('[data-testid="call-button"].primary', { timeoutMs: 15000 });
    if (!callButton.length) return fail('no native call button in the window');
    await d.click(callButton[0]);
    const phase = await d.until(callPhaseScript, (p) => p === 'active', 30000);
    if (phase !== 'active') return fail(`the peers did not answer: phase ${phase}, peers ${JSON.stringify(peers.map((p) => p.events))}`);

    // Three people, mesh size 2: everyone moves to Janus.
    const moved = await until(() => peers.every((p) => p.events.includes('sfu-joined')), 45000);
    if (!moved) return fail(`the peers did not join the videoroom: ${JSON.stringify(peers.map((p) => p.events))}`);
    const windowJoined = await until(() => appLog().includes("joined the call's videoroom"), 30000);
    if (windowJoined) pass('three people, mesh size 2: the call moved to Janus, the window joined its videoroom and the peers theirs');
    else fail(`the window never joined the call's videoroom (see ${work}/app-sfu-app.log)`);

    // The window decodes both peers through Janus (they publish there only since the move).
    for (const peer of peers) {
      const shown = await until(async () => ((await remoteTile(d, peer.id))?.frames ?? 0) > 0, 30000);
      const { gained, later, seconds } = shown ? await tileGain(d, peer.id) : { gained: 0, later: null };
      // The peers send GStreamer's ball: white on black, so a picture is one with contrast.
      if (gained >= FRAMES && later.spread > 5) {
        pass(`the window shows ${peer.name} through Janus: +${gained} frames in ${seconds} s (${later.width}×${later.height}, mean luma ${later.mean.toFixed(0)}, spread ${later.spread.toFixed(0)})`);
      } else {
        fail(`${peer.name}'s tile in the window: +${gained} frames, ${JSON.stringify(later)}`);
      }
    }
    // Both peers decode the window through Janus, opened with the key the window gave them.
    for (const peer of peers) {
      const seen = await until(() => peer.stats[appId]?.sfu && peer.stats[appId].video_frames_decoded > 0, 30000);
      const { gained, later, seconds } = seen ? await peerGain(peer, appId) : { gained: 0, later: peer.stats[appId] };
      if (later?.sfu && gained >= FRAMES) pass(`${peer.name} decodes the window through Janus: +${gained} frames in ${seconds} s (${later.video_frames_decoded} in all)`);
      else fail(`${peer.name}'s view of the window: ${JSON.stringify(later)}, +${gained}`);
    }
    // What the person sees: the window as X shows it (WebDriver's own screenshot leaves the JPEG tiles black).
    const window = appWindows().find((w) => w.mapped)?.id ?? 'root';
    spawnSync('import', ['-display', process.env.DISPLAY ?? ':0', '-window', window, `${work}/app-sfu.png`]);

    // Bo hangs up: the keys are replaced, Ada and the window go on.
    bo.child.stdin.write('/hangup\n');
    const two = await d.until('return document.querySelectorAll(\'img[data-testid="remote-video"], div[data-testid="remote-video"]\').length;', (n) => n === 1, 20000);
    if (two !== 1) fail(`after Bo hung up the window still shows ${two} people`);
    await sleep(2500); // past the switch to the new keys (1 s after they were sent)
    const [after, adaAfter] = await Promise.all([tileGain(d, ada.id), peerGain(ada, appId)]);
    // The window replaced its key for Ada alone (the app logs each key it gives: its id, whom it reached).
    const rotated = appLog().includes(`key=1 rotate=true reached=["${ada.id}"]`);
    if (after.gained >= FRAMES && adaAfter.gained >= FRAMES && rotated && (await d.run(callPhaseScript)) === 'active') {
      pass(`Bo hung up: the window and Ada go on under new keys (the window +${after.gained} frames of Ada in ${after.seconds} s, Ada +${adaAfter.gained} of the window in ${adaAfter.seconds} s)`);
    } else {
      fail(`after Bo hung up: the window +${after.gained} frames of Ada, Ada +${adaAfter.gained} of the window, the window's key replaced for Ada only: ${rotated}; Ada's events ${JSON.stringify(ada.events)}`);
    }

    // Janus dies: the window's call ends with a clear notice.
    await janus.kill();
    const ended = await d.until(callPhaseScript, (p) => p === 'idle', 45000);
    const notice = await d.run(noticeScript);
    if (ended === 'idle' && /media server/.test(notice ?? '')) pass(`Janus killed: the window's call ended with "${notice}"`);
    else fail(`Janus killed: phase ${ended}, notice ${JSON.stringify(notice)}`);
  } finally {
    for (const peer of peers) peer.child.kill();
  }
}

const janus = await startJanus();
let server = null;
let stopped = false;
// withApp's watchdog ends the process at once on a timeout: Janus and the server go with it.
process.on('exit', () => {
  if (stopped) return;
  for (const pid of [janus.pid, server?.child.pid]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(janus.dir, { recursive: true, force: true });
});
// Health checks every 2 s rather than the starter's 0.5 s: on the shared 2-core machine under load a Janus
// starved of CPU missed two quick ones in a row and the server gave the call no place (sfu_unavailable).
const serverArgs = janus.serverArgs.map((arg, i, all) => (all[i - 1] === '--sfu-health-ms' ? '2000' : arg));
server = await startServer({ args: ['--mesh-size', '2', ...serverArgs] });
const serverUrl = `ws://127.0.0.1:${server.port}/ws`;
// The app the driver starts connects to this server and opens the room.
Object.assign(process.env, { P2PCHAT_SERVER_URL: serverUrl, P2PCHAT_JOIN: room, RUST_LOG: process.env.RUST_LOG ?? 'info,p2pchat_core::sfu=debug' });
const appLogFile = `${work}/app-sfu-app.log`;
const appLog = () => {
  try {
    // Without its colours (the app's log is written as to a terminal).
    return readFileSync(appLogFile, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
  } catch {
    return '';
  }
};
try {
  await withApp('SFU call', appLogFile, 240_000, fail, (d) => sfuCall(d, janus, serverUrl, appLog));
} finally {
  await server.stop();
  await janus.stop();
  stopped = true;
}
exit();
