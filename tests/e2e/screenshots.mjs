// Takes screenshots of the join screen, the room during a call and the chat panel at 1280×800 and on a
// 390×844 phone viewport, into tests/e2e/screenshots/ (not committed), for a person to look at.
// Run inside the test network namespace:  tests/e2e/netns.sh node tests/e2e/screenshots.mjs
import { mkdir } from 'node:fs/promises';
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
  console.log(`screenshots in ${out}`);
} finally {
  await browser.close();
  await server.stop();
}
