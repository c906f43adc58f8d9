// Drives the real app's window through WebDriver (Debian's WebKitWebDriver; the app runs with
// TAURI_WEBVIEW_AUTOMATION=true) and checks what a person sees:
//   offline  – started with its server unreachable: the conversation list comes from disk, search shows a
//              page of the newest matches and "More results" adds older ones below (none twice), search
//              finds accent-folded prefixes with highlighted hits, a conversation opens and shows its
//              messages while the connection badge says it is not connected;
//   chat     – connected, with a headless peer (p2pchat-peer) in the room: its message appears in the
//              window, and the person's reply shows ✓✓ once the peer acked it, read once it printed it (its
//              receipt: acks and receipts reach the window from the app's chat, chat://status); then a real
//              Chromium page with the web UI joins and chats with the app both ways, delivered on both ends.
// Usage: node app-ui.mjs <offline|chat> ; env APP_BIN, WORK, plus the app's P2PCHAT_* variables; for chat
// also PEER_BIN and ROOM (the peer uses P2PCHAT_SERVER_URL too).
// Prints PASS/FAIL lines; exit code 1 on any failure. Bounded in time; stops the driver and app it started.
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { focusElsewhere } from './desktop.mjs';
import { checks, ensureName, sleep, withApp } from './webdriver.mjs';

const mode = process.argv[2];
const work = process.env.WORK ?? '/tmp';
const { pass, fail, exit } = checks();

/** The texts of the search results shown (room, time, sender and snippet of each). */
const resultTexts = (d) => d.run('return [...document.querySelectorAll(\'[data-testid="search-result"]\')].map((e) => e.textContent.trim());');

/** A word in most seeded messages: the first page, then "More results" adds the next page below it. */
async function searchPages(d, search) {
  await d.type(search, 'the');
  const [more] = await d.waitFor('[data-testid="more-results"]');
  const first = await resultTexts(d);
  if (!more) return fail(`search "the": no "More results" under ${first.length} results`);
  await d.click(more);
  const all = await d.until(
    'return [...document.querySelectorAll(\'[data-testid="search-result"]\')].map((e) => e.textContent.trim());',
    (texts) => Array.isArray(texts) && texts.length > first.length,
  );
  const kept = JSON.stringify(all.slice(0, first.length)) === JSON.stringify(first);
  const distinct = new Set(all).size === all.length;
  if (first.length === 30 && all.length > 30 && kept && distinct) {
    pass(`search "the": ${first.length} newest results, "More results" adds ${all.length - first.length} older ones below, none twice`);
  } else {
    fail(`search pages: first ${first.length}, then ${all.length} (first page kept: ${kept}, all distinct: ${distinct})`);
  }
  await d.screenshot(`${work}/app-search-more.png`);
}

async function offline(d) {
  await ensureName(d);
  const conversations = await d.waitFor('[data-testid="conversation"]', { timeoutMs: 30000 });
  if (conversations.length > 0) pass(`conversation list from disk while offline (${conversations.length} rooms)`);
  else return fail('no conversations listed from the history on disk');
  const unread = await d.all('[data-testid="unread-count"]');
  console.log(`note: ${unread.length} conversations show an unread count`);

  const [search] = await d.all('[data-testid="search-input"]');
  await searchPages(d, search);
  await d.call('POST', d.s(`/element/${d.id(search)}/clear`), {});
  await d.type(search, 'cafe');
  // The previous search's results stay until this one's arrive.
  await d.until('return document.querySelector(\'[data-testid="search-result"] mark\')?.textContent ?? "";', (t) => /^caf/i.test(t), 15000);
  const hits = await d.waitFor('[data-testid="search-result"]');
  const marks = await d.all('[data-testid="search-result"] mark');
  const marked = marks.length ? await d.text(marks[0]) : '';
  if (hits.length > 0 && /^caf/i.test(marked)) pass(`offline search "cafe" → ${hits.length} results, hit highlighted as "${marked}"`);
  else fail(`offline search: ${hits.length} results, highlighted "${marked}"`);
  await d.screenshot(`${work}/app-search.png`);

  const room = await d.attr(hits[0] ?? conversations[0], 'data-room');
  await d.click(hits[0] ?? conversations[0]);
  const messages = await d.waitFor('[data-testid="chat-message"]');
  const state = await d.waitText('[data-testid="connection-state"]', (t) => /offline|reconnecting|connecting/i.test(t));
  if (messages.length > 0 && /offline|reconnecting|connecting/i.test(state)) {
    pass(`room ${room} shows ${messages.length} stored messages while "${state.trim()}"`);
  } else {
    fail(`room ${room}: ${messages.length} messages, connection "${state}"`);
  }
  await d.screenshot(`${work}/app-offline-room.png`);
}

/** Sends `text` from the window; returns its status once one of `wanted` (or the last one seen, 30 s). */
async function sendFromApp(d, text, wanted = ['delivered', 'read']) {
  await d.type((await d.all('[data-testid="chat-input"]'))[0], text);
  await d.click((await d.all('[data-testid="chat-send"]'))[0]);
  const deadline = Date.now() + 30000;
  let status = '';
  while (Date.now() < deadline && !wanted.includes(status)) {
    for (const el of await d.all('[data-testid="chat-message"].mine')) {
      if ((await d.text(el)).includes(text)) status = await d.attr(el, 'data-status');
    }
    await sleep(250);
  }
  return status;
}

/** The open room's people and recent signaling (test hooks), for a failure report. */
async function roomState(d) {
  const script = 'return JSON.stringify({ presence: window.__p2pchatDebug?.presence?.(), trace: window.__p2pchatDebug?.signalTrace?.() });';
  return d.run(script).catch((err) => err.message);
}

async function chat(d) {
  const room = process.env.ROOM;
  await ensureName(d);
  // The app rejoined its remembered room at startup. The peer joins it first (as the newcomer it opens the
  // connection to the app's backend) while the window still shows the start screen.
  const peer = spawn(process.env.PEER_BIN, ['--server', process.env.P2PCHAT_SERVER_URL, '--room', room, '--name', 'Peer', '--timeout', '120'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const peerEvents = [];
  let channelOpen;
  const opened = new Promise((resolve) => (channelOpen = resolve));
  createInterface({ input: peer.stdout }).on('line', (line) => {
    try {
      const event = JSON.parse(line);
      peerEvents.push(event);
      if (event.event === 'open') channelOpen();
    } catch {
      // not an event line
    }
  });
  try {
    const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 45000));
    if ((await Promise.race([opened, timeout])) === 'timeout') return fail(`the peer's channel to the app never opened: ${JSON.stringify(peerEvents)}`);
    pass('the app linked to the peer in its remembered room before the room was shown');

    // Now the person opens the room from the start screen: the already-open channel must be usable.
    const entry = await d.waitFor(`[data-testid="conversation"][data-room="${room}"]`, { timeoutMs: 30000 });
    if (!entry.length) return fail(`room ${room} not listed on the start screen`);
    // The room records its signaling (for the failure report below) when test hooks are on as it opens.
    await d.run('window.__p2pchatTestHooks = true;');
    await d.click(entry[0]);
    const state = await d.waitText('[data-testid="connection-state"]', (t) => /connected/i.test(t), 30000);
    if (!/connected/i.test(state)) return fail(`app did not connect: ${state}`);
    // Everyone the app can talk to is in the people list, the peer reached over the native link included.
    if ((await d.waitFor('[data-testid="presence-item"]', { timeoutMs: 15000 })).length) pass('the people list shows the peer');
    else fail(`the people list misses the peer: ${await roomState(d)}`);
    // The link opened before the room was shown, yet its safety code is there, the same as the peer's.
    const code = peerEvents.find((e) => e.event === 'safety')?.code;
    const shown = await d.waitText('[data-testid="safety-code"]', (t) => t.trim() === code, 15000);
    if (code && shown.trim() === code) pass(`the people list shows the link's safety code, as the peer does: ${code}`);
    else fail(`safety code: the app shows "${shown}", the peer "${code}"`);

    // The window goes to the background, so the peer's message must raise a notification.
    focusElsewhere();
    peer.stdin.write('hello from the peer\n');
    const incoming = await d.waitAnyText('[data-testid="chat-message"]:not(.mine) .body', (t) => t.includes('hello from the peer'), 45000);
    if (incoming.includes('hello from the peer')) pass(`message from the peer shown in the app: "${incoming}"`);
    else return fail(`no message from the peer in the app: ${incoming} (peer events: ${JSON.stringify(peerEvents)})`);

    // The headless peer acks and sends a read receipt for what it prints: both reach the window from the
    // app's chat (chat://status), and the tick ends at read.
    const status = await sendFromApp(d, 'hello from the app', ['read']);
    const received = peerEvents.some((e) => e.event === 'msg' && e.body === 'hello from the app');
    if (status === 'read' && received) pass(`reply from the app received by the peer and shown ${status} (✓✓, read)`);
    else {
      // What the backend says about the channel, for the failure report.
      const open = await d
        .runAsync(
          "const done = arguments[1]; window.__TAURI_INTERNALS__.invoke('plugin:links|fallback_open_peers', { room: arguments[0] }).then((r) => done(JSON.stringify(r)), (e) => done('error ' + JSON.stringify(e)));",
          room,
        )
        .catch((err) => err.message);
      fail(`reply from the app: status "${status}", peer received it: ${received}; open channels: ${open}; peer events: ${JSON.stringify(peerEvents)}`);
    }
    // The peer is still in the room: still listed after chatting.
    if ((await d.all('[data-testid="presence-item"]')).length) pass('the people list still shows the peer after chatting');
    else fail(`the people list lost the peer while chatting: ${await roomState(d)}`);
    // From the X server, not WebDriver: with the window in the background WebKitWebDriver's screenshot
    // waited minutes for a frame, and by then the peer had left (an old "In this room 1: you" shot).
    execFileSync('import', ['-window', 'root', `${work}/app-chat.png`]);
  } finally {
    // The peer quits as a person would (its input ends): it leaves the room, so the browser below does not
    // find it listed (a killed peer stays listed for the server's resume grace and never acks).
    peer.stdin.end();
    const exited = new Promise((resolve) => peer.once('exit', resolve));
    if ((await Promise.race([exited, sleep(5000).then(() => 'timeout')])) === 'timeout') peer.kill();
  }
  await chatWithBrowser(d, room);
}

/** A person in Chromium (the web UI the server serves) and the app chat both ways. */
async function chatWithBrowser(d, room) {
  const { launchBrowser, joinAs, sendChat, waitForMessage } = await import('../../tests/e2e/lib.mjs');
  const origin = process.env.P2PCHAT_SERVER_URL.replace(/^ws/, 'http').replace(/\/ws$/, '');
  const browser = await launchBrowser();
  try {
    const page = await joinAs(browser, origin, 'Browser', room);
    console.log('note: a Chromium page joined the room');
    await sendChat(page, 'hello from the browser');
    const shown = await d.waitAnyText('[data-testid="chat-message"]:not(.mine) .body', (t) => t.includes('hello from the browser'), 45000);
    const delivered = await waitForMessage(page, 'hello from the browser', 'delivered').then(() => '', (err) => err.message);
    if (shown.includes('hello from the browser') && !delivered) pass('Chromium → app: shown in the window, delivered (✓✓) in the page');
    else return fail(`Chromium → app: app shows "${shown}"; ${delivered}\napp: ${await roomState(d)}`);

    const status = await sendFromApp(d, 'hello to the browser');
    const arrived = await waitForMessage(page, 'hello to the browser').then(() => true, () => false);
    if (arrived && (status === 'delivered' || status === 'read')) pass(`app → Chromium: shown in the page, ${status} (✓✓) in the window`);
    else fail(`app → Chromium: arrived in the page ${arrived}, status in the window "${status}"`);
  } finally {
    await browser.close();
  }
}

// The driver's and the app's own output go to a file, not the report.
await withApp(mode, `${work}/app-ui-${mode}-app.log`, 240_000, fail, async (d) => {
  if (mode === 'offline') await offline(d);
  else if (mode === 'chat') await chat(d);
  else throw new Error(`unknown mode ${mode}`);
});
exit();
