// File-transfer benchmark, browser ↔ browser: a 100 MB file sent through the web UI (file input → the
// other side's row shows "done", SHA-256 checked) against the raw throughput of a data channel on the same
// peer connection in the same run (64 KiB binary messages, the same buffered-amount bounds as the file
// sender, timed until the receiver has counted every byte). Rounds alternate raw and file runs so that
// machine noise hits both alike. Run (root, network namespace, after `npm --prefix ui run build`):
//   tests/e2e/netns.sh node tests/e2e/bench-files.mjs
// Env: BENCH_FILE_MB (100), BENCH_ROUNDS (3). Prints one JSON line per run and a Markdown table.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { joinAs, launchBrowser, startServer, waitForPeers } from './lib.mjs';

const FILE_BYTES = Number(process.env.BENCH_FILE_MB ?? 100) * 1000 * 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RUN_TIMEOUT_MS = 300_000;

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
  for (let round = 0; round < ROUNDS; round++) {
    const raw = await rawRun(alice, bob, FILE_BYTES);
    const viaFile = await fileRun(alice, bob, file, round);
    const row = {
      round, raw_mbit_s: Math.round(raw), file_mbit_s: Math.round(viaFile.transfer), ratio: Number((viaFile.transfer / raw).toFixed(2)),
      picked_to_done_mbit_s: Math.round(viaFile.picked),
    };
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
