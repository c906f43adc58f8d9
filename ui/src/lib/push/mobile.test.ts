// The app's PushClient on a phone: what it asks the push-call plugin (the Kotlin/Swift side cannot run
// here, so `invoke` stands in for it) and what it makes of the answers: a subscription the server takes,
// the plugin's sentence when it refuses, the decline address beside the room's socket, the answered call.
import 'fake-indexeddb/auto';
import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
const addPluginListener = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({
  invoke: (...args: unknown[]) => invoke(...args),
  addPluginListener: (...args: unknown[]) => addPluginListener(...args),
}));

const { declineUrl, forgetMobilePush, mobilePush, onMobileAnswer, takeMobileAnswer, wireSubscription } = await import('./mobile');

const SOCKET = 'wss://chat.example.org/ws';
const webpush = { kind: 'webpush', endpoint: 'https://ntfy.example.net/up123', keys: { p256dh: 'BPk', auth: 'au' } };

describe('declineUrl', () => {
  it('is push/decline beside the socket, over http(s)', () => {
    expect(declineUrl(SOCKET)).toBe('https://chat.example.org/push/decline');
    expect(declineUrl('ws://10.0.2.2:8080/ws')).toBe('http://10.0.2.2:8080/push/decline');
    expect(declineUrl('wss://example.org/chat/ws?x=1#y')).toBe('https://example.org/chat/push/decline');
  });

  it('is null for anything but a socket address', () => {
    expect(declineUrl('https://example.org/ws')).toBeNull();
    expect(declineUrl('not a url')).toBeNull();
  });
});

describe('mobilePush.subscribe', () => {
  beforeEach(() => invoke.mockReset());

  it('asks the plugin with the server key, the room and where declines go, and gives the subscription', async () => {
    invoke.mockResolvedValueOnce({ subscription: webpush });
    const push = mobilePush('team', async () => SOCKET);
    await expect(push.subscribe('VAPIDKEY', true)).resolves.toEqual({ subscription: webpush });
    expect(invoke).toHaveBeenCalledWith('plugin:push-call|subscribe', {
      vapidKey: 'VAPIDKEY',
      declineUrl: 'https://chat.example.org/push/decline',
      room: 'team',
      ask: true,
    });
  });

  it('gives a gateway token (FCM on Android, PushKit on iOS) as is', async () => {
    const voip = { kind: 'gateway', platform: 'apns-voip', token: 'ab12' };
    invoke.mockResolvedValueOnce({ subscription: voip });
    await expect(mobilePush('team', async () => SOCKET).subscribe('K', false)).resolves.toEqual({ subscription: voip });
  });

  it("passes the plugin's refusal on for the person", async () => {
    invoke.mockRejectedValueOnce({ message: 'No push service on this phone: install a UnifiedPush distributor (for example ntfy) to be rung here.' });
    await expect(mobilePush('team', async () => SOCKET).subscribe('K', true)).resolves.toEqual({
      refused: 'No push service on this phone: install a UnifiedPush distributor (for example ntfy) to be rung here.',
    });
    invoke.mockRejectedValueOnce('Allow notifications for p2pchat to be rung here when you are away.');
    await expect(mobilePush('team', async () => SOCKET).subscribe('K', false)).resolves.toEqual({
      refused: 'Allow notifications for p2pchat to be rung here when you are away.',
    });
  });

  it('refuses a malformed answer instead of registering it', async () => {
    invoke.mockResolvedValueOnce({ subscription: { kind: 'webpush', endpoint: 'https://x' } });
    await expect(mobilePush('team', async () => SOCKET).subscribe('K', true)).resolves.toEqual({ refused: 'This phone gave no usable push subscription.' });
  });

  it('needs the room’s server to say where declines go', async () => {
    await expect(mobilePush('team', async () => undefined).subscribe('K', true)).resolves.toEqual({ refused: 'The app has no server address to be rung from.' });
    expect(invoke).not.toHaveBeenCalled();
  });

  it('keeps the device and the wanted rooms like a browser', async () => {
    const push = mobilePush('team', async () => SOCKET);
    const device = await push.device();
    expect(device.id.length).toBeGreaterThanOrEqual(8);
    expect(await push.device()).toEqual(device);
    await push.setWanted('team', true);
    expect(await push.wanted('team')).toBe(true);
    await push.setWanted('team', false);
    expect(await push.wanted('team')).toBe(false);
  });
});

describe('wireSubscription', () => {
  it('takes only the shapes of docs/protocol.md', () => {
    expect(wireSubscription(webpush)).toEqual(webpush);
    expect(wireSubscription({ kind: 'gateway', platform: 'fcm', token: 't' })).toEqual({ kind: 'gateway', platform: 'fcm', token: 't' });
    expect(wireSubscription({ kind: 'gateway', platform: 'sms', token: 't' })).toBeNull();
    expect(wireSubscription({ kind: 'gateway', platform: 'fcm', token: '' })).toBeNull();
    expect(wireSubscription(null)).toBeNull();
  });
});

describe('takeMobileAnswer', () => {
  beforeEach(() => invoke.mockReset());

  it('gives the answered call once the plugin has one', async () => {
    invoke.mockResolvedValueOnce({ room: 'team', call: 'c-42', from: 'peer_A1' });
    await expect(takeMobileAnswer()).resolves.toEqual({ room: 'team', call: 'c-42', from: 'peer_A1' });
    expect(invoke).toHaveBeenCalledWith('plugin:push-call|take_answer');
  });

  it('is null when nothing was answered, the answer is incomplete, or there is no plugin (desktop)', async () => {
    invoke.mockResolvedValueOnce(null);
    await expect(takeMobileAnswer()).resolves.toBeNull();
    invoke.mockResolvedValueOnce({ room: 'team', call: '' , from: 'p' });
    await expect(takeMobileAnswer()).resolves.toBeNull();
    invoke.mockRejectedValueOnce('Command take_answer not found');
    await expect(takeMobileAnswer()).resolves.toBeNull();
  });
});

describe('forgetMobilePush', () => {
  beforeEach(() => invoke.mockReset());

  it('drops the phone’s push registrations and makes the next device a new one', async () => {
    const push = mobilePush('team', async () => SOCKET);
    const before = await push.device();
    await push.setWanted('team', true);
    invoke.mockResolvedValueOnce(null);
    await forgetMobilePush();
    expect(invoke).toHaveBeenCalledWith('plugin:push-call|unsubscribe');
    expect(await push.wanted('team')).toBe(false);
    expect((await push.device()).id).not.toBe(before.id);
  });

  it('forgets the device even where there is no plugin (desktop)', async () => {
    const push = mobilePush('team', async () => SOCKET);
    const before = await push.device();
    invoke.mockRejectedValueOnce('Command unsubscribe not found');
    await forgetMobilePush();
    expect((await push.device()).id).not.toBe(before.id);
  });
});

describe('onMobileAnswer', () => {
  it("hears the plugin's answer event", async () => {
    let fire: (() => void) | undefined;
    addPluginListener.mockImplementationOnce(async (_plugin: string, _event: string, cb: () => void) => {
      fire = cb;
      return {};
    });
    const answered = vi.fn();
    onMobileAnswer(answered);
    expect(addPluginListener).toHaveBeenCalledWith('push-call', 'answer', expect.any(Function));
    fire?.();
    expect(answered).toHaveBeenCalledTimes(1);
  });

  it('is quiet where there is no plugin (desktop)', async () => {
    addPluginListener.mockRejectedValueOnce('Command register_listener not found');
    expect(() => onMobileAnswer(() => undefined)).not.toThrow();
  });
});
