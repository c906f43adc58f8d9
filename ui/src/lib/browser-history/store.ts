// The browser's chat history: conversations, messages (paged like the app's), the outbox of our
// undelivered messages, unread counts and search, kept across reloads in IndexedDB (through idb). It
// implements the same interfaces as the app's history on disk, so rooms and the start screen use either.
// "Forget this device" deletes the database, then what the page keeps besides (forget.ts: the name, settings
// and device identity).

import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { HISTORY_PAGE_SIZE, type ChannelMessage } from '../core.gen';
import type { ChatHistory, HistoryStore, StoredMessage, StoredStatus } from '../history';
import type { Conversation, Cursor, SearchHit } from '../ipc.gen';
import { MessageIndex } from './search';
import { forgetPageData } from '../forget';

type ChatMessage = Extract<ChannelMessage, { t: 'msg' }>;

export const DB_NAME = 'p2pchat-history';

interface RoomRecord {
  room: string;
  /** Newest message time (ms): the conversation list is ordered by it. */
  last_at: number;
  unread: number;
}

/** A message's key: ids are scoped by room and sender, as in the app's history (another member's
 * message with the same id is a different message). */
type MessageKey = [room: string, sender: string, id: string];
/** Who our own messages are stored as. */
const OWN_SENDER = 'me';

interface Schema extends DBSchema {
  messages: {
    key: MessageKey;
    value: StoredMessage;
    indexes: { room_time: [string, number, string]; room_status: [string, string] };
  };
  rooms: { key: string; value: RoomRecord; indexes: { last_at: number } };
}

export class BrowserHistory implements HistoryStore {
  private db: Promise<IDBPDatabase<Schema>>;
  /** Built at the first search, then kept up to date; rebuilt when another tab added messages. */
  private index: MessageIndex | null = null;

  private constructor(
    private readonly name: string,
    db: IDBPDatabase<Schema>,
  ) {
    this.db = Promise.resolve(db);
  }

  /** Opens this browser's history; null where IndexedDB is unavailable (the chat then lives in memory). */
  static async open(name = DB_NAME): Promise<BrowserHistory | null> {
    try {
      if (typeof indexedDB === 'undefined') return null;
      let store: BrowserHistory | undefined;
      store = new BrowserHistory(name, await BrowserHistory.connect(name, () => store));
      return store;
    } catch {
      return null;
    }
  }

  private static connect(name: string, self: () => BrowserHistory | undefined): Promise<IDBPDatabase<Schema>> {
    return openDB<Schema>(name, 2, {
      async upgrade(db, oldVersion, _newVersion, tx) {
        if (oldVersion < 1) db.createObjectStore('rooms', { keyPath: 'room' }).createIndex('last_at', 'last_at');
        // Version 1 keyed messages by id alone: its rows move to the (room, sender, id) key.
        let kept: StoredMessage[] = [];
        if (oldVersion === 1) {
          kept = await (tx.objectStore('messages') as unknown as { getAll(): Promise<StoredMessage[]> }).getAll();
          db.deleteObjectStore('messages');
        }
        const messages = db.createObjectStore('messages', { keyPath: ['room', 'sender', 'id'] });
        messages.createIndex('room_time', ['room', 'sent_at', 'id']);
        messages.createIndex('room_status', ['room', 'status']);
        for (const m of kept) await messages.put(m);
      },
      // Another tab forgets this device (deletes the database): let it, and reconnect to a fresh one.
      blocking(_current, _next, event) {
        (event.target as IDBDatabase).close();
        self()?.reconnect();
      },
    });
  }

  private reconnect(): void {
    this.index = null;
    this.db = BrowserHistory.connect(this.name, () => this);
  }

  room(name: string): ChatHistory {
    return {
      recent: async () => (await this.page(name)).messages.reverse(),
      undelivered: () => this.undelivered(name),
      saveOutgoing: (m) => this.save(name, OWN_SENDER, m, true),
      saveIncoming: (peer, m) => this.save(name, peer, m, false),
      setStatus: (id, status) => this.setStatus([name, OWN_SENDER, id], status),
      markRead: () => this.markRead(name),
    };
  }

  /** A page of `room`'s messages, newest first, older than `before`; `next` continues further back. */
  async page(room: string, before: Cursor | null = null, limit = HISTORY_PAGE_SIZE): Promise<{ messages: StoredMessage[]; next: Cursor | null }> {
    const db = await this.db;
    const upper: [string, number, string] = before ? [room, before.sent_at, before.id] : [room, Infinity, ''];
    const range = IDBKeyRange.bound([room, -Infinity, ''], upper, false, true);
    const messages: StoredMessage[] = [];
    let cursor = await db.transaction('messages').store.index('room_time').openCursor(range, 'prev');
    while (cursor && messages.length <= limit) {
      messages.push(cursor.value);
      cursor = await cursor.continue();
    }
    const more = messages.length > limit;
    if (more) messages.pop();
    const last = messages.at(-1);
    return { messages, next: more && last ? { sent_at: last.sent_at, id: last.id } : null };
  }

  /** Our messages in `room` that nobody has acked yet, oldest first. */
  async undelivered(room: string): Promise<StoredMessage[]> {
    const db = await this.db;
    const index = db.transaction('messages').store.index('room_status');
    const [pending, sent] = await Promise.all([index.getAll([room, 'pending']), index.getAll([room, 'sent'])]);
    return [...pending, ...sent].filter((m) => m.outgoing).sort((a, b) => a.sent_at - b.sent_at);
  }

  /** Stores a message once (a message arriving again changes nothing). */
  private async save(room: string, sender: string, m: ChatMessage, outgoing: boolean): Promise<void> {
    const db = await this.db;
    const tx = db.transaction(['messages', 'rooms'], 'readwrite');
    const messages = tx.objectStore('messages');
    const rooms = tx.objectStore('rooms');
    if (await messages.getKey([room, sender, m.id])) return tx.done;
    const stored: StoredMessage = {
      id: m.id, room, sender, sender_name: m.name, outgoing, body: m.body, sent_at: m.sentAt,
      status: outgoing ? 'pending' : 'received', error: null,
    };
    await messages.add(stored);
    const record = (await rooms.get(room)) ?? { room, last_at: 0, unread: 0 };
    await rooms.put({ room, last_at: Math.max(record.last_at, m.sentAt), unread: record.unread + (outgoing ? 0 : 1) });
    await tx.done;
    this.index?.add(stored);
  }

  private async setStatus(key: MessageKey, status: StoredStatus): Promise<void> {
    const db = await this.db;
    const tx = db.transaction('messages', 'readwrite');
    const row = await tx.store.get(key);
    if (row && row.status !== 'read') await tx.store.put({ ...row, status });
    await tx.done;
  }

  private async markRead(room: string): Promise<void> {
    const db = await this.db;
    const tx = db.transaction('rooms', 'readwrite');
    const record = await tx.store.get(room);
    if (record && record.unread > 0) await tx.store.put({ ...record, unread: 0 });
    await tx.done;
  }

  /** The `limit` most recently active conversations (all without one), newest first. */
  async conversations(limit?: number): Promise<Conversation[]> {
    const db = await this.db;
    const tx = db.transaction(['rooms', 'messages']);
    const rooms: RoomRecord[] = [];
    let cursor = await tx.objectStore('rooms').index('last_at').openCursor(null, 'prev');
    while (cursor && (limit === undefined || rooms.length < limit)) {
      rooms.push(cursor.value);
      cursor = await cursor.continue();
    }
    const byTime = tx.objectStore('messages').index('room_time');
    return Promise.all(
      rooms.map(async (r) => {
        const newest = await byTime.openCursor(IDBKeyRange.bound([r.room, -Infinity, ''], [r.room, Infinity, '']), 'prev');
        const m = newest?.value;
        return {
          room: r.room, title: null, muted: false, joined: false, unread: r.unread,
          last_message: m ? { id: m.id, sender_name: m.sender_name, body: m.body, sent_at: m.sent_at, outgoing: m.outgoing, status: asMessage(m).status } : null,
        };
      }),
    );
  }

  /** Messages in every conversation matching `query` (see search.ts), best first. */
  async search(query: string): Promise<SearchHit[]> {
    const db = await this.db;
    const count = await db.count('messages');
    if (!this.index || this.index.size !== count) {
      const index = new MessageIndex();
      for (const m of await db.getAll('messages')) index.add(m);
      this.index = index;
    }
    return this.index.search(query);
  }

  async notice(): Promise<string | null> {
    return null;
  }

  /** Deletes this browser's history, name, settings and device identity (certificate, verified contacts). */
  async forget(): Promise<void> {
    (await this.db).close();
    this.index = null;
    await deleteDB(this.name);
    await forgetPageData();
    this.db = BrowserHistory.connect(this.name, () => this);
  }
}

/** The app's message type: the browser's extra "read" state counts as delivered there. */
function asMessage(m: StoredMessage): StoredMessage & { status: Exclude<StoredStatus, 'read'> } {
  return { ...m, status: m.status === 'read' ? 'delivered' : m.status };
}
