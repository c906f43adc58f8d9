// A minimal W3C WebDriver client for the app's window (WebKitWebDriver drives the WebKitGTK webview),
// shared by the app's tests (app-*.mjs), with the small helpers they need.
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A test's report: `pass(what)` and `fail(what)` print a PASS / FAIL line, and `exit()` ends the process
 * with 1 once any check failed (run-app-tests.sh fails the step on it), 0 otherwise.
 */
export function checks() {
  let failures = 0;
  return {
    pass: (what) => console.log(`PASS: ${what}`),
    fail: (what) => {
      console.log(`FAIL: ${what}`);
      failures += 1;
    },
    exit: () => process.exit(failures ? 1 : 0),
  };
}

/** The phase of the window's call (idle, incoming, active, ...; data-phase), or null without a call area. */
export const callPhaseScript = 'return document.querySelector(\'[data-testid="call-state"]\')?.getAttribute("data-phase") ?? null;';

/** A TCP port nobody listens on right now (for WebKitWebDriver). */
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export class Driver {
  constructor(base) {
    this.base = base;
  }
  async call(method, path, body) {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${json.value?.error} ${json.value?.message}`);
    return json.value;
  }
  /** Starts a session with the app `binary`, once the driver answers (it takes a moment to listen). */
  async start(binary) {
    for (let i = 0; ; i++) {
      try {
        await this.call('GET', '/status');
        break;
      } catch (err) {
        if (i > 50) throw err;
        await sleep(100);
      }
    }
    const value = await this.call('POST', '/session', {
      // APP_ARGS (JSON list): command-line arguments for the app, e.g. a deep link.
      capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': { binary, args: JSON.parse(process.env.APP_ARGS ?? '[]') } } },
    });
    this.session = `/session/${value.sessionId}`;
  }
  s(path) {
    return `${this.session}${path}`;
  }
  async all(css) {
    return this.call('POST', this.s('/elements'), { using: 'css selector', value: css });
  }
  /** Waits until `css` matches at least `count` elements; returns them (empty on timeout). */
  async waitFor(css, { count = 1, timeoutMs = 15000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await this.all(css).catch(() => []);
      if (found.length >= count || Date.now() > deadline) return found.length >= count ? found : [];
      await sleep(200);
    }
  }
  id(element) {
    return Object.values(element)[0];
  }
  async text(element) {
    return this.call('GET', this.s(`/element/${this.id(element)}/text`));
  }
  async attr(element, name) {
    return this.call('GET', this.s(`/element/${this.id(element)}/attribute/${name}`));
  }
  async click(element) {
    await this.call('POST', this.s(`/element/${this.id(element)}/click`), {});
  }
  async type(element, text) {
    await this.call('POST', this.s(`/element/${this.id(element)}/value`), { text });
  }
  async screenshot(file) {
    writeFileSync(file, Buffer.from(await this.call('GET', this.s('/screenshot')), 'base64'));
  }
  /** Waits until one of the elements matching `css` has text satisfying `predicate`; returns that text. */
  async waitAnyText(css, predicate, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    let seen = [];
    while (Date.now() < deadline) {
      seen = [];
      for (const el of await this.all(css).catch(() => [])) {
        const text = await this.text(el).catch(() => '');
        if (predicate(text)) return text;
        seen.push(text);
      }
      await sleep(250);
    }
    return `(timed out; seen: ${JSON.stringify(seen)})`;
  }
  async waitText(css, predicate, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const [el] = await this.all(css).catch(() => []);
      if (el) {
        last = await this.text(el).catch(() => '');
        if (predicate(last)) return last;
      }
      await sleep(200);
    }
    return `(timed out; last: ${JSON.stringify(last)})`;
  }
  async run(script, ...args) {
    return this.call('POST', this.s('/execute/sync'), { script, args });
  }
  async runAsync(script, ...args) {
    return this.call('POST', this.s('/execute/async'), { script, args });
  }
  /** Polls `script` (sync) until `pred` holds on its result; returns the last result. */
  async until(script, pred, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      last = await this.run(script).catch((err) => `error ${err.message}`);
      if (pred(last)) return last;
      await sleep(300);
    }
    return last;
  }
}

/**
 * Runs `body(driver)` against the app (`APP_BIN`) under WebKitWebDriver, whose output and the app's go to
 * the file `log` (webrtc-rs logs a lot), within `timeoutMs`; a throw or the timeout is reported through
 * `fail` with `label`. Returns once the session and the driver are gone.
 */
export async function withApp(label, log, timeoutMs, fail, body) {
  const port = await freePort();
  const out = openSync(log, 'w');
  const driver = spawn('WebKitWebDriver', [`--port=${port}`], {
    env: { ...process.env, TAURI_WEBVIEW_AUTOMATION: 'true' },
    stdio: ['ignore', out, out],
  });
  const d = new Driver(`http://127.0.0.1:${port}`);
  const watchdog = setTimeout(() => {
    fail(`${label}: timed out after ${timeoutMs / 1000} s`);
    driver.kill();
    process.exit(1);
  }, timeoutMs);
  try {
    await d.start(process.env.APP_BIN);
    await body(d);
  } catch (err) {
    fail(`${label}: ${err.message}`);
  } finally {
    // The app the driver started: it must be gone before the next start, which would otherwise hand over to
    // it (one app per session, tauri-plugin-single-instance) and exit.
    const apps = childrenOf(driver.pid);
    await d.call('DELETE', d.session ?? '/session/none').catch(() => undefined);
    driver.kill();
    await endAll(apps);
    clearTimeout(watchdog);
  }
}

/** The child processes of `pid` (Linux /proc). */
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether process `pid` still runs. */
export const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits up to 10 s for `pids` to exit, then ends those left (SIGTERM, then SIGKILL after 5 s). */
async function endAll(pids) {
  for (const [signal, ms] of [[null, 10000], ['SIGTERM', 5000], ['SIGKILL', 2000]]) {
    const left = pids.filter(alive);
    if (!left.length) return;
    if (signal) for (const pid of left) process.kill(pid, signal);
    const deadline = Date.now() + ms;
    while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  }
}

const remoteTileScript = `
  const [peer, done] = arguments;
  const img = document.querySelector('img[data-testid="remote-video"]' + (peer === null ? '' : '[data-peer="' + peer + '"]'));
  if (!img || !img.complete || !img.naturalWidth) return done(null);
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 48;
  const g = canvas.getContext('2d');
  g.drawImage(img, 0, 0, 64, 48);
  const px = g.getImageData(0, 0, 64, 48).data;
  let sum = 0, sumSq = 0, r = 0, gr = 0, b = 0;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    sum += y; sumSq += y * y; r += px[i]; gr += px[i + 1]; b += px[i + 2];
  }
  const n = px.length / 4, mean = sum / n;
  done({ frames: Number(img.dataset.frames), width: img.naturalWidth, height: img.naturalHeight, mean,
    spread: Math.sqrt(Math.max(0, sumSq / n - mean * mean)), rgb: [r / n, gr / n, b / n].map(Math.round) });`;

/**
 * The window's picture in a remote tile (native media draws JPEG frames into <img data-testid="remote-video">),
 * `peer`'s or else the first one: frames shown so far, size, mean luma and its spread, mean RGB; null while
 * it shows no picture.
 */
export const remoteTile = (d, peer = null) => d.runAsync(remoteTileScript, peer);

/** The name field is prefilled from the app's settings or connection; a person types it otherwise. */
export async function ensureName(d) {
  const [input] = await d.waitFor('[data-testid="name-input"]', { timeoutMs: 30000 });
  if (input && !(await d.call('GET', d.s(`/element/${d.id(input)}/property/value`)))) await d.type(input, 'Tester');
}

/**
 * Opens `room` from the app's start screen (typing a name first if none is set), with the web UI's test
 * trace on. False when the room is not listed.
 */
export async function openRoom(d, room) {
  await ensureName(d);
  const entry = await d.waitFor(`[data-testid="conversation"][data-room="${room}"]`, { timeoutMs: 30000 });
  if (!entry.length) return false;
  await d.run('window.__p2pchatTestHooks = true;');
  await d.click(entry[0]);
  return true;
}

/**
 * With the app's window in `room`: joins it from a Chromium page named "Browser" (the server of
 * P2PCHAT_SERVER_URL), waits until the window shows the page linked over its native link, and runs
 * `body(page)`; the browser is closed afterwards. A link that never comes is reported through `fail`.
 */
export async function withLinkedPage(d, room, pass, fail, body) {
  const { launchBrowser, joinAs } = await import('../../tests/e2e/lib.mjs');
  const origin = process.env.P2PCHAT_SERVER_URL.replace(/^ws/, 'http').replace(/\/ws$/, '');
  const browser = await launchBrowser();
  try {
    const page = await joinAs(browser, origin, 'Browser', room);
    const linked = await d.until('return document.querySelectorAll(\'[data-testid="presence-item"] .dot.connected\').length;', (n) => n >= 1, 45000);
    if (linked < 1) return fail(`the app never linked to the page (${linked})`);
    pass('the app is linked to the Chromium page over its native link');
    await body(page);
  } finally {
    await browser.close();
  }
}
