// A push service for tests, as browsers' push services and Chromium play it: it hands out subscriptions
// whose endpoint is this test's own HTTP server on 127.0.0.1 (the signaling server takes it only with
// --push-allow-private) and whose keys the test made, records every push the server sends, and decrypts
// them with the subscription's private key (RFC 8291). Chromium offline has no push service to subscribe
// with, so `fakePushManager` makes the page's PushManager return that subscription; `bobsBrowser` hands a
// push to the browser's service worker (DevTools `ServiceWorker.deliverPushMessage`) and clicks its
// notification's actions. Used by push.test.mjs (browsers ringing browsers) and src-tauri/tests/app-push.mjs
// (the app ringing a browser).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { TIMEOUT } from './lib.mjs';

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/**
 * RFC 8291 (Web Push message encryption, `aes128gcm` of RFC 8188, one record): the plaintext of `body` for
 * the subscription whose key pair is `ua` (node ECDH) with `auth` secret.
 */
export function decryptPush(body, ua, auth) {
  const salt = body.subarray(0, 16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ua.getPublicKey(), asPublic]);
  const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdhSecret, auth, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const record = body.subarray(21 + idlen);
  const decipher = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  assert.equal(padded[end], 2, 'the only record is the last one (delimiter 0x02)');
  return padded.subarray(0, end).toString('utf8');
}

/** A subscription as a browser's push service would hand out: keys made here, endpoint on our service. */
export function makeSubscription(service, id) {
  const ua = crypto.createECDH('prime256v1');
  ua.generateKeys();
  const auth = crypto.randomBytes(16);
  const json = { endpoint: `${service.url}/push/${id}`, expirationTime: null, keys: { p256dh: b64url(ua.getPublicKey()), auth: b64url(auth) } };
  return { json, ua, auth, id };
}

/** The test's push service: records every POST and answers 201 Created, as push services do. */
export async function startPushService() {
  const received = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const message = { path: req.url, headers: req.headers, body: Buffer.concat(chunks) };
      received.push(message);
      res.writeHead(201).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** The next push to subscription `id` after the `after`-th one. */
    async next(id, after) {
      const deadline = Date.now() + TIMEOUT;
      for (;;) {
        const mine = received.filter((m) => m.path === `/push/${id}`);
        if (mine.length > after) return mine[after];
        if (Date.now() > deadline) throw new Error(`no push to ${id} within ${TIMEOUT} ms (got ${received.length} in all)`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 250);
        });
      }
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Makes every page of `context` subscribe with `subscription` (a `PushSubscription.toJSON()`): the UI's
 * `PushManager.subscribe` and `getSubscription` return it (kept in localStorage, as a real subscription
 * outlives the page), and the server key the page subscribed with is left in localStorage
 * (`e2e.push-server-key`) for the test to compare with the VAPID `k` of the pushes.
 */
export async function fakePushManager(context, subscription) {
  await context.addInitScript((subscription) => {
    const KEY = 'e2e.push-subscription';
    const make = (json) => ({
      endpoint: json.endpoint,
      expirationTime: null,
      options: { userVisibleOnly: true, applicationServerKey: null },
      toJSON: () => json,
      getKey: () => null,
      unsubscribe: async () => (localStorage.removeItem(KEY), true),
    });
    PushManager.prototype.subscribe = async function (options) {
      const key = new Uint8Array(options.applicationServerKey);
      localStorage.setItem('e2e.push-server-key', btoa(String.fromCharCode(...key)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, ''));
      localStorage.setItem(KEY, JSON.stringify(subscription));
      return make(subscription);
    };
    PushManager.prototype.getSubscription = async function () {
      const kept = localStorage.getItem(KEY);
      return kept ? make(JSON.parse(kept)) : null;
    };
  }, subscription);
}

/**
 * A page of Bob's browser (`context`, the web UI served at `origin`) on the app's start screen (no room, no connection), its DevTools session and
 * the service worker's registration id, through which pushes reach the worker.
 */
export async function bobsBrowser(context, origin) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const cdp = await context.newCDPSession(page);
  const registration = new Promise((resolve) => {
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const live = registrations.find((r) => !r.isDeleted && r.scopeURL.startsWith(origin));
      if (live) resolve(live.registrationId);
    });
  });
  await cdp.send('ServiceWorker.enable');
  const registrationId = await registration;
  await page.goto(`${origin}/`);
  await page.getByTestId('join-button').waitFor();
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker'));
  const read = () =>
    worker.evaluate(async () =>
      (await self.registration.getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        tag: n.tag,
        requireInteraction: n.requireInteraction,
        actions: n.actions.map((a) => a.title),
        data: n.data,
      })),
    );
  return {
    page,
    worker,
    deliver: (data) => cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data }),
    /** The notifications the worker shows now, as a person would read them. */
    notifications: read,
    /**
     * Waits for the notifications to satisfy `ok`. Headless Chromium loses a notification that is listed
     * (getNotifications) in the moment between its showNotification and its display (seen here: one in
     * about 15 when read at once, none in 50 when read 0.5 s later): so the first look is after 0.6 s and
     * the next ones 0.7 s apart.
     */
    shown: (ok, what) => until(read, ok, what, { settle: 600, every: 700 }),
    click: (tag, action) =>
      worker.evaluate(
        async ([t, a]) => {
          const [notification] = await self.registration.getNotifications({ tag: t });
          if (!notification) throw new Error(`no notification tagged ${t}`);
          self.dispatchEvent(new NotificationEvent('notificationclick', { notification, action: a }));
        },
        [tag, action],
      ),
  };
}

/** Waits until `read()` gives something `ok` accepts (first after `settle` ms, then every `every` ms). */
export async function until(read, ok, what, { settle = 0, every = 200 } = {}) {
  const deadline = Date.now() + TIMEOUT;
  await new Promise((r) => setTimeout(r, settle));
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: last seen ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
