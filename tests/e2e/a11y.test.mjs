// Accessibility: an axe-core scan (WCAG 2.x A/AA and best practices) of every screen — join, history,
// room, ringing, call — finds nothing serious or critical; the app works from the keyboard (Tab order on
// the join screen, Enter to join and to send, Escape declines a ringing call) and the call controls have
// accessible names.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import axe from 'axe-core';
import {
  joinAs, launchBrowser, reportOnFailure, sendChat, startServer, waitForMessage, waitForPeers, waitForPhase, waitForRemoteVideos,
} from './lib.mjs';

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs axe in `page` (injected through the debugging protocol, which the page's CSP does not block). */
async function scan(page, screen) {
  await page.evaluate(axe.source);
  const violations = await page.evaluate((tags) => axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }).then((r) => r.violations), TAGS);
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(' ')} — ${n.failureSummary?.split('\n').slice(1).join(' ')}`).join('\n')}`);
  assert.deepEqual(report, [], `${screen}: axe found ${bad.length} serious or critical problem(s)`);
  return violations.length;
}

const focused = (page) => page.evaluate(() => document.activeElement?.dataset.testid ?? document.activeElement?.tagName);

test('every screen passes axe; keyboard use; named call controls', reportOnFailure(async () => {
  // Join screen, from the keyboard only.
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  await context.addInitScript(() => {
    window.__p2pchatTestHooks = true;
  });
  const alice = await context.newPage();
  await alice.goto(server.url);
  await alice.getByTestId('join-button').waitFor();
  assert.equal(await alice.getByRole('heading', { level: 1 }).count(), 1);
  await scan(alice, 'join');
  const order = [];
  for (let i = 0; i < 5; i++) {
    await alice.keyboard.press('Tab');
    order.push(await focused(alice));
  }
  assert.deepEqual(order, ['name-input', 'room-input', 'token-input', 'join-button', 'search-input']);
  await alice.getByTestId('name-input').focus();
  await alice.keyboard.type('Alice');
  await alice.keyboard.press('Tab');
  await alice.keyboard.type('a11y-1');
  await alice.keyboard.press('Enter');
  await alice.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();

  // Room, with people, chat and statuses.
  const bob = await joinAs(browser, server.url, 'Bob', 'a11y-1');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  await alice.getByTestId('chat-input').fill('Hello from the keyboard');
  await alice.getByTestId('chat-input').press('Enter');
  await waitForMessage(bob, 'Hello from the keyboard');
  await waitForMessage(alice, 'Hello from the keyboard', 'read');
  await sendChat(bob, 'Hi Alice');
  await waitForMessage(alice, 'Hi Alice');
  await bob.getByTestId('chat-input').pressSequentially('typing');
  await alice.getByText('Bob is typing…').waitFor();
  assert.equal(await alice.getByRole('heading', { level: 1 }).count(), 1);
  await scan(alice, 'room');
  await alice.setViewportSize({ width: 390, height: 844 });
  await scan(alice, 'room (phone)');
  await alice.setViewportSize({ width: 1280, height: 800 });

  // Ringing: Escape declines.
  await bob.getByTestId('call-button').click();
  await waitForPhase(alice, 'incoming');
  await scan(alice, 'ringing');
  await alice.keyboard.press('Escape');
  await waitForPhase(alice, 'idle');
  await waitForPhase(bob, 'idle');

  // Ringing again; accepted from the keyboard (the dialog takes focus), then the call.
  await bob.getByTestId('call-button').click();
  await waitForPhase(alice, 'incoming');
  assert.equal(await focused(alice), 'accept-button');
  await alice.keyboard.press('Enter');
  await waitForPhase(alice, 'active');
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob, 1);
  for (const name of ['Mute', 'Camera off', 'Hang up']) {
    assert.equal(await alice.getByRole('button', { name, exact: true }).count(), 1, `call control "${name}"`);
  }
  await scan(alice, 'call (callee)');
  await scan(bob, 'call (caller)');
  await alice.getByRole('button', { name: 'Hang up' }).click();
  await waitForPhase(alice, 'idle');

  // History: the start screen lists the conversation and finds it by search.
  await alice.getByRole('button', { name: 'Leave' }).click();
  await alice.getByTestId('conversation').first().waitFor();
  await scan(alice, 'history');
  await alice.getByTestId('search-input').fill('keyboard');
  await alice.getByTestId('search-result').first().waitFor();
  await scan(alice, 'history search');
  await context.close();
  await bob.context().close();
}));
