// Protects the app's join: `connect` goes to the backend only once the event listeners are registered (a
// refusal emitted before was lost: no "invitation needed" on the join screen), room commands only after
// `connect` (sent at once they raced it and were lost: "Could not join room: not connected"), and
// `connect`'s answer ("connecting", read when it started) never hides a newer "connected" event from a
// fast server (the badge stayed "Connecting…").
import { beforeEach, describe, expect, it, vi } from 'vitest';

const calls: string[] = [];
/** The arguments of each `send`. */
const sent: unknown[] = [];
const handlers = new Map<string, (payload: unknown) => void>();
let answerConnect: (state: string) => void = () => undefined;
/** Registering a listener completes when this is resolved (as Tauri's listen, asynchronously). */
let listenersReady: Promise<void> = Promise.resolve();
vi.mock('../ipc', () => ({
  call: (name: string) => {
    calls.push(name);
    return name === 'connect' ? new Promise((resolve) => (answerConnect = resolve)) : Promise.resolve(null);
  },
  send: (name: string, args: unknown) => {
    calls.push(name);
    sent.push(args);
  },
  on: (name: string, handler: (payload: unknown) => void) =>
    listenersReady.then(() => {
      handlers.set(name, handler);
      return () => undefined;
    }),
}));

const { TauriTransport } = await import('./tauri');

describe('TauriTransport', () => {
  beforeEach(() => {
    calls.length = 0;
    handlers.clear();
    listenersReady = Promise.resolve();
  });

  it('asks the backend to connect only once it listens to its events', async () => {
    let ready: () => void = () => undefined;
    listenersReady = new Promise((resolve) => (ready = resolve));
    const transport = new TauriTransport('ws://s/ws');
    transport.connect('Ann');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls).toEqual([]);
    ready();
    await vi.waitFor(() => expect(calls).toEqual(['connect']));
    expect(handlers.has('signaling://frame')).toBe(true);
  });

  it('sends joins after connect has answered, and keeps the newer state', async () => {
    const transport = new TauriTransport('ws://s/ws');
    const states: string[] = [];
    transport.onState((s) => states.push(s));
    transport.connect('Ann', { current: () => 'a.b.c', renew: async () => undefined });
    transport.join('team');
    await vi.waitFor(() => expect(calls).toEqual(['connect']));
    handlers.get('signaling://state')?.('connected');
    answerConnect('connecting');
    await vi.waitFor(() => expect(calls).toEqual(['connect', 'join_room']));
    expect(states).toEqual(['connected']);
  });

  it('sends push frames on the app connection, after connect has answered', async () => {
    const transport = new TauriTransport('ws://s/ws');
    transport.connect('Ann');
    transport.pushFrame({ type: 'offline-members', room: 'team' });
    await vi.waitFor(() => expect(calls).toEqual(['connect']));
    answerConnect('connected');
    await vi.waitFor(() => expect(calls).toEqual(['connect', 'push_frame']));
    expect(sent.at(-1)).toEqual({ frame: { type: 'offline-members', room: 'team' } });
  });

  it("sends SFU frames on the app connection, and hands the server's answers to the room", async () => {
    const transport = new TauriTransport('ws://s/ws');
    const frames: unknown[] = [];
    transport.onFrame((f) => frames.push(f));
    transport.connect('Ann');
    transport.sfuFrame({ type: 'sfu-join', room: 'team', call: 'c-1' });
    await vi.waitFor(() => expect(calls).toEqual(['connect']));
    answerConnect('connected');
    await vi.waitFor(() => expect(calls).toEqual(['connect', 'sfu_frame']));
    expect(sent.at(-1)).toEqual({ frame: { type: 'sfu-join', room: 'team', call: 'c-1' } });
    const place = { type: 'sfu', seq: 3, room: 'team', call: 'c-1', url: 'ws://j', token: 't', janus_room: 7 };
    handlers.get('signaling://frame')?.(place);
    handlers.get('signaling://frame')?.({ type: 'sfu-lost', seq: 4, room: 'team', call: 'c-1' });
    expect(frames).toEqual([place, { type: 'sfu-lost', seq: 4, room: 'team', call: 'c-1' }]);
  });
});
