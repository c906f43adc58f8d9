// The browser's history across "reloads" (a second BrowserHistory on the same database): conversations
// with unread counts, pages of messages, the outbox of undelivered messages, read state, search with
// accents ignored and prefixes, "forget this device" erasing it all, and what a message says encrypted at
// rest. IndexedDB here is fake-indexeddb, a complete in-memory implementation, and WebCrypto Node's own;
// the browser tests run the real ones.
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { describe, expect, it } from 'vitest';
import { BrowserHistory } from './store';
import { snippet } from './search';
import { HistoryLockedError, LOCKED_NO_KEY, LOCKED_WRONG_KEY, newDeviceKey, open as openSealed, type Sealed } from './sealed';

let dbCount = 0;
const freshName = () => `test-history-${++dbCount}`;
const msg = (id: string, body: string, sentAt: number, name = 'Bob') => ({ t: 'msg' as const, id, body, sentAt, name });

async function open(name: string): Promise<BrowserHistory> {
  const store = await BrowserHistory.open(name);
  if (!store) throw new Error('IndexedDB unavailable');
  return store;
}

describe('BrowserHistory', () => {
  it('keeps conversations, unread counts and the outbox across a reload', async () => {
    const name = freshName();
    const first = await open(name);
    const team = first.room('team');
    await team.saveIncoming('p-bob', msg('m1', 'hello', 1000));
    await team.saveIncoming('p-bob', msg('m1', 'hello', 1000)); // the same message again: kept once
    await team.saveOutgoing(msg('m2', 'hi Bob', 2000, 'Ann'));
    await team.saveOutgoing(msg('m3', 'are you there?', 3000, 'Ann'));
    await team.setStatus('m2', 'read');
    await first.room('other').saveIncoming('p-cy', msg('m4', 'older room', 500, 'Cy'));

    const second = await open(name);
    const list = await second.conversations();
    expect(list.map((c) => [c.room, c.unread, c.last_message?.body])).toEqual([
      ['team', 1, 'are you there?'],
      ['other', 1, 'older room'],
    ]);
    const recent = await second.room('team').recent();
    expect(recent.map((m) => [m.id, m.status, m.outgoing])).toEqual([
      ['m1', 'received', false],
      ['m2', 'read', true],
      ['m3', 'pending', true],
    ]);
    expect((await second.room('team').undelivered()).map((m) => m.id)).toEqual(['m3']);
    await second.room('team').markRead();
    expect((await second.conversations(1)).map((c) => [c.room, c.unread])).toEqual([['team', 0]]);
  });

  it('pages back through a long conversation, newest first', async () => {
    const store = await open(freshName());
    const room = store.room('long');
    for (let i = 0; i < 120; i++) await room.saveIncoming('p', msg(`m${String(i).padStart(3, '0')}`, `n ${i}`, 1000 + i));
    const first = await store.page('long');
    expect(first.messages).toHaveLength(50);
    expect(first.messages[0]!.body).toBe('n 119');
    const second = await store.page('long', first.next);
    expect(second.messages[0]!.body).toBe('n 69');
    const third = await store.page('long', second.next);
    expect(third.messages.map((m) => m.body).at(-1)).toBe('n 0');
    expect(third.messages).toHaveLength(20);
    expect(third.next).toBeNull();
  });

  it('searches every conversation: accents and case ignored, words as prefixes, hits marked', async () => {
    const name = freshName();
    const store = await open(name);
    await store.room('a').saveIncoming('p', msg('m1', 'Le café est fermé demain', 1));
    await store.room('b').saveIncoming('p', msg('m2', 'Cafeteria opens at nine', 2));
    await store.room('b').saveIncoming('p', msg('m3', 'nothing here', 3));
    const hits = (await store.search('CAFE')).hits;
    expect(hits.map((h) => h.room).sort()).toEqual(['a', 'b']);
    const cafe = hits.find((h) => h.id === 'm1')!;
    expect(cafe.snippet.filter((p) => p.hit).map((p) => p.text)).toEqual(['café']);
    expect((await store.search('cafe demain')).hits).toHaveLength(1);
    // Another tab (a second store on the same database) adds a message: the next search finds it.
    await (await open(name)).room('c').saveIncoming('p', msg('m5', 'café au lait', 5));
    expect((await store.search('lait')).hits.map((h) => h.id)).toEqual(['m5']);
  });

  it('pages search results newest first: each page continues with older matches, none twice, none lost', async () => {
    const store = await open(freshName());
    const team = store.room('team');
    // 70 matches; ten of them share one time, so a page ends between messages sent at the same moment.
    for (let i = 0; i < 70; i++) await team.saveIncoming('p', msg(`m${String(i).padStart(2, '0')}`, `deploy step ${i}`, i >= 35 && i < 45 ? 1044 : 1000 + i));
    await team.saveIncoming('p', msg('other', 'unrelated', 5000));
    const first = await store.search('depl');
    expect(first.hits).toHaveLength(30);
    expect(first.next).not.toBeNull();
    // A match stored after the first page is shown neither twice nor in the older pages.
    await team.saveIncoming('p', msg('late', 'deploy again', 9000));
    const second = await store.search('depl', first.next);
    const third = await store.search('depl', second.next);
    expect([second.hits.length, third.hits.length, third.next]).toEqual([30, 10, null]);
    const shown = [...first.hits, ...second.hits, ...third.hits];
    const times = shown.map((h) => h.sent_at);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(shown.map((h) => h.id)).size).toBe(70);
    expect(shown.some((h) => h.id === 'late')).toBe(false);
    expect((await store.search('depl')).hits[0]!.id).toBe('late');
    await expect(store.search('depl', 'page two please')).rejects.toThrow('not one this history gave');
  });

  it('forgets this device: history and the name it remembered are gone', async () => {
    const saved = new Map<string, string>([['p2pchat.name', 'Ann'], ['p2pchat.chat-settings', '{}'], ['other.app', 'kept']]);
    const storage = {
      get length() {
        return saved.size;
      },
      key: (i: number) => [...saved.keys()][i] ?? null,
      removeItem: (k: string) => void saved.delete(k),
    };
    Object.defineProperty(globalThis, 'localStorage', { value: storage, configurable: true });
    const name = freshName();
    const store = await open(name);
    await store.room('team').saveIncoming('p', msg('m1', 'secret plans', 1));
    await store.forget();
    expect(await store.conversations()).toEqual([]);
    expect((await store.search('secret')).hits).toEqual([]);
    expect(await (await open(name)).room('team').recent()).toEqual([]);
    expect([...saved.keys()]).toEqual(['other.app']);
  });
});

describe('search snippets', () => {
  it('marks whole words and trims long text around the first hit', () => {
    const long = `${'word '.repeat(60)}needle ${'tail '.repeat(60)}`;
    const parts = snippet(long, new Set(['needle']));
    expect(parts.filter((p) => p.hit)).toEqual([{ text: 'needle', hit: true }]);
    expect(parts[0]!.text.startsWith('…')).toBe(true);
    expect(parts.at(-1)!.text.endsWith('…')).toBe(true);
    expect(parts.map((p) => p.text).join('').length).toBeLessThan(130);
  });

  it('keeps two members\' messages that carry the same id (ids are scoped by room and sender)', async () => {
    const store = await open(freshName());
    const team = store.room('team');
    await team.saveIncoming('p-bob', msg('same', 'from Bob', 1000));
    await team.saveIncoming('p-eve', msg('same', 'from Eve', 2000, 'Eve'));
    await store.room('other').saveIncoming('p-bob', msg('same', 'elsewhere', 3000));
    expect((await team.recent()).map((m) => m.body)).toEqual(['from Bob', 'from Eve']);
    expect((await store.search('from')).hits.map((h) => h.sender_name).sort()).toEqual(['Bob', 'Eve']);
    expect((await store.search('elsewhere')).hits.map((h) => [h.id, h.room])).toEqual([['same', 'other']]);
  });

  it('upgrades a history kept by the earlier version (messages keyed by id) without losing a message', async () => {
    const name = freshName();
    const { openDB } = await import('idb');
    const old = await openDB(name, 1, {
      upgrade(db) {
        const messages = db.createObjectStore('messages', { keyPath: 'id' });
        messages.createIndex('room_time', ['room', 'sent_at', 'id']);
        messages.createIndex('room_status', ['room', 'status']);
        db.createObjectStore('rooms', { keyPath: 'room' }).createIndex('last_at', 'last_at');
      },
    });
    await old.put('messages', { id: 'm1', room: 'team', sender: 'p-bob', sender_name: 'Bob', outgoing: false, body: 'kept', sent_at: 1000, status: 'received', error: null });
    await old.put('rooms', { room: 'team', last_at: 1000, unread: 1 });
    old.close();
    const store = await open(name);
    expect((await store.room('team').recent()).map((m) => m.body)).toEqual(['kept']);
    expect((await store.conversations()).map((c) => [c.room, c.unread])).toEqual([['team', 1]]);
  });
});

/** Every record of every object store in database `name`, read raw (as anything else on the page could). */
async function raw(name: string): Promise<Record<string, unknown[]>> {
  const db = await openDB(name);
  const stores: Record<string, unknown[]> = {};
  for (const store of db.objectStoreNames) stores[store] = await db.getAll(store);
  db.close();
  return stores;
}

/** All text a value holds, bytes read as UTF-8 too (a plaintext body inside a buffer would show). */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return new TextDecoder().decode(bytes);
  }
  if (value && typeof value === 'object') return Object.values(value).map(textOf).join('\n');
  return String(value);
}

async function putRaw(name: string, store: string, value: unknown, key?: IDBValidKey): Promise<void> {
  const db = await openDB(name);
  await db.put(store, value, key);
  db.close();
}

describe('encryption at rest', () => {
  it('stores no message text or sender name in the clear, under a non-extractable device key', async () => {
    const name = freshName();
    const store = await open(name);
    await store.room('team').saveIncoming('p-zed', msg('m1', 'launch codes zebra', 1000, 'Zedediah'));
    await store.room('team').saveOutgoing(msg('m2', 'quokka reply', 2000, 'Annabel'));
    const stores = await raw(name);
    const everything = textOf(stores);
    for (const secret of ['zebra', 'Zedediah', 'quokka', 'Annabel']) expect(everything).not.toContain(secret);
    // Left clear for the indexes: the room, sender peer id, ids, times, delivery state.
    expect(everything).toContain('p-zed');
    const [key] = stores.keys as CryptoKey[];
    expect(key).toBeInstanceOf(CryptoKey);
    expect([key!.extractable, key!.algorithm.name]).toEqual([false, 'AES-GCM']);
    const ivs = (stores.messages as { sealed: Sealed }[]).map((m) => textOf(m.sealed.iv));
    expect(new Set(ivs).size).toBe(2);

    // A reload reads it all back: room, preview, page and search.
    const again = await open(name);
    expect(await again.notice()).toBeNull();
    expect((await again.conversations()).map((c) => c.last_message?.body)).toEqual(['quokka reply']);
    expect((await again.room('team').recent()).map((m) => [m.sender_name, m.body])).toEqual([
      ['Zedediah', 'launch codes zebra'],
      ['Annabel', 'quokka reply'],
    ]);
    expect((await again.search('zebr')).hits.map((h) => [h.id, h.sender_name])).toEqual([['m1', 'Zedediah']]);
  });

  it('encrypts in place a plaintext history from the previous release, and one a pass left half done', async () => {
    const name = freshName();
    const old = await openDB(name, 2, {
      upgrade(db) {
        db.createObjectStore('rooms', { keyPath: 'room' }).createIndex('last_at', 'last_at');
        const messages = db.createObjectStore('messages', { keyPath: ['room', 'sender', 'id'] });
        messages.createIndex('room_time', ['room', 'sent_at', 'id']);
        messages.createIndex('room_status', ['room', 'status']);
      },
    });
    await old.put('messages', { id: 'm1', room: 'team', sender: 'p-bob', sender_name: 'Bob', outgoing: false, body: 'old walrus news', sent_at: 1000, status: 'received', error: null });
    await old.put('messages', { id: 'm2', room: 'team', sender: 'me', sender_name: 'Ann', outgoing: true, body: 'queued narwhal', sent_at: 2000, status: 'pending', error: null });
    await old.put('rooms', { room: 'team', last_at: 2000, unread: 1 });
    old.close();

    const store = await open(name);
    expect(textOf(await raw(name))).not.toMatch(/walrus|narwhal|Bob/);
    expect((await store.room('team').recent()).map((m) => m.body)).toEqual(['old walrus news', 'queued narwhal']);
    expect((await store.room('team').undelivered()).map((m) => m.body)).toEqual(['queued narwhal']);

    // A pass interrupted before its write leaves plaintext beside sealed rows: both read, the next open seals.
    await putRaw(name, 'messages', { id: 'm3', room: 'team', sender: 'p-bob', sender_name: 'Bob', outgoing: false, body: 'late pelican', sent_at: 3000, status: 'received', error: null });
    expect((await store.room('team').recent()).map((m) => m.body)).toEqual(['old walrus news', 'queued narwhal', 'late pelican']);
    const reopened = await open(name);
    expect(textOf(await raw(name))).not.toContain('pelican');
    expect((await reopened.search('pelican')).hits.map((h) => h.id)).toEqual(['m3']);
  });

  it('forget this device destroys the key: what it sealed opens no more', async () => {
    const name = freshName();
    const store = await open(name);
    await store.room('team').saveIncoming('p', msg('m1', 'burn after reading', 1));
    const before = await raw(name);
    const oldKey = (before.keys as CryptoKey[])[0]!;
    const sealed = (before.messages as { sealed: Sealed }[])[0]!.sealed;
    await expect(openSealed(oldKey, ['team', 'p', 'm1'], sealed)).resolves.toMatchObject({ body: 'burn after reading' });
    await store.forget();
    expect(await store.conversations()).toEqual([]);
    const after = await raw(name);
    expect(after.messages).toEqual([]);
    const newKey = (after.keys as CryptoKey[])[0]!;
    expect(newKey).not.toBe(oldKey);
    await expect(openSealed(newKey, ['team', 'p', 'm1'], sealed)).rejects.toThrow(HistoryLockedError);
  });

  it('a missing or wrong key: a clear error, nothing deleted, forget starts afresh', async () => {
    const name = freshName();
    await (await open(name)).room('team').saveIncoming('p', msg('m1', 'keep me', 1));

    const db = await openDB(name);
    await db.delete('keys', 'device');
    db.close();
    const keyless = await open(name);
    expect(await keyless.notice()).toBe(LOCKED_NO_KEY);
    await expect(keyless.conversations()).rejects.toThrow(LOCKED_NO_KEY);
    await expect(keyless.room('team').saveIncoming('p', msg('m2', 'new', 2))).rejects.toThrow(HistoryLockedError);
    expect((await raw(name)).messages).toHaveLength(1);

    await putRaw(name, 'keys', await newDeviceKey(), 'device');
    const wrong = await open(name);
    expect(await wrong.notice()).toBe(LOCKED_WRONG_KEY);
    await expect(wrong.search('keep')).rejects.toThrow(LOCKED_WRONG_KEY);
    await expect(wrong.room('team').recent()).rejects.toThrow(HistoryLockedError);
    expect((await raw(name)).messages).toHaveLength(1);

    await wrong.forget();
    expect(await wrong.notice()).toBeNull();
    await wrong.room('team').saveIncoming('p', msg('m3', 'fresh start', 3));
    expect((await wrong.room('team').recent()).map((m) => m.body)).toEqual(['fresh start']);
  });
});
