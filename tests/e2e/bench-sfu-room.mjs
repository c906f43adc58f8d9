// SFU calls in the product's terms (docs/performance.md, "SFU: a room of 8, CPU per participant, mesh vs SFU"):
// the real signaling server, Debian's Janus (janus.mjs), headless native peers `p2pchat-peer` (webrtc-rs +
// GStreamer, test pattern and tone) and Chromium pages of the app (a fake camera), in the test network
// namespace, end-to-end encryption on as in the product. Three parts, each bounded in time:
//  1. A room of PAGES + NATIVES (default 2 + 6 = 8) with --mesh-size 4: once all are linked, the first page
//     presses Call (t0; calls through the SFU hold 16: SFU_MAX_CALL_PEOPLE); native peers answer at
//     once, the other pages press Accept. Per participant: t0 → first remote
//     frame decoded, and → every other's video decoded through Janus; then whether each decodes every other,
//     frames counting up; native peers' and Janus's CPU over WINDOW seconds.
//  2. The same 4 native peers in a call of 4 as a mesh (--mesh-size 4) and through Janus (--mesh-size 2):
//     each peer's CPU (/proc/<pid>/stat) over WINDOW seconds once all decode all.
//  3. Janus's CPU per forwarded stream in those runs (above its idle baseline).
// A CPU figure only means what a participant costs when nothing else competed for the cores: each one is
// printed with a verdict, "meaningful" only if the machine was quiet before the run (the 10 s Janus-idle
// window), not saturated during the measuring window, and every stream was decoded at the rate it was sent.
// Native peers print call-stats once a second, so their times have 1 s resolution; pages are polled every 250 ms.
// Run:  tests/e2e/netns.sh node tests/e2e/bench-sfu-room.mjs
// Settings (environment): PAGES=2 NATIVES=6 WINDOW=20 (seconds); P2PCHAT_PEER_BIN (e.g. a release build,
// $CARGO_TARGET_DIR/release/examples/p2pchat-peer; default the debug one); VIDEO: the native peers' --video
// (default their own test pattern, 640×480 at 30 frames a second); PAGE_CAMERA=WxH@FPS: the pages' camera
// as a Y4M test pattern (default Chromium's fake camera: 1280×720 as the app asks).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fakeCameraFile, nativeStats, nativeTimes, pageView, startNative, until } from './call-room.mjs';
import { joinAs, launchBrowser, repo, sleep, startServer, waitForPeers } from './lib.mjs';
import { startJanus } from './janus.mjs';
import { peerBin } from './peer.mjs';

const PAGES = Number(process.env.PAGES ?? 2);
const NATIVES = Number(process.env.NATIVES ?? 6);
const WINDOW = Number(process.env.WINDOW ?? 20);
const VIDEO = process.env.VIDEO ?? 'test';
/** Frames a second the native peers send: VIDEO's `@FPS`, else the test pattern's 30. */
const NATIVE_FPS = Number(/@(\d+)$/.exec(VIDEO)?.[1] ?? 30);
const PAGE_CAMERA = process.env.PAGE_CAMERA ? /^(\d+)x(\d+)@(\d+)$/.exec(process.env.PAGE_CAMERA) : null;
if (process.env.PAGE_CAMERA && !PAGE_CAMERA) throw new Error('PAGE_CAMERA is WIDTHxHEIGHT@FPS, e.g. 320x240@10');
const TICKS = 100; // USER_HZ on Linux
const ROOM_WAIT_MS = 120_000;
/** A CPU figure is not trusted when the machine was busier than this before the run, or during its window. */
const QUIET_BEFORE = 15;
const SATURATED = 85;
/** Streams decoded below this share of the rate they are sent at: the decoder was starved. */
const FULL_RATE = 0.9;

// The whole run is bounded: a stuck step ends it (children are stopped by the finally below or by the namespace).
const watchdog = setTimeout(() => {
  console.error('bench-sfu-room: gave up after 12 minutes');
  process.exit(2);
}, 12 * 60_000);

const cpuTicks = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
};
const machineBusy = () => {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return { busy: f.reduce((a, b) => a + b, 0) - idle, total: f.reduce((a, b) => a + b, 0) };
};
/** CPU of each pid over `seconds` in percent of one core, and the whole machine's busy share (all cores). */
async function cpuOver(pids, seconds) {
  const before = pids.map(cpuTicks);
  const m0 = machineBusy();
  await sleep(seconds * 1000);
  const m1 = machineBusy();
  return {
    cpu: pids.map((pid, i) => ((cpuTicks(pid) - before[i]) / TICKS / seconds) * 100),
    machine: ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100,
  };
}
const pct = (v) => `${v.toFixed(1)} %`;
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Whether a CPU figure read over a window says what a participant costs, and if not, why not. */
function verdict(machine, decodedFps, sentFps) {
  const why = [];
  if (background >= QUIET_BEFORE) why.push(`the machine was ${pct(background)} busy before the run (other work)`);
  if (machine >= SATURATED) why.push(`the machine was saturated (${pct(machine)} of all cores busy)`);
  const slow = decodedFps.filter((f) => f < FULL_RATE * sentFps);
  if (slow.length) why.push(`${slow.length} of ${decodedFps.length} streams decoded below ${FULL_RATE * 100} % of the ${sentFps} frames/s sent (starved)`);
  return why.length ? `NOT meaningful: ${why.join('; ')}` : `meaningful (machine ${pct(machine)} busy, every stream at its rate)`;
}

function machineLine() {
  const cpus = os.cpus();
  const commit = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']).toString().trim();
  const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no']).toString().trim() ? ' (tree has uncommitted changes)' : '';
  return `machine: ${cpus.length} × ${cpus[0].model}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, ` +
    `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; commit ${commit}${dirty}; ${new Date().toISOString()}`;
}

const janus = await startJanus();
const camera = PAGE_CAMERA && fakeCameraFile({ width: Number(PAGE_CAMERA[1]), height: Number(PAGE_CAMERA[2]), fps: Number(PAGE_CAMERA[3]) });
const allPeers = [];
/** A native peer of this run (stopped at the end), sending VIDEO. */
async function native(serverUrl, room, name, args) {
  const peer = await startNative(serverUrl, room, name, [...args, '--video', VIDEO]);
  allPeers.push(peer);
  return peer;
}
/** Frames per second `peer` decoded of each other participant between `before` (a nativeStats map) and now. */
const fpsSince = (peer, before, sfu, since) =>
  new Map([...nativeStats(peer, { sfu, since })].map(([id, s]) => [id, (s.frames - (before.get(id)?.frames ?? 0)) / WINDOW]));
const cleanups = [async () => { for (const p of allPeers) await p.stop(); }, () => janus.stop(), () => camera?.remove()];
let browser;
let background = 0;
console.log(machineLine());
console.log(`native peers: ${peerBin} --video ${VIDEO} (${NATIVE_FPS} frames/s); pages' camera: ${PAGE_CAMERA ? `${PAGE_CAMERA[0]} test pattern` : "Chromium's fake camera"}`);
try {
  const quiet = await cpuOver([janus.pid], 10);
  const idle = quiet.cpu[0];
  background = quiet.machine;
  console.log(`Janus idle: ${pct(idle)} of a core; the machine before the run: ${pct(background)} busy${background >= QUIET_BEFORE ? ' (NOT idle: CPU figures below will not be meaningful)' : ''}`);

  // ---- 1. A room of PAGES + NATIVES through Janus at --mesh-size 4.
  if (PAGES + NATIVES > 0) {
    const server = await startServer({ args: [...janus.serverArgs, '--mesh-size', '4'] });
    cleanups.unshift(() => server.stop());
    const room = 'bench-room';
    const size = PAGES + NATIVES;
    browser = PAGES ? await launchBrowser({ args: camera ? [`--use-file-for-fake-video-capture=${camera.file}`] : [] }) : null;
    const pages = [];
    for (let i = 0; i < PAGES; i++) pages.push(await joinAs(browser, server.url, `Page${i + 1}`, room));
    const natives = [];
    for (let i = 0; i < NATIVES; i++) natives.push(await native(server.url, room, `Native${i + 1}`, ['--accept-calls']));
    // Everyone linked with everyone before the ring (the ringing rule: callees accept only linked peers).
    for (const page of pages) await waitForPeers(page, size - 1);
    for (const peer of natives) await peer.waitFor(() => peer.events.filter((x) => x.event === 'open').length >= size - 1, `${peer.name} linked`, ROOM_WAIT_MS);
    // Page1 rings the room.
    const t0 = Date.now();
    await pages[0].getByTestId('call-button').click();
    const pageTimes = pages.map(() => ({ accepted: null, first: null, all: null }));
    const sfuShown = (view) => Object.values(view.tiles).filter((t) => t.sfu && t.frames > 0).length;
    // Pages press Accept as soon as it shows, then are watched until they see all through Janus.
    await Promise.all(pages.map(async (page, i) => {
      if (i > 0) await page.getByTestId('accept-button').click({ timeout: 60_000 });
      pageTimes[i].accepted = Date.now() - t0;
      await until(async () => {
        const view = await pageView(page);
        if (pageTimes[i].first === null && Object.values(view.tiles).some((t) => t.frames > 0)) pageTimes[i].first = Date.now() - t0;
        if (sfuShown(view) >= size - 1) pageTimes[i].all = Date.now() - t0;
        return sfuShown(view) >= size - 1;
      }, `Page${i + 1} showing ${size - 1} videos through Janus`, ROOM_WAIT_MS);
    }).concat(natives.map((peer) => until(() => nativeTimes(peer, t0, size - 1).all !== null, `${peer.name} decoding ${size - 1} through Janus`, ROOM_WAIT_MS, 500))))
      .catch((err) => console.log(`room of ${size}: ${err.message} (reporting what was reached)`));

    console.log(`\n1. Room of ${size} (${PAGES} Chromium pages + ${NATIVES} native peers), --mesh-size 4; t0 = Page1 presses Call`);
    const firsts = [];
    const alls = [];
    for (const [i, t] of pageTimes.entries()) {
      console.log(`  Page${i + 1}: accepted at ${t.accepted} ms, first remote frame ${t.first} ms, all ${size - 1} through Janus ${t.all ?? 'never'} ms`);
      if (t.first !== null) firsts.push(t.first);
      if (t.all !== null) alls.push(t.all);
    }
    for (const peer of natives) {
      const t = nativeTimes(peer, t0, size - 1);
      console.log(`  ${peer.name}: first remote frame ${t.first} ms, all ${size - 1} through Janus ${t.all ?? `never (${t.decoding} of ${size - 1})`} ms`);
      if (t.first !== null) firsts.push(t.first);
      if (t.all !== null) alls.push(t.all);
    }
    console.log(`  first remote frame: p50 ${quantile(firsts, 0.5)} ms, max ${Math.max(...firsts)} ms (${firsts.length} of ${size})`);
    if (alls.length) console.log(`  every other through Janus: p50 ${quantile(alls, 0.5)} ms, max ${Math.max(...alls)} ms (${alls.length} of ${size})`);

    // Frames counting up: two samples WINDOW seconds apart, while the CPU of the natives and Janus is read.
    const pagesBefore = await Promise.all(pages.map(pageView));
    const since = Date.now();
    const natBefore = natives.map((p) => nativeStats(p, { sfu: true }));
    const { cpu, machine } = await cpuOver([janus.pid, ...natives.map((p) => p.child.pid)], WINDOW);
    const pagesAfter = await Promise.all(pages.map(pageView));
    for (const [i] of pages.entries()) {
      const rising = Object.entries(pagesAfter[i].tiles).filter(([peer, t]) => t.sfu && t.frames > (pagesBefore[i].tiles[peer]?.frames ?? 0)).length;
      console.log(`  Page${i + 1}: ${rising} of ${size - 1} remote videos counting up through Janus over ${WINDOW} s`);
    }
    const nativeIds = new Set(natives.map((p) => p.id));
    const fromNatives = []; // frames/s each native decodes of each other native (sent at NATIVE_FPS)
    for (const [i, peer] of natives.entries()) {
      const fps = fpsSince(peer, natBefore[i], true, since);
      for (const [id, f] of fps) if (nativeIds.has(id)) fromNatives.push(f);
      const rising = [...fps.values()].filter((f) => f > 0).length;
      console.log(`  ${peer.name}: ${rising} of ${size - 1} counting up (frames/s per stream ${[...fps.values()].map((f) => f.toFixed(1)).join(' ')}), CPU ${pct(cpu[i + 1])} of a core`);
    }
    // Who is in the call: those receiving anyone through Janus (each receives all the others' audio and video).
    const inCall = pagesAfter.filter((view) => sfuShown(view) > 0).length +
      natives.filter((p) => nativeStats(p, { sfu: true, since }).size > 0).length;
    console.log(`  in the call: ${inCall} of ${size}`);
    const streams = inCall * (inCall - 1) * 2;
    const perStream = streams ? ` = ${((cpu[0] - idle) / streams).toFixed(3)} % per stream above idle` : ' (nobody through Janus: a mesh)';
    console.log(`  Janus: ${pct(cpu[0])} of a core for ${streams} forwarded streams (${streams / 2} video + ${streams / 2} audio)${perStream}; whole machine busy ${pct(machine)}`);
    console.log(`  native peers' CPU in the room: ${verdict(machine, fromNatives, NATIVE_FPS)} (judged on the native peers' streams)`);
    for (const page of pages) await page.context().close();
    for (const peer of natives) await peer.stop();
    await browser?.close();
    browser = null;
    await server.stop();
    await sleep(3000);
  }

  // ---- 2. Four native peers: a mesh (--mesh-size 4) and through Janus (--mesh-size 2).
  console.log(`\n2. Call of 4 native peers: CPU per participant over ${WINDOW} s, mesh vs SFU`);
  const perParticipant = {};
  for (const [label, meshSize, sfu] of [['mesh', 4, false], ['SFU', 2, true]]) {
    const server = await startServer({ args: [...janus.serverArgs, '--mesh-size', String(meshSize)] });
    const room = `bench-four-${label}`;
    const peers = [];
    try {
      for (let i = 1; i < 4; i++) peers.push(await native(server.url, room, `P${i + 1}`, ['--accept-calls']));
      for (const peer of peers) await peer.waitFor(() => peer.events.filter((x) => x.event === 'open').length >= 2, `${peer.name} linked`, 60_000);
      const caller = await native(server.url, room, 'P1', ['--call', '--call-peers', '3']);
      peers.unshift(caller);
      await caller.waitFor(() => caller.events.filter((x) => x.event === 'open').length >= 3, 'caller linked', 60_000);
      const t0 = caller.timed.filter((x) => x.e.event === 'open')[2].at;
      await Promise.all(peers.map((peer) => until(() => nativeTimes(peer, t0, 3, sfu).all !== null, `${peer.name} decoding 3 (${label})`, 90_000, 500)));
      await sleep(3000); // past the start-up (key switch, first keyframes)
      const since = Date.now();
      const before = peers.map((p) => nativeStats(p, { sfu }));
      const { cpu, machine } = await cpuOver([janus.pid, ...peers.map((p) => p.child.pid)], WINDOW);
      const fps = peers.map((p, i) => [...fpsSince(p, before[i], sfu, since).values()]);
      const per = cpu.slice(1);
      const mean = per.reduce((a, b) => a + b, 0) / per.length;
      const fpsTotal = fps.flat().reduce((a, b) => a + b, 0) / peers.length;
      const judged = verdict(machine, fps.flat(), NATIVE_FPS);
      perParticipant[label] = { mean, judged };
      console.log(`  ${label} (--mesh-size ${meshSize}): per peer ${per.map(pct).join(', ')} of a core (mean ${pct(mean)}, ${(mean / fpsTotal).toFixed(2)} % of a core per decoded frame/s); ` +
        `decoded fps per stream ${fps.map((f) => f.map((x) => x.toFixed(1)).join('/')).join(', ')}; ` +
        `Janus ${pct(cpu[0])}${sfu ? ` = ${((cpu[0] - idle) / 24).toFixed(3)} % per stream above idle (24 streams: 12 video + 12 audio)` : ''}; machine busy ${pct(machine)}`);
      console.log(`  ${label} t0 → all 3 decoded: ${peers.map((p) => nativeTimes(p, t0, 3, sfu).all).join(', ')} ms`);
      console.log(`  ${label}: ${judged}`);
    } finally {
      for (const peer of peers) await peer.stop();
      await server.stop();
      await sleep(3000);
    }
  }
  const { mesh, SFU } = perParticipant;
  const bothMeaningful = [mesh, SFU].every((r) => r.judged.startsWith('meaningful'));
  console.log(`\nCPU per participant at 4 people (native peers, ${VIDEO}): mesh ${pct(mesh.mean)}, SFU ${pct(SFU.mean)} of a core — ` +
    (bothMeaningful ? 'meaningful' : 'NOT meaningful (see the verdicts above): do not quote it as a cost'));
  console.log(`\n${machineLine()}`);
} finally {
  await browser?.close();
  for (const cleanup of cleanups) await cleanup();
  clearTimeout(watchdog);
}
