// What the start screen's conversation list costs WebKitGTK's web process, run by hand (needs an X display,
// e.g. Xvfb, WebKitWebDriver and WebKitGTK's MiniBrowser): serves the built UI (UI_DIR, default ui/dist)
// on 127.0.0.1 with a page that fills the browser history (IndexedDB) with ROOMS conversations (default
// 400, one message each, as the app's pages store them before their first open encrypts them), opens the
// start screen in MiniBrowser under WebKitWebDriver, and prints the web process's PSS and anonymous memory
// SETTLE seconds (default 10) after the list shows, and again after each "Show older conversations".
// Anonymous memory is the figure to compare: PSS also moves with the WebKit libraries other processes on
// the machine share. ROOMS=1 gives the baseline of a start screen with one conversation.
// Usage: DISPLAY=:N WEBKIT_DISABLE_COMPOSITING_MODE=1 node src-tauri/bench/start-screen-memory.mjs
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { Driver, freePort, sleep } from '../tests/webdriver.mjs';

const uiDir = process.env.UI_DIR ?? new URL('../../ui/dist', import.meta.url).pathname;
const rooms = Number(process.env.ROOMS ?? 400);
const settle = Number(process.env.SETTLE ?? 10);
const MINIBROWSER = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const STEP = 100; // conversations shown at first and added by each "Show older conversations" (HistoryPanel.svelte)

// The browser history's schema (ui/src/lib/browser-history/store.ts, version 3); plain messages are sealed
// under a new device key when the UI opens the history.
const SEED = `<!doctype html><meta charset="utf-8"><script>
const rooms = ${rooms};
const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa'.split(' ');
indexedDB.deleteDatabase('p2pchat-history').onsuccess = () => {
  const req = indexedDB.open('p2pchat-history', 3);
  req.onupgradeneeded = () => {
    const db = req.result;
    db.createObjectStore('rooms', { keyPath: 'room' }).createIndex('last_at', 'last_at');
    db.createObjectStore('keys');
    const messages = db.createObjectStore('messages', { keyPath: ['room', 'sender', 'id'] });
    messages.createIndex('room_time', ['room', 'sent_at', 'id']);
    messages.createIndex('room_status', ['room', 'status']);
  };
  req.onsuccess = () => {
    const db = req.result;
    const tx = db.transaction(['rooms', 'messages'], 'readwrite');
    for (let i = 0; i < rooms; i++) {
      const at = Date.now() - i * 3600000;
      tx.objectStore('rooms').put({ room: 'room-' + i, last_at: at, unread: i % 3 });
      const body = Array.from({ length: 3 + (i * 7) % 17 }, (_, k) => words[(i + k * 5) % words.length]).join(' ');
      tx.objectStore('messages').put({ id: 'm' + i, room: 'room-' + i, sender: 'peer-' + (i % 5), sender_name: 'Friend ' + (i % 5),
        outgoing: false, body, sent_at: at, status: 'received', error: null });
    }
    tx.oncomplete = () => { db.close(); document.title = 'seeded'; };
  };
};
</script>`;

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };
const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/seed.html') return res.writeHead(200, { 'content-type': 'text/html' }).end(SEED);
  const file = join(uiDir, normalize(path === '/' ? '/index.html' : path));
  let body;
  try {
    body = readFileSync(file);
  } catch {
    return res.writeHead(404).end();
  }
  res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

const children = (pid) =>
  readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try {
      return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
const tree = (pid) => [pid, ...children(pid).flatMap(tree)];
/** PSS and anonymous memory (MiB) of the web process under `root`. */
function webProcess(root) {
  const pid = tree(root).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('WebKitWebProces'));
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const mib = (field) => (Number(rollup.match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'))[1]) / 1024).toFixed(1);
  return `PSS ${mib('Pss')} MiB, anonymous ${mib('Anonymous')} MiB`;
}

const port = await freePort();
const driver = spawn('WebKitWebDriver', [`--port=${port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
process.on('exit', () => driver.kill());
process.env.APP_ARGS = JSON.stringify(['--automation']);
const d = new Driver(`http://127.0.0.1:${port}`);
try {
  await d.start(MINIBROWSER);
  await d.call('POST', d.s('/window/rect'), { width: 1024, height: 720 }).catch(() => undefined);
  await d.call('POST', d.s('/url'), { url: `${base}/seed.html` });
  if ((await d.until('return document.title', (t) => t === 'seeded')) !== 'seeded') throw new Error('the history was not filled');
  await d.call('POST', d.s('/url'), { url: `${base}/` });
  for (let shown = Math.min(rooms, STEP); ; shown = Math.min(rooms, shown + STEP)) {
    if (!(await d.waitFor('[data-testid="conversation"]', { count: shown, timeoutMs: 30000 })).length) throw new Error(`${shown} conversations never showed`);
    await sleep(settle * 1000);
    console.log(`${rooms} conversations, ${(await d.all('[data-testid="conversation"]')).length} shown: web process ${webProcess(driver.pid)}`);
    if (shown >= rooms) break;
    // From script: WebDriver's click finds the button not yet laid out (rows out of view are skipped).
    await d.run('document.querySelector(\'[data-testid="more-conversations"]\').click()');
  }
} finally {
  await d.call('DELETE', d.session ?? '/session/none').catch(() => undefined);
  driver.kill();
  server.close();
}
