// Calls through the app's native media, where the webview has no RTCPeerConnection (the Linux app): the
// Rust side captures camera and microphone with GStreamer, puts them on its own per-peer links (the ones
// that carry chat there) and decodes the peers' media. This module gives the Call state machine the same
// link interface the browser's PeerLink has (`NativeLink`), opens the shared local media with mute and
// camera-off controls, and turns the JPEG pictures the app streams over one IPC channel into images the
// call tiles draw. Ringing and call control stay in call.svelte.ts, unchanged. The person's camera,
// microphone and speaker (kept on this device like the chat settings) go to the app before each call and
// switch the running call's source; sharing the screen swaps the app's video source for the screen.

import { Channel } from '@tauri-apps/api/core';
import { call, describeError, on } from '../ipc';
import type { CallMediaSupport, DeviceChoice, MediaDevices, MediaNotice } from '../ipc.gen';
import type { MediaControl, LocalMedia } from './media';
import type { MediaLink } from './call.svelte';
import type { Quality } from './stats';
import type { EncodingLimits } from './abr';
import type { DeviceMenu, Frame } from '../engine/engine';

/** The key of our own preview in `Frames.latest`. */
export const LOCAL_FRAME = '';

/** The app's frame channel, shared by every room (the app keeps one subscriber): the latest picture of
 * every source, keyed `room\npeer` (remote) or `LOCAL_FRAME`. */
class Frames {
  latest = $state<Record<string, Frame>>({});
  private started = false;
  private unacked = 0;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;

  start(): void {
    if (this.started) return;
    this.started = true;
    const channel = new Channel<ArrayBuffer>();
    channel.onmessage = (message) => this.receive(message);
    call('call_frames', { frames: channel }).catch(() => (this.started = false));
  }

  private receive(message: ArrayBuffer): void {
    const bytes = new Uint8Array(message);
    if (bytes.length >= 4) {
      const length = new DataView(message).getUint32(0);
      try {
        const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length))) as {
          room: string | null; peer: string | null; width: number; height: number;
        };
        const key = header.room === null || header.peer === null ? LOCAL_FRAME : frameKey(header.room, header.peer);
        const url = URL.createObjectURL(new Blob([bytes.subarray(4 + length)], { type: 'image/jpeg' }));
        const previous = this.latest[key];
        this.latest = { ...this.latest, [key]: { url, count: (previous?.count ?? 0) + 1, width: header.width, height: header.height } };
        // The tile may still be decoding the previous picture: let it go a little later.
        if (previous) setTimeout(() => URL.revokeObjectURL(previous.url), 1000);
      } catch {
        // A malformed message: skip it.
      }
    }
    // The window keeps up: tell the app, batched, so it keeps sending.
    this.unacked += 1;
    this.ackTimer ??= setTimeout(() => {
      const count = this.unacked;
      this.unacked = 0;
      this.ackTimer = undefined;
      call('call_frames_drawn', { count }).catch(() => undefined);
    }, 0);
  }

  /** Forgets the pictures of sources that are gone (a call ended). */
  clear(keep: (key: string) => boolean): void {
    const kept: Record<string, Frame> = {};
    for (const [key, frame] of Object.entries(this.latest)) {
      if (keep(key)) kept[key] = frame;
      else setTimeout(() => URL.revokeObjectURL(frame.url), 1000);
    }
    this.latest = kept;
  }
}

export const nativeFrames = new Frames();

export function frameKey(room: string, peer: string): string {
  return `${room}\n${peer}`;
}

const DEVICES_KEY = 'p2pchat.native-devices';
type Storage = Pick<globalThis.Storage, 'getItem' | 'setItem'>;

/** The chosen devices, as saved on this device (unreadable or absent: the system's defaults). */
export function loadDeviceChoice(storage: Storage | undefined = globalThis.localStorage): DeviceChoice {
  const choice: DeviceChoice = { camera: null, microphone: null, speaker: null };
  try {
    const value: unknown = JSON.parse(storage?.getItem(DEVICES_KEY) ?? 'null');
    if (typeof value !== 'object' || value === null) return choice;
    for (const key of ['camera', 'microphone', 'speaker'] as const) {
      const id = (value as Record<string, unknown>)[key];
      if (typeof id === 'string' && id !== '') choice[key] = id;
    }
  } catch {
    // Edited by hand or storage blocked: the defaults.
  }
  return choice;
}

function saveDeviceChoice(choice: DeviceChoice, storage: Storage | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(DEVICES_KEY, JSON.stringify(choice));
  } catch {
    // Storage blocked or full: the choice holds for this window.
  }
}

/** A stand-in for the local stream: the media lives in the app, the Call only needs to know it is open. */
function placeholderStream(): MediaStream {
  if (typeof MediaStream !== 'undefined') return new MediaStream();
  return { getTracks: () => [], getAudioTracks: () => [], getVideoTracks: () => [] } as unknown as MediaStream;
}

/** Native call media of one room. */
export class NativeMedia implements DeviceMenu {
  /** Whether calls can run natively here (null until the app answered). */
  support = $state<CallMediaSupport | null>(null);
  /** The cameras, microphones and speakers present (null until listed: `listDevices`). */
  devices = $state<MediaDevices | null>(null);
  /** The person's choice (null: the system's default), kept on this device. */
  choice = $state<DeviceChoice>(loadDeviceChoice());
  /** What the last device change could not do (a chosen device that is gone), for the person. */
  deviceNotice = $state<string | null>(null);
  /** What went wrong with the call's media mid-call (a camera that failed, a peer's stream that
   * broke), as the app reports it: shown in the call until the next call's media opens. */
  notice = $state<string | null>(null);
  private readonly links = new Map<string, NativeLink>();
  private readonly unlisten: Promise<() => void>;
  /** The saved choice reaches the app before the first call opens media. */
  private chosen: Promise<unknown> = Promise.resolve();

  constructor(readonly room: string, private readonly storage: Storage | undefined = globalThis.localStorage) {
    this.choice = loadDeviceChoice(storage);
    // Without the app's events (unit tests) there is nothing to hear.
    this.unlisten = on('calls://media', (media) => this.reported(media)).catch(() => () => undefined);
    call('call_media_support').then(
      (support) => {
        this.support = support;
        if (support.available) {
          nativeFrames.start();
          this.chosen = call('call_media_use_devices', { choice: { ...this.choice } }).catch(() => undefined);
        }
      },
      () => (this.support = { available: false, missing: [], test_media: false }),
    );
  }

  /** Lists the devices present now (the menu opens). */
  async listDevices(): Promise<void> {
    try {
      this.devices = await call('call_media_devices');
    } catch (err) {
      this.devices = { cameras: [], microphones: [], speakers: [] };
      this.deviceNotice = `Devices cannot be listed (${describeError(err)}): the system's defaults are used.`;
    }
  }

  /** Picks a camera, microphone or speaker (null: the default): saved, used for the next call, and in a
   * call at once (camera and microphone; the speaker from the next call). */
  async choose(kind: keyof DeviceChoice, id: string | null): Promise<void> {
    this.choice = { ...this.choice, [kind]: id };
    saveDeviceChoice(this.choice, this.storage);
    const choice = { ...this.choice };
    this.chosen = call('call_media_use_devices', { choice });
    try {
      const notices = await this.chosen as string[];
      this.deviceNotice = notices.length > 0 ? notices.join(' ') : null;
    } catch (err) {
      this.deviceNotice = `That device cannot be used (${describeError(err)}).`;
    }
  }

  /** The screen instead of the camera, for the Call's screen sharing: a stand-in stream whose one track,
   * stopped, gives the camera back (the app's capture stays the call's one source). */
  async screen(): Promise<LocalMedia> {
    try {
      await call('call_media_share_screen', { on: true });
    } catch (err) {
      return { stream: null, notice: `Screen sharing unavailable (${describeError(err)}).` };
    }
    let stopped = false;
    const track = {
      kind: 'video',
      stop: () => {
        if (stopped) return;
        stopped = true;
        void call('call_media_share_screen', { on: false }).catch(() => undefined);
      },
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
    } as unknown as MediaStreamTrack;
    const stream = { getTracks: () => [track], getVideoTracks: () => [track], getAudioTracks: () => [] } as unknown as MediaStream;
    return { stream, notice: null };
  }

  get available(): boolean {
    return this.support?.available ?? false;
  }

  /** Calls send a test picture and tone whatever is chosen (the app's test media). */
  get testMedia(): boolean {
    return this.support?.test_media ?? false;
  }

  /** What to install for calls, when elements are missing (for the person). */
  get missingText(): string | null {
    const missing = this.support?.missing ?? [];
    if (missing.length === 0) return null;
    const packages = [...new Set(missing.map((m) => m.package))];
    return `Calls in this window need GStreamer parts that are not installed (${missing.map((m) => m.element).join(', ')}): install ${packages.join(' ')}, or open the room in your browser.`;
  }

  /** The link to `peer`'s native connection (the app ignores peers it has no link to). */
  link(peer: string): NativeLink {
    let link = this.links.get(peer);
    if (!link) {
      link = new NativeLink(this.room, peer);
      this.links.set(peer, link);
    }
    return link;
  }

  /** The latest picture of `peer`, or of our preview without one. */
  frame(peer?: string): Frame | undefined {
    return nativeFrames.latest[peer === undefined ? LOCAL_FRAME : frameKey(this.room, peer)];
  }

  /** Our own media's events, and this room's peers'. */
  private reported({ notice, event }: MediaNotice): void {
    const pipeline = event.pipeline;
    if ('room' in pipeline && pipeline.room !== this.room) return;
    this.notice = notice;
  }

  /** Opens the app's camera and microphone for a call (the Call's `media`). */
  async open(): Promise<LocalMedia> {
    this.notice = null;
    try {
      await this.chosen.catch(() => undefined);
      const info = await call('call_media_start');
      const notice = !info.video && !info.audio
        ? 'Camera and microphone unavailable: you can still chat.'
        : !info.video ? 'Camera unavailable: audio only.' : info.audio ? null : 'Microphone unavailable: the others will not hear you.';
      return { stream: placeholderStream(), notice: info.notices.length > 0 && notice ? `${notice} ${info.notices.join(' ')}` : notice, control: control(this.room) };
    } catch (err) {
      return { stream: null, notice: `Camera and microphone unavailable (${describeError(err)}): you can still chat.` };
    }
  }

  close(): void {
    this.links.clear();
    void this.unlisten.then((stop) => stop());
  }
}

/** Mute, camera off and stop act on the one capture every peer of the call shares. */
function control(room: string): MediaControl {
  return {
    setMuted: (muted) => void call('call_media_mute', { muted }).catch(() => undefined),
    setCameraOff: (off) => void call('call_media_camera_off', { off }).catch(() => undefined),
    stop: () => {
      void call('call_media_stop').catch(() => undefined);
      nativeFrames.clear((key) => key !== LOCAL_FRAME && !key.startsWith(`${room}\n`));
    },
  };
}

/** One peer's native connection as the Call drives it (see PeerLink for the browser's). */
export class NativeLink implements MediaLink {
  /** Media changes to this peer, one after another (invokes run concurrently and could reorder). */
  private queue: Promise<unknown> = Promise.resolve();
  private previous: { at: number; bytes: number } | null = null;

  constructor(private readonly room: string, private readonly peer: string) {}

  setLocalMedia(): void {
    this.then(() => call('call_media_attach', { room: this.room, peer: this.peer, live: true }));
  }

  prepareLocalMedia(): void {
    this.then(() => call('call_media_attach', { room: this.room, peer: this.peer, live: false }));
  }

  clearLocalMedia(): void {
    this.then(() => call('call_media_detach', { room: this.room, peer: this.peer }));
  }

  /** The shared screen is the capture's video for every peer (`NativeMedia.screen`): nothing per link. */
  shareVideo(): void {}

  videoSender(): undefined {
    return undefined;
  }

  /** The app's encoder is shared by the call: it runs at the lowest bitrate any peer's link allows. */
  applyLimits(limits: EncodingLimits): void {
    this.then(() => call('call_media_limits', { room: this.room, peer: this.peer, max_bitrate: limits.maxBitrate }));
  }

  async measure(): Promise<Quality | null> {
    const stats = await call('call_media_stats', { room: this.room, peer: this.peer }).catch(() => null);
    if (!stats) return null;
    const now = Date.now();
    const bitrate = this.previous && now > this.previous.at
      ? Math.max(0, ((stats.bytes_received - this.previous.bytes) * 8000) / (now - this.previous.at))
      : null;
    this.previous = { at: now, bytes: stats.bytes_received };
    return { rttMs: stats.rtt_ms, loss: stats.loss, bitrate, framesDecoded: stats.frames_decoded, localCandidateType: null };
  }

  private then(step: () => Promise<unknown>): void {
    this.queue = this.queue.then(step).catch(() => undefined);
  }
}
