// Native call media as the Call drives it (the Linux app): media changes reach the app in the order the
// call made them, the quality indicator gets the link's own figures, a missing camera is said as the browser
// says it, and mute/camera off/stop act on the app's one capture.
import { beforeEach, describe, expect, it, vi } from 'vitest';

const app = vi.hoisted(() => ({
  calls: [] as Array<[string, unknown]>,
  /** Per command: what it answers (a function of the args), or a rejection. */
  answers: {} as Record<string, (args: unknown) => unknown>,
  /** The window's event listeners, by event name. */
  listeners: {} as Record<string, Array<(payload: unknown) => void>>,
}));

vi.mock('../ipc', () => ({
  call: async (name: string, args?: unknown) => {
    app.calls.push([name, args]);
    // Attach answers late and detach early: without ordering they would overtake each other.
    await new Promise((r) => setTimeout(r, name === 'call_media_attach' ? 20 : 1));
    const answer = app.answers[name];
    if (!answer) throw { kind: 'unavailable', message: `no ${name}` };
    return answer(args);
  },
  describeError: (err: { message?: string }) => err.message ?? String(err),
  on: async (name: string, handler: (payload: unknown) => void) => {
    (app.listeners[name] ??= []).push(handler);
    return () => (app.listeners[name] = (app.listeners[name] ?? []).filter((h) => h !== handler));
  },
}));
vi.mock('@tauri-apps/api/core', () => ({ Channel: class { onmessage = () => undefined; } }));

const { NativeLink, NativeMedia } = await import('./native.svelte');

beforeEach(() => {
  app.calls = [];
  app.listeners = {};
  app.answers = { call_media_support: () => ({ available: true, missing: [], test_media: true }), call_frames: () => null };
});

describe('NativeLink', () => {
  it('sends media changes to the app one after another, in the order the call made them', async () => {
    const order: string[] = [];
    app.answers.call_media_attach = (a) => order.push(`attach live=${(a as { live: boolean }).live}`);
    app.answers.call_media_detach = () => order.push('detach');
    const link = new NativeLink('team', 'bob');
    link.prepareLocalMedia();
    link.setLocalMedia();
    link.clearLocalMedia();
    await vi.waitFor(() => expect(order).toHaveLength(3));
    expect(order).toEqual(['attach live=false', 'attach live=true', 'detach']);
    expect(app.calls.find(([n]) => n === 'call_media_attach')?.[1]).toEqual({ room: 'team', peer: 'bob', live: false });
  });

  it('measures quality from the app: round trip, loss, frames, received bitrate', async () => {
    let bytes = 0;
    app.answers.call_media_stats = () => ({ frames_decoded: 40, audio_level: 0.1, bytes_received: (bytes += 100_000), rtt_ms: 12, loss: 0.01, sending: true });
    const link = new NativeLink('team', 'bob');
    const first = await link.measure();
    expect(first).toMatchObject({ rttMs: 12, loss: 0.01, framesDecoded: 40, bitrate: null });
    await new Promise((r) => setTimeout(r, 50));
    const second = await link.measure();
    expect(second?.bitrate).toBeGreaterThan(0);
  });

  it('reads no quality when the app has no link to the peer', async () => {
    app.answers.call_media_stats = () => null;
    expect(await new NativeLink('team', 'gone').measure()).toBeNull();
  });
});

describe('NativeMedia', () => {
  it('opens the app capture; no camera means audio only, said to the person', async () => {
    app.answers.call_media_start = () => ({ video: false, audio: true, notices: ['Camera unavailable (no device).'] });
    const media = new NativeMedia('team');
    const { stream, notice, control } = await media.open();
    expect(stream).not.toBeNull();
    expect(notice).toMatch(/audio only/);
    control?.setMuted(true);
    control?.setCameraOff(true);
    control?.stop();
    await vi.waitFor(() => expect(app.calls.map(([n]) => n)).toEqual(expect.arrayContaining(['call_media_mute', 'call_media_camera_off', 'call_media_stop'])));
    expect(app.calls.find(([n]) => n === 'call_media_mute')?.[1]).toEqual({ muted: true });
  });

  it('a capture that cannot start leaves chat only, with the reason (the missing package)', async () => {
    app.answers.call_media_start = () => {
      throw { kind: 'unavailable', message: 'calls need GStreamer elements that are not installed (vp8enc): install gstreamer1.0-plugins-good' };
    };
    const { stream, notice } = await new NativeMedia('team').open();
    expect(stream).toBeNull();
    expect(notice).toMatch(/gstreamer1.0-plugins-good/);
  });

  it('shows what the app reports of the call\'s media mid-call, for our media and this room\'s peers', async () => {
    app.answers.call_media_start = () => ({ video: true, audio: true, notices: [] });
    const media = new NativeMedia('team');
    await media.open();
    const emit = (payload: unknown) => (app.listeners['calls://media'] ?? []).forEach((h) => h(payload));
    emit({ notice: 'A participant\'s picture stopped (x).', event: { kind: 'error', pipeline: { media: 'peer-video', room: 'other', peer: 'p' }, message: 'x' } });
    expect(media.notice).toBeNull();
    const camera = 'Your camera stopped (Failed after iterations as requested.): the others no longer see you.';
    emit({ notice: camera, event: { kind: 'error', pipeline: { media: 'camera' }, message: 'Failed after iterations as requested.' } });
    expect(media.notice).toBe(camera);
    await media.open();
    expect(media.notice).toBeNull();
    media.close();
    await vi.waitFor(() => expect(app.listeners['calls://media']).toHaveLength(0));
  });

  it('names the packages to install when GStreamer elements are missing', async () => {
    app.answers.call_media_support = () => ({ available: false, missing: [{ element: 'vp8enc', package: 'gstreamer1.0-plugins-good' }, { element: 'vp8dec', package: 'gstreamer1.0-plugins-good' }], test_media: false });
    const media = new NativeMedia('team');
    await vi.waitFor(() => expect(media.support).not.toBeNull());
    expect(media.available).toBe(false);
    expect(media.missingText).toMatch(/vp8enc, vp8dec\): install gstreamer1.0-plugins-good,/);
  });
});

describe('NativeMedia devices and screen', () => {
  function memoryStorage(initial: Record<string, string> = {}) {
    const data = { ...initial };
    return { data, getItem: (k: string) => data[k] ?? null, setItem: (k: string, v: string) => void (data[k] = v) };
  }

  it('sends the saved device choice to the app before the first call opens media', async () => {
    const storage = memoryStorage({ 'p2pchat.native-devices': JSON.stringify({ camera: '/dev/video2', microphone: 42, speaker: 'usb-headset' }) });
    app.answers.call_media_use_devices = () => [];
    app.answers.call_media_start = () => ({ video: true, audio: true, notices: [] });
    const media = new NativeMedia('team', storage);
    await vi.waitFor(() => expect(media.available).toBe(true));
    await media.open();
    const names = app.calls.map(([n]) => n);
    expect(names.indexOf('call_media_use_devices')).toBeLessThan(names.indexOf('call_media_start'));
    // A malformed entry (not a string) is the default.
    expect(app.calls.find(([n]) => n === 'call_media_use_devices')?.[1]).toEqual({ choice: { camera: '/dev/video2', microphone: null, speaker: 'usb-headset' } });
  });

  it('keeps a new choice on this device and shows what the app could not do', async () => {
    const storage = memoryStorage();
    app.answers.call_media_use_devices = () => ['The chosen microphone usb-mic is unavailable (gone): using the default microphone.'];
    const media = new NativeMedia('team', storage);
    await media.choose('microphone', 'usb-mic');
    expect(JSON.parse(storage.data['p2pchat.native-devices'] ?? 'null')).toEqual({ camera: null, microphone: 'usb-mic', speaker: null });
    expect(media.deviceNotice).toContain('using the default microphone');
    expect(new NativeMedia('team', storage).choice.microphone).toBe('usb-mic');
  });

  it('lists devices, and says so when they cannot be listed', async () => {
    app.answers.call_media_devices = () => ({ cameras: [], microphones: [{ id: 'mic', name: 'Mic' }], speakers: [] });
    const media = new NativeMedia('team', memoryStorage());
    await media.listDevices();
    expect(media.devices?.microphones).toEqual([{ id: 'mic', name: 'Mic' }]);
    delete app.answers.call_media_devices;
    await media.listDevices();
    expect(media.devices).toEqual({ cameras: [], microphones: [], speakers: [] });
    expect(media.deviceNotice).toContain('cannot be listed');
  });

  it('shares the screen through the app; stopping the stand-in track gives the camera back once', async () => {
    const shares: boolean[] = [];
    app.answers.call_media_share_screen = (a) => (shares.push((a as { on: boolean }).on), []);
    const media = new NativeMedia('team', memoryStorage());
    const { stream, notice } = await media.screen();
    expect(notice).toBeNull();
    const track = stream?.getVideoTracks()[0];
    expect(track).toBeDefined();
    track?.stop();
    track?.stop();
    await vi.waitFor(() => expect(shares).toEqual([true, false]));
  });

  it('says why the screen cannot be shared', async () => {
    app.answers.call_media_share_screen = () => {
      throw { kind: 'unavailable', message: 'no X11 display' };
    };
    const { stream, notice } = await new NativeMedia('team', memoryStorage()).screen();
    expect(stream).toBeNull();
    expect(notice).toBe('Screen sharing unavailable (no X11 display).');
  });
});
