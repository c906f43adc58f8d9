// The native data-channel fallback (webrtc-rs, as used by the app where the webview has no WebRTC)
// interoperates with a real browser: the headless CLI peer `p2pchat-peer` and a Chromium page running
// the web UI chat both ways through the real server with delivery acks, whoever joins first, also while
// the browser rings (audio/video renegotiation), and relay-only through a real coturn.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  joinAs, selectedPairTypes, sendChat, startRelayFixture, waitForMessage, waitForPeers,
} from './lib.mjs';
import { startPeer } from './peer.mjs';

const SECRET = 'e2e-fallback-secret-at-least-32-bytes';
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

/** Chat both ways between `page` and the CLI `peer`, each side seeing the other's ack. */
async function chatBothWays(page, peer, tag) {
  await sendChat(page, `from Chromium ${tag}`);
  await peer.waitFor((e) => e.event === 'msg' && e.body === `from Chromium ${tag}`, 'message from the page');
  await waitForMessage(page, `from Chromium ${tag}`, 'delivered');

  const id = await peer.say(`from Rust ${tag}`);
  await waitForMessage(page, `from Rust ${tag}`);
  await peer.waitFor((e) => e.event === 'acked' && e.id === id, 'ack from the page');
}

test('the CLI peer (newcomer) and a Chromium page chat both ways with delivered status', async () => {
  const page = await joinAs(browser, server.url, 'Alice', 'fb-1');
  const peer = await startPeer(server.url, 'fb-1', 'Rusty');
  try {
    await peer.waitFor((e) => e.event === 'open', 'channel open');
    await waitForPeers(page, 1);
    await chatBothWays(page, peer, 'one');
  } finally {
    await peer.stop();
    await page.context().close();
  }
});

test('a Chromium page joining after the CLI peer offers and chats; ringing does not break chat', async () => {
  const peer = await startPeer(server.url, 'fb-2', 'Rusty');
  await peer.waitFor((e) => e.event === 'ready', 'welcome');
  const page = await joinAs(browser, server.url, 'Bob', 'fb-2');
  try {
    await peer.waitFor((e) => e.event === 'open', 'channel open');
    await waitForPeers(page, 1);
    await chatBothWays(page, peer, 'before ringing');
    // Ringing renegotiates the connection with audio and video sections, which the Rust side answers.
    await page.getByTestId('call-button').click();
    await page.waitForFunction(() => {
      const sdp = window.__p2pchatDebug?.peerConnections?.()[0]?.currentRemoteDescription?.sdp ?? '';
      return sdp.includes('m=audio') && sdp.includes('m=video');
    }, null, { timeout: 20_000 });
    await chatBothWays(page, peer, 'while ringing');
  } finally {
    await peer.stop();
    await page.context().close();
  }
});

test('relay-only: the CLI peer reaches a relay-only page through coturn', async () => {
  const page = await joinAs(browser, server.url, 'Carol', 'fb-3', { query: '?relay=1' });
  const peer = await startPeer(server.url, 'fb-3', 'Rusty', ['--relay-only']);
  try {
    await peer.waitFor((e) => e.event === 'open', 'channel open through the relay');
    await waitForPeers(page, 1);
    await chatBothWays(page, peer, 'relayed');
    const pairs = await selectedPairTypes(page);
    assert.deepEqual(pairs, [['relay', 'relay']]);
  } finally {
    await peer.stop();
    await page.context().close();
  }
});
