// The chat with a history on disk (the app): what was stored comes back after a restart, undelivered
// messages go out again, nothing is sent before it is saved, and a failed save keeps the message pending.
import { describe, expect, it } from 'vitest';
import type { ChatHistory, StoredMessage } from '../history';
import { Chat } from './chat.svelte';
import type { ChatMessage } from './message';

/** History kept in memory, as the app's SQLite history behaves for the chat (idempotent by id). */
class MemoryHistory implements ChatHistory {
  rows = new Map<string, StoredMessage>();
  failSaves = false;

  async recent() {
    return [...this.rows.values()].sort((a, b) => a.sent_at - b.sent_at);
  }
  async undelivered() {
    return (await this.recent()).filter((m) => m.outgoing && (m.status === 'pending' || m.status === 'sent'));
  }
  async saveOutgoing(m: ChatMessage) {
    if (this.failSaves) throw { kind: 'disk_full', message: 'database or disk is full' };
    this.put(m, 'me', true, 'pending');
  }
  async saveIncoming(peer: string, m: ChatMessage) {
    this.put(m, peer, false, 'received');
  }
  async setStatus(id: string, status: 'pending' | 'sent' | 'delivered') {
    const row = this.rows.get(id);
    if (row) row.status = status;
  }
  async markRead() {}
  private put(m: ChatMessage, sender: string, outgoing: boolean, status: StoredMessage['status']) {
    if (!this.rows.has(m.id)) this.rows.set(m.id, { id: m.id, room: 'r', sender, sender_name: m.name, outgoing, body: m.body, sent_at: m.sentAt, status, error: null });
  }
}

function setup(history: MemoryHistory, peers: string[] = ['bob']) {
  const sent: Array<{ peer: string; text: string }> = [];
  const open = new Set(peers);
  const chat = new Chat(
    { peers: () => peers, send: (peer, text) => open.has(peer) && sent.push({ peer, text }) > 0, nameOf: () => 'Bob' },
    () => 'Ann',
    history,
  );
  return { chat, sent, open };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('Chat with history', () => {
  it('saves before sending, then records sent and delivered', async () => {
    const history = new MemoryHistory();
    const { chat, sent } = setup(history);
    chat.send('hello');
    expect(sent).toHaveLength(0); // not before it is on disk
    await settle();
    expect(sent).toHaveLength(1);
    const { id } = JSON.parse(sent[0]!.text) as ChatMessage;
    await settle();
    expect(history.rows.get(id)?.status).toBe('sent');
    chat.receive('bob', JSON.stringify({ t: 'ack', id }));
    await settle();
    expect(history.rows.get(id)?.status).toBe('delivered');
    expect(chat.lines[0]!.status).toBe('delivered');
  });

  it('keeps a message it could not save pending, with the reason, and does not send it', async () => {
    const history = new MemoryHistory();
    history.failSaves = true;
    const { chat, sent } = setup(history);
    chat.send('hello');
    await settle();
    chat.flush('bob');
    expect(sent).toHaveLength(0);
    expect(chat.lines[0]!.status).toBe('pending');
    expect(chat.error).toMatch(/disk is full/);
  });

  it('restores the conversation and resends what was not delivered, once', async () => {
    const history = new MemoryHistory();
    const first = setup(history);
    first.open.clear(); // nobody reachable: the message stays pending
    first.chat.send('written offline');
    first.chat.receive('bob', JSON.stringify({ t: 'msg', id: 'm-bob', body: 'hi Ann', sentAt: 1, name: 'Bob' }));
    await settle();

    const second = setup(history);
    await second.chat.restore();
    expect(second.chat.lines.map((l) => [l.body, l.status])).toEqual([
      ['hi Ann', 'delivered'],
      ['written offline', 'sent'],
    ]);
    expect(second.sent.map((s) => (JSON.parse(s.text) as ChatMessage).body)).toEqual(['written offline']);
    // The peer's message arriving again (its sender resends until acked) is acked but not shown twice.
    second.chat.receive('bob', JSON.stringify({ t: 'msg', id: 'm-bob', body: 'hi Ann', sentAt: 1, name: 'Bob' }));
    expect(second.chat.lines).toHaveLength(2);
  });

  it('shows and stores the name the server gave the sender, not the one the message claims', async () => {
    const history = new MemoryHistory();
    const { chat } = setup(history);
    chat.receive('bob', JSON.stringify({ t: 'msg', id: 'm-fake', body: 'it is me', sentAt: 1, name: 'Alice' }));
    await settle();
    expect(chat.lines[0]!.fromName).toBe('Bob');
    expect(history.rows.get('m-fake')?.sender_name).toBe('Bob');
  });

  it('clamps a sender time far in the future to a minute ahead, shown and stored', async () => {
    const history = new MemoryHistory();
    const { chat } = setup(history);
    const before = Date.now();
    chat.receive('bob', JSON.stringify({ t: 'msg', id: 'm-future', body: 'newest forever', sentAt: 9e15, name: 'Bob' }));
    await settle();
    const after = Date.now();
    for (const sentAt of [chat.lines[0]!.sentAt, history.rows.get('m-future')!.sent_at]) {
      expect(sentAt).toBeGreaterThanOrEqual(before + 60_000);
      expect(sentAt).toBeLessThanOrEqual(after + 60_000);
    }
  });

  it('acks a message before its read receipt goes (peers that count a receipt as an ack still report the ack)', () => {
    const sent: string[] = [];
    const chat = new Chat({ peers: () => ['bob'], send: (_peer, text) => sent.push(text) > 0, nameOf: () => 'Bob' }, () => 'Ann', undefined, { readReceipts: true, typing: false }, () => true);
    chat.receive('bob', JSON.stringify({ t: 'msg', id: 'm-seen', body: 'look', sentAt: 1, name: 'Bob' }));
    expect(sent.map((text) => (JSON.parse(text) as { t: string }).t)).toEqual(['ack', 'read']);
  });
});
