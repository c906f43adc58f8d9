// Native call benchmark: a Chromium page calls the headless native peer (webrtc-rs + GStreamer, test
// sources at 640×480/30 fps VP8 + Opus) through the real signaling server and the full UI, CALLS times,
// timed in the page from the click on "Call" to (a) the native side's media attached and (b) its first
// decoded video frame; the same run times browser ↔ browser calls for comparison. Then one 20 s call:
// the native peer's CPU (utime+stime over wall time, of one core) and memory (PSS) while sending and
// receiving, against the same process idle in the room before the call.
// Run inside the test network namespace:  tests/e2e/netns.sh node tests/e2e/bench-native-call.mjs
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { diagnose, joinAs, launchBrowser, sleep, startServer, waitForPeers, waitForPhase } from './lib.mjs';
import { startPeer } from './peer.mjs';

const CALLS = Number(process.env.CALLS ?? 10);
const HOLD_S = 20;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(0)} ms, p95 ${pct(xs, 95).toFixed(0)} ms (n=${xs.length})`;

/** CPU seconds used by `pid` so far (user + system). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
/** Proportional set size of `pid`, MiB. */
function pssMiB(pid) {
  const kb = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1];
  return Number(kb) / 1024;
}
/** CPU % of one core used by `pid` over the next `seconds`. */
async function cpuPercent(pid, seconds) {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
}

/** Times CALLS calls from `caller` (a page) to whoever answers at once. */
async function timeCalls(caller, others) {
  const connected = [];
  const firstFrame = [];
  for (let i = 0; i < CALLS; i++) {
    const [c, f] = await caller.evaluate(async () => {
      const deadline = performance.now() + 15_000;
      const until = async (fn) => {
        for (;;) {
          const v = fn();
          if (v) return v;
          if (performance.now() > deadline) throw new Error('call did not connect within 15 s');
          await new Promise((r) => setTimeout(r, 1));
        }
      };
      const t0 = performance.now();
      document.querySelector('[data-testid="call-button"]').click();
      const video = await until(() => {
        const v = document.querySelector('[data-testid="remote-video"]');
        return v?.srcObject?.getVideoTracks().length ? v : null;
      });
      const tConnected = performance.now() - t0;
      await until(() => video.getVideoPlaybackQuality().totalVideoFrames > 0 || null);
      return [tConnected, performance.now() - t0];
    }).catch(async (err) => {
      throw new Error(`call ${i}: ${err.message}\ncaller: ${await diagnose(caller)}`);
    });
    connected.push(c);
    firstFrame.push(f);
    await caller.getByTestId('hangup-button').click();
    await waitForPhase(caller, 'idle');
    await others();
  }
  return { connected, firstFrame };
}

const server = await startServer();
const browser = await launchBrowser();
try {
  // Browser → native peer.
  const peer = await startPeer(server.url, 'bench-native', 'Rusty', ['--accept-calls', '--quiet']);
  const alice = await joinAs(browser, server.url, 'Alice', 'bench-native');
  await waitForPeers(alice, 1);
  await peer.waitFor((e) => e.event === 'open', 'link open');
  const native = await timeCalls(alice, async () => { await sleep(300); });

  // Browser → browser, same run.
  const carol = await joinAs(browser, server.url, 'Carol', 'bench-b2b');
  const dave = await joinAs(browser, server.url, 'Dave', 'bench-b2b');
  await waitForPeers(carol, 1);
  await dave.evaluate(() => {
    new MutationObserver(() => document.querySelector('[data-testid="accept-button"]')?.click())
      .observe(document.body, { childList: true, subtree: true });
  });
  const b2b = await timeCalls(carol, () => waitForPhase(dave, 'idle'));
  await carol.context().close();
  await dave.context().close();

  // Resources of the native peer: in the room idle, then in a call.
  const pid = peer.child.pid;
  const idleCpu = await cpuPercent(pid, 5);
  const idlePss = pssMiB(pid);
  await alice.getByTestId('call-button').click();
  await waitForPhase(alice, 'active');
  await sleep(3000); // past setup
  const callCpu = await cpuPercent(pid, HOLD_S);
  const callPss = pssMiB(pid);
  await alice.getByTestId('hangup-button').click();
  await peer.stop();

  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, Chromium ${browser.version()}`);
  console.log(`browser → native peer: click → remote media attached: ${fmt(native.connected)}`);
  console.log(`browser → native peer: click → first decoded remote frame: ${fmt(native.firstFrame)}`);
  console.log(`browser → browser:     click → remote media attached: ${fmt(b2b.connected)}`);
  console.log(`browser → browser:     click → first decoded remote frame: ${fmt(b2b.firstFrame)}`);
  console.log(`native peer idle in the room: CPU ${idleCpu.toFixed(1)} % of a core, PSS ${idlePss.toFixed(1)} MiB`);
  console.log(`native peer in a 1:1 call (${HOLD_S} s, 640×480 VP8 + Opus both ways): CPU ${callCpu.toFixed(1)} % of a core, PSS ${callPss.toFixed(1)} MiB`);
} finally {
  await browser.close();
  await server.stop();
}
