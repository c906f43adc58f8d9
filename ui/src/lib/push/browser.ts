// Web Push in a browser tab: the notification permission, the PushManager subscription of the page's
// service worker (ui/service-worker/sw.js shows the calls) under the server's VAPID key, and this device's
// id and secret with the rooms it wants to be rung for, kept in IndexedDB (`p2pchat-push`). "Forget this
// device" unregisters the device on the server, drops the subscription and deletes the database.

import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { PROTOCOL_VERSION, type ClientFrame } from '../protocol.gen';
import type { PushClient, PushDevice, Subscribed } from './client';

export const PUSH_DB = 'p2pchat-push';
const DEVICE_KEY = 'device';
/** How long the page waits for its service worker before saying push does not work here. */
const WORKER_WAIT_MS = 10_000;
/** How long "forget this device" waits for the server to confirm the device is unregistered. */
const FORGET_WAIT_MS = 3_000;

interface Schema extends DBSchema {
  device: { key: string; value: PushDevice };
  rooms: { key: string; value: { room: string; since: number } };
}

let db: Promise<IDBPDatabase<Schema> | null> | null = null;

function open(): Promise<IDBPDatabase<Schema> | null> {
  db ??= (async () => {
    try {
      if (typeof indexedDB === 'undefined') return null;
      return await openDB<Schema>(PUSH_DB, 1, {
        upgrade(d) {
          d.createObjectStore('device');
          d.createObjectStore('rooms', { keyPath: 'room' });
        },
        blocking(_current, _next, event) {
          (event.target as IDBDatabase).close();
          db = null;
        },
      });
    } catch {
      return null;
    }
  })();
  return db;
}

/** Random bytes as base64url (no padding). */
export function randomToken(bytes: number): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function toBase64Url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const plain = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  const out = new Uint8Array(plain.length);
  for (let i = 0; i < plain.length; i++) out[i] = plain.charCodeAt(i);
  return out;
}

/** Whether this page can be rung by Web Push at all (secure context, service worker, Push API, notifications). */
export function webPushSupported(): boolean {
  return (
    typeof window !== 'undefined' &&
    window.isSecureContext &&
    'serviceWorker' in navigator &&
    typeof PushManager !== 'undefined' &&
    typeof Notification !== 'undefined'
  );
}

/** The service worker's registration, or null when there is none within WORKER_WAIT_MS. */
async function worker(): Promise<ServiceWorkerRegistration | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), WORKER_WAIT_MS)));
  try {
    return await Promise.race([navigator.serviceWorker.ready, late]);
  } finally {
    clearTimeout(timer);
  }
}

function sameKey(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a) return true; // not told: keep the subscription
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/** This device's push id and secret if it has registered for pushes (none made here). */
export async function keptPushDevice(): Promise<PushDevice | null> {
  return (await (await open())?.get('device', DEVICE_KEY)) ?? null;
}

export const webPush: PushClient = {
  async device() {
    const store = await open();
    const kept = await keptPushDevice();
    if (kept) return kept;
    // 16 random bytes as id (22 characters), 32 as secret (43): the server keeps only the secret's hash.
    const made = { id: randomToken(16), secret: randomToken(32) };
    await store?.put('device', made, DEVICE_KEY);
    return made;
  },

  async wanted(room) {
    return !!(await (await open())?.get('rooms', room));
  },

  async setWanted(room, on) {
    const store = await open();
    if (on) await store?.put('rooms', { room, since: Date.now() });
    else await store?.delete('rooms', room);
  },

  async subscribe(vapidKey, ask): Promise<Subscribed> {
    // First, while the person's click still counts: browsers ask for permission only then.
    let permission = Notification.permission;
    if (permission === 'default' && ask) permission = await Notification.requestPermission();
    if (permission === 'denied') return { refused: 'Notifications are blocked for this site: allow them in the browser’s site settings to be rung here.' };
    if (permission !== 'granted') return { refused: 'Allow notifications to be rung here when you are away.' };
    const registration = await worker();
    if (!registration) return { refused: 'This browser has no service worker for this page (private window?): it cannot ring here.' };
    try {
      const key = fromBase64Url(vapidKey);
      let subscription = await registration.pushManager.getSubscription();
      // A subscription made for another server key (the server's keys changed) cannot be pushed to.
      if (subscription && !sameKey(subscription.options?.applicationServerKey, key)) {
        await subscription.unsubscribe();
        subscription = null;
      }
      subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      const json = subscription.toJSON();
      const p256dh = json.keys?.p256dh;
      const auth = json.keys?.auth;
      if (!json.endpoint || !p256dh || !auth) return { refused: 'This browser gave no usable push subscription.' };
      return { subscription: { kind: 'webpush', endpoint: json.endpoint, keys: { p256dh, auth } } };
    } catch (err) {
      return { refused: `This browser could not subscribe to pushes (${err instanceof Error ? err.message : String(err)}).` };
    }
  },
};

/**
 * Part of "forget this device": tells the server to drop every registration of this device (through a
 * short session of its own; best effort), drops the push subscription, and deletes the id and secret.
 */
export async function forgetWebPush(serverSocket: string | null = defaultSocket(), token?: string): Promise<void> {
  const store = await open();
  const device = await store?.get('device', DEVICE_KEY);
  if (device && serverSocket) await unregisterEverywhere(serverSocket, device, token).catch(() => undefined);
  if (typeof navigator !== 'undefined' && 'serviceWorker' in navigator) {
    const registration = await navigator.serviceWorker.getRegistration().catch(() => undefined);
    await (await registration?.pushManager?.getSubscription().catch(() => null))?.unsubscribe().catch(() => false);
  }
  (await db)?.close();
  db = null;
  await deleteDB(PUSH_DB);
}

function defaultSocket(): string | null {
  if (typeof location === 'undefined' || !/^https?:$/.test(location.protocol)) return null;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

/** hello, then `push-unregister` for every room; done at its answer or after FORGET_WAIT_MS. */
function unregisterEverywhere(url: string, device: PushDevice, token?: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const done = () => {
      clearTimeout(timer);
      socket.close(1000);
      resolve();
    };
    const timer = setTimeout(done, FORGET_WAIT_MS);
    const send = (frame: ClientFrame) => socket.send(JSON.stringify(frame));
    socket.onopen = () => send({ type: 'hello', v: PROTOCOL_VERSION, name: 'forget', ...(token ? { token } : {}) });
    socket.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as { type?: string };
      if (frame.type === 'welcome') send({ type: 'push-unregister', device: device.id, secret: device.secret });
      else if (frame.type === 'push-unregistered' || frame.type === 'error') done();
    };
    socket.onerror = done;
  });
}
