// Files in the app where the webview has no RTCPeerConnection (the app's native links carry them), checked
// through the real window (WebKitWebDriver) against a Chromium page running the web UI, both in one room of
// a real signaling server:
//   1. the window sends a file picked in its file input: the page shows it done and its download has the
//      original's SHA-256; both sides showed progress between 0 and 100 and the window's row ends done with
//      the same SHA-256;
//   2. the page sends a file: the window's row shows progress, then done with the SHA-256 and where it was
//      saved; the file in the app's download folder (XDG_DOWNLOAD_DIR through XDG_CONFIG_HOME/user-dirs.dirs)
//      has the original's bytes;
//      a PNG from the page shows in the window as a thumbnail;
//   3. the window cancels a file it is receiving, and one it is sending: both rows say cancelled on both
//      sides, and no part of the cancelled file stays in the download folder;
//   4. the start screen's search finds a file by its name (in this room), and opening the result shows the
//      room's files done, once each; after a restart of the app the room shows them again from the history
//      alone (done, SHA-256, where a received one was saved, the picture's thumbnail), not the cancelled ones.
// The app runs with P2PCHAT_FORCE_FALLBACK=1. Env: APP_BIN, WORK, ROOM, DOWNLOADS, P2PCHAT_SERVER_URL. Prints
// PASS/FAIL lines; exit 1 on any failure. Bounded in time; stops the driver, app and browser it started.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { png } from '../../tests/e2e/png.mjs';
import { checks, openRoom, sleep, withApp, withLinkedPage } from './webdriver.mjs';

const work = process.env.WORK ?? '/tmp';
const room = process.env.ROOM ?? 'e2e-files';
const downloads = process.env.DOWNLOADS ?? path.join(work, 'downloads');
const { pass, fail, exit } = checks();

const files = path.join(work, 'files-to-send');
mkdirSync(files, { recursive: true });
/** A file of `size` random bytes named `name`, with its SHA-256. */
function makeFile(name, size) {
  const data = randomBytes(size);
  const file = path.join(files, name);
  writeFileSync(file, data);
  return { file, name, size, sha256: createHash('sha256').update(data).digest('hex') };
}
const sha256Of = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The window's file rows as a person sees them. */
const rowsScript = `return [...document.querySelectorAll('[data-testid="file-message"]')].map((e) => ({
  id: e.dataset.id, status: e.dataset.status, progress: Number(e.dataset.progress), sha256: e.dataset.sha256,
  text: e.textContent, saved: e.querySelector('[data-testid="file-saved-path"]')?.getAttribute('title') ?? null,
  cancel: !!e.querySelector('[data-testid="file-cancel-button"]') }));`;

/** Records every data-progress each file row shows from now on (window.__fileProgress), in a page or the window. */
const watchProgressScript = `
  const seen = (window.__fileProgress = {});
  const record = (el) => { const id = el.getAttribute('data-id'); (seen[id] ??= []).push(Number(el.getAttribute('data-progress'))); };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.target.matches?.('[data-testid="file-message"]')) record(r.target);
      for (const n of r.addedNodes ?? []) if (n.matches?.('[data-testid="file-message"]')) record(n);
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-progress'] });`;

/** Progress values strictly between 0 and 100 seen on rows whose id starts with `prefix`. */
const between = (seen, prefix) =>
  Object.entries(seen ?? {}).filter(([id]) => id.startsWith(prefix)).flatMap(([, v]) => v).filter((p) => p > 0 && p < 100);

async function windowRow(d, name, pred, timeoutMs) {
  const rows = await d.until(rowsScript, (rows) => Array.isArray(rows) && rows.some((r) => r.text.includes(name) && pred(r)), timeoutMs);
  return (Array.isArray(rows) ? rows : []).filter((r) => r.text.includes(name)).find(pred) ?? { seen: rows };
}

const pageRow = (page, name, status) =>
  page.locator(`[data-testid="file-message"]${status ? `[data-status="${status}"]` : ''}`).filter({ hasText: name });

/** The page's rows for `name` (status, progress, text), for failure messages. */
const pageRowText = (page, name) =>
  pageRow(page, name).evaluateAll((rows) => rows.map((e) => `${e.dataset.status} ${e.dataset.progress}% ${e.textContent}`).join(' | '));

/** Saves the file the page offers under `name` as a person would (its download link). */
async function pageDownload(page, name) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 20_000 }),
    pageRow(page, name, 'done').getByTestId('file-download').click(),
  ]);
  const data = readFileSync(await download.path());
  await download.delete();
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Puts `file` into the window's file input as the person's file dialog would. */
async function pick(d, file) {
  const [input] = await d.waitFor('[data-testid="file-input"]');
  if (!input) throw new Error('no file input in the window');
  await d.type(input, file);
}

/** The room's file rows once every name in `names` has a done row, for a person's check. */
async function doneRows(d, names, timeoutMs) {
  const rows = await d.until(rowsScript, (rows) => Array.isArray(rows) && names.every((n) => rows.some((r) => r.text.includes(n) && r.status === 'done')), timeoutMs);
  return Array.isArray(rows) ? rows : [];
}

async function run(d) {
  if (!(await openRoom(d, room))) return fail(`room ${room} not listed on the start screen`);
  await withLinkedPage(d, room, pass, fail, async (page) => {
    await d.run(watchProgressScript);
    await page.evaluate(watchProgressScript);

    // 1. The window sends a file to the page.
    const out = makeFile('from-the-app.bin', 24 * 1024 * 1024);
    let started = Date.now();
    await pick(d, out.file);
    const sending = await windowRow(d, out.name, (r) => r.status === 'sending' && r.id.startsWith('file-out-'), 60000);
    if (sending.id) pass(`the window shows its file sending (${sending.progress}%, ${Date.now() - started} ms after picking it)`);
    else fail(`no sending row in the window: ${JSON.stringify(sending)}`);
    await pageRow(page, out.name, 'done').first().waitFor({ timeout: 120_000 });
    const got = await pageDownload(page, out.name);
    if (got.sha256 === out.sha256 && got.size === out.size) pass(`the page received the window's ${out.size} bytes with the original's SHA-256 (${Date.now() - started} ms)`);
    else fail(`the page's download: ${JSON.stringify(got)} vs ${out.sha256}`);
    const sentRow = await windowRow(d, out.name, (r) => r.status === 'done', 20000);
    if (sentRow.sha256 === out.sha256 && sentRow.progress === 100) pass('the window\'s row ends done at 100% with the same SHA-256');
    else fail(`the window's row after sending: ${JSON.stringify(sentRow)}`);
    const appSeen = between(await d.run('return window.__fileProgress;'), 'file-out-');
    const pageSeen = between(await page.evaluate(() => window.__fileProgress), 'file-in-');
    if (appSeen.length && pageSeen.length) pass(`progress on both sides while it went: window ${[...new Set(appSeen)].join(',')}%; page ${[...new Set(pageSeen)].slice(0, 12).join(',')}…%`);
    else fail(`progress seen: window ${JSON.stringify(appSeen)}, page ${JSON.stringify(pageSeen)}`);

    // 2. The page sends a file to the window.
    const inbound = makeFile('from-the-page.bin', 24 * 1024 * 1024);
    started = Date.now();
    await page.getByTestId('file-input').setInputFiles(inbound.file);
    const receiving = await windowRow(d, inbound.name, (r) => r.status === 'receiving' || r.status === 'done', 30000);
    if (receiving.id) pass(`the window shows the page's file coming (${receiving.status}, ${receiving.progress}%)`);
    else fail(`no row for the page's file in the window: ${JSON.stringify(receiving)}`);
    const done = await windowRow(d, inbound.name, (r) => r.status === 'done', 120000);
    const saved = path.join(downloads, inbound.name);
    if (done.sha256 === inbound.sha256 && done.progress === 100 && done.saved === saved) {
      pass(`the window shows the page's file done at 100% with its SHA-256, saved in ${done.saved} (${Date.now() - started} ms)`);
    } else {
      fail(`the window's row for the page's file: ${JSON.stringify(done)} (expected ${saved}, ${inbound.sha256})`);
    }
    if (existsSync(saved) && sha256Of(saved) === inbound.sha256) pass('the file in the app\'s download folder has the original\'s bytes');
    else fail(`download folder ${downloads}: ${existsSync(downloads) ? readdirSync(downloads).join(', ') : '(missing)'}`);
    const inSeen = between(await d.run('return window.__fileProgress;'), 'file-in-');
    if (inSeen.length) pass(`the window showed the incoming progress: ${[...new Set(inSeen)].join(',')}%`);
    else fail('the window showed no progress between 0 and 100 for the incoming file');
    const pageDone = await pageRow(page, inbound.name, 'done').first().getAttribute('data-sha256', { timeout: 20_000 }).catch((e) => e.message);
    if (pageDone === inbound.sha256) pass('the page shows its file done with the same SHA-256');
    else fail(`the page's row for its file: ${pageDone}`);
    // A picture from the page: a thumbnail in the window.
    const picture = path.join(files, 'gradient.png');
    writeFileSync(picture, png(96, 64));
    await page.getByTestId('file-input').setInputFiles(picture);
    const pictureRow = await windowRow(d, 'gradient.png', (r) => r.status === 'done', 30000);
    const thumb = await d.until(
      'return document.querySelector(\'[data-testid="file-thumbnail"]\')?.naturalWidth ?? 0;', (w) => w > 0, 10000);
    if (pictureRow.id && thumb === 96) pass('a PNG from the page shows as a thumbnail in the window (96 px wide, decoded)');
    else fail(`thumbnail in the window: row ${JSON.stringify(pictureRow)}, naturalWidth ${thumb}`);
    execFileSync('import', ['-window', 'root', `${work}/app-files.png`]);
    console.log(`note: screenshot of the window's file rows: ${work}/app-files.png`);

    // 3a. The window cancels a file it is receiving.
    const big = makeFile('too-big-to-wait-for.bin', 200 * 1024 * 1024);
    await page.getByTestId('file-input').setInputFiles(big.file);
    // Under way: some bytes confirmed on both sides.
    const coming = await windowRow(d, big.name, (r) => r.status === 'receiving' && r.cancel && r.progress > 0, 60000);
    if (!coming.id) {
      fail(`no cancellable incoming row: ${JSON.stringify(coming)}`);
    } else {
      const [button] = await d.all(`[data-testid="file-message"][data-id="${coming.id}"] [data-testid="file-cancel-button"]`);
      await d.click(button);
      const ended = await windowRow(d, big.name, (r) => r.status === 'cancelled', 20000);
      const pageStatus = await pageRow(page, big.name, 'cancelled').first().waitFor({ timeout: 20_000 }).then(() => 'cancelled', () => pageRowText(page, big.name));
      await sleep(500);
      const left = readdirSync(downloads).filter((f) => f.includes(big.name));
      if (ended.status === 'cancelled' && pageStatus === 'cancelled' && left.length === 0) {
        pass(`cancel in the window while receiving (at ${ended.progress}%): cancelled on both sides, nothing left in the download folder`);
      } else {
        fail(`after cancelling the incoming file: window ${JSON.stringify(ended)}, page ${pageStatus}, left ${left}`);
      }
    }

    // 3b. The window cancels a file it is sending.
    const long = makeFile('long-to-send.bin', 96 * 1024 * 1024);
    await pick(d, long.file);
    // Under way: the page has the offer and some bytes (the app hashes the file before it offers it).
    await pageRow(page, long.name, 'receiving').first().waitFor({ timeout: 120_000 }).catch(() => undefined);
    const going = await windowRow(d, long.name, (r) => r.status === 'sending' && r.id.startsWith('file-out-') && r.cancel && r.progress > 0, 60000);
    if (!going.id) {
      fail(`no cancellable outgoing row: ${JSON.stringify(going)}`);
    } else {
      const [button] = await d.all(`[data-testid="file-message"][data-id="${going.id}"] [data-testid="file-cancel-button"]`);
      await d.click(button);
      const ended = await windowRow(d, long.name, (r) => r.id.startsWith('file-out-') && r.status === 'cancelled', 20000);
      const pageEnded = await pageRow(page, long.name, 'cancelled').first().waitFor({ timeout: 20_000 }).then(() => 'cancelled', () => pageRowText(page, long.name));
      if (ended.status === 'cancelled' && pageEnded === 'cancelled') pass(`cancel in the window while sending (at ${ended.progress}%): cancelled on both sides`);
      else fail(`after cancelling the outgoing file: window ${JSON.stringify(ended)}, page ${pageEnded}`);
    }

    // 4. Files from the history: found by name on the start screen, shown again in the room.
    const once = (rows, name) => rows.filter((r) => r.text.includes(name)).length === 1;
    const [leaveButton] = await d.run(`return [...document.querySelectorAll('button')].filter((b) => b.textContent.trim() === 'Leave');`);
    await d.click(leaveButton);
    const [search] = await d.waitFor('[data-testid="search-input"]', { timeoutMs: 15000 });
    await d.type(search, 'GRADIENT');
    const results = await d.until(
      'return [...document.querySelectorAll(\'[data-testid="search-file-result"]\')].map((e) => ({ room: e.dataset.room, text: e.textContent }));',
      (r) => Array.isArray(r) && r.some((x) => x.text.includes('gradient.png')), 15000);
    const result = Array.isArray(results) ? results.find((x) => x.text.includes('gradient.png')) : null;
    if (result?.room === room && result.text.includes(`#${room}`)) pass(`the start screen's search finds the file by name: "${result.text.trim().replace(/\s+/g, ' ')}"`);
    else fail(`file search on the start screen: ${JSON.stringify(results)}`);
    execFileSync('import', ['-window', 'root', `${work}/app-files-search.png`]);
    console.log(`note: screenshot of the file search: ${work}/app-files-search.png`);
    const [resultButton] = await d.all(`[data-testid="search-file-result"][data-room="${room}"]`);
    if (resultButton) await d.click(resultButton);
    const reopened = await doneRows(d, [out.name, inbound.name, 'gradient.png'], 20000);
    if ([out.name, inbound.name, 'gradient.png'].every((n) => once(reopened, n))) pass('opening the result shows the room\'s files done, once each');
    else fail(`the reopened room's rows: ${JSON.stringify(reopened)}`);

    // A new run of the app knows only the history.
    await d.call('DELETE', d.session);
    await sleep(1000);
    await d.start(process.env.APP_BIN);
    if (!(await openRoom(d, room))) return fail(`room ${room} not listed after the restart`);
    const past = await doneRows(d, [out.name, inbound.name, 'gradient.png'], 30000);
    const sent = past.find((r) => r.text.includes(out.name));
    const back = past.find((r) => r.text.includes(inbound.name));
    const thumbWidth = await d.until(
      'return document.querySelector(\'[data-testid="file-thumbnail"]\')?.naturalWidth ?? 0;', (w) => w > 0, 10000);
    const reveal = await d.all(`[data-testid="file-message"][data-id="${back?.id}"] [data-testid="file-reveal-button"]`);
    const cancelledShown = past.some((r) => r.text.includes(big.name) || r.text.includes(long.name));
    if (sent?.id.startsWith('file-out-') && sent.sha256 === out.sha256 && back?.sha256 === inbound.sha256
      && back.saved === path.join(downloads, inbound.name) && reveal.length === 1 && thumbWidth === 96
      && !cancelledShown && [out.name, inbound.name, 'gradient.png'].every((n) => once(past, n))) {
      pass(`after a restart the room shows its ${past.length} files from the history: done with their SHA-256, the received one saved in ${back.saved} with Open folder, the picture as a thumbnail, no cancelled file`);
    } else {
      fail(`the room after a restart: rows ${JSON.stringify(past)}, thumbnail ${thumbWidth}, reveal ${reveal.length}`);
    }
    execFileSync('import', ['-window', 'root', `${work}/app-files-history.png`]);
    console.log(`note: screenshot of the room's files from the history: ${work}/app-files-history.png`);
  });
}

await withApp('files', `${work}/app-files-app.log`, 400_000, fail, run);
exit();
