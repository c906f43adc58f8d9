// What Janus itself holds of an SFU call: the server makes every videoroom record (--sfu-record-dir), three
// Chromium pages call through it, and the recordings are read afterwards. Converted by Janus's own
// janus-pp-rec and decoded by GStreamer's VP8 decoder, no participant's video gives a picture. The control:
// the same recording, its frames opened with the key Alice's page holds (the frame format of
// docs/security.md, written out here again from the document), decodes into pictures, and only Alice's
// recording opens with her key.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { evaluateWithin, joinAs, launchBrowser, reportOnFailure, sleep, startServer, waitForPeers, waitForPhase } from './lib.mjs';
import { startJanus } from './janus.mjs';

/** How long a decode may take (well under a second here). */
const DECODE_MS = 15_000;

let janus;
let server;
let browser;
let dir;
before(async () => {
  janus = await startJanus();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'p2pchat-recordings-'));
  server = await startServer({ args: [...janus.serverArgs, '--mesh-size', '2', '--sfu-record-dir', dir] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await janus?.stop();
  if (dir && !process.env.KEEP_RECORDINGS) fs.rmSync(dir, { recursive: true, force: true });
});

/** The RTP packets of a Janus recording (MJR00002: a JSON header, then "MEET", time, length, packet). */
function readMjr(file) {
  const data = fs.readFileSync(file);
  assert.equal(data.subarray(0, 8).toString(), 'MJR00002', file);
  const headerLength = data.readUInt16BE(8);
  const info = JSON.parse(data.subarray(10, 10 + headerLength).toString());
  const packets = [];
  for (let at = 10 + headerLength; at + 10 <= data.length;) {
    const tag = data.subarray(at, at + 4).toString();
    const length = data.readUInt16BE(at + 8);
    if (tag === 'MEET') packets.push(data.subarray(at + 10, at + 10 + length));
    at += 10 + length;
  }
  return { info, packets };
}

/**
 * VP8 frames (RFC 7741) from RTP packets: payload descriptors dropped, packets of one timestamp joined. Only
 * the stream (SSRC) with the most packets: simulcast layers share timestamps.
 */
function vp8Frames(packets) {
  const count = new Map();
  for (const p of packets) count.set(p.readUInt32BE(8), (count.get(p.readUInt32BE(8)) ?? 0) + 1);
  const ssrc = [...count].sort((a, b) => b[1] - a[1])[0]?.[0];
  const byTime = new Map();
  for (const p of packets) {
    if ((p[0] >> 6) !== 2 || p.readUInt32BE(8) !== ssrc) continue;
    const cc = p[0] & 0x0f;
    let at = 12 + 4 * cc;
    if (p[0] & 0x10) at += 4 + 4 * p.readUInt16BE(at + 2);
    const end = p.length - (p[0] & 0x20 ? p[p.length - 1] : 0);
    const seq = p.readUInt16BE(2);
    const time = p.readUInt32BE(4);
    const x = p[at] & 0x80;
    let d = at + 1;
    if (x) {
      const flags = p[d];
      d += 1;
      if (flags & 0x80) d += p[d] & 0x80 ? 2 : 1; // picture id
      if (flags & 0x40) d += 1; // TL0PICIDX
      if (flags & 0x30) d += 1; // TID / KEYIDX
    }
    if (d >= end) continue;
    const parts = byTime.get(time) ?? [];
    parts.push({ seq, start: (p[at] & 0x10) !== 0, payload: p.subarray(d, end) });
    byTime.set(time, parts);
  }
  return [...byTime.values()]
    // In sequence order (sequence numbers wrap at 2^16).
    .map((parts) => parts.sort((a, b) => (((a.seq - b.seq + 0x10000) & 0xffff) < 0x8000 ? 1 : -1)))
    .filter((parts) => parts[0]?.start)
    .map((parts) => Buffer.concat(parts.map((p) => p.payload)));
}

/** docs/security.md, "Calls through the SFU": clear prefix | AES-GCM ciphertext + tag | IV (12) | key id (1). */
async function openFrame(key, sealed) {
  if (sealed.length < 29) return null;
  const iv = sealed.subarray(sealed.length - 13, sealed.length - 1);
  const body = sealed.subarray(0, sealed.length - 13);
  const clear = Math.min((body[0] & 1) === 0 ? 10 : 3, body.length - 16);
  try {
    const plain = await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: body.subarray(0, clear) }, key, body.subarray(clear));
    return Buffer.concat([body.subarray(0, clear), Buffer.from(plain)]);
  } catch {
    return null;
  }
}

/** An IVF file of VP8 frames, for GStreamer. */
function ivf(frames, file) {
  const header = Buffer.alloc(32);
  header.write('DKIF', 0);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8);
  header.writeUInt16LE(1280, 12);
  header.writeUInt16LE(720, 14);
  header.writeUInt32LE(30, 16);
  header.writeUInt32LE(1, 20);
  header.writeUInt32LE(frames.length, 24);
  const chunks = [header];
  frames.forEach((frame, i) => {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(frame.length, 0);
    h.writeUInt32LE(i, 4);
    chunks.push(h, frame);
  });
  fs.writeFileSync(file, Buffer.concat(chunks));
}

/**
 * How many pictures GStreamer's VP8 decoder makes of a file (`demux`: its container's element). Where it
 * can decode nothing, gst-launch ends with the decoder's "No valid frames decoded" error, and then now and
 * then hangs while it shuts down (a 60 s wait in CI runs): its output is complete by then, so it gets
 * DECODE_MS and is stopped.
 */
function decodedPictures(file, demux) {
  const run = spawnSync('gst-launch-1.0', ['-v', 'filesrc', `location=${file}`, '!', demux, '!', 'vp8dec', '!', 'fakesink', 'silent=false'], {
    encoding: 'utf8', timeout: DECODE_MS, killSignal: 'SIGKILL',
  });
  // The sink reports each buffer it gets ("last-message = chain …"): one per decoded picture.
  const pictures = (`${run.stdout}`.match(/last-message = chain/g) ?? []).length;
  // It ran, or decoded, or the decoder itself found nothing it could decode: not a pipeline that never ran.
  assert.ok(run.status === 0 || pictures > 0 || `${run.stderr}`.includes('No valid frames decoded'), `gst-launch on ${path.basename(file)}: ${run.stderr}`);
  return pictures;
}

test('Janus\'s recording of an SFU call holds no picture; opened with the sender\'s key it does', { timeout: 180_000 }, reportOnFailure(async () => {
  const names = ['Alice', 'Bob', 'Carol'];
  const pages = [];
  for (const name of names) pages.push(await joinAs(browser, server.url, name, 'recorded'));
  for (const page of pages) await waitForPeers(page, 2);
  const [alice, bob, carol] = pages;
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('accept-button').click();
  await alice.locator('[data-testid="remote-video"]').waitFor();
  await carol.getByTestId('accept-button').click();
  for (const page of [bob, carol]) {
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="remote-video"]')].filter((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0).length === 2, undefined, { timeout: 30_000 });
  }
  const own = await evaluateWithin(alice, () => window.__p2pchatDebug.sfuOwnKey(), undefined, 'reading Alice\'s key');
  await sleep(4000);
  // Alice and Bob hang up; Carol, left alone, is out of the call too.
  for (const page of [alice, bob]) await page.getByTestId('hangup-button').click();
  for (const page of pages) await waitForPhase(page, 'idle');
  for (const page of pages) await page.context().close();
  await sleep(1000); // the last one out destroys the room, which closes its recordings

  const videos = fs.readdirSync(dir).filter((f) => f.endsWith('.mjr')).map((f) => path.join(dir, f)).filter((f) => readMjr(f).info.t === 'v');
  assert.ok(videos.length >= 3, `video recordings: ${fs.readdirSync(dir).join(' ')}`);
  const key = await webcrypto.subtle.importKey('raw', Buffer.from(own.key, 'base64'), 'AES-GCM', false, ['decrypt']);
  let alices = 0;
  for (const file of videos) {
    // As Janus's operator would: janus-pp-rec, then any VP8 decoder.
    const webm = `${file}.webm`;
    execFileSync('janus-pp-rec', [file, webm], { stdio: 'ignore' });
    assert.equal(decodedPictures(webm, 'matroskademux'), 0, `${path.basename(file)}: Janus's recording decoded into pictures`);

    const frames = vp8Frames(readMjr(file).packets).filter((f) => f.length >= 29 && f[f.length - 1] === own.id);
    const opened = (await Promise.all(frames.map((f) => openFrame(key, f)))).filter((f) => f !== null);
    if (opened.length === 0) continue; // Bob's or Carol's: her key opens none of it
    alices += 1;
    assert.ok(opened.length > frames.length * 0.9, `${opened.length} of ${frames.length} frames opened`);
    const firstKey = opened.findIndex((f) => (f[0] & 1) === 0);
    ivf(opened.slice(firstKey), `${file}.ivf`);
    const pictures = decodedPictures(`${file}.ivf`, 'ivfparse');
    assert.ok(pictures > 10, `${path.basename(file)}: opened with the key, ${pictures} pictures of ${opened.length} frames (${firstKey} before the first key frame)`);
  }
  assert.equal(alices, 1, 'exactly one recording (Alice\'s) opens with Alice\'s key');
}));
