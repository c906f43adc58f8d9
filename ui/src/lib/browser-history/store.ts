// The browser's chat history: conversations, messages (paged like the app's), the outbox of our
// undelivered messages, unread counts and search, kept across reloads in IndexedDB (through idb). It
// implements the same interfaces as the app's history on disk, so rooms and the start screen use either.
// "Forget this device" deletes the database (with the key that encrypts it), then what the page keeps
// besides (forget.ts: the name, settings and device identity).
// What a message says is encrypted at rest (sealed.ts); what the indexes need stays clear: room names,
// sender peer ids, message ids, times, delivery state and unread counts. Search's index lives in memory
// only, built from the decrypted messages.

import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb';
import { HISTORY_PAGE_SIZE, type ChannelMessage } from '../core.gen';
import type { ChatHistory, HistoryStore, MessageSearchPage, StoredMessage, StoredStatus } from '../history';
import type { Conversation, Cursor } from '../ipc.gen';
import { MessageIndex } from './search';
import { forgetPageData } from '../forget';
import { HistoryLockedError, LOCKED_NO_KEY, newDeviceKey, open as openSealed, seal, type Sealed } from './sealed';

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

/** A message as stored: clear what the indexes need, the rest sealed. */
type SealedRecord = Pick<StoredMessage, 'id' | 'room' | 'sender' | 'outgoing' | 'sent_at' | 'status'> & { sealed: Sealed };
/** Versions before 3 stored messages in plaintext; the first open encrypts them in place. */
type MessageRecord = SealedRecord | StoredMessage;

interface Schema extends DBSchema {
  messages: {
    key: MessageKey;
    value: MessageRecord;
    indexes: { room_time: [string, number, string]; room_status: [string, string] };
  };
  rooms: { key: string; value: RoomRecord; indexes: { last_at: number } };
  /** This device's key (a non-extractable CryptoKey) under DEVICE_KEY. */
  keys: { key: string; value: CryptoKey };
}

const DEVICE_KEY = 'device';

/** An open database and the key to its messages, or why they can't be read. */
type Connection = { db: IDBPDatabase<Schema>; key: CryptoKey; locked: null } | { db: IDBPDatabase<Schema>; key: null; locked: string };

const isSealed = (m: MessageRecord): m is SealedRecord => 'sealed' in m;
const recordKey = (m: MessageRecord): MessageKey => [m.room, m.sender, m.id];

export class BrowserHistory implements HistoryStore {
  private conn: Promise<Connection>;
  /** Built at the first search, then kept up to date; rebuilt when another tab added messages. */
  private index: MessageIndex | null = null;

  private constructor(
    private readonly name: string,
    conn: Connection,
  ) {
    this.conn = Promise.resolve(conn);
  }

  /** Opens this browser's history; null where IndexedDB is unavailable (the chat then lives in memory).
   * A history whose key is missing or wrong opens locked: every read and write fails with the reason
   * (notice() tells it too), nothing is deleted, and forget() starts afresh. */
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

  private static async connect(name: string, self: () => BrowserHistory | undefined): Promise<Connection> {
    const db = await openDB<Schema>(name, 3, {
      async upgrade(db, oldVersion, _newVersion, tx) {
        if (oldVersion < 1) db.createObjectStore('rooms', { keyPath: 'room' }).createIndex('last_at', 'last_at');
        if (oldVersion < 3) db.createObjectStore('keys');
        if (oldVersion >= 2) return;
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
    const key = await BrowserHistory.deviceKey(db);
    if (!key) return { db, key: null, locked: LOCKED_NO_KEY };
    try {
      await BrowserHistory.checkKey(db, key);
      await BrowserHistory.sealPlaintext(db, key);
    } catch (err) {
      if (err instanceof HistoryLockedError) return { db, key: null, locked: err.message };
      throw err;
    }
    return { db, key, locked: null };
  }

  /** This device's key: made on first use; none when the key is gone but messages sealed with it remain. */
  private static async deviceKey(db: IDBPDatabase<Schema>): Promise<CryptoKey | null> {
    const kept = await db.get('keys', DEVICE_KEY);
    if (kept) return kept;
    let cursor = await db.transaction('messages').store.openCursor();
    while (cursor) {
      if (isSealed(cursor.value)) return null;
      cursor = await cursor.continue();
    }
    const made = await newDeviceKey();
    // Two tabs opening at once each make a key: the first stored wins, both use it.
    const tx = db.transaction('keys', 'readwrite');
    const first = await tx.store.get(DEVICE_KEY);
    if (!first) await tx.store.add(made, DEVICE_KEY);
    await tx.done;
    return first ?? made;
  }

  /** Fails with HistoryLockedError when `key` doesn't open a sealed message (the last in key order). */
  private static async checkKey(db: IDBPDatabase<Schema>, key: CryptoKey): Promise<void> {
    let cursor = await db.transaction('messages').store.openCursor(null, 'prev');
    while (cursor && !isSealed(cursor.value)) cursor = await cursor.continue();
    const record = cursor?.value;
    if (record && isSealed(record)) await openSealed(key, recordKey(record), record.sealed);
  }

  /** Encrypts in place the plaintext messages an earlier version stored. Each row is replaced whole in
   * one transaction, so an interrupted pass leaves every message readable (plaintext or sealed) and the
   * next open finishes it. */
  private static async sealPlaintext(db: IDBPDatabase<Schema>, key: CryptoKey): Promise<void> {
    const plain = (await db.getAll('messages')).filter((m): m is StoredMessage => !isSealed(m));
    if (plain.length === 0) return;
    // WebCrypto is asynchronous (an IndexedDB transaction would end while waiting): seal first, then write.
    const sealed = await Promise.all(plain.map((m) => sealRecord(key, m)));
    const tx = db.transaction('messages', 'readwrite');
    for (const record of sealed) {
      const now = await tx.store.get(recordKey(record));
      // Still the plaintext row (another tab may have sealed it meanwhile): keep its latest status.
      if (now && !isSealed(now)) await tx.store.put({ ...record, status: now.status });
    }
    await tx.done;
  }

  private reconnect(): void {
    this.index = null;
    this.conn = BrowserHistory.connect(this.name, () => this);
  }

  /** The database and key; fails with the reason when the history is locked. */
  private async ready(): Promise<{ db: IDBPDatabase<Schema>; key: CryptoKey }> {
    const conn = await this.conn;
    if (conn.locked !== null) throw new HistoryLockedError(conn.locked);
    return conn;
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
    const { db, key } = await this.ready();
    const upper: [string, number, string] = before ? [room, before.sent_at, before.id] : [room, Infinity, ''];
    const range = IDBKeyRange.bound([room, -Infinity, ''], upper, false, true);
    const records: MessageRecord[] = [];
    let cursor = await db.transaction('messages').store.index('room_time').openCursor(range, 'prev');
    while (cursor && records.length <= limit) {
      records.push(cursor.value);
      cursor = await cursor.continue();
    }
    const more = records.length > limit;
    if (more) records.pop();
    const last = records.at(-1);
    return { messages: await decrypt(key, records), next: more && last ? { sent_at: last.sent_at, id: last.id } : null };
  }

  /** Our messages in `room` that nobody has acked yet, oldest first. */
  async undelivered(room: string): Promise<StoredMessage[]> {
    const { db, key } = await this.ready();
    const index = db.transaction('messages').store.index('room_status');
    const [pending, sent] = await Promise.all([index.getAll([room, 'pending']), index.getAll([room, 'sent'])]);
    const ours = [...pending, ...sent].filter((m) => m.outgoing).sort((a, b) => a.sent_at - b.sent_at);
    return decrypt(key, ours);
  }

  /** Stores a message once (a message arriving again changes nothing). */
  private async save(room: string, sender: string, m: ChatMessage, outgoing: boolean): Promise<void> {
    const { db, key } = await this.ready();
    const stored: StoredMessage = {
      id: m.id, room, sender, sender_name: m.name, outgoing, body: m.body, sent_at: m.sentAt,
      status: outgoing ? 'pending' : 'received', error: null,
    };
    const record = await sealRecord(key, stored);
    const tx = db.transaction(['messages', 'rooms'], 'readwrite');
    const messages = tx.objectStore('messages');
    const rooms = tx.objectStore('rooms');
    if (await messages.getKey([room, sender, m.id])) return tx.done;
    await messages.add(record);
    const kept = (await rooms.get(room)) ?? { room, last_at: 0, unread: 0 };
    await rooms.put({ room, last_at: Math.max(kept.last_at, m.sentAt), unread: kept.unread + (outgoing ? 0 : 1) });
    await tx.done;
    this.index?.add(stored);
  }

  private async setStatus(key: MessageKey, status: StoredStatus): Promise<void> {
    const { db } = await this.ready();
    const tx = db.transaction('messages', 'readwrite');
    const row = await tx.store.get(key);
    if (row && row.status !== 'read') await tx.store.put({ ...row, status });
    await tx.done;
  }

  private async markRead(room: string): Promise<void> {
    const { db } = await this.ready();
    const tx = db.transaction('rooms', 'readwrite');
    const record = await tx.store.get(room);
    if (record && record.unread > 0) await tx.store.put({ ...record, unread: 0 });
    await tx.done;
  }

  /** The `limit` most recently active conversations (all without one), newest first. */
  async conversations(limit?: number): Promise<Conversation[]> {
    const { db, key } = await this.ready();
    const tx = db.transaction(['rooms', 'messages']);
    const rooms: RoomRecord[] = [];
    let cursor = await tx.objectStore('rooms').index('last_at').openCursor(null, 'prev');
    while (cursor && (limit === undefined || rooms.length < limit)) {
      rooms.push(cursor.value);
      cursor = await cursor.continue();
    }
    const byTime = tx.objectStore('messages').index('room_time');
    const newest = await Promise.all(
      rooms.map(async (r) => (await byTime.openCursor(IDBKeyRange.bound([r.room, -Infinity, ''], [r.room, Infinity, '']), 'prev'))?.value),
    );
    return Promise.all(
      rooms.map(async (r, i) => {
        const record = newest[i];
        const m = record && (await decrypt(key, [record]))[0];
        return {
          room: r.room, title: null, muted: false, joined: false, unread: r.unread,
          last_message: m ? { id: m.id, sender_name: m.sender_name, body: m.body, sent_at: m.sent_at, outgoing: m.outgoing, status: asMessage(m).status } : null,
        };
      }),
    );
  }

  /** Messages in every conversation matching `query` (see search.ts), a page at a time, newest first. */
  async search(query: string, cursor?: string | null): Promise<MessageSearchPage> {
    const { db, key } = await this.ready();
    const count = await db.count('messages');
    if (!this.index || this.index.size !== count) {
      const index = new MessageIndex();
      for (const m of await decrypt(key, await db.getAll('messages'))) index.add(m);
      this.index = index;
    }
    return this.index.search(query, cursor);
  }

  /** Why the history can't be read (its key missing or wrong), if so. */
  async notice(): Promise<string | null> {
    return (await this.conn).locked;
  }

  /** Deletes this browser's history with its key, and the name, settings and device identity
   * (certificate, verified contacts). */
  async forget(): Promise<void> {
    (await this.conn).db.close();
    this.index = null;
    await deleteDB(this.name);
    await forgetPageData();
    this.conn = BrowserHistory.connect(this.name, () => this);
  }
}

function sealRecord(key: CryptoKey, m: StoredMessage): Promise<SealedRecord> {
  const { sender_name, body, error, ...clear } = m;
  return seal(key, recordKey(m), { sender_name, body, error }).then((sealed) => ({ ...clear, sealed }));
}

/** The messages as the rooms show them; plaintext rows (not yet sealed by another tab's pass) as they are. */
function decrypt(key: CryptoKey, records: MessageRecord[]): Promise<StoredMessage[]> {
  return Promise.all(
    records.map(async (r) => {
      if (!isSealed(r)) return r;
      const { sealed, ...clear } = r;
      return { ...clear, ...(await openSealed(key, recordKey(r), sealed)) };
    }),
  );
}

/** The app's message type: the browser's extra "read" state counts as delivered there. */
function asMessage(m: StoredMessage): StoredMessage & { status: Exclude<StoredStatus, 'read'> } {
  return { ...m, status: m.status === 'read' ? 'delivered' : m.status };
}
