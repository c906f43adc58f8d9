// Device identity (docs/security.md): a browser keeps one DTLS certificate in IndexedDB for every peer
// connection, so the safety code of two browsers is the same after a reload; a person marked as verified
// stays verified on that device; the same name on another device (another certificate) is warned about.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { joinAs, launchBrowser, reportOnFailure, startServer, TIMEOUT } from './lib.mjs';

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

/** The safety code `page` shows for `name` once their link is connected. */
async function codeFor(page, name) {
  const item = page.getByTestId('presence-item').filter({ hasText: name });
  const code = item.getByTestId('safety-code');
  await code.waitFor({ timeout: TIMEOUT });
  return (await code.textContent()).trim();
}

test('codes stay the same across a reload, verification is remembered, another device is warned about', reportOnFailure(async () => {
  const room = 'identity-1';
  const ann = await joinAs(browser, server.url, 'Ann', room);
  const bob = await joinAs(browser, server.url, 'Bob', room);
  const code = await codeFor(ann, 'Bob');
  assert.equal(await codeFor(bob, 'Ann'), code);

  // Ann compares codes with Bob and marks him as verified.
  await ann.getByTestId('presence-item').filter({ hasText: 'Bob' }).getByTestId('verify-button').click();
  const verifiedBob = ann.locator('[data-testid="presence-item"][data-verified="true"]').filter({ hasText: 'Bob' });
  await verifiedBob.waitFor();

  // Bob reloads (the same browser profile) and joins again under a new peer id: same certificate, same code,
  // and Ann sees him verified without doing anything.
  await bob.reload();
  await bob.getByTestId('join-button').click();
  await verifiedBob.waitFor();
  assert.equal(await codeFor(ann, 'Bob'), code, 'the code changed across a reload');
  assert.equal(await codeFor(bob, 'Ann'), code);
  assert.equal(await ann.getByTestId('identity-warning').count(), 0);

  // "Bob" on another device (a fresh browser profile: another certificate): a clear warning, not verified.
  await bob.context().close();
  const otherBob = await joinAs(browser, server.url, 'Bob', room);
  const warning = ann.getByTestId('identity-warning');
  await warning.waitFor();
  assert.match(await warning.textContent(), /Bob: the safety code changed since you verified it/);
  const newCode = await codeFor(ann, 'Bob');
  assert.notEqual(newCode, code);
  assert.equal(await codeFor(otherBob, 'Ann'), newCode);
  assert.equal(await verifiedBob.count(), 0);
  // Once they compared the new code, Ann verifies again: the warning goes.
  await ann.getByTestId('presence-item').filter({ hasText: 'Bob' }).getByTestId('verify-button').click();
  await verifiedBob.waitFor();
  await warning.waitFor({ state: 'detached' });
}));
