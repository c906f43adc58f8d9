// "Ring me here when I'm away" in the app on a phone: the push-call plugin's native side
// (src-tauri/plugins/push-call) subscribes this phone — on Android a UnifiedPush (Web Push) endpoint, or
// an FCM token for the server's push gateway in store builds; on iOS a PushKit (APNs VoIP) token for the
// gateway — and rings with a call notification or CallKit while the app is closed. The device id, secret
// and wanted rooms are kept as a browser keeps them (IndexedDB of the app's webview, push/browser.ts).
// The native commands are called directly (`plugin:push-call|…`): they are Kotlin and Swift, outside the
// Rust IPC contract (ipc.gen.ts), so their answers are checked here.

import { addPluginListener, invoke } from '@tauri-apps/api/core';
import type { PushSubscription as WirePushSubscription } from '../protocol.gen';
import type { PushClient, Subscribed } from './client';
import { forgetWebPush, webPush } from './browser';

/** The call the person answered on the phone's call screen, for the window to join. */
export interface MobileAnswer {
  room: string;
  call: string;
  /** The caller's peer id: where the `join-call` goes. */
  from: string;
}

/**
 * Where the server whose socket is `socketUrl` (`ws(s)://host/…/ws`) takes declines: `http(s)://host/…/push/decline`,
 * beside the socket as a browser finds it beside its page. Null for anything else.
 */
export function declineUrl(socketUrl: string): string | null {
  try {
    const url = new URL('push/decline', socketUrl);
    if (url.protocol === 'ws:') url.protocol = 'http:';
    else if (url.protocol === 'wss:') url.protocol = 'https:';
    else return null;
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    return null;
  }
}

function text(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/** A subscription the server accepts the shape of (it checks the rest: endpoint, key lengths). */
export function wireSubscription(value: unknown): WirePushSubscription | null {
  if (typeof value !== 'object' || value === null) return null;
  const s = value as Record<string, unknown>;
  if (s.kind === 'webpush') {
    const keys = s.keys as Record<string, unknown> | undefined;
    if (!text(s.endpoint) || !text(keys?.p256dh) || !text(keys?.auth)) return null;
    return { kind: 'webpush', endpoint: s.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } };
  }
  if (s.kind === 'gateway' && (s.platform === 'fcm' || s.platform === 'apns' || s.platform === 'apns-voip') && text(s.token)) {
    return { kind: 'gateway', platform: s.platform, token: s.token };
  }
  return null;
}

/** What a native command's rejection says (the plugins reject with a sentence for the person). */
function reason(err: unknown): string {
  if (typeof err === 'string' && err) return err;
  if (typeof err === 'object' && err !== null && text((err as { message?: unknown }).message)) return (err as { message: string }).message;
  return 'This phone could not subscribe to call pushes.';
}

/**
 * The phone's PushClient for `room` on the server whose socket address `socketUrl()` gives (the room's
 * server: declines go there).
 */
export function mobilePush(room: string, socketUrl: () => Promise<string | undefined>): PushClient {
  return {
    device: () => webPush.device(),
    wanted: (name) => webPush.wanted(name),
    setWanted: (name, on) => webPush.setWanted(name, on),
    async subscribe(vapidKey, ask): Promise<Subscribed> {
      const server = await socketUrl();
      const decline = server ? declineUrl(server) : null;
      if (!decline) return { refused: 'The app has no server address to be rung from.' };
      try {
        const answer = await invoke<{ subscription?: unknown } | null>('plugin:push-call|subscribe', { vapidKey, declineUrl: decline, room, ask });
        const subscription = wireSubscription(answer?.subscription);
        return subscription ? { subscription } : { refused: 'This phone gave no usable push subscription.' };
      } catch (err) {
        return { refused: reason(err) };
      }
    },
  };
}

/** Calls `answered` whenever the person answers on the phone's call screen while the app runs (nothing elsewhere). */
export function onMobileAnswer(answered: () => void): void {
  addPluginListener('push-call', 'answer', () => answered()).catch(() => undefined);
}

/** The call answered on the phone's call screen since the last look, once; null when none (or not a phone). */
export async function takeMobileAnswer(): Promise<MobileAnswer | null> {
  try {
    const answer = await invoke<Partial<Record<keyof MobileAnswer, unknown>> | null>('plugin:push-call|take_answer');
    if (!answer || !text(answer.room) || !text(answer.call) || !text(answer.from)) return null;
    return { room: answer.room, call: answer.call, from: answer.from };
  } catch {
    return null;
  }
}

/**
 * Part of "forget this device" in the app: the phone's push registrations are dropped with their push
 * service (UnifiedPush unregistered for every server, the FCM token deleted; nothing on the desktop, which
 * has none) and the device id and secret are deleted, so the next "ring me here" is a new device. The
 * servers learn it when they push next (the push service answers 404/410); the page opens no sockets of its
 * own to tell them (the app's CSP).
 */
export async function forgetMobilePush(): Promise<void> {
  await invoke('plugin:push-call|unsubscribe').catch(() => undefined);
  await forgetWebPush(null);
}
