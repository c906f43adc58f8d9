// Native call benchmark: a Chromium page calls the headless native peer (webrtc-rs + GStreamer, test
// sources at 640×480/30 fps VP8 + Opus) through the real signaling server and the full UI, CALLS times,
// timed in the page from the click on "Call" to (a) the native side's media attached and (b) its first
// decoded video frame; the same run times browser ↔ browser calls for comparison. Then one 20 s call:
// the native peer's CPU (utime+stime over wall time, of one core) and memory (PSS) while sending and
// receiving, against the same process idle in the room before the call; and the whole Chromium's CPU and
// PSS with its two pages in the same kind of call against idle (each end's CPU ≈ half the difference).
// Run inside the test network namespace:  tests/e2e/netns.sh node tests/e2e/bench-native-call.mjs
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { joinAs, launchBrowser, sleep, startServer, timeCallSetup, waitForPeers, waitForPhase } from './lib.mjs';
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
/** `pid` and its descendants (here: the server, the native peer and Chromium's processes). */
function processTree(pid) {
  const children = (p) => {
    try {
      return readdirSync(`/proc/${p}/task`).flatMap((t) => readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      return []; // exited meanwhile
    }
  };
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}
const sum = (pids, f) => pids.reduce((total, p) => { try { return total + f(p); } catch { return total; } }, 0);
/** CPU % of one core used by the processes `pids()` over the next `seconds` (those alive throughout). */
async function cpuPercent(pids, seconds) {
  const before = new Map(pids().map((p) => [p, sum([p], cpuSeconds)]));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const used = pids().filter((p) => before.has(p)).reduce((total, p) => total + sum([p], cpuSeconds) - before.get(p), 0);
  return (used / ((performance.now() - t0) / 1000)) * 100;
}

const server = await startServer();
const browser = await launchBrowser();
try {
  // Browser → native peer.
  const peer = await startPeer(server.url, 'bench-native', 'Rusty', ['--accept-calls', '--quiet']);
  const alice = await joinAs(browser, server.url, 'Alice', 'bench-native');
  await waitForPeers(alice, 1);
  await peer.waitFor((e) => e.event === 'open', 'link open');
  const native = await timeCallSetup(alice, CALLS, () => sleep(300));

  // Browser → browser, same run.
  const carol = await joinAs(browser, server.url, 'Carol', 'bench-b2b');
  const dave = await joinAs(browser, server.url, 'Dave', 'bench-b2b');
  await waitForPeers(carol, 1);
  await dave.evaluate(() => {
    new MutationObserver(() => document.querySelector('[data-testid="accept-button"]')?.click())
      .observe(document.body, { childList: true, subtree: true });
  });
  const b2b = await timeCallSetup(carol, CALLS, () => waitForPhase(dave, 'idle'));

  // The same 1:1 call between the two pages: the whole browser's CPU and PSS (both pages' renderers,
  // the GPU and network processes) in the call against the same pages idle in their room. Alice's page
  // (in another room, not in a call) is part of both figures.
  const isChromium = (p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('chromium'); } catch { return false; } };
  const chromium = () => processTree(process.pid).filter(isChromium);
  const browserIdleCpu = await cpuPercent(chromium, 5);
  const browserIdlePss = sum(chromium(), pssMiB);
  await carol.getByTestId('call-button').click();
  await waitForPhase(carol, 'active');
  await sleep(3000);
  const browserCallCpu = await cpuPercent(chromium, HOLD_S);
  const browserCallPss = sum(chromium(), pssMiB);
  await carol.getByTestId('hangup-button').click();
  await carol.context().close();
  await dave.context().close();

  // Resources of the native peer: in the room idle, then in a call.
  const pid = peer.child.pid;
  const idleCpu = await cpuPercent(() => [pid], 5);
  const idlePss = pssMiB(pid);
  await alice.getByTestId('call-button').click();
  await waitForPhase(alice, 'active');
  await sleep(3000); // past setup
  const callCpu = await cpuPercent(() => [pid], HOLD_S);
  const callPss = pssMiB(pid);
  await alice.getByTestId('hangup-button').click();
  await peer.stop();

  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${os.release()}, Chromium ${browser.version()}`);
  console.log(`browser → native peer: click → remote media attached: ${fmt(native.connected)}`);
  console.log(`browser → native peer: click → first decoded remote frame: ${fmt(native.firstFrame)}`);
  console.log(`browser → browser:     click → remote media attached: ${fmt(b2b.connected)}`);
  console.log(`browser → browser:     click → first decoded remote frame: ${fmt(b2b.firstFrame)}`);
  console.log(`native peer idle in the room: CPU ${idleCpu.toFixed(1)} % of a core, PSS ${idlePss.toFixed(1)} MiB`);
  console.log(`Chromium, two pages idle in a room: CPU ${browserIdleCpu.toFixed(1)} % of a core, PSS ${browserIdlePss.toFixed(1)} MiB (all its processes)`);
  console.log(`Chromium, the two pages in a 1:1 call (${HOLD_S} s, both ends): CPU ${browserCallCpu.toFixed(1)} % of a core, PSS ${browserCallPss.toFixed(1)} MiB; per end ≈ half the CPU difference: ${((browserCallCpu - browserIdleCpu) / 2).toFixed(1)} %`);
  console.log(`native peer in a 1:1 call (${HOLD_S} s, 640×480 VP8 + Opus both ways): CPU ${callCpu.toFixed(1)} % of a core, PSS ${callPss.toFixed(1)} MiB`);
} finally {
  await browser.close();
  await server.stop();
}
