// Protects the app's join: room commands reach the backend only after `connect` (sent at once they raced
// it and were lost: "Could not join room: not connected"), and `connect`'s answer ("connecting", read when
// it started) never hides a newer "connected" event from a fast server (the badge stayed "Connecting…").
import { beforeEach, describe, expect, it, vi } from 'vitest';

const calls: string[] = [];
const handlers = new Map<string, (payload: unknown) => void>();
let answerConnect: (state: string) => void = () => undefined;
vi.mock('../ipc', () => ({
  call: (name: string) => {
    calls.push(name);
    return name === 'connect' ? new Promise((resolve) => (answerConnect = resolve)) : Promise.resolve(null);
  },
  send: (name: string) => calls.push(name),
  on: (name: string, handler: (payload: unknown) => void) => {
    handlers.set(name, handler);
    return Promise.resolve(() => undefined);
  },
}));

const { TauriTransport } = await import('./tauri');

describe('TauriTransport', () => {
  beforeEach(() => {
    calls.length = 0;
  });

  it('sends joins after connect has answered, and keeps the newer state', async () => {
    const transport = new TauriTransport('ws://s/ws');
    const states: string[] = [];
    transport.onState((s) => states.push(s));
    transport.connect('Ann', { current: () => 'a.b.c', renew: async () => undefined });
    transport.join('team');
    await Promise.resolve();
    expect(calls).toEqual(['connect']);
    handlers.get('signaling://state')?.('connected');
    answerConnect('connecting');
    await vi.waitFor(() => expect(calls).toEqual(['connect', 'join_room']));
    expect(states).toEqual(['connected']);
  });
});
