// Janus CPU per forwarded stream (docs/operations.md, "SFU calls: Janus", Sizing): Debian's Janus started by
// janus.mjs, one videoroom (VP8 + Opus, no simulcast), N Chromium pages that each publish fake camera
// (320×240, 15 fps) and microphone and subscribe to every other page's audio and video with one multistream
// subscriber; once every page decodes every other's video, Janus's own CPU time (/proc/<pid>/stat) is read
// over WINDOW seconds. Janus forwards N × (N − 1) × 2 streams. Runs N = 2, 3, 4 (SIZES) and an idle
// baseline; prints one line per size and the slope (CPU per forwarded stream).
// The pages talk to Janus with its api_secret (a bench, not the product: the product hands out tokens).
// Run inside the test network namespace:  tests/e2e/netns.sh node tests/e2e/bench-sfu.mjs
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { once } from 'node:events';
import { startJanus, API_SECRET, ROOM_ADMIN_KEY } from './janus.mjs';
import { launchBrowser, sleep } from './lib.mjs';

const SIZES = (process.env.SIZES ?? '2,3,4').split(',').map(Number);
const WINDOW = Number(process.env.WINDOW ?? 20);
const TICKS = 100; // USER_HZ on Linux

const cpuTicks = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
};

/** Janus's CPU over `seconds`, in percent of one core. */
async function janusCpu(pid, seconds) {
  const before = cpuTicks(pid);
  await sleep(seconds * 1000);
  return ((cpuTicks(pid) - before) / TICKS / seconds) * 100;
}

async function api(url, body) {
  const answer = await fetch(url, { method: 'POST', body: JSON.stringify({ ...body, transaction: 'b', apisecret: API_SECRET }) });
  return answer.json();
}

async function createRoom(janus, room) {
  const session = (await api(janus.apiUrl, { janus: 'create' })).data.id;
  const handle = (await api(`${janus.apiUrl}/${session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
  const created = await api(`${janus.apiUrl}/${session}/${handle}`, {
    janus: 'message',
    body: { request: 'create', room, admin_key: ROOM_ADMIN_KEY, publishers: 16, videocodec: 'vp8', audiocodec: 'opus', bitrate: 256000 },
  });
  if (created.plugindata?.data?.videoroom !== 'created') throw new Error(`create: ${JSON.stringify(created)}`);
}

/** In a page: a Janus session over WebSocket that publishes camera and microphone in `room`. */
async function publish(page, cfg) {
  await page.evaluate(async (cfg) => {
    const ws = new WebSocket(cfg.wsUrl, 'janus-protocol');
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    const pending = new Map();
    let tx = 0;
    let session;
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.janus === 'ack' || !pending.has(m.transaction)) return;
      pending.get(m.transaction)(m);
      pending.delete(m.transaction);
    };
    const send = (body) => new Promise((resolve) => {
      const transaction = `t${++tx}`;
      pending.set(transaction, resolve);
      ws.send(JSON.stringify({ ...body, transaction, apisecret: cfg.apiSecret, session_id: session }));
    });
    const gathered = (pc) => new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
    session = (await send({ janus: 'create' })).data.id;
    setInterval(() => ws.send(JSON.stringify({ janus: 'keepalive', session_id: session, transaction: 'k', apisecret: cfg.apiSecret })), 20_000);
    const attach = async () => (await send({ janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
    const handle = await attach();
    const joined = await send({ janus: 'message', handle_id: handle, body: { request: 'join', ptype: 'publisher', room: cfg.room, display: cfg.name } });
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 15 } });
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const configured = await send({ janus: 'message', handle_id: handle, body: { request: 'configure', audio: true, video: true }, jsep: pc.localDescription });
    await pc.setRemoteDescription(configured.jsep);
    window.__bench = { send, attach, gathered, me: joined.plugindata.data.id, handle, pcs: [pc] };
  }, cfg);
}

/** In a page: one subscriber connection to every other publisher's streams. */
async function subscribe(page, room, others) {
  await page.evaluate(async ({ room, others }) => {
    const { send, attach, gathered, me, handle } = window.__bench;
    let feeds = [];
    // A publisher counts once its media is up.
    for (let tries = 0; feeds.length < others && tries < 300; tries++) {
      if (tries) await new Promise((r) => setTimeout(r, 100));
      const list = await send({ janus: 'message', handle_id: handle, body: { request: 'listparticipants', room } });
      feeds = list.plugindata.data.participants.filter((p) => p.id !== me && p.publisher).map((p) => ({ feed: p.id }));
    }
    const sub = await attach();
    const offered = await send({ janus: 'message', handle_id: sub, body: { request: 'join', ptype: 'subscriber', room, streams: feeds } });
    if (!offered.jsep) throw new Error(`subscriber join: ${JSON.stringify(offered)}`);
    const pc = new RTCPeerConnection();
    const frames = (window.__frames = []);
    pc.ontrack = (e) => {
      if (e.track.kind !== 'video') return;
      const video = document.createElement('video');
      video.muted = true;
      video.srcObject = new MediaStream([e.track]);
      document.body.append(video);
      video.play();
      frames.push(video);
    };
    await pc.setRemoteDescription(offered.jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await send({ janus: 'message', handle_id: sub, body: { request: 'start' }, jsep: pc.localDescription });
    window.__bench.pcs.push(pc);
  }, { room, others });
}

/** Waits until the page decodes `count` remote videos, each with frames still arriving. */
async function waitForVideos(page, count) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const decoded = await page.evaluate(() => (window.__frames ?? []).map((v) => v.getVideoPlaybackQuality().totalVideoFrames));
    if (decoded.length === count && decoded.every((n) => n > 10)) return;
    if (Date.now() > deadline) throw new Error(`page decodes ${JSON.stringify(decoded)}, expected ${count} videos`);
    await sleep(250);
  }
}

/** Bytes and packets the page's subscriber connection received so far, video and audio. */
async function received(page) {
  return page.evaluate(async () => {
    const totals = { video: { bytes: 0, packets: 0 }, audio: { bytes: 0, packets: 0 } };
    const stats = await window.__bench.pcs[1].getStats();
    for (const s of stats.values()) {
      if (s.type === 'inbound-rtp' && totals[s.kind]) {
        totals[s.kind].bytes += s.bytesReceived;
        totals[s.kind].packets += s.packetsReceived;
      }
    }
    return totals;
  });
}

async function receivedByAll(pages) {
  const all = await Promise.all(pages.map(received));
  const sum = (kind, field) => all.reduce((t, r) => t + r[kind][field], 0);
  return { videoBytes: sum('video', 'bytes'), audioBytes: sum('audio', 'bytes'), packets: sum('video', 'packets') + sum('audio', 'packets') };
}

const site = http.createServer((_, res) => res.end('<!doctype html><title>bench</title>'));
site.listen(0, '127.0.0.1');
await once(site, 'listening');
const siteUrl = `http://127.0.0.1:${site.address().port}/`;

const janus = await startJanus();
const browser = await launchBrowser();
const rows = [];
try {
  const idle = await janusCpu(janus.pid, WINDOW);
  console.log(`idle Janus: ${idle.toFixed(1)} % of a core`);
  for (const [i, n] of SIZES.entries()) {
    const room = 1000 + i;
    await createRoom(janus, room);
    const contexts = [];
    const pages = [];
    for (let p = 0; p < n; p++) {
      const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
      const page = await context.newPage();
      await page.goto(siteUrl);
      await publish(page, { wsUrl: janus.wsUrl, apiSecret: API_SECRET, room, name: `p${p}` });
      contexts.push(context);
      pages.push(page);
    }
    for (const page of pages) await subscribe(page, room, n - 1);
    for (const page of pages) await waitForVideos(page, n - 1);
    const streams = n * (n - 1) * 2;
    const before = await receivedByAll(pages);
    const cpu = await janusCpu(janus.pid, WINDOW);
    const after = await receivedByAll(pages);
    const kbps = (bytes, count) => ((bytes * 8) / 1000 / WINDOW / count).toFixed(0);
    const packetRate = (after.packets - before.packets) / WINDOW;
    rows.push({ n, streams, cpu, packetRate });
    console.log(
      `${n} people: Janus forwards ${streams} streams (${streams / 2} video at ${kbps(after.videoBytes - before.videoBytes, streams / 2)} kbit/s, ` +
        `${streams / 2} audio at ${kbps(after.audioBytes - before.audioBytes, streams / 2)} kbit/s; ${packetRate.toFixed(0)} packets/s out): ` +
        `${cpu.toFixed(1)} % of a core`,
    );
    for (const context of contexts) await context.close();
    await sleep(2000);
  }
  // Least squares through the sizes: CPU = base + slope × streams.
  const mean = (f) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
  const slopeOf = (x) => {
    const [mx, my] = [mean(x), mean((r) => r.cpu)];
    return mean((r) => (x(r) - mx) * (r.cpu - my)) / mean((r) => (x(r) - mx) ** 2);
  };
  const perStream = slopeOf((r) => r.streams);
  const perPacket = slopeOf((r) => r.packetRate);
  console.log(`per forwarded stream: ${perStream.toFixed(3)} % of a core (${(100 / perStream).toFixed(0)} such streams per core)`);
  console.log(`per 1000 forwarded packets/s: ${(perPacket * 1000).toFixed(2)} % of a core (${(100 / perPacket).toFixed(0)} packets/s per core)`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0].model}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
} finally {
  await browser.close();
  await janus.stop();
  site.close();
}
