// Ringing people who are away, as the room runs it: where the server rings by push, the room asks who is
// registered but away (on joining and when someone leaves), lists them by name (not those present, not
// ourselves), rings their devices when calling, and "Ring me here when I'm away" registers this device
// (again on every join) and unregisters it. The push client is a fake (no browser here); the server is the
// test, through a fake transport.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { PushSubscription as WireSubscription, ServerFrame } from './protocol.gen';
import { Room } from './room.svelte';
import type { PushClient, Subscribed } from './push/client';
import { FakeTransport } from './transport/testing';

vi.mock('./ipc', () => ({
  call: async () => [],
  on: async () => () => undefined,
  describeError: (err: { message?: string }) => err.message ?? String(err),
}));
vi.mock('./engine/native-links', () => ({
  FallbackLinks: class {
    isOpen() {
      return false;
    }
    send() {
      return false;
    }
    close() {}
  },
}));

const subscription: WireSubscription = { kind: 'webpush', endpoint: 'https://push.example/abc', keys: { p256dh: 'pk', auth: 'au' } };

class FakePush implements PushClient {
  rooms = new Set<string>();
  answer: Subscribed = { subscription };
  asked: boolean[] = [];
  async device() {
    return { id: 'dev-ann-0001', secret: 'secret-secret-secret-01' };
  }
  async wanted(room: string) {
    return this.rooms.has(room);
  }
  async setWanted(room: string, on: boolean) {
    if (on) this.rooms.add(room);
    else this.rooms.delete(room);
  }
  async subscribe(_key: string, ask: boolean) {
    this.asked.push(ask);
    return this.answer;
  }
}

let seq = 0;
const frame = (f: Record<string, unknown>) => ({ seq: ++seq, ...f }) as unknown as ServerFrame;
const welcome = (push = true) =>
  frame({ type: 'welcome', peer: 'p-ann', session: 's', resumed: false, resume_token: 't', heartbeat_ms: 10000, ice_servers: [], ...(push ? { push: { vapid_key: 'BKEY' } } : {}) });
const flush = () => new Promise((r) => setTimeout(r, 0));

function enter(push = new FakePush()) {
  const transport = new FakeTransport();
  const room = new Room('team', 'Ann', transport, { fallback: true, push });
  room.enter();
  const server = (f: Record<string, unknown>) => transport.frames.emit(frame(f));
  return { room, transport, push, server };
}

beforeEach(() => {
  seq = 0;
});

describe('people away', () => {
  it('asked for on joining and when someone leaves; listed by name, without those present and ourselves', async () => {
    const { room, transport, server } = enter();
    transport.frames.emit(welcome());
    server({ type: 'joined', room: 'team', peers: [{ peer: 'p-carol', name: 'Carol' }] });
    expect(transport.pushes).toContainEqual({ type: 'offline-members', room: 'team' });
    server({
      type: 'offline-members',
      room: 'team',
      members: [
        { device: 'bob-phone', name: 'Bob', last_seen: 1 },
        { device: 'bob-laptop', name: 'Bob', last_seen: 2 },
        { device: 'carol-phone', name: 'Carol', last_seen: 3 },
        { device: 'ann-phone', name: 'Ann', last_seen: 4 },
      ],
    });
    expect(room.away).toEqual([{ name: 'Bob', devices: ['bob-phone', 'bob-laptop'] }]);
    server({ type: 'offline-members', room: 'other', members: [] }); // another room's answer changes nothing
    expect(room.away).toHaveLength(1);
    transport.pushes.length = 0;
    server({ type: 'peer-left', room: 'team', peer: 'p-carol' });
    expect(transport.pushes).toEqual([{ type: 'offline-members', room: 'team' }]);
  });

  it('a server without push: nothing asked, nothing offered', async () => {
    const { room, transport, server } = enter();
    transport.frames.emit(welcome(false));
    server({ type: 'joined', room: 'team', peers: [] });
    await flush();
    expect(transport.pushes).toEqual([]);
    expect(room.ringHere).toBe('unavailable');
  });

  it('calling rings their devices; a device nobody could ring or a decline end it', async () => {
    const { room, transport, server } = enter();
    transport.frames.emit(welcome());
    server({ type: 'joined', room: 'team', peers: [] });
    server({ type: 'offline-members', room: 'team', members: [{ device: 'bob-phone', name: 'Bob', last_seen: 1 }, { device: 'bob-laptop', name: 'Bob', last_seen: 1 }] });
    transport.pushes.length = 0;
    room.call.start();
    const call = room.call.id!;
    expect(transport.pushes).toEqual([
      { type: 'ring', room: 'team', device: 'bob-phone', call, media: ['audio', 'video'] },
      { type: 'ring', room: 'team', device: 'bob-laptop', call, media: ['audio', 'video'] },
    ]);
    server({ type: 'ringing', room: 'team', device: 'bob-phone', call, sent: 0 });
    expect(room.call.ringingAway.map((d) => d.device)).toEqual(['bob-laptop']);
    server({ type: 'ring-declined', room: 'team', device: 'bob-laptop', call });
    expect(room.call.phase).toBe('idle');
    expect(room.call.notice).toBe('Bob declined the call.');
  });
});

describe('"Ring me here when I\'m away"', () => {
  it('turned on: permission asked, this device registered; on again at every join; off unregisters', async () => {
    const { room, transport, push, server } = enter();
    transport.frames.emit(welcome());
    server({ type: 'joined', room: 'team', peers: [] });
    await flush();
    expect(room.ringHere).toBe('off');
    expect(push.asked).toEqual([]); // not wanted yet: nothing registered, nobody asked
    await room.setRingHere(true);
    expect(push.asked).toEqual([true]);
    const register = { type: 'push-register', room: 'team', device: 'dev-ann-0001', secret: 'secret-secret-secret-01', subscription };
    expect(transport.pushes).toContainEqual(register);
    expect(room.ringHere).toBe('busy');
    server({ type: 'push-registered', room: 'team', device: 'dev-ann-0001', expires_at: 1 });
    expect(room.ringHere).toBe('on');

    // A fresh session (the next visit, a reconnect): registered again without asking, which renews it.
    transport.pushes.length = 0;
    transport.frames.emit(welcome());
    server({ type: 'joined', room: 'team', peers: [] });
    await flush();
    await flush();
    expect(push.asked).toEqual([true, false]);
    expect(transport.pushes).toContainEqual(register);

    await room.setRingHere(false);
    expect(room.ringHere).toBe('off');
    expect(transport.pushes.at(-1)).toEqual({ type: 'push-unregister', device: 'dev-ann-0001', secret: 'secret-secret-secret-01', room: 'team' });
    expect(await push.wanted('team')).toBe(false);
  });

  it('permission refused, or the server refusing: off, and why', async () => {
    const push = new FakePush();
    push.answer = { refused: 'Notifications are blocked.' };
    const { room, transport, server } = enter(push);
    transport.frames.emit(welcome());
    server({ type: 'joined', room: 'team', peers: [] });
    await room.setRingHere(true);
    expect(room.ringHere).toBe('off');
    expect(room.ringHereNotice).toBe('Notifications are blocked.');
    expect(transport.pushes.filter((f) => f.type === 'push-register')).toEqual([]);

    push.answer = { subscription };
    await room.setRingHere(true);
    server({ type: 'error', code: 'push_refused', message: 'too many devices', ref: 'push-register' });
    expect(room.ringHere).toBe('off');
    expect(room.ringHereNotice).toMatch(/too many devices/);
    expect(await push.wanted('team')).toBe(false);
  });
});

describe('answering from a notification', () => {
  it('once in the room, asks the caller to let it into the call', async () => {
    const { room, transport, server } = enter();
    room.answerOnJoin('call-1', 'p-alice');
    transport.frames.emit(welcome());
    server({ type: 'joined', room: 'team', peers: [{ peer: 'p-alice', name: 'Alice' }] });
    await flush();
    expect(room.call.phase).toBe('active');
    expect(transport.signals).toContainEqual({ to: 'p-alice', data: { kind: 'join-call', call: 'call-1' } });
  });
});
