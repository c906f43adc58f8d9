// A closed tab rings (issue 26), in real Chromium pages against the real server started with push on:
// Bob turns on "Ring me here when I'm away" and closes his page; Alice sees "Bob — offline", calls; the
// server encrypts the push (RFC 8291 aes128gcm, VAPID) and sends it to Bob's push service; Bob's service
// worker shows the call; Answer brings Bob into the room and the call connects with video both ways.
// Also: Alice hanging up first turns the notification into a missed call, a push whose call has expired
// shows a missed call, Decline declines through the server, and "Forget this device" unregisters the
// device (Bob is no longer listed as away). The new screens (the checkbox, someone
// away, ringing them) pass an axe scan as in a11y.test.mjs.
//
// What is not the real thing, and why:
// - Chromium offline has no push service to subscribe with, so each page's `PushManager.prototype.subscribe`
//   (and `getSubscription`) is replaced before the UI loads (addInitScript) by one returning a subscription
//   whose endpoint is this test's own HTTP "push service" on 127.0.0.1 and whose keys the test made (P-256
//   ECDH key pair and 16-byte auth secret, node:crypto). The server takes that endpoint only because it
//   runs with --push-allow-private (plain http, loopback).
// - That push service does what a browser's push service and Chromium would: it decrypts the body with the
//   subscription's private key (RFC 8291, below; checked first against the RFC's own example) and hands
//   the plaintext to Bob's service worker through the DevTools protocol (`ServiceWorker.deliverPushMessage`,
//   from a page of Bob's browser context on the app's start screen: Bob's browser is open, no page of the
//   room is, and the start screen keeps no connection).
// - Nobody can click a notification in headless Chromium: the test dispatches `notificationclick` in the
//   service worker with the notification and the action (Answer or Decline). The worker's Answer takes the
//   app's open page (the start screen above) to the answering address; a new window would need the
//   person's real click.
// - Headless Chromium drops a notification from getNotifications() when it is read in the instant between
//   showNotification and its display (it never comes back; no close event). The test reads the worker's
//   notifications 0.6 s after each action and then every 0.7 s (`shown`), which avoided it in every try.
// - The expired-call case delivers a payload the test made from a real one with `expires_at` in the past
//   (waiting 45 s for a real one to expire would only slow the test down), and the late answer delivers
//   the ring a second time (a ring still showing when its call ended).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import axe from 'axe-core';
import { callState, joinAs, launchBrowser, reportOnFailure, startServer, TIMEOUT, waitForPhase, waitForRemoteVideos } from './lib.mjs';
import { bobsBrowser, decryptPush, fakePushManager, makeSubscription, startPushService, until } from './push-service.mjs';

/** An axe-core scan as a11y.test.mjs runs it: nothing serious or critical on the screen. */
async function scan(page, screen) {
  await page.evaluate(axe.source);
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];
  const violations = await page.evaluate((t) => axe.run(document, { runOnly: { type: 'tag', values: t }, resultTypes: ['violations'] }).then((r) => r.violations), tags);
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help}`);
  assert.deepEqual(bad, [], `${screen}: axe found serious or critical problems`);
}

let server;
let browser;
let pushService;
let pushDir;
before(async () => {
  pushService = await startPushService();
  pushDir = mkdtempSync(path.join(os.tmpdir(), 'p2pchat-push-'));
  server = await startServer({ args: ['--push', '--push-db', path.join(pushDir, 'push.sqlite3'), '--push-allow-private'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await pushService?.close();
  if (pushDir) rmSync(pushDir, { recursive: true, force: true });
});

test('the decryption helper opens RFC 8291 Appendix A', () => {
  const ua = crypto.createECDH('prime256v1');
  ua.setPrivateKey(Buffer.from('q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94', 'base64url'));
  const body = Buffer.from(
    'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
    'base64url',
  );
  assert.equal(decryptPush(body, ua, Buffer.from('BTBZMqHH6r4Tts7J_aSIgg', 'base64url')), 'When I grow up, I want to be a watermelon');
});

/**
 * Bob in `room` with "Ring me here when I'm away" turned on, his page then closed: his browser context
 * (with its service worker and IndexedDB) stays, as a browser does when a tab closes.
 */
async function bobAway(room, sub, { a11y = false } = {}) {
  const bob = await joinAs(browser, server.url, 'Bob', room, {
    onPage: async (page) => {
      await page.context().grantPermissions(['notifications'], { origin: server.url });
      await fakePushManager(page.context(), sub.json);
    },
  });
  // The service worker that will ring (registered by the page at load).
  await bob.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  const toggle = bob.getByTestId('ring-here-toggle');
  await toggle.click();
  await bob.locator('[data-testid="ring-here-toggle"]:checked:not(:disabled)').waitFor();
  if (a11y) await scan(bob, 'room with "Ring me here when I\'m away" on');
  const serverKey = await bob.evaluate(() => localStorage.getItem('e2e.push-server-key'));
  const context = bob.context();
  await bob.close();
  return { context, serverKey };
}

/** Alice in `room` sees Bob away and calls; returns her page, the push Bob's service got and its payload. */
async function aliceCallsBob(room, sub, { a11y = false } = {}) {
  const alice = await joinAs(browser, server.url, 'Alice', room);
  const away = alice.locator('[data-testid="away-member"][data-name="Bob"]');
  await away.waitFor();
  assert.match(await away.textContent(), /Bob\s*— offline, a call rings their device/);
  if (a11y) await scan(alice, 'room with someone away');
  await alice.getByTestId('call-button').click();
  await alice.locator('[data-testid="call-state"]').filter({ hasText: 'Ringing Bob’s devices…' }).waitFor();
  if (a11y) await scan(alice, 'ringing someone away');
  const push = await pushService.next(sub.id, 0);
  const payload = JSON.parse(decryptPush(push.body, sub.ua, sub.auth));
  return { alice, push, payload };
}

test('Bob\'s tab is closed: the push rings his browser, Answer joins the room and the call connects with video both ways', reportOnFailure(async () => {
  const room = 'push-answer';
  const sub = makeSubscription(pushService, 'bob-answer');
  const { context, serverKey } = await bobAway(room, sub, { a11y: true });
  const { alice, push, payload } = await aliceCallsBob(room, sub, { a11y: true });

  // What the push service got: RFC 8291 + 8030 + 8292 headers, and a content-free payload.
  assert.equal(push.headers['content-encoding'], 'aes128gcm');
  assert.equal(push.headers.ttl, '45');
  assert.equal(push.headers.urgency, 'high');
  assert.match(push.headers.authorization, new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, ?k=${serverKey}$`));
  assert.deepEqual(Object.keys(payload).sort(), ['call', 'caller', 'caller_peer', 'decline', 'expires_at', 'kind', 'media', 'room', 'v']);
  assert.equal(payload.kind, 'call');
  assert.equal(payload.caller, 'Alice');
  assert.equal(payload.room, room);
  assert.ok(payload.expires_at > Date.now() && payload.expires_at <= Date.now() + 46_000, `expires_at ${payload.expires_at}`);

  const bob = await bobsBrowser(context, server.url);
  await bob.deliver(JSON.stringify(payload));
  const [shown] = await bob.shown((list) => list.length === 1, 'the call notification');
  assert.equal(shown.title, 'Alice is calling');
  assert.equal(shown.body, `Video call in #${room}`);
  assert.equal(shown.tag, payload.call);
  assert.equal(shown.requireInteraction, true);
  assert.deepEqual(shown.actions, ['Answer', 'Decline']);

  // Answer: the worker takes Bob's open app page to the room with the call, which asks Alice to let it in.
  await bob.click(payload.call, 'answer');
  await bob.page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
  assert.equal(await bob.page.getByTestId('room-name').textContent(), `#${room}`);
  assert.equal(new URL(bob.page.url()).search, '', 'the answering address is taken out of the address bar');
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob.page, 1);
  await waitForPhase(alice, 'active');
  await waitForPhase(bob.page, 'active');
  assert.deepEqual(await bob.notifications(), [], 'the ringing notification is gone once answered');
  // No second notification: Alice's call stopped ringing Bob's devices; the page he answered on is visible.
  await new Promise((r) => setTimeout(r, 1000));
  const cancel = await pushService.next(sub.id, 1);
  await bob.deliver(decryptPush(cancel.body, sub.ua, sub.auth));
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(await bob.notifications(), [], 'no missed call on the device that answered');

  await alice.context().close();
  await context.close();
}));

test('Alice hangs up first: Bob\'s notification becomes a missed call, a late answer hears the call has ended, a bare answering link joins nothing; an expired call shows as missed', reportOnFailure(async () => {
  const room = 'push-missed';
  const sub = makeSubscription(pushService, 'bob-missed');
  const { context } = await bobAway(room, sub);
  const { alice, payload } = await aliceCallsBob(room, sub);
  const bob = await bobsBrowser(context, server.url);
  await bob.deliver(JSON.stringify(payload));
  const ringing = await bob.shown((list) => list.some((n) => n.title === 'Alice is calling'), 'the call notification');
  const { answerUrl } = ringing[0].data;

  await alice.getByTestId('hangup-button').click();
  await waitForPhase(alice, 'idle');
  const ended = JSON.parse(decryptPush((await pushService.next(sub.id, 1)).body, sub.ua, sub.auth));
  assert.equal(ended.kind, 'call-ended');
  assert.equal(ended.call, payload.call);
  await bob.deliver(JSON.stringify(ended));
  const [missed] = await bob.shown((list) => list.length === 1 && list[0].title.startsWith('Missed'), 'the missed call');
  assert.equal(missed.title, 'Missed call from Alice');
  assert.equal(missed.tag, payload.call, 'it replaced the ringing notification');
  assert.deepEqual(missed.actions, []);

  // A push that arrives after its call expired (a phone that was off for a minute) is a missed call at once.
  const late = { ...payload, call: `${payload.call}-late`, expires_at: Date.now() - 1000 };
  await bob.deliver(JSON.stringify(late));
  const shown = await bob.shown((list) => list.some((n) => n.tag === late.call), 'the expired call');
  const expired = shown.find((n) => n.tag === late.call);
  assert.equal(expired.title, 'Missed call from Alice');
  assert.deepEqual(expired.actions, []);
  assert.ok(!shown.some((n) => n.title === 'Alice is calling'));

  // The answering address alone (a link someone sent) is a plain room link: the join screen, no call.
  await bob.page.goto(answerUrl);
  await bob.page.getByTestId('join-button').waitFor();
  assert.equal(await bob.page.getByTestId('room-input').inputValue(), room);
  await bob.page.waitForTimeout(1000);
  assert.equal(await bob.page.getByTestId('connection-state').count(), 0, 'the link did not enter the room');

  // Bob presses Answer before the missed call reached him (the ring delivered again stands for a ring that
  // was still showing): his page joins, and Alice's, whose call is over, says so at once.
  await bob.deliver(JSON.stringify(payload));
  await bob.shown((list) => list.some((n) => n.title === 'Alice is calling'), 'the ring shown again');
  await bob.click(payload.call, 'answer');
  await bob.page.locator('[data-testid="call-notice"]').filter({ hasText: 'The call has ended.' }).waitFor();
  await waitForPhase(bob.page, 'idle');
  assert.equal(await callState(alice), 'idle');

  await alice.context().close();
  await context.close();
}));

test('Decline on Bob\'s notification declines through the server: Alice sees "Bob declined the call."; a used token shows a missed call; forget stops the ringing', reportOnFailure(async () => {
  const room = 'push-decline';
  const sub = makeSubscription(pushService, 'bob-decline');
  const { context } = await bobAway(room, sub);
  const { alice, payload } = await aliceCallsBob(room, sub);
  const bob = await bobsBrowser(context, server.url);
  await bob.deliver(JSON.stringify(payload));
  await bob.shown((list) => list.length === 1, 'the call notification');

  await bob.click(payload.call, 'decline');
  await waitForPhase(alice, 'idle');
  assert.equal(await alice.getByTestId('call-notice').textContent(), 'Bob declined the call.');
  await bob.shown((list) => list.length === 0, 'the notification closed');
  // Bob's page was not opened: he declined without joining.
  assert.equal(await bob.page.getByTestId('join-button').count(), 1);

  // The same push again (a push service may deliver twice): its token is used up, the server answers 404,
  // and the worker says the call was missed instead of leaving the person unsure it was declined.
  await bob.deliver(JSON.stringify(payload));
  await bob.shown((list) => list.length === 1 && list[0].title === 'Alice is calling', 'the repeated call notification');
  await bob.click(payload.call, 'decline');
  const [missed] = await bob.shown((list) => list.length === 1 && list[0].title.startsWith('Missed'), 'the missed call');
  assert.equal(missed.title, 'Missed call from Alice');

  // "Forget this device" on Bob's start screen unregisters it on the server: once Alice's room asks again
  // (someone leaves), Bob is no longer listed as away.
  await bob.page.getByTestId('forget-device').click();
  await bob.page.getByTestId('forget-confirm').click();
  await until(() => bob.page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name)), (names) => !names.includes('p2pchat-push'), 'the push identity deleted');
  assert.equal(await alice.locator('[data-testid="away-member"][data-name="Bob"]').count(), 1);
  const carol = await joinAs(browser, server.url, 'Carol', room);
  await carol.close();
  await alice.locator('[data-testid="away-member"]').waitFor({ state: 'detached' });

  await alice.context().close();
  await context.close();
}));
