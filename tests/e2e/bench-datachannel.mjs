// Data-channel benchmark of the native fallback: throughput (Mbit/s, sender's first message to the ack of
// its last) and round-trip latency (one message → its ack, one at a time) for Rust↔Rust, Rust↔Chromium
// (both directions) and Chromium↔Chromium as the reference, with 64 KiB and 1 KiB messages in the chat
// wire format, and the Rust peer's peak RSS. Senders wait on the channel's buffered amount (Chromium:
// bufferedAmountLowThreshold; Rust: the manager's send-buffer bound). Uses a release build of the CLI
// peer: `cargo build --release -p p2pchat-core --example p2pchat-peer`. Run (root, network namespace):
//   tests/e2e/netns.sh node tests/e2e/bench-datachannel.mjs
// Prints one JSON line per measurement and a Markdown table.

import os from 'node:os';
import path from 'node:path';
import { launchBrowser, startServer, targetDir } from './lib.mjs';
import { startPeer } from './peer.mjs';

const releasePeer = process.env.P2PCHAT_PEER_BIN ?? path.join(targetDir, 'release/examples/p2pchat-peer');
const BYTES_PER_RUN = Number(process.env.BENCH_BYTES ?? 64 * 1024 * 1024);
const PINGS = Number(process.env.BENCH_PINGS ?? 200);
const SIZES = (process.env.BENCH_SIZES ?? '65536,1024').split(',').map(Number);
/** Which pairs to run: chromium (reference), rust, mixed (Rust↔Chromium), latency. */
const CASES = new Set((process.env.BENCH_CASES ?? 'chromium,rust,mixed,latency').split(','));
const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT_MS ?? 120_000);

/** In-page peer: the web UI's link on the wire ("chat" channel opened in-band by the newcomer, perfect negotiation). */
function pageHarness() {
  const h = { me: null, remote: null, pc: null, dc: null, received: 0, acked: 0, ackWaiters: [] };
  let ws;
  let room;
  let iceServers = [];
  let makingOffer = false;
  const held = [];
  const signal = (data) => ws.send(JSON.stringify({ type: 'signal', room, to: h.remote, data }));
  const onAck = () => {
    h.acked += 1;
    for (const w of h.ackWaiters.splice(0)) w();
  };
  function adopt(dc) {
    h.dc = dc;
    dc.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.t === 'msg') {
        h.received += 1;
        dc.send(JSON.stringify({ t: 'ack', id: m.id }));
      } else if (m.t === 'ack') onAck();
    };
  }
  /** `opens`: we are the newcomer and open the chat channel; otherwise the peer's arrives. */
  function link(remote, opens) {
    h.remote = remote;
    const pc = new RTCPeerConnection({ iceServers });
    h.pc = pc;
    pc.ondatachannel = ({ channel }) => {
      if (channel.label === 'chat' && !h.dc) adopt(channel);
    };
    if (opens) adopt(pc.createDataChannel('chat', { ordered: true }));
    pc.onicecandidate = ({ candidate }) => signal({ kind: 'candidate', candidate: candidate ? candidate.toJSON() : null });
    pc.onnegotiationneeded = async () => {
      makingOffer = true;
      try {
        await pc.setLocalDescription();
        signal({ kind: 'offer', sdp: pc.localDescription.sdp });
      } finally {
        makingOffer = false;
      }
    };
  }
  async function onSignal(from, data) {
    if (!h.pc) link(from, false);
    const pc = h.pc;
    if (data.kind === 'offer' || data.kind === 'answer') {
      if (data.kind === 'offer' && (makingOffer || pc.signalingState !== 'stable') && h.me > from) return;
      await pc.setRemoteDescription({ type: data.kind, sdp: data.sdp });
      for (const c of held.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      if (data.kind === 'offer') {
        await pc.setLocalDescription();
        signal({ kind: 'answer', sdp: pc.localDescription.sdp });
      }
    } else if (data.kind === 'candidate' && data.candidate) {
      if (!pc.remoteDescription) held.push(data.candidate);
      else await pc.addIceCandidate(data.candidate).catch(() => held.push(data.candidate));
    }
  }
  let queue = Promise.resolve();
  h.join = (wsUrl, roomName, name) => new Promise((resolve) => {
    room = roomName;
    ws = new WebSocket(wsUrl);
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', v: 1, name }));
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.type === 'welcome') {
        h.me = f.peer;
        iceServers = f.ice_servers;
        ws.send(JSON.stringify({ type: 'join', room }));
      } else if (f.type === 'joined') {
        if (f.peers.length > 0) link(f.peers[0].peer, true);
        resolve();
      } else if (f.type === 'signal' && f.room === room) {
        queue = queue.then(() => onSignal(f.from, f.data)).catch(() => {});
      }
    };
  });
  h.open = () => new Promise((resolve) => {
    const check = () => (h.dc?.readyState === 'open' ? resolve() : setTimeout(check, 20));
    check();
  });
  const acked = (n) => new Promise((resolve) => {
    const check = () => (h.acked >= n ? resolve() : h.ackWaiters.push(check));
    check();
  });
  const message = (i, size) => {
    const m = { t: 'msg', id: `${i}-${crypto.randomUUID()}`, body: `${i} `, sentAt: Date.now(), name: 'page' };
    m.body += 'x'.repeat(Math.max(0, size - JSON.stringify(m).length));
    return JSON.stringify(m);
  };
  h.blast = async (count, size) => {
    const dc = h.dc;
    dc.bufferedAmountLowThreshold = 512 * 1024;
    const high = 1024 * 1024;
    const target = h.acked + count;
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      if (dc.bufferedAmount > high) await new Promise((r) => { dc.onbufferedamountlow = r; });
      dc.send(message(i, size));
    }
    await acked(target);
    const seconds = (performance.now() - start) / 1000;
    return { mbit_s: (count * size * 8) / seconds / 1e6, seconds };
  };
  h.ping = async (count) => {
    const rtts = [];
    for (let i = 0; i < count; i++) {
      const target = h.acked + 1;
      const start = performance.now();
      h.dc.send(message(i, 100));
      await acked(target);
      rtts.push((performance.now() - start) * 1000);
    }
    rtts.sort((a, b) => a - b);
    const at = (p) => Math.round(rtts[Math.round((rtts.length - 1) * p)]);
    return { rtt_p50_us: at(0.5), rtt_p99_us: at(0.99) };
  };
  window.bench = h;
}

async function newPage(browser, server, room, name) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(pageHarness);
  await page.evaluate(([url, r, n]) => window.bench.join(url, r, n), [server.url.replace('http', 'ws') + '/ws', room, name]);
  return page;
}

const withTimeout = (promise, what) => Promise.race([
  promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), RUN_TIMEOUT_MS)),
]);

const results = [];
function record(pair, direction, size, values) {
  const row = { pair, direction, size, ...values };
  results.push(row);
  console.log(JSON.stringify(row));
}

async function peerDone(peer, what) {
  const done = await peer.waitFor((e) => e.event === 'done', what, RUN_TIMEOUT_MS);
  if (!done.ok) throw new Error(`${what}: ${JSON.stringify(done)}`);
  return done;
}

let roomNo = 0;
const nextRoom = () => `bench-${process.pid}-${roomNo++}`;

async function rustToRust(server, size) {
  const count = Math.max(1, Math.floor(BYTES_PER_RUN / size));
  const room = nextRoom();
  const receiver = await startPeer(server.url, room, 'rx', ['--expect', String(count), '--quiet'], { bin: releasePeer });
  await receiver.waitFor((e) => e.event === 'ready', 'receiver ready');
  const sender = await startPeer(server.url, room, 'tx', ['--send', String(count), '--size', String(size), '--quiet'], { bin: releasePeer });
  try {
    const sent = await peerDone(sender, 'Rust sender');
    const got = await peerDone(receiver, 'Rust receiver');
    record('Rust↔Rust', 'Rust→Rust', size, { mbit_s: sent.mbit_s, in_order: got.in_order, rss_sender_kib: sent.peak_rss_kib, rss_receiver_kib: got.peak_rss_kib });
  } finally {
    await sender.stop();
    await receiver.stop();
  }
}

async function rustLatency(server) {
  const room = nextRoom();
  const echo = await startPeer(server.url, room, 'echo', [], { bin: releasePeer });
  await echo.waitFor((e) => e.event === 'ready', 'echo ready');
  const pinger = await startPeer(server.url, room, 'ping', ['--ping', String(PINGS), '--quiet'], { bin: releasePeer });
  try {
    const done = await peerDone(pinger, 'Rust pings');
    record('Rust↔Rust', 'round trip', 100, { rtt_p50_us: done.rtt_p50_us, rtt_p99_us: done.rtt_p99_us });
  } finally {
    await pinger.stop();
    await echo.stop();
  }
}

async function rustAndChromium(browser, server, size) {
  const count = Math.max(1, Math.floor(BYTES_PER_RUN / size));
  // Rust → Chromium: the page (first in the room) acks; the Rust peer is the newcomer and offers.
  let room = nextRoom();
  let page = await newPage(browser, server, room, 'page');
  let peer = await startPeer(server.url, room, 'tx', ['--send', String(count), '--size', String(size), '--quiet'], { bin: releasePeer });
  try {
    const sent = await peerDone(peer, 'Rust → Chromium');
    record('Rust↔Chromium', 'Rust→Chromium', size, { mbit_s: sent.mbit_s, rss_rust_kib: sent.peak_rss_kib });
  } finally {
    await peer.stop();
    await page.context().close();
  }
  // Chromium → Rust: the Rust peer acks.
  room = nextRoom();
  peer = await startPeer(server.url, room, 'rx', ['--expect', String(count), '--quiet'], { bin: releasePeer });
  await peer.waitFor((e) => e.event === 'ready', 'Rust receiver ready');
  page = await newPage(browser, server, room, 'page');
  try {
    await withTimeout(page.evaluate(() => window.bench.open()), 'channel open');
    const r = await withTimeout(page.evaluate(([n, s]) => window.bench.blast(n, s), [count, size]), 'Chromium → Rust');
    const got = await peerDone(peer, 'Rust receiver');
    record('Rust↔Chromium', 'Chromium→Rust', size, { mbit_s: r.mbit_s, in_order: got.in_order, rss_rust_kib: got.peak_rss_kib });
  } finally {
    await peer.stop();
    await page.context().close();
  }
}

async function rustChromiumLatency(browser, server) {
  const room = nextRoom();
  const page = await newPage(browser, server, room, 'page');
  const peer = await startPeer(server.url, room, 'ping', ['--ping', String(PINGS), '--quiet'], { bin: releasePeer });
  try {
    const done = await peerDone(peer, 'Rust → Chromium pings');
    record('Rust↔Chromium', 'round trip', 100, { rtt_p50_us: done.rtt_p50_us, rtt_p99_us: done.rtt_p99_us });
  } finally {
    await peer.stop();
    await page.context().close();
  }
}

async function chromiumPair(browser, server, size) {
  const count = Math.max(1, Math.floor(BYTES_PER_RUN / size));
  const room = nextRoom();
  const a = await newPage(browser, server, room, 'a');
  const b = await newPage(browser, server, room, 'b');
  try {
    await withTimeout(Promise.all([a.evaluate(() => window.bench.open()), b.evaluate(() => window.bench.open())]), 'channel open');
    const r = await withTimeout(b.evaluate(([n, s]) => window.bench.blast(n, s), [count, size]), 'Chromium → Chromium');
    record('Chromium↔Chromium', 'Chromium→Chromium', size, { mbit_s: r.mbit_s });
    if (size === SIZES[0]) {
      const l = await withTimeout(b.evaluate((n) => window.bench.ping(n), PINGS), 'Chromium pings');
      record('Chromium↔Chromium', 'round trip', 100, l);
    }
  } finally {
    await a.context().close();
    await b.context().close();
  }
}

const server = await startServer();
const browser = await launchBrowser();
try {
  for (const size of SIZES) {
    if (CASES.has('chromium')) await chromiumPair(browser, server, size);
    if (CASES.has('rust')) await rustToRust(server, size);
    if (CASES.has('mixed')) await rustAndChromium(browser, server, size);
  }
  if (CASES.has('latency')) {
    await rustLatency(server);
    await rustChromiumLatency(browser, server);
  }
} finally {
  await browser.close();
  await server.stop();
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nmachine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; ${BYTES_PER_RUN / 2 ** 20} MiB per throughput run, ${PINGS} pings\n`);
console.log('| pair | direction | message | Mbit/s | RTT p50 / p99 | Rust peak RSS |');
console.log('|---|---|---|---|---|---|');
for (const r of results) {
  const size = r.size >= 1024 ? `${r.size / 1024} KiB` : `${r.size} B`;
  const mbit = r.mbit_s ? r.mbit_s.toFixed(0) : '';
  const rtt = r.rtt_p50_us ? `${(r.rtt_p50_us / 1000).toFixed(2)} / ${(r.rtt_p99_us / 1000).toFixed(2)} ms` : '';
  const rss = [r.rss_sender_kib, r.rss_receiver_kib, r.rss_rust_kib].filter(Boolean).map((k) => `${(k / 1024).toFixed(0)} MiB`).join(' / ');
  console.log(`| ${r.pair} | ${r.direction} | ${size} | ${mbit} | ${rtt} | ${rss} |`);
}
