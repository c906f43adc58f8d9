// Files peer to peer between two browsers: 20 MB both ways at once with progress on both sides and the
// SHA-256 of what arrived equal to the original's; cancel from either side; the size limit; a transfer whose
// channel drops while the signaling server is down resumes from the confirmed offset; an image shows as a
// thumbnail; an SVG is offered as a download and never rendered or run. And the same wire format with the
// native links (webrtc-rs, the app's fallback) through the headless CLI peer: a file each way.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { joinAs, launchBrowser, reportOnFailure, sendChat, sleep, startServer, waitForMessage, waitForPeers } from './lib.mjs';
import { png } from './png.mjs';
import { startPeer } from './peer.mjs';

const MB = 1024 * 1024;
/** A whole 20 MB transfer on a loaded CI machine; generous, still bounded. */
const TRANSFER_TIMEOUT = 90_000;

let server;
let browser;
let dir;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  dir = mkdtempSync(path.join(os.tmpdir(), 'p2pchat-files-'));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes `bytes` (random unless given) to a file named `name`; returns its path and SHA-256. */
function makeFile(name, bytes) {
  const data = typeof bytes === 'number' ? randomBytes(bytes) : bytes;
  const file = path.join(dir, name);
  writeFileSync(file, data);
  return { file, name, size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Records every data-progress value each file row shows, from now on (window.__fileProgress). */
async function watchProgress(page) {
  await page.evaluate(() => {
    const seen = (window.__fileProgress = {});
    const record = (el) => {
      const id = el.getAttribute('data-id');
      (seen[id] ??= []).push(Number(el.getAttribute('data-progress')));
    };
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.type === 'attributes' && r.target.matches?.('[data-testid="file-message"]')) record(r.target);
        for (const n of r.addedNodes ?? []) if (n.matches?.('[data-testid="file-message"]')) record(n);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-progress'] });
  });
}

const fileRow = (page, name, status) =>
  page.locator(`[data-testid="file-message"]${status ? `[data-status="${status}"]` : ''}`).filter({ hasText: name });

async function waitForFile(page, name, status, timeout = TRANSFER_TIMEOUT) {
  await fileRow(page, name, status).first().waitFor({ timeout });
}

/** Saves the file the page offers under `name` as a person would (its download link): size and SHA-256. */
async function downloadedFile(page, name) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 20_000 }),
    fileRow(page, name, 'done').getByTestId('file-download').click(),
  ]);
  assert.equal(download.suggestedFilename(), name);
  const data = readFileSync(await download.path());
  await download.delete();
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

async function pair(room) {
  const alice = await joinAs(browser, server.url, 'Alice', room);
  const bob = await joinAs(browser, server.url, 'Bob', room);
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  return { alice, bob };
}

test('20 MB both ways at once: progress on both sides, the same SHA-256 at the other end', reportOnFailure(async () => {
  const { alice, bob } = await pair('files-1');
  await watchProgress(alice);
  await watchProgress(bob);
  const fromAlice = makeFile('from-alice.bin', 20 * MB);
  const fromBob = makeFile('from-bob.bin', 20 * MB);
  await alice.getByTestId('file-input').setInputFiles(fromAlice.file);
  await bob.getByTestId('file-input').setInputFiles(fromBob.file);

  for (const [sender, receiver, sent] of [[alice, bob, fromAlice], [bob, alice, fromBob]]) {
    await waitForFile(receiver, sent.name, 'done');
    await waitForFile(sender, sent.name, 'done');
    const got = await downloadedFile(receiver, sent.name);
    assert.equal(got.size, sent.size);
    assert.equal(got.sha256, sent.sha256, 'the received bytes hash as the original');
    assert.equal(await fileRow(receiver, sent.name, 'done').getAttribute('data-sha256'), sent.sha256);
    assert.equal(await fileRow(sender, sent.name, 'done').getAttribute('data-sha256'), sent.sha256);
    assert.equal(await fileRow(receiver, sent.name).getAttribute('data-progress'), '100');
  }
  // Both sides showed progress between 0 and 100 while the bytes moved.
  for (const page of [alice, bob]) {
    const progress = await page.evaluate(() => window.__fileProgress);
    const rows = Object.values(progress);
    assert.equal(rows.length, 2, JSON.stringify(progress));
    for (const values of rows) {
      assert.ok(values.some((p) => p > 0 && p < 100), `intermediate progress: ${values.join(',')}`);
      assert.deepEqual(values, [...values].sort((a, b) => a - b), 'progress never goes back');
    }
  }
  await alice.context().close();
  await bob.context().close();
}));

test('cancel from either side, and a file over the receiver\'s size limit is refused', reportOnFailure(async () => {
  const { alice, bob } = await pair('files-2');
  // The receiver cancels while the sender is held at 30 %.
  const first = makeFile('cancelled-by-bob.bin', 8 * MB);
  await alice.evaluate(() => window.__p2pchatDebug.holdFiles(0.3, 'pause'));
  await alice.getByTestId('file-input').setInputFiles(first.file);
  await waitForFile(bob, first.name, 'receiving', 20_000);
  await bob.waitForFunction((name) => {
    const row = [...document.querySelectorAll('[data-testid="file-message"]')].find((r) => r.textContent.includes(name));
    return Number(row?.getAttribute('data-progress')) >= 10;
  }, first.name);
  await fileRow(bob, first.name).getByTestId('file-cancel-button').click();
  await waitForFile(bob, first.name, 'cancelled', 20_000);
  await waitForFile(alice, first.name, 'cancelled', 20_000);
  assert.equal(await fileRow(bob, first.name).getByTestId('file-download').count(), 0);

  // The sender cancels.
  const second = makeFile('cancelled-by-alice.bin', 8 * MB);
  await alice.evaluate(() => window.__p2pchatDebug.holdFiles(0.3, 'pause'));
  await alice.getByTestId('file-input').setInputFiles(second.file);
  await waitForFile(bob, second.name, 'receiving', 20_000);
  await fileRow(alice, second.name).getByTestId('file-cancel-button').click();
  await waitForFile(alice, second.name, 'cancelled', 20_000);
  await waitForFile(bob, second.name, 'cancelled', 20_000);

  // Bob accepts at most 1 MB: a 2 MB file is refused with the reason on both sides.
  await bob.evaluate(() => localStorage.setItem('p2pchat.maxFileBytes', String(1000 * 1000)));
  const big = makeFile('too-big.bin', 2 * MB);
  await alice.getByTestId('file-input').setInputFiles(big.file);
  await waitForFile(bob, big.name, 'failed', 20_000);
  await waitForFile(alice, big.name, 'failed', 20_000);
  assert.match(await fileRow(alice, big.name).textContent(), /limit/);
  assert.match(await fileRow(bob, big.name).textContent(), /Refused/);
  await alice.context().close();
  await bob.context().close();
}));

test('a transfer resumes from the confirmed offset after the sender\'s signaling and channel drop', reportOnFailure(async () => {
  const { alice, bob } = await pair('files-3');
  const port = server.port;
  await server.stop();
  server = null;
  try {
    await dropAndResume(alice, bob);
  } finally {
    // Signaling back (new sessions, the same people), also for the next tests when this one failed.
    server = await startServer({ port });
  }
  for (const page of [alice, bob]) await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
  await waitForPeers(alice, 1);
  await sendChat(bob, 'back');
  await waitForMessage(alice, 'back');
  // Files still go both ways under the new sessions.
  const after = makeFile('after-restart.bin', 1 * MB);
  await bob.getByTestId('file-input').setInputFiles(after.file);
  await waitForFile(alice, after.name, 'done');
  assert.equal((await downloadedFile(alice, after.name)).sha256, after.sha256);
  await alice.context().close();
  await bob.context().close();
}));

/** With signaling down, Alice's channel drops at 40 %: the transfer goes on from what Bob confirmed. */
async function dropAndResume(alice, bob) {
  await alice.locator('[data-testid="connection-state"][data-state="reconnecting"]').waitFor();

  const sent = makeFile('resumed.bin', 20 * MB);
  await alice.evaluate(() => window.__p2pchatDebug.holdFiles(0.4, 'drop'));
  await alice.getByTestId('file-input').setInputFiles(sent.file);
  await waitForFile(bob, sent.name, 'done');
  await waitForFile(alice, sent.name, 'done');
  assert.equal((await downloadedFile(bob, sent.name)).sha256, sent.sha256);
  const [report] = await bob.evaluate(() => window.__p2pchatDebug.files());
  assert.equal(report.resumedAt.length, 1, JSON.stringify(report));
  assert.ok(report.resumedAt[0] > 0 && report.resumedAt[0] < sent.size, `resumed at ${report.resumedAt[0]}`);
  assert.equal(report.wireBytes, sent.size, 'no byte crossed twice: it went on where it stopped');
}

test('an image shows as a thumbnail; an SVG is only a download and its script never runs', reportOnFailure(async () => {
  const { alice, bob } = await pair('files-4');
  const image = makeFile('picture.png', png(120, 80));
  await alice.getByTestId('file-input').setInputFiles(image.file);
  await waitForFile(bob, image.name, 'done', 20_000);
  const thumb = fileRow(bob, image.name, 'done').getByTestId('file-thumbnail');
  await bob.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle());
  assert.deepEqual(await thumb.evaluate((img) => [img.naturalWidth, img.naturalHeight, img.src.startsWith('blob:')]), [120, 80, true]);
  assert.equal((await downloadedFile(bob, image.name)).sha256, image.sha256);

  const svg = makeFile('drawing.svg', Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" onload="window.top.pwned=1"><script>window.top.pwned=2</script>' +
    '<circle r="40" cx="50" cy="50"/></svg>',
  ));
  await alice.getByTestId('file-input').setInputFiles(svg.file);
  await waitForFile(bob, svg.name, 'done', 20_000);
  const row = fileRow(bob, svg.name, 'done');
  assert.equal(await row.getByTestId('file-thumbnail').count(), 0, 'no inline SVG');
  assert.equal(await bob.locator('[data-testid="chat-log"] svg, [data-testid="chat-log"] iframe, [data-testid="chat-log"] object, [data-testid="chat-log"] embed').count(), 0);
  const got = await downloadedFile(bob, svg.name);
  assert.equal(got.sha256, svg.sha256);
  assert.equal(await bob.evaluate(() => window.pwned), undefined);
  assert.equal(await alice.evaluate(() => window.pwned), undefined);
  await alice.context().close();
  await bob.context().close();
}));

test('a file each way between a browser and the native peer (webrtc-rs)', reportOnFailure(async () => {
  const page = await joinAs(browser, server.url, 'Alice', 'files-native');
  const fromPage = makeFile('from-browser.bin', 8 * MB);
  const fromNative = makeFile('from-native.bin', 8 * MB);
  const inbox = mkdtempSync(path.join(dir, 'native-inbox-'));
  const peer = await startPeer(server.url, 'files-native', 'Rusty', [
    '--receive-dir', inbox, '--expect-files', '1', '--send-file', fromNative.file, '--quiet', '--timeout', '120',
  ]);
  try {
    await waitForPeers(page, 1);
    await page.getByTestId('file-input').setInputFiles(fromPage.file);
    // The browser's file, saved by the native peer under its own name with the same SHA-256.
    const got = await peer.waitFor((e) => e.event === 'file-received', 'the file from the browser', TRANSFER_TIMEOUT);
    assert.equal(got.name, fromPage.name);
    assert.equal(got.size, fromPage.size);
    assert.equal(got.sha256, fromPage.sha256);
    assert.equal(path.dirname(got.path), inbox);
    assert.equal(createHash('sha256').update(readFileSync(got.path)).digest('hex'), fromPage.sha256);
    await waitForFile(page, fromPage.name, 'done');
    // The native peer's file, shown and downloadable in the browser.
    await waitForFile(page, fromNative.name, 'done');
    const downloaded = await downloadedFile(page, fromNative.name);
    assert.equal(downloaded.sha256, fromNative.sha256);
    const sent = await peer.waitFor((e) => e.event === 'file-sent', 'the native side sees its file confirmed');
    assert.equal(sent.sha256, fromNative.sha256);
    // Both files through, the peer reports success (its process then waits for stdin to close).
    const done = await peer.waitFor((e) => e.event === 'done', 'the peer finishing');
    assert.equal(done.ok, true);
    peer.child.stdin.end();
    assert.equal(await Promise.race([peer.exited, sleep(20_000).then(() => 'still running')]), 0);
  } finally {
    await peer.stop();
    await page.context().close();
  }
}));
