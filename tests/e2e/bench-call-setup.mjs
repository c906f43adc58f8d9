// Call-setup benchmark: 20 calls through the real signaling server between two Chromium pages with fake
// camera/microphone, timed in the caller's page from the click on "Call" to (a) the callee's media arriving
// (remote stream attached: "connected") and (b) the first decoded remote video frame. The floor is a bare
// RTCPeerConnection pair inside one page (no server, no UI), measured in the same browser run.
// Run inside the test network namespace:  tests/e2e/netns.sh node tests/e2e/bench-call-setup.mjs
import os from 'node:os';
import { joinAs, launchBrowser, startServer, timeCallSetup, waitForPeers, waitForPhase } from './lib.mjs';

const CALLS = Number(process.env.CALLS ?? 20);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms (n=${xs.length})`;

const server = await startServer();
const browser = await launchBrowser();
try {
  const alice = await joinAs(browser, server.url, 'Alice', 'bench');
  alice.on('crash', () => console.error('caller page crashed'));
  const bob = await joinAs(browser, server.url, 'Bob', 'bench');
  await waitForPeers(alice, 1);
  await waitForPeers(bob, 1);
  // The callee answers the moment it rings, so the figure is the app's, not a person's reaction time.
  await bob.evaluate(() => {
    new MutationObserver(() => document.querySelector('[data-testid="accept-button"]')?.click())
      .observe(document.body, { childList: true, subtree: true });
  });
  const { connected, firstFrame } = await timeCallSetup(alice, CALLS, () => waitForPhase(bob, 'idle'));

  const floorPage = await (await browser.newContext()).newPage();
  await floorPage.goto(`${server.url}/`);
  const floor = await floorPage.evaluate(async (n) => {
    const ice = [];
    const frame = [];
    for (let i = 0; i < n; i++) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
      const t0 = performance.now();
      const a = new RTCPeerConnection();
      const b = new RTCPeerConnection();
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      document.body.append(video);
      b.ontrack = (e) => { video.srcObject = e.streams[0]; };
      for (const t of stream.getTracks()) a.addTrack(t, stream);
      const connected = new Promise((r) => { b.oniceconnectionstatechange = () => b.iceConnectionState === 'connected' && r(performance.now() - t0); });
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      ice.push(await connected);
      await new Promise((r) => { const wait = () => (video.srcObject ? video.requestVideoFrameCallback(() => r()) : setTimeout(wait, 1)); wait(); });
      frame.push(performance.now() - t0);
      a.close(); b.close(); video.remove();
      for (const t of stream.getTracks()) t.stop();
    }
    return { ice, frame };
  }, CALLS);

  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, Chromium ${browser.version()}`);
  console.log(`call through server and UI: click → remote media attached: ${fmt(connected)}`);
  console.log(`call through server and UI: click → first decoded remote frame: ${fmt(firstFrame)}`);
  console.log(`floor, bare RTCPeerConnection pair in one page: ICE connected: ${fmt(floor.ice)}`);
  console.log(`floor, bare RTCPeerConnection pair in one page: first decoded frame: ${fmt(floor.frame)}`);
} finally {
  await browser.close();
  await server.stop();
}
