// What one room member can do to everyone else's chat: ids are theirs only (a member cannot suppress or
// replace another's message by sending its id first), messages beyond a per-peer rate wait their turn or
// are dropped unacknowledged, and the in-memory list stays bounded.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Chat, MAX_LINES } from './chat.svelte';
import { CHAT_BURST, CHAT_MAX_WAITING, CHAT_PER_SECOND } from './ratelimit';
import { MAX_SEEN_PER_PEER, SeenIds } from './seen';

const names: Record<string, string> = { bob: 'Bob', mallory: 'Mallory', 'bob-2': 'Bob' };

function setup(peers = Object.keys(names)) {
  const sent: Array<{ peer: string; text: string }> = [];
  const chat = new Chat(
    { peers: () => peers, send: (peer, text) => sent.push({ peer, text }) > 0, nameOf: (p) => names[p] ?? 'someone' },
    () => 'Ann',
  );
  const acksTo = (peer: string) => sent.filter((s) => s.peer === peer && JSON.parse(s.text).t === 'ack').map((s) => JSON.parse(s.text).id as string);
  const shown = () => chat.lines.filter((l) => l.kind === 'text').map((l) => `${l.fromName}: ${l.body}`);
  const system = () => chat.lines.filter((l) => l.kind === 'system').map((l) => l.body);
  return { chat, sent, acksTo, shown, system };
}

const msg = (id: string, body: string) => JSON.stringify({ t: 'msg', id, body, sentAt: Date.now(), name: 'whoever' });

describe('message ids are scoped by sender', () => {
  it("a member sending another's id first suppresses nothing", () => {
    const { chat, shown, acksTo } = setup();
    chat.receive('mallory', msg('id-1', 'fake'));
    chat.receive('bob', msg('id-1', 'real'));
    expect(shown()).toEqual(['Mallory: fake', 'Bob: real']);
    expect(acksTo('bob')).toEqual(['id-1']);
    // Both lines have their own key, so the list renders (duplicate keys would break it).
    expect(new Set(chat.lines.map((l) => l.key ?? l.id)).size).toBe(2);
  });

  it("a peer's own resend is shown once and acked again, also under its new id after a re-key", () => {
    const { chat, shown, acksTo } = setup();
    chat.receive('bob', msg('id-2', 'hello'));
    chat.receive('bob', msg('id-2', 'hello'));
    chat.peerRenamed('bob', 'bob-2');
    chat.receive('bob-2', msg('id-2', 'hello'));
    expect(shown()).toEqual(['Bob: hello']);
    expect(acksTo('bob')).toEqual(['id-2', 'id-2']);
    expect(acksTo('bob-2')).toEqual(['id-2']);
  });

  it('remembers a bounded number of ids per sender, oldest forgotten first', () => {
    const seen = new SeenIds();
    for (let i = 0; i <= MAX_SEEN_PER_PEER; i++) seen.add('bob', `m${i}`);
    expect(seen.has('bob', 'm0')).toBe(false);
    expect(seen.has('bob', 'm1')).toBe(true);
    expect(seen.has('bob', `m${MAX_SEEN_PER_PEER}`)).toBe(true);
    expect(seen.has('carol', 'm1')).toBe(false);
  });
});

describe('per-peer rate limit', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shows a burst at once, then the rest in order at the steady rate, acking each when shown', () => {
    const { chat, shown, acksTo, system } = setup();
    const flood = 60;
    for (let i = 0; i < flood; i++) chat.receive('mallory', msg(`f${i}`, `flood ${i}`));
    chat.receive('bob', msg('b1', 'still here'));
    expect(shown().filter((l) => l.startsWith('Mallory'))).toHaveLength(CHAT_BURST);
    expect(acksTo('mallory')).toHaveLength(CHAT_BURST);
    expect(shown()).toContain('Bob: still here'); // another person is not held up
    expect(system()).toEqual([`Mallory is sending messages very fast: they are shown at ${CHAT_PER_SECOND} a second.`]);

    vi.advanceTimersByTime(2000);
    expect(shown().filter((l) => l.startsWith('Mallory'))).toHaveLength(CHAT_BURST + 2 * CHAT_PER_SECOND);
    vi.advanceTimersByTime(10_000);
    const fromMallory = shown().filter((l) => l.startsWith('Mallory'));
    expect(fromMallory).toEqual(Array.from({ length: flood }, (_, i) => `Mallory: flood ${i}`));
    expect(acksTo('mallory')).toHaveLength(flood);
  });

  it('drops what does not fit the queue, unacknowledged, and says so once', () => {
    const { chat, shown, acksTo, system } = setup();
    const total = CHAT_BURST + CHAT_MAX_WAITING + 50;
    for (let i = 0; i < total; i++) chat.receive('mallory', msg(`f${i}`, `flood ${i}`));
    expect(system()).toHaveLength(2);
    expect(system()[1]).toMatch(/^Too many messages from Mallory: some were not accepted/);
    vi.advanceTimersByTime(((CHAT_MAX_WAITING + 10) / CHAT_PER_SECOND) * 1000);
    expect(shown()).toHaveLength(CHAT_BURST + CHAT_MAX_WAITING);
    expect(acksTo('mallory')).toHaveLength(CHAT_BURST + CHAT_MAX_WAITING);
    expect(acksTo('mallory')).not.toContain(`f${total - 1}`);
    // Resent later (the sender's outbox does that on reconnect), a dropped message is accepted.
    chat.receive('mallory', msg(`f${total - 1}`, 'again'));
    expect(shown().at(-1)).toBe('Mallory: again');
  });
});

describe('bounded list', () => {
  it(`keeps the newest ${MAX_LINES} lines in memory`, () => {
    const { chat } = setup([]); // nobody to send to: only the list is measured
    for (let i = 0; i < MAX_LINES + 25; i++) chat.send(`mine ${i}`);
    expect(chat.lines).toHaveLength(MAX_LINES);
    expect(chat.lines[0]?.body).toBe('mine 25');
    expect(chat.lines.at(-1)?.body).toBe(`mine ${MAX_LINES + 24}`);
  });
});
