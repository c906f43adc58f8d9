// The people list of a room in the app's fallback mode (chat over the backend's native channels): everyone
// the app can talk to is listed, also when the server has not (yet) said they are here, e.g. a room opened
// while signaling is down, or a person whose new session the server has not announced.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerFrame } from './protocol.gen';
import { Room } from './room.svelte';
import type { FallbackEvents } from './engine/native-links';
import { FakeTransport } from './transport/testing';

/** The backend's channels as FallbackLinks reports them; the test opens and closes them. */
const backend = vi.hoisted(() => ({
  events: null as FallbackEvents | null,
  open: new Set<string>(),
  sent: [] as Array<{ peer: string; text: string }>,
  /** The app's chat (native-chat.ts): what the window handed over, and its incoming-message event. */
  chatSent: [] as Array<Record<string, unknown>>,
  chatEvents: {} as Record<string, (payload: unknown) => void>,
}));

vi.mock('./ipc', () => ({
  call: async (name: string, args: Record<string, unknown>) => {
    if (name !== 'chat_send') throw { kind: 'unavailable', message: `no ${name}` };
    backend.chatSent.push(args);
    return [...backend.open];
  },
  on: async (name: string, handler: (payload: unknown) => void) => {
    backend.chatEvents[name] = handler;
    return () => undefined;
  },
  describeError: (err: { message?: string }) => err.message ?? String(err),
}));

vi.mock('./engine/native-links', () => ({
  FallbackLinks: class {
    constructor(_room: string, events: FallbackEvents) {
      backend.events = events;
    }
    isOpen(peer: string) {
      return backend.open.has(peer);
    }
    send(peer: string, text: string) {
      if (!backend.open.has(peer)) return false;
      backend.sent.push({ peer, text });
      return true;
    }
    close() {}
  },
}));

let seq = 0;
const frame = (f: Record<string, unknown>) => ({ seq: ++seq, room: 'team', ...f }) as unknown as ServerFrame;
const people = (room: Room) => room.presence.map((p) => `${p.name || '?'}:${p.peer}:${p.link}`);
const message = (name: string, body: string) => JSON.stringify({ t: 'msg', id: `id-${body}`, body, sentAt: 1, name });

function enter() {
  const transport = new FakeTransport();
  const room = new Room('team', 'Ann', transport, { fallback: true });
  room.enter();
  const events = backend.events as FallbackEvents;
  const open = (peer: string) => {
    backend.open.add(peer);
    events.open(peer);
  };
  const closed = (peer: string) => {
    backend.open.delete(peer);
    events.closed(peer);
  };
  const rekeyed = (from: string, to: string) => {
    if (backend.open.delete(from)) backend.open.add(to);
    events.rekeyed(from, to);
  };
  return { room, transport, events, open, closed, rekeyed, server: (f: Record<string, unknown>) => transport.frames.emit(frame(f)) };
}

beforeEach(() => {
  backend.events = null;
  backend.open.clear();
  backend.sent.length = 0;
  backend.chatSent.length = 0;
  backend.chatEvents = {};
});

describe('people list with the native fallback', () => {
  it('a room opened while signaling is down lists whoever a channel reaches, and chat goes to them', async () => {
    const { room, transport, open } = enter();
    transport.states.emit('reconnecting');
    open('p-bob');
    expect(people(room)).toEqual(['?:p-bob:connected']);
    await vi.waitFor(() => expect(backend.chatEvents['chat://message']).toBeDefined());
    backend.chatEvents['chat://message']!({ room: 'team', peer: 'p-bob', message: JSON.parse(message('Bob', 'hello')) });
    expect(people(room)).toEqual(['Bob:p-bob:connected']);
    expect(room.nameOf('p-bob')).toBe('Bob');

    expect(room.chat.send('hi Bob')).toBe(true);
    await vi.waitFor(() => expect(backend.chatSent).toHaveLength(1));
    expect(backend.chatSent[0]).toMatchObject({ room: 'team', message: { t: 'msg', body: 'hi Bob' } });
    await vi.waitFor(() => expect(room.chat.lines.at(-1)?.status).toBe('sent'));
  });

  it('the server list after a fresh session keeps people still reached over a channel; peer-joined names them', () => {
    const { room, open, server } = enter();
    open('p-bob');
    server({ type: 'joined', peers: [{ peer: 'p-carol', name: 'Carol' }] });
    expect(people(room)).toEqual(['Carol:p-carol:none', '?:p-bob:connected']);
    server({ type: 'peer-joined', peer: 'p-bob', name: 'Bob' });
    expect(people(room)).toEqual(['Carol:p-carol:none', 'Bob:p-bob:connected']);
    // A later server list without Bob still keeps him while his channel is open.
    server({ type: 'joined', peers: [] });
    expect(people(room)).toEqual(['Bob:p-bob:connected']);
  });

  it('a person with a new peer id stays listed under it before the server announces it', () => {
    const { room, open, rekeyed, server } = enter();
    server({ type: 'joined', peers: [{ peer: 'old-bob', name: 'Bob' }] });
    open('old-bob');
    rekeyed('old-bob', 'new-bob');
    expect(people(room)).toEqual(['Bob:new-bob:connected']);
    server({ type: 'peer-joined', peer: 'new-bob', name: 'Bob' });
    server({ type: 'peer-left', peer: 'old-bob' }); // the old session ends later
    expect(people(room)).toEqual(['Bob:new-bob:connected']);
  });

  it('a closed channel takes an unlisted person off the list; a listed person stays with the state', () => {
    const { room, open, closed, events, server } = enter();
    server({ type: 'joined', peers: [{ peer: 'p-bob', name: 'Bob' }] });
    open('p-bob');
    open('p-dan');
    expect(people(room)).toEqual(['Bob:p-bob:connected', '?:p-dan:connected']);
    closed('p-dan');
    closed('p-bob');
    expect(people(room)).toEqual(['Bob:p-bob:closed']);
    events.failed('p-bob', 'ICE failed');
    expect(people(room)).toEqual(['Bob:p-bob:failed']);
    server({ type: 'peer-left', peer: 'p-bob' });
    expect(people(room)).toEqual([]);
  });
});

describe('signal trace (test hook)', () => {
  it('records frames and signals sent, newest last', async () => {
    vi.stubGlobal('navigator', {}); // no camera here: the call rings without media
    const { room, server } = enter();
    server({ type: 'welcome', peer: 'p-ann', session: 's', resumed: false, heartbeat_ms: 1000, ice_servers: [] });
    server({ type: 'joined', peers: [{ peer: 'p-bob', name: 'Bob' }] });
    await room.call.start();
    server({ type: 'signal', from: 'p-bob', data: { kind: 'decline', call: room.call.id } });
    const trace = (globalThis as { __p2pchatDebug?: { signalTrace?: () => string[] } }).__p2pchatDebug?.signalTrace?.() ?? [];
    const events = trace.map((line) => line.replace(/^\d\d:\d\d:\d\d\.\d{3} /, ''));
    expect(events.slice(0, 3)).toEqual(['welcome p-ann', 'joined team: p-bob', expect.stringMatching(/^out p-bob invite \S+$/)]);
    expect(events.at(-1)).toMatch(/^in p-bob decline \S+$/);
    vi.unstubAllGlobals();
  });
});
