// Chat in the app window over the native links, where the Rust core's ChatSession runs the rules: a typed
// message is one `chat_send` (Rust stores and sends it; the window neither saves it nor sends it per peer),
// a message that arrives is shown once and not stored again, and the ticks follow `chat://status`. The room
// and its chat are real; the app's IPC is stood in (its commands answer, its events are emitted here).
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../ipc.gen';
import { FakeTransport } from '../transport/testing';

const app = vi.hoisted(() => ({
  calls: [] as Array<[string, Record<string, unknown>]>,
  handlers: {} as Record<string, Array<(payload: unknown) => void>>,
  /** The peers chat_send says it sent to. */
  linked: [] as string[],
  stored: [] as unknown[],
  /** What the app does while chat_send runs (its links send before the call returns). */
  whileSending: (_message: { id: string }) => undefined as void,
}));

vi.mock('../ipc', () => ({
  call: async (name: string, args: Record<string, unknown> = {}) => {
    app.calls.push([name, args]);
    await new Promise((r) => setTimeout(r, 1));
    if (name === 'chat_send') {
      app.whileSending(args.message as { id: string });
      return app.linked;
    }
    if (name === 'messages_page') return { messages: [...app.stored].reverse() };
    if (name === 'outbox') return app.stored.filter((m) => (m as Message).status === 'pending');
    if (name === 'fallback_open_peers' || name === 'file_transfers' || name === 'file_history') return [];
    if (name === 'fallback_send' || name === 'mark_read') return true;
    throw { kind: 'unavailable', message: `no ${name}` };
  },
  on: async (name: string, handler: (payload: unknown) => void) => {
    (app.handlers[name] ??= []).push(handler);
    return () => undefined;
  },
  send: () => undefined,
  describeError: (err: { message?: string }) => err.message ?? String(err),
}));
vi.mock('@tauri-apps/api/core', () => ({ Channel: class { onmessage = () => undefined; } }));

const { Room } = await import('../room.svelte');
const { TauriChatHistory } = await import('../history');

const emit = (name: string, payload: Record<string, unknown>) => {
  for (const handler of app.handlers[name] ?? []) handler({ room: 'team', ...payload });
};
const calls = (name: string) => app.calls.filter(([n]) => n === name).map(([, args]) => args);
const mine = (room: InstanceType<typeof Room>, body: string) => room.chat.lines.find((l) => l.mine && l.body === body);

async function appRoom(peers: string[]) {
  const room = new Room('team', 'Ann', new FakeTransport(), { fallback: true, history: new TauriChatHistory('team') });
  room.enter();
  await vi.waitFor(() => expect(app.handlers['chat://status']).toBeDefined());
  for (const peer of peers) emit('fallback://open', { kind: 'open', peer, safety: null, fingerprints: null });
  app.linked = peers;
  return room;
}

beforeEach(() => {
  app.calls = [];
  app.handlers = {};
  app.linked = [];
  app.stored = [];
  app.whileSending = () => undefined;
});

describe('chat over the native links', () => {
  it('hands each typed message to the app with one call, and neither stores nor sends it itself', async () => {
    const room = await appRoom(['p-bob', 'p-cy']);
    room.chat.send('first');
    room.chat.send('second');
    expect(mine(room, 'first')?.status).toBe('pending');
    await vi.waitFor(() => expect(mine(room, 'second')?.status).toBe('sent'));
    // One call per message, in the order written, carrying the message the line shows.
    expect(calls('chat_send').map((a) => (a.message as { body: string }).body)).toEqual(['first', 'second']);
    expect(calls('chat_send')[0]).toEqual({ room: 'team', message: { t: 'msg', id: mine(room, 'first')!.id, body: 'first', sentAt: mine(room, 'first')!.sentAt, name: 'Ann' } });
    expect(calls('fallback_send')).toEqual([]);
    expect(calls('save_message')).toEqual([]);
    expect(calls('set_message_status')).toEqual([]);
  });

  it('shows a message that arrives once, stored and acked by the app, not by the window', async () => {
    const room = await appRoom(['p-bob']);
    const message = { t: 'msg', id: 'm-1', body: 'hello Ann', sentAt: 5, name: 'Bob' };
    // The link's raw text reaches the window too; the app's chat event is what counts, told once per message.
    emit('fallback://message', { kind: 'message', peer: 'p-bob', text: JSON.stringify(message) });
    emit('chat://message', { peer: 'p-bob', message });
    emit('chat://message', { peer: 'p-bob', message });
    await new Promise((r) => setTimeout(r, 10));
    expect(room.chat.lines.filter((l) => l.body === 'hello Ann')).toHaveLength(1);
    expect(room.chat.lines.find((l) => l.body === 'hello Ann')).toMatchObject({ mine: false, status: 'delivered' });
    expect(calls('save_message')).toEqual([]);
    expect(calls('fallback_send')).toEqual([]); // no ack from the window
  });

  it('moves the ticks as the app reports sent, delivered (by everyone it went to) and read', async () => {
    const room = await appRoom(['p-bob', 'p-cy']);
    app.linked = []; // nobody took it at once: it waits in the app's outbox
    room.chat.send('news');
    await vi.waitFor(() => expect(calls('chat_send')).toHaveLength(1));
    const { id } = mine(room, 'news')!;
    await new Promise((r) => setTimeout(r, 10));
    expect(mine(room, 'news')?.status).toBe('pending');
    emit('chat://status', { id, peer: 'p-bob', status: 'sent' });
    emit('chat://status', { id, peer: 'p-cy', status: 'sent' });
    expect(mine(room, 'news')?.status).toBe('sent');
    // An ack on the raw link is Rust's to count, not the window's.
    emit('fallback://message', { kind: 'message', peer: 'p-bob', text: JSON.stringify({ t: 'ack', id }) });
    emit('fallback://message', { kind: 'message', peer: 'p-cy', text: JSON.stringify({ t: 'ack', id }) });
    expect(mine(room, 'news')?.status).toBe('sent');
    emit('chat://status', { id, peer: 'p-bob', status: 'delivered' });
    expect(mine(room, 'news')?.status).toBe('sent'); // Cy has not got it yet
    emit('chat://status', { id, peer: 'p-cy', status: 'delivered' });
    expect(mine(room, 'news')?.status).toBe('delivered');
    emit('chat://status', { id, peer: 'p-cy', status: 'read' });
    expect(mine(room, 'news')?.status).toBe('read');
    // The app stores these statuses itself.
    expect(calls('set_message_status')).toEqual([]);
  });

  it('shows read when the receipt comes before the app answered chat_send', async () => {
    const room = await appRoom(['p-bob']);
    app.whileSending = ({ id }) => {
      emit('chat://status', { id, peer: 'p-bob', status: 'sent' });
      emit('chat://status', { id, peer: 'p-bob', status: 'delivered' });
      emit('chat://status', { id, peer: 'p-bob', status: 'read' });
    };
    room.chat.send('quick');
    await vi.waitFor(() => expect(calls('chat_send')).toHaveLength(1));
    await vi.waitFor(() => expect(mine(room, 'quick')?.status).toBe('read'));
  });

  it('hands messages the history holds undelivered to the app again after a restart', async () => {
    const pending: Message = { id: 'm-old', room: 'team', sender: 'me', sender_name: 'Ann', outgoing: true, body: 'still here', sent_at: 7, status: 'pending', error: null };
    app.stored = [pending];
    const room = await appRoom([]);
    await vi.waitFor(() => expect(calls('chat_send')).toHaveLength(1));
    expect(calls('chat_send')[0]).toEqual({ room: 'team', message: { t: 'msg', id: 'm-old', body: 'still here', sentAt: 7, name: 'Ann' } });
    expect(room.chat.lines.filter((l) => l.id === 'm-old')).toHaveLength(1);
    emit('chat://status', { id: 'm-old', peer: 'p-bob', status: 'delivered' });
    expect(mine(room, 'still here')?.status).toBe('delivered');
  });
});
