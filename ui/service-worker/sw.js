// The service worker of the browser build: keeps the app shell (index.html and the built assets) so the
// page opens with no network and shows the history kept in IndexedDB, and rings for calls while no page is
// open (pushes from the signaling server: the `push` and `notificationclick` handlers at the end, what
// they show in notification.js, which the build puts in front of this file). Pages come from the network
// first (a new version is picked up at once) and from the cache when the network fails or stalls;
// the hashed assets come from the cache first. Nothing else (the signaling WebSocket, other URLs) is
// touched. The build fills in SHELL (service-worker/plugin.ts): its version changes with every build,
// which makes the browser install the new worker and drop the old cache.

const SHELL = self.__APP_SHELL__;
const CACHE = `p2pchat-shell-${SHELL.version}`;
/** A page request that gets no answer this long is served from the cache. */
const NETWORK_WAIT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.files))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('p2pchat-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(pageFromNetworkOrShell(request));
    return;
  }
  const path = new URL(request.url).pathname;
  if (!SHELL.files.some((f) => new URL(f, self.registration.scope).pathname === path)) return;
  event.respondWith(caches.match(request, { ignoreSearch: true }).then((hit) => hit ?? fetch(request)));
});

async function pageFromNetworkOrShell(request) {
  const shell = () => caches.match(new URL('index.html', self.registration.scope).href);
  let timer;
  const stalled = new Promise((resolve) => {
    timer = setTimeout(resolve, NETWORK_WAIT_MS);
  });
  try {
    const response = await Promise.race([fetch(request), stalled]);
    if (response) return response;
    return (await shell()) ?? fetch(request);
  } catch {
    const cached = await shell();
    if (cached) return cached;
    throw new Error('offline and no cached app shell');
  } finally {
    clearTimeout(timer);
  }
}

// A call push (docs/ui.md, Ringing people who are away): a ringing call, or a missed call once it ended or
// expired. A call that ended after it was answered here (its notification is gone and a page of the app
// is visible) shows nothing more.
self.addEventListener('push', (event) => {
  const push = parsePush(event.data?.text() ?? '');
  if (!push) return;
  event.waitUntil(showPush(push));
});

async function showPush(push) {
  if (push.kind === 'call-ended') {
    const ringing = await self.registration.getNotifications({ tag: push.call });
    if (ringing.length === 0 && (await visiblePage())) return;
  }
  const { title, options } = notificationFor(push, Date.now(), self.registration.scope);
  await self.registration.showNotification(title, options);
}

async function visiblePage() {
  const pages = await self.clients.matchAll({ type: 'window' });
  return pages.some((page) => page.visibilityState === 'visible');
}

self.addEventListener('notificationclick', (event) => {
  const data = event.notification.data;
  event.notification.close();
  if (!data) return;
  const done = onClick(data, event.action);
  try {
    event.waitUntil(done);
  } catch {
    // Only an event the browser itself dispatched can be extended; the work above runs regardless.
  }
});

/**
 * Answer: a page of the app that is open goes to the answering address (leaving what it showed), else a
 * new window opens. A missed call: a page showing that room comes to the front, else the room opens in a
 * new window (an open page may be in another call). Decline: the server tells the caller; if it cannot,
 * the call shows as missed here.
 */
async function onClick(data, action) {
  const outcome = clickOutcome(data, action, Date.now());
  if ('decline' in outcome) {
    const answer = await fetch(new URL('push/decline', self.registration.scope), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(outcome.decline),
    }).catch(() => null);
    if (!answer?.ok) {
      const { title, options } = missedCall(data);
      await self.registration.showNotification(title, options);
    }
    return;
  }
  const scope = new URL(self.registration.scope).pathname;
  const pages = (await self.clients.matchAll({ type: 'window' })).filter((page) => {
    const path = new URL(page.url).pathname;
    return path === scope || path === `${scope}index.html`;
  });
  // The page at the answering address joins the call only on this proof that the person pressed Answer.
  if (outcome.answer && data.from) {
    const cache = await caches.open(ANSWER_CACHE);
    await cache.put(answerIntentUrl(self.registration.scope, data.call), new Response(JSON.stringify({ from: data.from, at: Date.now() })));
  }
  if (outcome.answer && pages[0]) {
    const opened = await pages[0].navigate(outcome.open).catch(() => null);
    if (opened) {
      await opened.focus().catch(() => undefined); // allowed only while the person's click is handled
      return;
    }
  }
  const showing = pages.find((page) => new URL(page.url).hash === new URL(outcome.open).hash);
  if (!outcome.answer && showing) {
    await showing.focus().catch(() => undefined);
    return;
  }
  await self.clients.openWindow(outcome.open);
}
