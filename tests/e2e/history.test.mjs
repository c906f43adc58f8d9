// A browser keeps its chat across reloads (IndexedDB): the conversation list, the messages, a message
// written while alone (still queued after the reload, delivered when someone comes) and search. With
// the server gone and the browser offline, a reload still opens the page (service worker) and shows the
// history. What the messages say is encrypted in IndexedDB: read raw, no record holds their text.
// "Forget this device" erases it all. Search pages: a search with more hits than a page shows the newest,
// and "More results" adds the older ones below, none twice.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TIMEOUT, joinAs, launchBrowser, reportOnFailure, sendChat, startServer, waitForMessage, waitForPeers } from './lib.mjs';

/** Screenshots for a person to look at (not committed). */
const SCREENSHOTS = path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots');

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  mkdirSync(SCREENSHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** In the page: whether the browser history (IndexedDB) holds at least `atLeast` messages and, with
 * `pending`, one of ours still pending. */
function historyHolds({ atLeast = 0, pending = false }) {
  return new Promise((resolve) => {
    const open = indexedDB.open('p2pchat-history');
    open.onerror = () => resolve(false);
    open.onsuccess = () => {
      const db = open.result;
      const all = db.transaction('messages').objectStore('messages').getAll();
      all.onsuccess = () => {
        db.close();
        resolve(all.result.length >= atLeast && (!pending || all.result.some((m) => m.outgoing && m.status === 'pending')));
      };
      all.onerror = () => resolve(false);
    };
  });
}

/** In the page: which of `texts` some record of the browser history holds, read raw (strings, and bytes
 * as UTF-8), in any object store. */
function rawHistoryHolds(texts) {
  const textOf = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof ArrayBuffer) return new TextDecoder().decode(v);
    if (ArrayBuffer.isView(v)) return new TextDecoder().decode(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    if (v && typeof v === 'object') return Object.values(v).map(textOf).join('\n');
    return String(v);
  };
  return new Promise((resolve, reject) => {
    const open = indexedDB.open('p2pchat-history');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction([...db.objectStoreNames]);
      const records = [];
      for (const name of db.objectStoreNames) {
        const all = tx.objectStore(name).getAll();
        all.onsuccess = () => records.push(...all.result);
      }
      tx.oncomplete = () => {
        db.close();
        const text = records.map(textOf).join('\n');
        resolve({ records: records.length, found: texts.filter((t) => text.includes(t)) });
      };
      tx.onerror = () => reject(tx.error);
    };
  });
}

const SECRETS = ['Morning Bob', 'café at nine', 'see you there', 'anyone still here'];

/** The conversations the start screen lists, as [room, preview] pairs. */
async function conversations(page) {
  const items = page.getByTestId('conversation');
  await items.first().waitFor();
  return items.evaluateAll((els) => els.map((e) => [e.dataset.room, e.querySelector('.preview')?.textContent?.trim()]));
}

test('reload keeps the history and the outbox; offline reload shows it; forget this device erases it', reportOnFailure(async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'hist-1');
  const bob = await joinAs(browser, server.url, 'Bob', 'hist-1');
  await waitForPeers(alice, 1);
  await sendChat(alice, 'Morning Bob, café at nine?');
  await waitForMessage(bob, 'café at nine');
  await sendChat(bob, 'Sure, see you there');
  await waitForMessage(alice, 'see you there');
  await waitForMessage(alice, 'café at nine', 'read');
  await bob.getByRole('button', { name: 'Leave' }).click();
  await alice.locator('[data-testid="presence-item"]').waitFor({ state: 'detached' });
  await bob.context().close();

  // Written while alone: it stays queued through the reload (once stored: the page shows it pending at
  // once and writes it to IndexedDB a moment later; a reload within that moment may lose the write).
  await sendChat(alice, 'anyone still here?');
  await alice.locator('[data-testid="chat-message"][data-status="pending"]').waitFor();
  await alice.waitForFunction(historyHolds, { pending: true }, { timeout: TIMEOUT, polling: 50 });
  // Three messages, the room and the key are stored, none of the messages' text (the room's name, kept
  // clear, shows that the raw read sees what is there).
  assert.deepEqual(await alice.evaluate(rawHistoryHolds, [...SECRETS, 'hist-1']), { records: 5, found: ['hist-1'] });

  await alice.reload();
  assert.deepEqual(await conversations(alice), [['hist-1', 'You: anyone still here?']]);
  await alice.getByTestId('conversation').click();
  await waitForMessage(alice, 'café at nine', 'read');
  await waitForMessage(alice, 'see you there');
  await waitForMessage(alice, 'anyone still here?', 'pending');
  // Alice's session from before the reload left with the old page, so Carol, arriving at once, sees one
  // Alice and gets the queued message.
  const carol = await joinAs(browser, server.url, 'Carol', 'hist-1');
  await waitForMessage(carol, 'anyone still here?');
  await waitForMessage(alice, 'anyone still here?', 'read');
  assert.deepEqual(await carol.getByTestId('presence-name').allTextContents(), ['Alice']);
  await carol.context().close();
  await alice.getByRole('button', { name: 'Leave' }).click();

  // Offline: the service worker controls the page, then the server stops and the network is off.
  await alice.waitForFunction(() => navigator.serviceWorker?.controller !== null, null, { timeout: TIMEOUT });
  await server.stop();
  await alice.context().setOffline(true);
  await alice.reload();
  assert.deepEqual(await conversations(alice), [['hist-1', 'You: anyone still here?']]);
  await alice.getByTestId('search-input').fill('cafe');
  await alice.getByTestId('search-result').first().waitFor();
  assert.equal(await alice.getByTestId('search-result').count(), 1);
  assert.equal(await alice.locator('[data-testid="search-result"] mark').first().textContent(), 'café');
  assert.deepEqual((await alice.evaluate(rawHistoryHolds, SECRETS)).found, []);
  await alice.getByTestId('search-result').click();
  await waitForMessage(alice, 'see you there');
  await alice.getByRole('button', { name: 'Leave' }).click();

  await alice.getByTestId('forget-device').click();
  await alice.getByTestId('forget-confirm').click();
  await alice.getByText('Rooms you chat in appear here').waitFor();
  assert.equal(await alice.getByTestId('name-input').inputValue(), '');
  await alice.reload();
  await alice.getByText('Rooms you chat in appear here').waitFor();
  assert.equal(await alice.getByTestId('conversation').count(), 0);
  assert.equal(await alice.getByTestId('name-input').inputValue(), '');
  await alice.context().close();
  server = await startServer({ port: server.port });
}));

test('search shows the newest matches first and "More results" adds the older ones, none twice', reportOnFailure(async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'hist-search');
  // Written while alone, so each stays in the history as it was sent; one more than a page, and then some.
  const total = 35;
  for (let i = 0; i < total; i++) await sendChat(alice, `deploy step ${i}`);
  await sendChat(alice, 'unrelated words');
  // The page stores a message a moment after showing it: search once all are stored.
  await alice.waitForFunction(historyHolds, { atLeast: total + 1 }, { timeout: TIMEOUT, polling: 100 });
  await alice.getByRole('button', { name: 'Leave' }).click();

  await alice.getByTestId('search-input').fill('deplo');
  const more = alice.getByTestId('more-results');
  await more.waitFor();
  const results = () => alice.getByTestId('search-result').locator('.preview').allTextContents();
  const first = await results();
  const step = (text) => Number(/deploy step (\d+)/.exec(text)?.[1]);
  assert.deepEqual(first.map(step), [...Array(30).keys()].map((i) => total - 1 - i), 'the newest 30, newest first');
  await more.scrollIntoViewIfNeeded();
  await alice.screenshot({ path: `${SCREENSHOTS}/history-search-more.png` });
  await more.click();
  await more.waitFor({ state: 'detached' });
  const all = await results();
  assert.deepEqual(all.slice(0, 30), first, 'the first page stays as it was');
  assert.deepEqual(all.map(step), [...Array(total).keys()].reverse(), 'older matches below, each once');
  assert.match(await alice.evaluate(() => document.activeElement?.closest('[data-testid="search-result"]')?.textContent ?? 'not a result'), /deploy step 4\b/, 'the focus moves on to the first result added');
  await alice.screenshot({ path: `${SCREENSHOTS}/history-search-all.png` });

  // A new query starts over: its first page, no cursor of the old one.
  await alice.getByTestId('search-input').fill('unrelated');
  await alice.getByTestId('search-result').filter({ hasText: 'unrelated words' }).waitFor();
  assert.equal(await alice.getByTestId('search-result').count(), 1);
  assert.equal(await more.count(), 0);
  await alice.context().close();
}));
