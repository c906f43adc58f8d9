// Safety codes (docs/security.md): each person's entry in the room, and their tile in a call, shows a code
// derived from both DTLS certificates of our link to them. Both ends of a browser ↔ browser and a browser ↔
// native (webrtc-rs) link show the same code, and it is the one the certificates DTLS really used give
// (read from getStats, hashed here independently). A man in the middle, here a test relay that rewrites the
// signaling between two pages and bridges their links through a third page with its own two connections, as a
// malicious signaling server could, leaves chat working but makes the two people see different codes.
// A server that rewrites the certificate fingerprint of a page's later offer (an ICE restart) cannot change a
// native link's code: the native peer fails the link instead (webrtc-rs checks only the first fingerprint).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  evaluateWithin, joinAs, launchBrowser, reportOnFailure, sendChat, startServer, TIMEOUT, waitForMessage,
  waitForPeers, waitForPhase,
} from './lib.mjs';
import { startPeer } from './peer.mjs';

const CODE = /^\d{5} \d{5} \d{5} \d{5}$/;

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

/** The scheme of docs/security.md, written again here so the test does not trust the UI's own code. */
function expectedCode(fingerprintA, fingerprintB) {
  const [lo, hi] = [fingerprintA, fingerprintB].sort();
  const digest = createHash('sha256').update(`p2pchat-safety-v1\n${lo}\n${hi}`).digest();
  const groups = [];
  for (let g = 0; g < 4; g++) groups.push(String(digest.readUIntBE(g * 5, 5) % 100_000).padStart(5, '0'));
  return groups.join(' ');
}

/** The code `page` shows for the one other person in the room (waits for it). */
async function shownCode(page, testid = 'safety-code') {
  const code = page.getByTestId(testid);
  await code.waitFor({ timeout: TIMEOUT });
  return (await code.textContent()).trim();
}

/** The local and remote certificate fingerprints DTLS used on each of the page's peer connections. */
async function certificates(page, whose = 'room') {
  return evaluateWithin(page, async (w) => {
    const out = [];
    for (const pc of w === 'mallory' ? window.mallory.pcs() : window.__p2pchatDebug.peerConnections()) {
      const stats = await pc.getStats();
      let transport;
      stats.forEach((s) => {
        if (s.type === 'transport' && s.remoteCertificateId) transport = s;
      });
      const fp = (id) => {
        const c = stats.get(id);
        return `${c.fingerprintAlgorithm.toLowerCase()} ${c.fingerprint.toUpperCase()}`;
      };
      out.push(transport ? { local: fp(transport.localCertificateId), remote: fp(transport.remoteCertificateId) } : null);
    }
    return out;
  }, whose, 'certificate stats');
}

test('both ends of a browser link show the same code, in the room and in the call', reportOnFailure(async () => {
  const ann = await joinAs(browser, server.url, 'Ann', 'safe-1');
  const ben = await joinAs(browser, server.url, 'Ben', 'safe-1');
  try {
    await waitForPeers(ann, 1);
    await waitForPeers(ben, 1);
    const [atAnn, atBen] = [await shownCode(ann), await shownCode(ben)];
    assert.match(atAnn, CODE);
    assert.equal(atBen, atAnn, 'Ann and Ben see the same code for their link');
    const [certs] = await certificates(ann);
    assert.notEqual(certs.local, certs.remote);
    assert.equal(atAnn, expectedCode(certs.local, certs.remote), 'the code comes from the certificates DTLS used');
    const [theirs] = await certificates(ben);
    assert.deepEqual([theirs.local, theirs.remote], [certs.remote, certs.local]);

    // The call shows each participant's code on their tile.
    await ann.getByTestId('call-button').click();
    await ben.getByTestId('accept-button').click();
    await waitForPhase(ann, 'active');
    await waitForPhase(ben, 'active');
    assert.equal(await shownCode(ann, 'call-safety-code'), atAnn);
    assert.equal(await shownCode(ben, 'call-safety-code'), atAnn);
  } finally {
    await ann.context().close();
    await ben.context().close();
  }
}));

test('a browser and a native (webrtc-rs) peer show the same code', reportOnFailure(async () => {
  const page = await joinAs(browser, server.url, 'Cleo', 'safe-2');
  const peer = await startPeer(server.url, 'safe-2', 'Rusty');
  try {
    const { code } = await peer.waitFor((e) => e.event === 'safety', 'safety code of the native link');
    assert.match(code, CODE);
    await waitForPeers(page, 1);
    assert.equal(await shownCode(page), code, 'the page and the native peer see the same code');
    const [certs] = await certificates(page);
    assert.equal(code, expectedCode(certs.local, certs.remote));
  } finally {
    await peer.stop();
    await page.context().close();
  }
}));

/**
 * Mallory's page: one RTCPeerConnection facing each victim, whose SDP replaces what the victims send each
 * other, and a chat channel on each, bridged, so the victims' chat still works through her.
 */
function installMallory() {
  const legs = new Map();
  const gathered = (pc) =>
    new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
  const leg = (id) => {
    if (!legs.has(id)) {
      const pc = new RTCPeerConnection();
      pc.ondatachannel = ({ channel }) => wire(id, channel);
      legs.set(id, { pc, channel: null, waiting: [] });
    }
    return legs.get(id);
  };
  const other = (id) => [...legs.entries()].find(([k]) => k !== id)?.[1];
  function wire(id, channel) {
    const me = legs.get(id);
    me.channel = channel;
    channel.onopen = () => me.waiting.splice(0).forEach((m) => channel.send(m));
    channel.onmessage = ({ data }) => {
      const to = other(id);
      if (to?.channel?.readyState === 'open') to.channel.send(data);
      else to?.waiting.push(data);
    };
  }
  window.mallory = {
    pcs: () => [...legs.values()].map((l) => l.pc),
    /** `from` offered `to`: Mallory answers `from` herself and offers `to` her own description instead. */
    async offer(from, to, sdp) {
      await leg(from).pc.setRemoteDescription({ type: 'offer', sdp });
      const toward = leg(to);
      if (!toward.channel) wire(to, toward.pc.createDataChannel('chat', { ordered: true }));
      await toward.pc.setLocalDescription();
      await gathered(toward.pc); // her candidates travel in the description; the victims' are dropped
      return toward.pc.localDescription.sdp;
    },
    /** `from` answered `to`'s offer (really hers): Mallory answers `to`'s original offer herself. */
    async answer(from, to, sdp) {
      await leg(from).pc.setRemoteDescription({ type: 'answer', sdp });
      const toward = leg(to);
      await toward.pc.setLocalDescription();
      await gathered(toward.pc);
      return toward.pc.localDescription.sdp;
    },
    async candidate(from, candidate) {
      if (candidate) await leg(from).pc.addIceCandidate(candidate).catch(() => undefined);
    },
  };
}

/**
 * Routes `page`'s signaling WebSocket through the test: frames pass unchanged, except the WebRTC
 * negotiation, whose descriptions Mallory replaces with her own and whose candidates she keeps.
 */
function relayThrough(mallory, errors) {
  return (page) =>
    page.routeWebSocket(/\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      let me = null;
      let chain = Promise.resolve();
      upstream.onMessage((message) => {
        const frame = JSON.parse(message);
        if (frame.type === 'welcome') me = frame.peer;
        ws.send(message);
      });
      ws.onMessage((message) => {
        chain = chain
          .then(async () => {
            const frame = JSON.parse(message);
            const kind = frame.type === 'signal' ? frame.data?.kind : null;
            if (kind === 'offer' || kind === 'answer') {
              const sdp = await mallory.evaluate(([k, from, to, s]) => window.mallory[k](from, to, s), [kind, me, frame.to, frame.data.sdp]);
              upstream.send(JSON.stringify({ ...frame, data: { kind, sdp } }));
            } else if (kind === 'candidate') {
              await mallory.evaluate(([from, c]) => window.mallory.candidate(from, c), [me, frame.data.candidate]);
            } else if (kind !== 'restart') {
              upstream.send(message);
            }
          })
          .catch((err) => errors.push(String(err)));
      });
    });
}

test('a man in the middle of the signaling makes the two people see different codes', reportOnFailure(async () => {
  const malloryContext = await browser.newContext();
  const mallory = await malloryContext.newPage();
  await mallory.goto(`${server.url}/`);
  await mallory.evaluate(installMallory);
  const errors = [];
  const onPage = relayThrough(mallory, errors);
  const ann = await joinAs(browser, server.url, 'Ann', 'safe-3', { onPage });
  const ben = await joinAs(browser, server.url, 'Ben', 'safe-3', { onPage });
  try {
    await waitForPeers(ann, 1);
    await waitForPeers(ben, 1);
    // The relay works: chat goes both ways (through Mallory).
    await sendChat(ann, 'hello through the middle');
    await waitForMessage(ben, 'hello through the middle');
    await sendChat(ben, 'hello back');
    await waitForMessage(ann, 'hello back');
    assert.deepEqual(errors, []);

    const [atAnn, atBen] = [await shownCode(ann), await shownCode(ben)];
    assert.match(atAnn, CODE);
    assert.match(atBen, CODE);
    assert.notEqual(atAnn, atBen, 'with someone in the middle the codes differ');
    // Each victim's code is that of their link to Mallory, not to each other.
    const legs = (await certificates(mallory, 'mallory')).map((c) => expectedCode(c.local, c.remote));
    assert.deepEqual([...legs].sort(), [atAnn, atBen].sort());
  } finally {
    await ann.context().close();
    await ben.context().close();
    await malloryContext.close();
  }
}));

/** A certificate fingerprint nobody in the test has. */
const FORGED_FINGERPRINT = `sha-256 ${Array(32).fill('5A').join(':')}`;

/**
 * Routes `page`'s signaling WebSocket through the test unchanged, except that once `forge.armed` is set the
 * page's next offer reaches the server with another certificate fingerprint, as a malicious server could send it.
 */
function forgingRelay(forge) {
  return (page) =>
    page.routeWebSocket(/\/ws$/, (ws) => {
      const upstream = ws.connectToServer();
      upstream.onMessage((message) => ws.send(message));
      ws.onMessage((message) => {
        const frame = JSON.parse(message);
        if (forge.armed && frame.type === 'signal' && frame.data?.kind === 'offer') {
          forge.armed = false;
          const sdp = frame.data.sdp.replace(/^a=fingerprint:.*$/gm, `a=fingerprint:${FORGED_FINGERPRINT}`);
          forge.sent = sdp !== frame.data.sdp;
          upstream.send(JSON.stringify({ ...frame, data: { ...frame.data, sdp } }));
        } else {
          upstream.send(message);
        }
      });
    });
}

test("a forged fingerprint in a page's re-offer fails the native link instead of changing its code", reportOnFailure(async () => {
  const forge = { armed: false, sent: false };
  const page = await joinAs(browser, server.url, 'Dana', 'safe-4', { onPage: forgingRelay(forge) });
  const peer = await startPeer(server.url, 'safe-4', 'Rusty');
  try {
    const { code } = await peer.waitFor((e) => e.event === 'safety', 'safety code of the native link');
    await waitForPeers(page, 1);
    assert.equal(await shownCode(page), code, 'the page and the native peer see the same code');

    // The page restarts ICE; its re-offer reaches the native peer with another fingerprint.
    forge.armed = true;
    await evaluateWithin(page, () => window.__p2pchatDebug.peerConnections()[0].restartIce(), null, 'ICE restart');
    const failed = await peer.waitFor((e) => e.event === 'failed', 'the native link failing on the forged re-offer', 15_000);
    assert.ok(forge.sent, 'the re-offer went out with the forged fingerprint');
    assert.match(failed.reason, /certificate changed/);
    assert.ok(failed.reason.includes(FORGED_FINGERPRINT), failed.reason);
    assert.equal(peer.events.filter((e) => e.event === 'safety').length, 1, 'no other code was reported');
  } finally {
    await peer.stop();
    await page.context().close();
  }
}));
