// Read receipts and the typing indicator between two chats wired back to back: ✓✓ turns to "read" only
// once the other person has seen the message, nothing is sent when they turned it off, and "is typing"
// shows, refreshes, ends with the message and expires on its own.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Chat } from './chat.svelte';
import { TYPING_EXPIRY_MS, TYPING_REFRESH_MS } from './typing.svelte';
import { ChatSettings } from '../settings.svelte';

interface Person {
  chat: Chat;
  settings: { readReceipts: boolean; typing: boolean };
  looking: boolean;
  /** Texts this person put on the channel. */
  sent: string[];
}

/** Ann and Bob, each the other's only peer; texts are delivered at once. */
function pair() {
  const people: Record<string, Person> = {};
  const make = (me: string, other: string): Person => {
    const person: Person = { chat: undefined as unknown as Chat, settings: { readReceipts: true, typing: true }, looking: true, sent: [] };
    person.chat = new Chat(
      {
        peers: () => [other],
        send: (_peer, text) => {
          person.sent.push(text);
          people[other]!.chat.receive(me, text);
          return true;
        },
        nameOf: () => other,
      },
      () => me,
      undefined,
      person.settings,
      () => person.looking,
    );
    return person;
  };
  people.ann = make('ann', 'bob');
  people.bob = make('bob', 'ann');
  return { ann: people.ann, bob: people.bob };
}

const kinds = (p: Person, t: string) => p.sent.map((s) => JSON.parse(s) as { t: string }).filter((m) => m.t === t);

afterEach(() => vi.useRealTimers());

describe('read receipts', () => {
  it('turn delivered into read when the other person sees the message', () => {
    const { ann, bob } = pair();
    ann.chat.send('hello');
    expect(ann.chat.lines[0]!.status).toBe('read');
    expect(kinds(bob, 'read')).toEqual([{ t: 'read', ids: [ann.chat.lines[0]!.id] }]);
  });

  it('wait while the page is not seen, then go out at once', () => {
    const { ann, bob } = pair();
    bob.looking = false;
    ann.chat.send('are you there?');
    expect(ann.chat.lines[0]!.status).toBe('delivered');
    bob.looking = true;
    bob.chat.receipts.seen();
    expect(ann.chat.lines[0]!.status).toBe('read');
  });

  it('are never sent when turned off, also not for what was seen meanwhile', () => {
    const { ann, bob } = pair();
    bob.settings.readReceipts = false;
    ann.chat.send('secret');
    bob.chat.receipts.seen();
    bob.settings.readReceipts = true;
    bob.chat.receipts.seen();
    expect(kinds(bob, 'read')).toEqual([]);
    expect(ann.chat.lines[0]!.status).toBe('delivered');
  });

  it('mark only our own messages, and a receipt also counts as the ack', () => {
    const { ann } = pair();
    ann.chat.receive('bob', JSON.stringify({ t: 'msg', id: 'from-bob', body: 'hi', sentAt: 1, name: 'Bob' }));
    ann.chat.receive('bob', JSON.stringify({ t: 'read', ids: ['from-bob', 'unknown'] }));
    expect(ann.chat.lines[0]!.status).toBe('delivered');
    expect(ann.chat.lines[0]!.mine).toBe(false);
  });
});

describe('typing indicator', () => {
  it('shows, refreshes at most every few seconds, and ends with the message', () => {
    vi.useFakeTimers();
    const { ann, bob } = pair();
    ann.chat.typing.drafting('h');
    ann.chat.typing.drafting('he');
    expect(kinds(ann, 'typing')).toHaveLength(1);
    expect(bob.chat.typingNames).toEqual(['ann']);
    vi.advanceTimersByTime(TYPING_REFRESH_MS);
    ann.chat.typing.drafting('hel');
    expect(kinds(ann, 'typing')).toHaveLength(2);
    ann.chat.send('hello');
    expect(bob.chat.typingNames).toEqual([]);
  });

  it('stops when the draft is emptied, and expires when the stop is lost', () => {
    vi.useFakeTimers();
    const { ann, bob } = pair();
    ann.chat.typing.drafting('x');
    ann.chat.typing.drafting('');
    expect(kinds(ann, 'typing').at(-1)).toEqual({ t: 'typing', on: false });
    expect(bob.chat.typingNames).toEqual([]);
    bob.chat.receive('ann', JSON.stringify({ t: 'typing', on: true }));
    expect(bob.chat.typingNames).toEqual(['ann']);
    vi.advanceTimersByTime(TYPING_EXPIRY_MS);
    expect(bob.chat.typingNames).toEqual([]);
  });

  it('is not sent when turned off', () => {
    const { ann, bob } = pair();
    ann.settings.typing = false;
    ann.chat.typing.drafting('quietly');
    expect(kinds(ann, 'typing')).toEqual([]);
    expect(bob.chat.typingNames).toEqual([]);
  });
});

describe('chat settings', () => {
  it('default on, persist each choice, and survive a damaged entry', () => {
    const saved = new Map<string, string>();
    const storage = { getItem: (k: string) => saved.get(k) ?? null, setItem: (k: string, v: string) => void saved.set(k, v) };
    const first = new ChatSettings(storage);
    expect([first.readReceipts, first.typing]).toEqual([true, true]);
    first.setReadReceipts(false);
    const second = new ChatSettings(storage);
    expect([second.readReceipts, second.typing]).toEqual([false, true]);
    saved.set('p2pchat.chat-settings', '{not json');
    expect(new ChatSettings(storage).readReceipts).toBe(true);
  });
});
