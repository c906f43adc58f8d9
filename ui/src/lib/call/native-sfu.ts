// An SFU call's media in the app's native engine (the Linux app, whose webview has no WebRTC): the Rust side
// (src-tauri/src/calls/sfu.rs) holds our key and the others' (p2pchat_core's CallKeys, the browser's frame format),
// joins the Janus videoroom, publishes the call's one capture and decodes everyone else's into the same frame
// channel mesh calls use (keyed room and peer: the tiles draw them unchanged). sfu-call.svelte.ts drives it as
// it drives the page's media; what the videoroom decodes is read every POLL_MS: a person's first picture is
// what stops the mesh media with them, a lost videoroom what asks to be placed again.

import { call } from '../ipc';
import type { IceServer } from '../protocol.gen';
import type { SfuMedia, SfuPlace, SfuRoom, VideoRoomEvents } from './sfu-media';

/** How often the videoroom's state is read. */
export const POLL_MS = 500;
/** How many keys of each participant are kept (to follow them to a new peer id), as the core keeps them. */
const KEPT_KEYS = 3;

export class NativeSfuMedia implements SfuMedia {
  /** Each participant's last keys: a person's new peer id gets them again (the app keeps keys by peer id). */
  private readonly peerKeys = new Map<string, Array<{ id: number; raw: Uint8Array }>>();
  /** Commands in order (invokes run concurrently and could reorder a key and the join that needs it). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly room: string,
    private readonly call: string,
    private readonly opened: (peer: string) => void,
  ) {}

  giveKey(peer: string): void {
    this.then(() => call('call_sfu_give_key', { room: this.room, call: this.call, peers: [peer], rotate: false }));
  }

  rotateKey(stay: string[]): void {
    this.then(() => call('call_sfu_give_key', { room: this.room, call: this.call, peers: stay, rotate: true }));
  }

  setPeerKey(peer: string, id: number, raw: Uint8Array): void {
    this.peerKeys.set(peer, [...(this.peerKeys.get(peer) ?? []).filter((k) => k.id !== id), { id, raw }].slice(-KEPT_KEYS));
    this.then(() => call('call_sfu_peer_key', { room: this.room, call: this.call, peer, id, key: [...raw] }));
  }

  forgetPeer(peer: string): void {
    this.peerKeys.delete(peer);
    this.then(() => call('call_sfu_peer_key', { room: this.room, call: this.call, peer, id: 0 }));
  }

  renamePeer(from: string, to: string): void {
    const keys = this.peerKeys.get(from) ?? [];
    this.forgetPeer(from);
    for (const { id, raw } of keys) this.setPeerKey(to, id, raw);
  }

  /** The page never holds our key here: the app seals our frames. */
  ownKey(): null {
    return null;
  }

  join(place: SfuPlace, me: string, _stream: MediaStream | null, iceServers: IceServer[], events: VideoRoomEvents): Promise<SfuRoom> {
    const joined = this.then(() =>
      call('call_sfu_join', { room: this.room, call: this.call, me, url: place.url, token: place.token, janus_room: place.janusRoom, ice_servers: iceServers }),
    );
    return joined.then(() => new NativeSfuRoom(this.room, this.call, this.opened, events, (step) => this.then(step)));
  }

  close(): void {
    this.then(() => call('call_sfu_leave', { room: this.room, call: this.call, end: true }));
  }

  /** Runs `step` after the commands before it; the returned promise fails as the step does. */
  private then<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** The app's membership of the videoroom, read every POLL_MS. */
class NativeSfuRoom implements SfuRoom {
  private levels: Array<{ who: string; level: number }> = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(
    private readonly room: string,
    private readonly call: string,
    private readonly opened: (peer: string) => void,
    private readonly events: VideoRoomEvents,
    /** Runs a command after the media's earlier ones. */
    private readonly run: <T>(step: () => Promise<T>) => Promise<T>,
  ) {
    this.timer = setInterval(() => void this.read(), POLL_MS);
  }

  /** The app publishes the call's one capture when it joins; one that opened after that is published now
   * (the app joins again with it). A device changed later is the same capture. */
  async ensurePublished(): Promise<void> {
    if (this.closed) return;
    await this.run(() => call('call_sfu_publish', { room: this.room, call: this.call }));
  }

  /** Another device or the shared screen switches inside the app's capture (NativeMedia). */
  replaceTrack(): void {}

  /** The native engine publishes one layer: there is nothing to choose. */
  setLayer(): boolean {
    return false;
  }

  audioLevels(): Promise<Array<{ who: string; level: number }>> {
    return Promise.resolve(this.levels);
  }

  connections(): { publisher: RTCPeerConnection | null; subscriber: RTCPeerConnection | null } {
    return { publisher: null, subscriber: null };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    void this.run(() => call('call_sfu_leave', { room: this.room, call: this.call, end: false })).catch(() => undefined);
  }

  private async read(): Promise<void> {
    const status = await call('call_sfu_status', { room: this.room, call: this.call }).catch(() => null);
    if (!status || this.closed) return;
    if (status.lost !== null) {
      this.close();
      this.events.lost(status.lost);
      return;
    }
    this.levels = status.peers.map((p) => ({ who: p.peer, level: p.audio_level }));
    for (const p of status.peers) if (p.frames_decoded > 0) this.opened(p.peer);
  }
}
