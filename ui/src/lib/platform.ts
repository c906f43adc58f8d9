// Where this page runs: a browser tab (the page talks to the server that served it, keeps its chat in
// IndexedDB) or the Tauri app's window (its Rust side owns the connection, the history on disk, the tray and
// notifications). The screens ask this module, never the IPC or the transports, so they look the same in
// both; a room's links are its engine's business (room.svelte.ts).

import { appHistory, appHistoryLock, closeToTray, roomMuted, setCloseToTray, setRoomMuted, type HistoryLock, type HistoryStore } from './history';
import { BrowserHistory } from './browser-history/store';
import { deviceCertificate } from './identity';
import { parsePasted, type Invite } from './invite';
import { call, on, onCommandFailure, send } from './ipc';
import type { Settings } from './ipc.gen';
import { Room, type RoomOptions } from './room.svelte';
import type { PushClient } from './push/client';
import { webPush, webPushSupported } from './push/browser';
import { mobilePush } from './push/mobile';
import { BrowserTransport } from './transport/browser';
import { TauriTransport, inTauri, savedSettings } from './transport/tauri';

/** A switch kept by the app (none in a browser). */
export interface AppSwitch {
  get(): Promise<boolean>;
  set(on: boolean): Promise<void>;
}

export interface Platform {
  /** The Tauri app: the person picks the server, the app keeps tokens per server and its connection
   * outlives the window; otherwise a browser tab. */
  readonly app: boolean;
  /** The chat history kept on this device (null where a browser has no IndexedDB: chat lives in memory). */
  history(): Promise<HistoryStore | null>;
  /** What the app's encrypted history asks before it opens (a passphrase), or null: nothing to ask. */
  historyLock(): Promise<HistoryLock | null>;
  /** The server address and name saved in the app (empty in a browser). */
  savedSettings(): Promise<Partial<Settings>>;
  /** The invite the app was opened with (`p2pchat://join#…`), if any; taken once. */
  deepLinkInvite(): Promise<Invite | null>;
  /** Hears that an invite link started the app again while it runs (it stays one app): take it with deepLinkInvite. */
  onDeepLink(listener: () => void): void;
  /** Hears app commands nobody waited for that failed (joining a room, relaying a signal...). */
  onFailure(listener: (sentence: string) => void): void;
  /** Whether a room's notifications are muted (app only). */
  roomMute(room: string): AppSwitch | null;
  /** Keep running in the tray when the window closes, so calls still ring (app only). */
  readonly tray: AppSwitch | null;
  /** Start (in the tray) when the person logs in, so calls ring from then on (desktop app only). */
  readonly startAtLogin: AppSwitch | null;
  /** How this device is rung by push in a room while away ("Ring me here when I'm away"); null: not here. */
  readonly push: PushClient | null;
  /** Opens `room` where calls work: the default browser (`<server>/#/room/<room>`), or a new tab. */
  openInBrowser(room: string): void;
  /** Makes room `room` with the engine this window can run: its own WebRTC, or the app's native links. */
  openRoom(room: string, name: string, serverUrl: string | undefined, options: Pick<RoomOptions, 'relayOnly' | 'history' | 'tokens'>): Promise<Room>;
}

const browser: Platform = {
  app: false,
  history: () => BrowserHistory.open(),
  historyLock: async () => null,
  savedSettings: async () => ({}),
  deepLinkInvite: async () => null,
  onDeepLink: () => undefined,
  onFailure: () => undefined,
  roomMute: () => null,
  tray: null,
  startAtLogin: null,
  // Web Push needs a secure context (HTTPS, or localhost), a service worker and notifications.
  push: webPushSupported() ? webPush : null,
  openInBrowser: () => void window.open(location.href, '_blank'),
  openRoom: async (room, name, _serverUrl, options) =>
    new Room(room, name, new BrowserTransport(), { ...options, certificate: await deviceCertificate(), push: browser.push ?? undefined }),
};

/** Android or iOS (the app's webview there): no tray, no login items. */
const phone = typeof navigator !== 'undefined' && /Android|iPhone|iPad/.test(navigator.userAgent);

const app: Platform = {
  app: true,
  history: async () => appHistory,
  historyLock: appHistoryLock,
  savedSettings,
  async deepLinkInvite() {
    try {
      const link = await call('take_deep_link');
      return link ? parsePasted(link) : null;
    } catch {
      return null;
    }
  },
  onDeepLink: (listener) => void on('app://deep-link', listener),
  onFailure: (listener) => onCommandFailure((f) => listener(`Could not ${f.command.replaceAll('_', ' ')}: ${f.error.message}`)),
  roomMute: (room) => ({
    get: () => roomMuted(room),
    set: async (on) => void (await setRoomMuted(room, on)),
  }),
  // Phones have no tray or login items (they are rung by push); the desktop app has both.
  tray: phone ? null : { get: closeToTray, set: setCloseToTray },
  startAtLogin: phone
    ? null
    : {
        get: async () => (await call('get_settings')).start_at_login,
        set: async (on) => {
          const settings = await call('get_settings');
          await call('set_settings', { settings: { ...settings, start_at_login: on } });
        },
      },
  push: null,
  openInBrowser: (room) => send('open_room_in_browser', { room }),
  async openRoom(room, name, serverUrl, options) {
    // The webview may lack WebRTC (Debian's WebKitGTK): then the app's native links carry the room.
    const fallback = typeof RTCPeerConnection === 'undefined' || (await fallbackForced());
    // This device's identity for every peer connection of the page: the safety codes stay the same across visits.
    const certificate = fallback ? undefined : await deviceCertificate();
    // The app's Rust side owns the signaling socket (to `serverUrl`, else the one in its settings); it sends
    // the push frames too. A phone is rung by its push-call plugin; the desktop app rings others but is
    // not rung by push itself (its tray keeps it connected with the window closed).
    const push = phone ? mobilePush(room, async () => serverUrl ?? (await savedSettings()).server_url ?? undefined) : undefined;
    return new Room(room, name, new TauriTransport(serverUrl), { ...options, fallback, certificate, push });
  },
};

/** Whether the app routes the room through its native links although the webview has WebRTC (forced). */
async function fallbackForced(): Promise<boolean> {
  try {
    return (await call('fallback_status')).forced;
  } catch {
    return false;
  }
}

export const platform: Platform = inTauri() ? app : browser;
