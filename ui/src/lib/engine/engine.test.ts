// What the call area learns from a room's engine instead of asking which kind it is: whether calls run here
// (or why not), screen sharing, the devices menu, and which picture each tile draws.
import { describe, expect, it, vi } from 'vitest';
import { FakeTransport } from '../transport/testing';

const app = vi.hoisted(() => ({ support: null as unknown }));

vi.mock('../ipc', () => ({
  call: async (name: string) => {
    if (name === 'call_media_support' && app.support) return app.support;
    throw { kind: 'unavailable', message: `no ${name}` };
  },
  on: async () => () => undefined,
  send: () => undefined,
  describeError: (err: { message?: string }) => err.message ?? String(err),
}));
vi.mock('@tauri-apps/api/core', () => ({ Channel: class { onmessage = () => undefined; } }));

const { Room } = await import('../room.svelte');
const { NO_WEBRTC } = await import('./engine');

const local = { localStream: null, screenStream: null, cameraOff: false };

function nativeRoom(support: unknown) {
  app.support = support;
  return new Room('team', 'Ann', new FakeTransport(), { fallback: true });
}

describe('the app native engine', () => {
  it('offers calls, screen sharing and the devices menu where its media is available', async () => {
    const room = nativeRoom({ available: true, missing: [], test_media: true });
    expect(room.calls.available).toBe(false); // not before the app answered
    expect(room.calls.unavailableText).toBeNull();
    await vi.waitFor(() => expect(room.calls.available).toBe(true));
    expect(room.calls.unavailableText).toBeNull();
    expect(room.calls.screenShare).toBe(true);
    expect(room.calls.deviceMenu?.testMedia).toBe(true);
    expect(room.calls.listDevices).toBeUndefined();
    expect(room.chatFirst).toBe(true);
    // Pictures are the app's frames: none yet, and none for our preview with the camera off.
    expect(room.calls.picture('p-bob', local)).toEqual({ kind: 'frame', frame: undefined });
    expect(room.calls.picture(null, { ...local, cameraOff: true })).toEqual({ kind: 'frame', frame: undefined });
  });

  it('says what to install when GStreamer parts are missing, and no WebRTC when the app has no media', async () => {
    const missing = nativeRoom({ available: false, missing: [{ element: 'vp8enc', package: 'gstreamer1.0-plugins-good' }], test_media: false });
    await vi.waitFor(() => expect(missing.calls.unavailableText).toContain('install gstreamer1.0-plugins-good'));
    expect(missing.calls.deviceMenu).toBeNull();
    expect(missing.calls.screenShare).toBe(false);
    const none = nativeRoom(null);
    await vi.waitFor(() => expect(none.calls.unavailableText).toBe(NO_WEBRTC));
  });
});

describe('the browser engine', () => {
  it('in a window without RTCPeerConnection: no calls, and says why', () => {
    const room = new Room('team', 'Ann', new FakeTransport());
    expect(typeof RTCPeerConnection).toBe('undefined');
    expect(room.calls.available).toBe(false);
    expect(room.calls.unavailableText).toBe(NO_WEBRTC);
    expect(room.calls.deviceMenu).toBeNull();
    expect(room.chatFirst).toBe(true);
  });

  it('draws our preview from the shared screen over the camera, and a peer without media as an empty video', () => {
    const room = new Room('team', 'Ann', new FakeTransport());
    const camera = { id: 'camera' } as unknown as MediaStream;
    const screen = { id: 'screen' } as unknown as MediaStream;
    expect(room.calls.picture(null, { ...local, localStream: camera })).toEqual({ kind: 'stream', stream: camera, muted: true });
    expect(room.calls.picture(null, { ...local, localStream: camera, screenStream: screen })).toMatchObject({ stream: screen });
    expect(room.calls.picture('p-bob', local)).toEqual({ kind: 'stream', stream: null, muted: false });
  });
});
