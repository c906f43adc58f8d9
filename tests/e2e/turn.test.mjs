// Relay-only calls through a real coturn started from the shipped docs/deploy/coturn/turnserver.conf (lib.mjs
// startTurn): with iceTransportPolicy "relay" the only way to connect is the TURN server, using the ephemeral
// credentials the signaling server hands out in `welcome`. The file's denied private ranges are what keeps
// a relay from reaching internal addresses: without the test's own exceptions, relaying stops.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  joinAs, selectedPairTypes, startRelayFixture, startServer, startTurn, waitForPeers, waitForRemoteVideos,
} from './lib.mjs';

const SECRET = 'e2e-turn-secret-at-least-32-bytes-long';
let fixture;
let server;
let browser;
before(async () => {
  fixture = await startRelayFixture(SECRET);
  ({ server, browser } = fixture);
});
after(async () => {
  await fixture?.stop();
});

test('relay-only call connects through coturn with relay candidates on both ends', async () => {
  const alice = await joinAs(browser, server.url, 'Alice', 'turn-1', { query: '?relay=1' });
  const bob = await joinAs(browser, server.url, 'Bob', 'turn-1', { query: '?relay=1' });
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  await alice.getByTestId('call-button').click();
  await bob.getByTestId('accept-button').click();
  await waitForRemoteVideos(alice, 1);
  await waitForRemoteVideos(bob, 1);
  for (const page of [alice, bob]) {
    const pairs = await selectedPairTypes(page);
    assert.ok(pairs.length > 0, 'a selected candidate pair exists');
    for (const pair of pairs) assert.deepEqual(pair, ['relay', 'relay']);
  }
  await alice.context().close();
  await bob.context().close();
});

test('a wrong TURN secret means relay-only peers cannot connect', async () => {
  const wrong = await startServer({ args: ['--turn-url', `turn:127.0.0.1:${fixture.turn.port}?transport=udp`, '--turn-secret', 'not-the-secret-but-also-32-bytes-long', '--allow-open-turn'] });
  try {
    const alice = await joinAs(browser, wrong.url, 'Alice', 'turn-2', { query: '?relay=1' });
    const bob = await joinAs(browser, wrong.url, 'Bob', 'turn-2', { query: '?relay=1' });
    await assert.rejects(waitForPeers(alice, 1), /linked peers did not happen/);
    await alice.context().close();
    await bob.context().close();
  } finally {
    await wrong.stop();
  }
});

test('the shipped coturn file refuses to relay to private and loopback addresses', async () => {
  // Same file, secret and loopback switch, without the test's --allowed-peer-ip: its denied-peer-ip ranges
  // (127.0.0.0/8, 10.0.0.0/8, ...) cover every address in the namespace, so no relay path can form.
  const strict = await startTurn(SECRET, { allowTestPeers: false });
  const server2 = await startServer({ args: ['--turn-url', `turn:127.0.0.1:${strict.port}?transport=udp`, '--turn-secret', SECRET, '--allow-open-turn'] });
  try {
    const alice = await joinAs(browser, server2.url, 'Alice', 'turn-3', { query: '?relay=1' });
    const bob = await joinAs(browser, server2.url, 'Bob', 'turn-3', { query: '?relay=1' });
    await assert.rejects(waitForPeers(alice, 1), /linked peers did not happen/);
    await alice.context().close();
    await bob.context().close();
  } finally {
    await server2.stop();
    await strict.stop();
  }
});
