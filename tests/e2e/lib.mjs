// Shared helpers of the browser end-to-end tests: start the real signaling server binary (and coturn),
// drive Debian's Chromium with fake camera/microphone through playwright-core, and read what a person
// would see through the UI's data-testid hooks. Everything started here is stopped by its own PID.
// A wait that fails prints what every open page shows plus its recent signaling (the UI's test-hook trace).

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
/** Where cargo builds: CARGO_TARGET_DIR, else target/ of the clone (as a plain `cargo build`). */
export const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target');
export const serverBin = process.env.SIGNALING_SERVER_BIN ?? path.join(targetDir, 'debug/signaling-server');
/** The built web UI the server serves (E2E_UI_DIR: a build of one's own, e.g. while others rebuild ui/dist). */
const uiDir = process.env.E2E_UI_DIR ?? path.join(repo, 'ui/dist');

/** Bounded waits everywhere: a stuck test fails instead of hanging CI. */
export const TIMEOUT = 20_000;
/** How long a failure report waits for a page to answer (a page whose main thread is stuck never does). */
const DIAGNOSE_TIMEOUT = 5_000;

/** Pages opened by `joinAs` and not closed yet, labelled "name in room": what a failure report describes. */
const openPages = new Map();

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  return port;
}

export async function waitForPort(port, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${port} after ${ms} ms`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the signaling server serving ui/dist; `port` lets a test restart it on the same address. */
export async function startServer({ port, args = [] } = {}) {
  port ??= await freePort();
  const child = spawn(serverBin, ['--bind', `127.0.0.1:${port}`, '--ui-dir', uiDir, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  child.stderr.on('data', (d) => process.env.E2E_VERBOSE && process.stderr.write(d));
  await waitForPort(port);
  return { port, url: `http://127.0.0.1:${port}`, child, stop: () => stopProcess(child) };
}

export async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The coturn configuration we ship (docs/operations.md, "TURN with coturn"); startTurn runs coturn from it. */
export const turnConf = path.join(repo, 'docs/deploy/coturn/turnserver.conf');

/**
 * coturn started from the shipped docs/deploy/coturn/turnserver.conf, with only what a test must change:
 * the secret (written into a copy of the file, since coturn accepts several `static-auth-secret` lines),
 * free ports, 127.0.0.1 as listening and relay address, a self-signed certificate for its TLS/DTLS
 * listener, and a pid file of its own. Everything else (REST auth, realm, the denied private, loopback,
 * link-local, CGNAT and multicast ranges, quotas) is as shipped. The relay and the test peers live on
 * 127.0.0.1 and the namespace's 10.99.0.1/10.99.0.2 (netns.sh), which the file denies, so the test
 * allows exactly those addresses (`--allowed-peer-ip` wins over `denied-peer-ip`; 127.0.0.1 also needs
 * `--allow-loopback-peers`). `allowTestPeers: false` leaves out `--allowed-peer-ip`: then only the file's
 * denials stop relaying between the test's addresses.
 */
export async function startTurn(secret, { allowTestPeers = true } = {}) {
  const port = await freePort();
  const tlsPort = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'p2pchat-turn-'));
  const conf = path.join(dir, 'turnserver.conf');
  const shipped = readFileSync(turnConf, 'utf8');
  if (!/^static-auth-secret=/m.test(shipped)) throw new Error(`${turnConf} has no static-auth-secret line`);
  writeFileSync(conf, shipped.replace(/^static-auth-secret=.*$/m, `static-auth-secret=${secret}`));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=turn.test', '-keyout', path.join(dir, 'privkey.pem'), '-out', path.join(dir, 'fullchain.pem'),
  ], { stdio: 'ignore' });
  const testPeers = allowTestPeers ? ['127.0.0.1', '10.99.0.1', '10.99.0.2'].map((ip) => `--allowed-peer-ip=${ip}`) : [];
  const child = spawn('turnserver', [
    '-c', conf, '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    `--tls-listening-port=${tlsPort}`, '--min-port=49160', '--max-port=49200',
    `--cert=${path.join(dir, 'fullchain.pem')}`, `--pkey=${path.join(dir, 'privkey.pem')}`,
    `--pidfile=${path.join(dir, 'turnserver.pid')}`, '--allow-loopback-peers', ...testPeers,
  ], { stdio: ['ignore', 'ignore', 'ignore'] });
  const stop = async () => {
    await stopProcess(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port);
  } catch (err) {
    await stop();
    throw new Error(`coturn did not start from ${turnConf} (exit ${child.exitCode}): ${err.message}`);
  }
  return { port, child, stop };
}

/**
 * A signaling server that hands out credentials for a real coturn (relay-only tests), plus a browser. The
 * server is open (no tokens), so handing out TURN credentials needs `--allow-open-turn`.
 */
export async function startRelayFixture(secret) {
  const turn = await startTurn(secret);
  let server;
  try {
    server = await startServer({ args: ['--turn-url', `turn:127.0.0.1:${turn.port}?transport=udp`, '--turn-secret', secret, '--allow-open-turn'] });
  } catch (err) {
    await turn.stop(); // a failed start must not leave coturn running (the test run would never end)
    throw err;
  }
  const browser = await launchBrowser();
  return {
    turn,
    server,
    browser,
    async stop() {
      await browser.close();
      await server.stop();
      await turn.stop();
    },
  };
}

/** `args` are added to the defaults; a repeated switch replaces the default's value (Chromium keeps the last). */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-gpu', '--autoplay-policy=no-user-gesture-required', ...args,
    ],
  });
}

/** A person: a fresh browser context that opens the app, picks a name and joins `room`. */
export async function joinAs(browser, baseUrl, name, room, { query = '', viewport = { width: 1280, height: 800 }, onPage } = {}) {
  const context = await browser.newContext({ viewport, permissions: ['camera', 'microphone'] });
  // Test hooks on before the UI loads: it then keeps its recent signaling for `diagnose` (ui/src/lib/call/trace.ts).
  await context.addInitScript(() => {
    window.__p2pchatTestHooks = true;
  });
  const page = await context.newPage();
  openPages.set(page, `${name} in ${room}`);
  page.on('close', () => openPages.delete(page));
  await onPage?.(page); // e.g. routes set up before the page loads
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(`${baseUrl}/${query}`);
  await page.getByTestId('name-input').fill(name);
  await page.getByTestId('room-input').fill(room);
  await page.getByTestId('join-button').click();
  await page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
  return page;
}

/** Settles with `promise`, or rejects after `ms` saying `what` got no answer (page.evaluate has no timeout). */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What the page shows, the state of its peer connections and its recent signaling, for failure messages. */
export async function diagnose(page) {
  const state = page.evaluate(() => ({
    shown: JSON.stringify({
      connection: document.querySelector('[data-testid="connection-state"]')?.textContent,
      call: document.querySelector('[data-testid="call-state"]')?.textContent,
      people: [...document.querySelectorAll('[data-testid="presence-item"]')].map((e) => e.textContent?.trim()),
      videos: [...document.querySelectorAll('[data-testid="remote-video"]')].map((v) => v.getVideoPlaybackQuality().totalVideoFrames),
      links: (window.__p2pchatDebug?.peerConnections?.() ?? []).map((pc) => `${pc.connectionState}/${pc.iceConnectionState}/${pc.signalingState}`),
      system: [...document.querySelectorAll('[data-testid="system-message"]')].map((e) => e.textContent),
    }),
    trace: window.__p2pchatDebug?.signalTrace?.() ?? [],
  }));
  try {
    const { shown, trace } = await within(state, DIAGNOSE_TIMEOUT, 'the page (main thread busy?)');
    return `${shown}\n  signal trace (last ${trace.length}, UTC):\n${trace.map((line) => `    ${line}`).join('\n')}`;
  } catch (err) {
    return `unavailable: ${err.message}`;
  }
}

/** Every open page's `diagnose`, labelled with the person and room. */
export async function describePages() {
  const reports = [];
  for (const [page, name] of openPages) reports.push(`--- ${name}: ${await diagnose(page)}`);
  return reports.join('\n');
}

/** An error for `what` with every open page described; `reportOnFailure` does not describe them again. */
async function failure(what, cause) {
  const err = new Error(`${what}\n${await describePages()}`, { cause });
  err.pagesDescribed = true;
  return err;
}

/**
 * Wraps a test body: when it fails (any wait, assertion or timeout), prints what every open page shows, with
 * its signal trace, unless the failing wait already did.
 */
export function reportOnFailure(body) {
  return async (...args) => {
    try {
      await body(...args);
    } catch (err) {
      if (!err?.pagesDescribed) console.error(`test failed: ${err?.message}\n${await describePages()}`);
      throw err;
    }
  };
}

/** page.evaluate bounded by TIMEOUT: a promise the page never settles fails the test instead of hanging it. */
export async function evaluateWithin(page, fn, arg, what) {
  try {
    return await within(page.evaluate(fn, arg), TIMEOUT, what);
  } catch (err) {
    throw await failure(`${what} failed: ${err.message}`, err);
  }
}

/** page.waitForFunction that says what the pages looked like when it timed out. */
async function waitUntil(page, fn, arg, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout: TIMEOUT });
  } catch (err) {
    throw await failure(`${what} did not happen within ${TIMEOUT} ms (waiting on ${openPages.get(page) ?? 'a page'})`, err);
  }
}

/** Waits until `page` lists `count` other people in the room, linked peer to peer. */
export async function waitForPeers(page, count) {
  await waitUntil(page, (n) => document.querySelectorAll('[data-testid="presence-item"] .dot.connected').length === n, count, `${count} linked peers`);
}

export async function waitForPhase(page, phase) {
  await waitUntil(page, (p) => document.querySelector('[data-testid="call-state"]')?.getAttribute('data-phase') === p, phase, `call phase ${phase}`);
}

export async function sendChat(page, text) {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
}

/**
 * Waits for a chat message with `text` (and, for own messages, delivery status `status`; "delivered" is
 * also met by "read", which the other side sends once it has seen the message).
 */
export async function waitForMessage(page, text, status) {
  const statuses = status === 'delivered' ? ['delivered', 'read'] : status ? [status] : [];
  const sel = `[data-testid="chat-message"]${statuses.length ? `:is(${statuses.map((s) => `[data-status="${s}"]`).join(',')})` : ''}`;
  try {
    await page.locator(sel).filter({ hasText: text }).first().waitFor({ timeout: TIMEOUT });
  } catch (err) {
    throw await failure(`message "${text}"${status ? ` (${status})` : ''} not shown within ${TIMEOUT} ms (waiting on ${openPages.get(page) ?? 'a page'})`, err);
  }
}

/** Video frames decoded from each remote video element (what the person actually sees). */
/** Candidate types of the selected pair of every peer connection on the page. */
export async function selectedPairTypes(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const pc of window.__p2pchatDebug.peerConnections()) {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = stats.get(s.selectedCandidatePairId);
          out.push([stats.get(pair.localCandidateId)?.candidateType, stats.get(pair.remoteCandidateId)?.candidateType]);
        }
      });
    }
    return out;
  });
}

export async function decodedFrames(page) {
  return page.$$eval('[data-testid="remote-video"]', (videos) =>
    videos.map((v) => (v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0)),
  );
}

/** Waits until `page` shows `count` remote videos, each with decoded frames. */
export async function waitForRemoteVideos(page, count) {
  await waitUntil(
    page,
    (n) => {
      const videos = [...document.querySelectorAll('[data-testid="remote-video"]')];
      return videos.length === n && videos.every((v) => v.getVideoPlaybackQuality().totalVideoFrames > 0);
    },
    count,
    `${count} remote videos with decoded frames`,
  );
}

export async function callState(page) {
  return page.getByTestId('call-state').getAttribute('data-phase');
}

/**
 * Times `calls` calls placed from the page `caller` to whoever answers at once, in the page, from the click
 * on "Call" to (a) the callee's media attached and (b) its first decoded video frame; hangs up after each
 * and awaits `afterHangup()`. For the call-setup benchmarks.
 */
export async function timeCallSetup(caller, calls, afterHangup) {
  const connected = [];
  const firstFrame = [];
  for (let i = 0; i < calls; i++) {
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
    if (process.env.BENCH_VERBOSE) console.error(`call ${i}: ${c.toFixed(0)} / ${f.toFixed(0)} ms`);
    connected.push(c);
    firstFrame.push(f);
    await caller.getByTestId('hangup-button').click();
    await waitForPhase(caller, 'idle');
    await afterHangup();
  }
  return { connected, firstFrame };
}
