// Invitations on a server that requires tokens (--auth-secret): an invite link
// `<base>/#room=<room>&token=<JWT>` fills the join screen (room, and the name from the token), takes the
// token out of the address bar, and two invited people chat; without a token, with an expired one or with
// one for another room the join screen says so (data-testid join-error) and the page does not reconnect in
// a loop; a link pasted into the invitation field fills the form; the server ending a session at the
// token's `exp` sends the person back to the join screen, unless the operator's renewal path gave a fresh
// token first, which resumes the same session without anyone noticing.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { TIMEOUT, launchBrowser, reportOnFailure, sendChat, sleep, startServer, waitForMessage, waitForPeers } from './lib.mjs';

const SECRET = 'an-e2e-invite-secret-of-32-bytes';
let server;
let browser;

before(async () => {
  // No leeway, so a test token's `exp` ends its connection on time.
  server = await startServer({ args: ['--auth-secret', SECRET, '--jwt-leeway-secs', '0'] });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** An HS256 JWT signed with the server's secret; `ttl` in seconds (negative: already expired). */
function token({ sub, name, rooms, ttl = 3600 }) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { sub, exp: Math.floor(Date.now() / 1000) + ttl, ...(name ? { name } : {}), ...(rooms ? { rooms } : {}) };
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

const invite = (room, jwt, extra = '') => `${server.url}/#room=${room}&token=${jwt}${extra}`;

/** A fresh person (own context, so own sessionStorage) at `url`; counts the page's WebSocket attempts. */
async function open(url, { onPage } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.sockets = 0;
  page.on('websocket', () => (page.sockets += 1));
  await onPage?.(page);
  await page.goto(url);
  return page;
}

async function joinFromForm(page) {
  await page.getByTestId('join-button').click();
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
}

async function joinError(page) {
  const error = page.getByTestId('join-error');
  await error.waitFor();
  return (await error.textContent()).trim();
}

test('an invite link fills the join screen and two invited people chat', reportOnFailure(async () => {
  const alice = await open(invite('team', token({ sub: 'alice', name: 'Alice', rooms: ['team'] })));
  assert.equal(await alice.getByTestId('room-input').inputValue(), 'team');
  assert.equal(await alice.getByTestId('name-input').inputValue(), 'Alice');
  // The token is kept for the session but no longer in the address (nor in history).
  assert.equal(await alice.evaluate(() => location.hash), '#/room/team');
  assert.ok(!(await alice.evaluate(() => location.href)).includes('token'));
  await joinFromForm(alice);

  const bob = await open(invite('team', token({ sub: 'bob', name: 'Bob', rooms: 'team' })));
  await joinFromForm(bob);
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  await sendChat(alice, 'Hi invited Bob');
  await waitForMessage(bob, 'Hi invited Bob');
  await waitForMessage(alice, 'Hi invited Bob', 'delivered');

  // A reload keeps the invitation (sessionStorage): joining again works without the link.
  await bob.reload();
  assert.equal(await bob.getByTestId('room-input').inputValue(), 'team');
  await joinFromForm(bob);
  await alice.context().close();
  await bob.context().close();
}));

test('without a token the join screen says an invitation is needed, and the page stops trying', reportOnFailure(async () => {
  const page = await open(`${server.url}/#/room/team`);
  await page.getByTestId('name-input').fill('Eve');
  await page.getByTestId('join-button').click();
  assert.match(await joinError(page), /need an invitation/i);
  assert.equal(await page.getByTestId('room-input').inputValue(), 'team', 'the room is kept');
  await sleep(3000); // several backoff periods: a reconnect loop would open more sockets
  assert.equal(page.sockets, 1);
  await page.context().close();
}));

test('an expired invitation is explained before trying, and one that expires in the room sends back to the join screen', reportOnFailure(async () => {
  const stale = await open(invite('team', token({ sub: 'carol', name: 'Carol', ttl: -60 })));
  await stale.getByTestId('join-button').click();
  assert.match(await joinError(stale), /invitation has expired/i);
  assert.equal(stale.sockets, 0, 'the client saw the expiry itself');
  await stale.context().close();

  const brief = await open(invite('team', token({ sub: 'dan', name: 'Dan', ttl: 3 })));
  await joinFromForm(brief);
  assert.match(await joinError(brief), /invitation has expired/i); // the server closed at exp
  assert.equal(await brief.getByTestId('room-input').inputValue(), 'team');
  await sleep(2000);
  assert.equal(brief.sockets, 1, 'no reconnect with the expired token');
  await brief.context().close();
}));

test('a token for another room says it is not valid for this room', reportOnFailure(async () => {
  const page = await open(invite('team', token({ sub: 'frank', name: 'Frank', rooms: ['other'] })));
  await page.getByTestId('join-button').click();
  assert.match(await joinError(page), /not valid for room “team”/);
  await page.context().close();
}));

test('a link pasted into the invitation field fills room and name, and joins', reportOnFailure(async () => {
  const page = await open(`${server.url}/`);
  await page.getByTestId('token-input').fill(invite('paste-room', token({ sub: 'gus', name: 'Gus' })));
  assert.equal(await page.getByTestId('room-input').inputValue(), 'paste-room');
  assert.equal(await page.getByTestId('name-input').inputValue(), 'Gus');
  assert.ok(!(await page.getByTestId('token-input').inputValue()).includes('#'), 'the field keeps the token alone');
  await joinFromForm(page);
  await page.context().close();
}));

test('a renewed token resumes the session when the old one expires', reportOnFailure(async () => {
  const renewals = [];
  const withRenewal = (sub, name) => async (page) => {
    await page.route('**/token', async (route) => {
      renewals.push({ sub, auth: route.request().headers().authorization ?? '' });
      await route.fulfill({ contentType: 'application/json', body: JSON.stringify({ token: token({ sub, name }) }) });
    });
  };
  const first = token({ sub: 'hana', name: 'Hana', ttl: 4 });
  const hana = await open(invite('renew', first, '&renew=/token'), { onPage: withRenewal('hana', 'Hana') });
  await joinFromForm(hana);
  const ivan = await open(invite('renew', token({ sub: 'ivan', name: 'Ivan' })));
  await joinFromForm(ivan);
  await waitForPeers(hana, 1);
  await sleep(5500); // past the first token's exp: the server closed that connection
  assert.ok(renewals.length >= 1, 'the page asked for a fresh token');
  assert.equal(renewals[0].auth, `Bearer ${first}`);
  await hana.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
  assert.equal(await hana.getByTestId('join-error').count(), 0);
  assert.equal(await hana.getByTestId('presence-item').count(), 1, 'still in the room with Ivan');
  await sendChat(ivan, 'still here after renewal');
  await waitForMessage(hana, 'still here after renewal');
  assert.equal(hana.sockets, 2, 'one resume with the fresh token');
  await hana.context().close();
  await ivan.context().close();
}));
