// File-transfer benchmark, browser ↔ browser: a 100 MB file sent through the web UI (file input → the
// other side's row shows "done", SHA-256 checked) against the raw throughput of a data channel on the same
// peer connection in the same run (64 KiB binary messages, the same buffered-amount bounds as the file
// sender, timed until the receiver has counted every byte). Rounds alternate raw and file runs so that
// machine noise hits both alike. Run (root, network namespace, after `npm --prefix ui run build`):
//   tests/e2e/netns.sh node tests/e2e/bench-files.mjs
// Env: BENCH_FILE_MB (100), BENCH_ROUNDS (3). Prints one JSON line per run and a Markdown table.
// BENCH_NATIVE=1 adds, in each round, the same file browser → native peer and native peer → browser (the
// app's webrtc-rs links through the headless peer, a release build: `cargo build --release -p p2pchat-core
// --example p2pchat-peer`, or P2PCHAT_PEER_BIN), in a room of their own, against the same round's raw
// Chromium ↔ Chromium channel. Browser → native: from the page's offer to the peer's confirmation arriving
// (the peer hashes as the bytes arrive); native → browser: from the peer's `file-started` (it hashes the
// file before offering it) to its `file-sent` (the page's confirmation).

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { joinAs, launchBrowser, startServer, targetDir, waitForPeers } from './lib.mjs';
import { startPeer } from './peer.mjs';

const FILE_BYTES = Number(process.env.BENCH_FILE_MB ?? 100) * 1000 * 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RUN_TIMEOUT_MS = 300_000;
const NATIVE = process.env.BENCH_NATIVE === '1';
const releasePeer = process.env.P2PCHAT_PEER_BIN ?? path.join(targetDir, 'release/examples/p2pchat-peer');

/** Raw channel throughput from `page` to its one peer: Mbit/s. */
async function rawRun(sender, receiver, bytes) {
  const label = `bench-${Math.random().toString(36).slice(2)}`;
  await receiver.evaluate(([l, total]) => {
    const pc = window.__p2pchatDebug.peerConnections()[0];
    pc.addEventListener('datachannel', ({ channel }) => {
      if (channel.label !== l) return;
      let got = 0;
      channel.binaryType = 'arraybuffer';
      channel.onmessage = ({ data }) => {
        got += data.byteLength;
        if (got >= total) channel.send('done');
      };
    });
  }, [label, bytes]);
  return sender.evaluate(async ([l, total]) => {
    const pc = window.__p2pchatDebug.peerConnections()[0];
    const channel = pc.createDataChannel(l, { ordered: true });
    await new Promise((resolve) => (channel.onopen = resolve));
    const done = new Promise((resolve) => (channel.onmessage = resolve));
    channel.bufferedAmountLowThreshold = 1024 * 1024;
    const chunk = new Uint8Array(64 * 1024);
    const start = performance.now();
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (channel.bufferedAmount > 4 * 1024 * 1024) await new Promise((r) => (channel.onbufferedamountlow = r));
      channel.send(chunk.subarray(0, Math.min(chunk.length, total - sent)));
    }
    await done;
    const seconds = (performance.now() - start) / 1000;
    channel.close();
    return (total * 8) / seconds / 1e6;
  }, [label, bytes]);
}

/**
 * A file through the UI from `sender` to `receiver`, in Mbit/s: from the sender's offer to the receiver's
 * checked hash (the transfer itself), and from picking the file to "done" on the sender's row (what a
 * person waits).
 */
async function fileRun(sender, receiver, file, round) {
  const start = Date.now();
  await sender.getByTestId('file-input').setInputFiles(file.path);
  await sender.waitForFunction(
    ([n]) => document.querySelectorAll('[data-testid="file-message"][data-status="done"]').length >= n,
    [round + 1],
    { timeout: RUN_TIMEOUT_MS, polling: 20 },
  );
  const end = Date.now();
  const received = (await receiver.evaluate(() => window.__p2pchatDebug.files())).at(-1);
  if (received.status !== 'done' || received.sha256 !== file.sha256) throw new Error(`not received intact: ${JSON.stringify(received)}`);
  const sent = (await sender.evaluate(() => window.__p2pchatDebug.files())).at(-1);
  const mbit = (ms) => (file.size * 8) / (ms / 1000) / 1e6;
  return { transfer: mbit(received.endedAt - sent.startedAt), picked: mbit(end - start) };
}

/** The file from `page` to the native peer, then from a new native peer to `page`: Mbit/s each way. */
async function nativeRuns(page, file) {
  const inbox = mkdtempSync(path.join(dir, 'inbox-'));
  const mbit = (ms) => (file.size * 8) / (ms / 1000) / 1e6;
  const room = 'bench-files-native';
  const receiver = await startPeer(server.url, room, 'Native', ['--receive-dir', inbox, '--expect-files', '1', '--quiet', '--timeout', '600'], { bin: releasePeer });
  let toNative;
  try {
    await waitForPeers(page, 1);
    const before = (await page.evaluate(() => window.__p2pchatDebug.files())).length;
    await page.getByTestId('file-input').setInputFiles(file.path);
    const got = await receiver.waitFor((e) => e.event === 'file-received', 'the native peer receiving', RUN_TIMEOUT_MS);
    if (got.sha256 !== file.sha256) throw new Error(`native peer got ${got.sha256}`);
    await page.waitForFunction((n) => window.__p2pchatDebug.files().length > n && window.__p2pchatDebug.files().at(-1).status === 'done', before, { timeout: RUN_TIMEOUT_MS });
    const sent = (await page.evaluate(() => window.__p2pchatDebug.files())).at(-1);
    toNative = mbit(sent.endedAt - sent.startedAt);
    // With its one file in, the peer leaves the room and exits.
    await Promise.race([receiver.exited, new Promise((r) => setTimeout(r, 20_000))]);
  } finally {
    await receiver.stop();
    rmSync(inbox, { recursive: true, force: true });
  }
  const sender = await startPeer(server.url, room, 'Native', ['--send-file', file.path, '--quiet', '--timeout', '600'], { bin: releasePeer });
  try {
    await sender.waitFor((e) => e.event === 'file-started', 'the native peer offering', RUN_TIMEOUT_MS);
    const startedAt = Date.now();
    const sent = await sender.waitFor((e) => e.event === 'file-sent', 'the page confirming', RUN_TIMEOUT_MS);
    const ms = Date.now() - startedAt;
    if (sent.sha256 !== file.sha256) throw new Error(`page confirmed ${sent.sha256}`);
    return { toNative, fromNative: mbit(ms) };
  } finally {
    await sender.stop();
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'p2pchat-bench-files-'));
const data = randomBytes(FILE_BYTES);
const file = { path: path.join(dir, 'bench.bin'), size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
writeFileSync(file.path, data);

const server = await startServer();
const browser = await launchBrowser();
const rows = [];
try {
  const alice = await joinAs(browser, server.url, 'Alice', 'bench-files');
  const bob = await joinAs(browser, server.url, 'Bob', 'bench-files');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  const carol = NATIVE ? await joinAs(browser, server.url, 'Carol', 'bench-files-native') : null;
  for (let round = 0; round < ROUNDS; round++) {
    const raw = await rawRun(alice, bob, FILE_BYTES);
    const viaFile = await fileRun(alice, bob, file, round);
    const row = {
      round, raw_mbit_s: Math.round(raw), file_mbit_s: Math.round(viaFile.transfer), ratio: Number((viaFile.transfer / raw).toFixed(2)),
      picked_to_done_mbit_s: Math.round(viaFile.picked),
    };
    if (carol) {
      const native = await nativeRuns(carol, file);
      Object.assign(row, {
        to_native_mbit_s: Math.round(native.toNative), to_native_ratio: Number((native.toNative / raw).toFixed(2)),
        from_native_mbit_s: Math.round(native.fromNative), from_native_ratio: Number((native.fromNative / raw).toFixed(2)),
      });
    }
    rows.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\nmachine: ${cpu}, ${os.cpus().length} cores; ${FILE_BYTES / 1e6} MB file, ${ROUNDS} rounds, Chromium ↔ Chromium on loopback\n`);
console.log('| round | raw channel Mbit/s | file Mbit/s (offer → hash checked) | file / raw | picked → done Mbit/s |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.round + 1} | ${r.raw_mbit_s} | ${r.file_mbit_s} | ${r.ratio} | ${r.picked_to_done_mbit_s} |`);
const col = (k) => median(rows.map((r) => r[k]));
console.log(`| median | ${col('raw_mbit_s')} | ${col('file_mbit_s')} | ${col('ratio')} | ${col('picked_to_done_mbit_s')} |`);
if (NATIVE) {
  console.log('\n| round | raw Chromium ↔ Chromium Mbit/s | file browser → native Mbit/s | / raw | file native → browser Mbit/s | / raw |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.round + 1} | ${r.raw_mbit_s} | ${r.to_native_mbit_s} | ${r.to_native_ratio} | ${r.from_native_mbit_s} | ${r.from_native_ratio} |`);
  console.log(`| median | ${col('raw_mbit_s')} | ${col('to_native_mbit_s')} | ${col('to_native_ratio')} | ${col('from_native_mbit_s')} | ${col('from_native_ratio')} |`);
}
