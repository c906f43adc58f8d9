// The service worker of the browser build: keeps the app shell (index.html and the built assets) so the
// page opens with no network and shows the history kept in IndexedDB. Pages come from the network
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
