// Takes screenshots of the join screen, the room during a call and the chat panel at 1280×800 and on a
// 390×844 phone viewport, into tests/e2e/screenshots/ (not committed), for a person to look at; and, on a
// server with push on, "Ring me here when I'm away" checked, someone away, and ringing their devices (the
// page's push subscription points at a local stand-in for a push service, as in push.test.mjs).
// Run inside the test network namespace:  tests/e2e/netns.sh node tests/e2e/screenshots.mjs
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { joinAs, launchBrowser, sendChat, startServer, waitForMessage, waitForPeers, waitForRemoteVideos } from './lib.mjs';

const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'screenshots');
await mkdir(out, { recursive: true });
const server = await startServer();
const browser = await launchBrowser();
try {
  for (const [label, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    const join = await (await browser.newContext({ viewport })).newPage();
    await join.goto(`${server.url}/#/room/team-1`);
    await join.getByTestId('name-input').fill('Alice');
    await join.screenshot({ path: path.join(out, `${label}-join.png`) });
    await join.context().close();

    const room = `shots-${label}`;
    const alice = await joinAs(browser, server.url, 'Alice', room, { viewport });
    const bob = await joinAs(browser, server.url, 'Bob', room, { viewport });
    await waitForPeers(alice, 1);
    await sendChat(alice, 'Hi Bob! Ready for the design review?');
    await waitForMessage(bob, 'design review');
    await sendChat(bob, 'Yes — calling you now.');
    await waitForMessage(alice, 'calling you now', undefined);
    await waitForMessage(bob, 'calling you now', 'delivered');
    await bob.getByTestId('call-button').click();
    await alice.getByTestId('incoming-call').waitFor();
    await alice.screenshot({ path: path.join(out, `${label}-incoming.png`) });
    await alice.getByTestId('accept-button').click();
    await waitForRemoteVideos(alice, 1);
    await alice.locator('[data-testid="quality-indicator"]').filter({ hasText: 'ms' }).waitFor();
    await alice.screenshot({ path: path.join(out, `${label}-call.png`) });
    await alice.getByTestId('chat-log').scrollIntoViewIfNeeded();
    await alice.screenshot({ path: path.join(out, `${label}-chat.png`), fullPage: true });
    await alice.context().close();
    await bob.context().close();
  }
  await pushShots();
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.stop();
}

async function pushShots() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'p2pchat-shots-'));
  const sink = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(201).end())).listen(0, '127.0.0.1');
  await new Promise((resolve) => sink.once('listening', resolve));
  const pushServer = await startServer({ args: ['--push', '--push-db', path.join(dir, 'push.sqlite3'), '--push-allow-private'] });
  // Keys of RFC 8291's example: nothing is decrypted here, the server only needs a valid P-256 point.
  const subscription = {
    endpoint: `http://127.0.0.1:${sink.address().port}/push/bob`,
    keys: { p256dh: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4', auth: 'BTBZMqHH6r4Tts7J_aSIgg' },
  };
  try {
    for (const [label, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
      const room = `away-${label}`;
      const bob = await joinAs(browser, pushServer.url, 'Bob', room, {
        viewport,
        onPage: async (page) => {
          await page.context().grantPermissions(['notifications'], { origin: pushServer.url });
          await page.context().addInitScript((sub) => {
            const made = { endpoint: sub.endpoint, options: {}, toJSON: () => sub, unsubscribe: async () => true };
            PushManager.prototype.subscribe = async () => made;
            PushManager.prototype.getSubscription = async () => null;
          }, subscription);
        },
      });
      await bob.evaluate(() => navigator.serviceWorker.ready.then(() => true));
      await bob.getByTestId('ring-here-toggle').check();
      await bob.locator('[data-testid="ring-here-toggle"]:checked:not(:disabled)').waitFor();
      await bob.screenshot({ path: path.join(out, `${label}-ring-here.png`) });
      await bob.close();
      const alice = await joinAs(browser, pushServer.url, 'Alice', room, { viewport });
      await alice.getByTestId('away-member').waitFor();
      await alice.screenshot({ path: path.join(out, `${label}-away.png`) });
      await alice.getByTestId('call-button').click();
      await alice.locator('[data-testid="call-state"]').filter({ hasText: 'Bob’s devices' }).waitFor();
      await alice.screenshot({ path: path.join(out, `${label}-ringing-away.png`) });
      await alice.context().close();
      await bob.context().close();
    }
  } finally {
    await pushServer.stop();
    sink.close();
    await rm(dir, { recursive: true, force: true });
  }
}
