// The chat history interfaces, and the app's history on disk (Tauri only): the Rust backend keeps it in
// SQLite and answers these commands offline. A browser keeps its own in IndexedDB (browser-history/).

import type { ChannelMessage } from './core.gen';
import { call, describeError, on } from './ipc';
import { forgetPageData } from './forget';
import { keptPushDevice } from './push/browser';
import type { Conversation, FileRecord, HistoryKeyStatus, Message, MessageStatus, NewMessage, SearchCursor, SearchHit } from './ipc.gen';

export { describeError } from './ipc';
export type { Conversation, FileRecord, SearchHit } from './ipc.gen';

/** A stored message (generated from the app's history types; the browser's history also keeps "read"). */
export type StoredStatus = MessageStatus | 'read';
export type StoredMessage = Omit<Message, 'status'> & { status: StoredStatus };
type ChatMessage = Extract<ChannelMessage, { t: 'msg' }>;

/** A page of the start screen's message search, newest first. `next` continues with older matches: opaque (pass
 * it back as it is; each store has its own), null once every message was searched. */
export interface MessageSearchPage {
  hits: SearchHit[];
  next: string | null;
}

/** One room's history as the chat needs it. */
export interface ChatHistory {
  /** The latest messages, oldest first. */
  recent(): Promise<StoredMessage[]>;
  /** Outgoing messages not yet delivered to anyone, oldest first. */
  undelivered(): Promise<StoredMessage[]>;
  saveOutgoing(message: ChatMessage): Promise<void>;
  saveIncoming(peer: string, message: ChatMessage): Promise<void>;
  setStatus(id: string, status: 'pending' | 'sent' | 'delivered' | 'read'): Promise<void>;
  /** Our own reading of the room: its unread count goes to zero. */
  markRead(): Promise<void>;
}

/** Every conversation's history, as rooms and the start screen need it: the app's or the browser's. */
export interface HistoryStore {
  room(name: string): ChatHistory;
  /** The `limit` most recently active conversations (all without one), newest first. */
  conversations(limit?: number): Promise<Conversation[]>;
  /** Messages matching `query`, a page at a time, newest first: without `cursor` the newest matches, with
   * a page's `next` (opaque) the ones older than that page. `next` is null once every message was searched;
   * a page with a `next` may hold fewer hits than asked, even none (the app's search stops after a few ms). */
  search(query: string, cursor?: string | null): Promise<MessageSearchPage>;
  /** Files sent or received whose name matches, newest first (the app only: a browser keeps no files). */
  searchFiles?(query: string): Promise<FileRecord[]>;
  /** What the person should know about the history (damaged, unavailable), if anything. */
  notice(): Promise<string | null>;
  /** Erases everything this device keeps ("forget this device"). */
  forget?(): Promise<void>;
}

export class TauriChatHistory implements ChatHistory {
  constructor(private readonly room: string) {}

  async recent(): Promise<StoredMessage[]> {
    const page = await call('messages_page', { room: this.room });
    return page.messages.reverse();
  }

  async undelivered(): Promise<StoredMessage[]> {
    // `outbox` holds pending ones; sent-but-unacked ones are in the latest page (a bounded look back).
    const pending = await call('outbox', { room: this.room });
    const recent = await this.recent();
    const byId = new Map<string, StoredMessage>(pending.map((m) => [m.id, m]));
    for (const m of recent) if (m.outgoing && m.status === 'sent') byId.set(m.id, m);
    return [...byId.values()].sort((a, b) => a.sent_at - b.sent_at);
  }

  async saveOutgoing(message: ChatMessage): Promise<void> {
    await call('save_message', { message: this.stored(message, 'me', true) });
  }

  async saveIncoming(peer: string, message: ChatMessage): Promise<void> {
    await call('save_message', { message: this.stored(message, peer, false) });
  }

  async setStatus(id: string, status: 'pending' | 'sent' | 'delivered' | 'read'): Promise<void> {
    // The app's history has no read state: a read message is kept as delivered.
    await call('set_message_status', { id, status: status === 'read' ? 'delivered' : status });
  }

  async markRead(): Promise<void> {
    await call('mark_read', { room: this.room, up_to: Date.now() });
  }

  private stored(message: ChatMessage, sender: string, outgoing: boolean): NewMessage {
    return { id: message.id, room: this.room, sender, sender_name: message.name, outgoing, body: message.body, sent_at: message.sentAt };
  }
}

/** The `limit` most recently active conversations (all without one), newest first. */
export const listConversations = (limit?: number) => call('list_conversations', { limit });
/** Matches per page of the start screen's search. */
export const SEARCH_PAGE = 30;
/** A page of the app's search: its cursor (a `SearchCursor`) travels as JSON text, opaque to the window. */
export async function searchMessages(query: string, cursor?: string | null): Promise<MessageSearchPage> {
  const before = cursor ? (JSON.parse(cursor) as SearchCursor) : null;
  const page = await call('search_messages', { query, before, limit: SEARCH_PAGE });
  return { hits: page.hits, next: page.next && JSON.stringify(page.next) };
}

export const searchFiles = (query: string) => call('history_search_files', { query, limit: 30 });

/** What the start screen's search finds first: the newest page of messages, and files by name where the store
 * keeps files (older messages: `searchMessagesPage(store, query, messages.next)`). */
export async function searchAll(store: HistoryStore, query: string): Promise<{ messages: MessageSearchPage; files: FileRecord[] }> {
  const [messages, files] = await Promise.all([searchMessagesPage(store, query), store.searchFiles?.(query) ?? Promise.resolve([])]);
  return { messages, files };
}

/** How long the start screen goes on through empty pages (a search whose few milliseconds ran out before it
 * found anything) before it shows what it has and offers "More results". */
export const FOLLOW_EMPTY_PAGES_MS = 300;

/** The page of messages after `cursor` (the first without one), going on past empty pages for up to
 * FOLLOW_EMPTY_PAGES_MS, so two words that rarely meet are not shown as "nothing matches" too soon. */
export async function searchMessagesPage(store: HistoryStore, query: string, cursor?: string | null, now = () => performance.now()): Promise<MessageSearchPage> {
  const started = now();
  let page = await store.search(query, cursor);
  while (!page.hits.length && page.next && now() - started < FOLLOW_EMPTY_PAGES_MS) page = await store.search(query, page.next);
  return page;
}

/** What the person should know about the history file (damaged and set aside, or unusable), if anything. */
export async function historyNotice(): Promise<string | null> {
  const info = await call('app_info');
  if (info.history_recovered_from) {
    return `Your chat history file was damaged. It was kept as ${info.history_recovered_from} and a new, empty history was started.`;
  }
  if (info.history_error?.kind === 'locked') {
    return `The chat history (${info.history_path}) is in use by another program, so messages are not being saved. Close the other program and restart p2pchat.`;
  }
  if (info.history_error) return `Chat history is unavailable (${info.history_error.message}); messages are not being saved.`;
  return null;
}

/** What the app's encrypted history needs before it can be read (docs/app.md, "History at rest"). */
export type HistoryLockStatus = HistoryKeyStatus;

/** The app's history lock: its status, and the ways to open it. */
export interface HistoryLock {
  readonly status: HistoryLockStatus;
  /** Opens it with a passphrase (when choosing one: encrypts the history with it). */
  unlock(passphrase: string): Promise<HistoryLockStatus>;
  /** Keeps the locked file aside and starts a new history. */
  startNew(): Promise<HistoryLockStatus>;
  /** A sentence for a failed attempt. */
  describe(err: unknown): string;
}

/** The app's history lock, or null when there is nothing to ask (or it cannot be asked). */
export async function appHistoryLock(): Promise<HistoryLock | null> {
  let status: HistoryLockStatus;
  try {
    status = await call('history_key_status');
  } catch {
    return null;
  }
  if (status.state === 'ready') return null;
  return {
    status,
    unlock: (passphrase) => call('unlock_history', { passphrase }),
    startNew: () => call('start_new_history'),
    describe: (err) => {
      const text = describeError(err);
      return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');
    },
  };
}

/** The app's history on disk. */
export const appHistory: HistoryStore = {
  room: (name) => new TauriChatHistory(name),
  conversations: (limit) => listConversations(limit),
  search: (query, cursor) => searchMessages(query, cursor),
  searchFiles: (query) => searchFiles(query),
  notice: () => historyNotice(),
  forget: () => forgetAppDevice(),
};

/** The app's "forget this device": the server stops ringing this device (its push registrations, while the
 * app is still connected), the backend erases its history, settings, saved invitations and native identity
 * (and disconnects); then the webview forgets what it keeps itself (forget.ts). */
async function forgetAppDevice(): Promise<void> {
  await unregisterAppPush();
  await call('forget_device');
  await forgetPageData();
}

/** How long "forget this device" waits for the server to confirm this device's pushes are unregistered. */
export const FORGET_PUSH_WAIT_MS = 3_000;

/** `push-unregister` for every room on the app's connection, done at the server's answer or after
 * FORGET_PUSH_WAIT_MS; nothing to do for a device that never registered, nobody to tell offline. */
async function unregisterAppPush(): Promise<void> {
  const device = await keptPushDevice();
  if (!device) return;
  let answered = () => undefined as void;
  const answer = new Promise<void>((resolve) => (answered = resolve));
  const stop = await on('signaling://frame', (frame) => {
    if (frame.type === 'push-unregistered' || (frame.type === 'error' && frame.ref === 'push-unregister')) answered();
  });
  const timer = setTimeout(answered, FORGET_PUSH_WAIT_MS);
  try {
    await call('push_frame', { frame: { type: 'push-unregister', device: device.id, secret: device.secret } });
    await answer;
  } catch {
    // Offline (not_connected): the server cannot be told now.
  } finally {
    clearTimeout(timer);
    stop();
  }
}

export const roomMuted = (room: string) => call('room_muted', { room });
export const setRoomMuted = (room: string, muted: boolean) => call('set_room_muted', { room, muted });

/** Turns close-to-tray on or off, keeping the other saved settings. */
export async function setCloseToTray(on: boolean): Promise<void> {
  const settings = await call('get_settings');
  await call('set_settings', { settings: { ...settings, close_to_tray: on } });
}

export const closeToTray = async () => (await call('get_settings')).close_to_tray;
