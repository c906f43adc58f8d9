// Where an SFU call's media runs and its frames are sealed and opened: the page's own WebRTC (`PageSfuMedia`:
// sfu-janus.ts with the encoded transforms of e2ee.ts) or the app's native engine (native-sfu.ts: the same
// videoroom and frame format in Rust). The call's state — asking to be placed, joining, Janus lost, who gets
// which key when — stays in one place, sfu-call.svelte.ts, for both.

import type { IceServer } from '../protocol.gen';
import { CallKeys, FrameCrypto } from './e2ee';
import { VideoRoom, type SfuPlace, type VideoRoomEvents } from './sfu-janus';

export type { SfuPlace, VideoRoomEvents };

/** One SFU call's keys and media. */
export interface SfuMedia {
  /** Gives `peer` our key (the one in use, or the next one after a rotation) on the chat channel. */
  giveKey(peer: string): void;
  /** Someone left: a new key of ours, given to those who stay, used by our frames a moment later. */
  rotateKey(stay: string[]): void;
  /** `peer`'s key `id`, from their `sfu-key` message. */
  setPeerKey(peer: string, id: number, raw: Uint8Array): void;
  /** `peer` left the call: their keys go. */
  forgetPeer(peer: string): void;
  /** The same person under a new peer id: their keys follow. */
  renamePeer(from: string, to: string): void;
  /** Our key now, as the others hold it (test hooks; null where the page never holds it). */
  ownKey(): { id: number; raw: Uint8Array } | null;
  /** Joins the videoroom `place` names as `me` (our peer id), publishing `stream` if it is open. */
  join(place: SfuPlace, me: string, stream: MediaStream | null, iceServers: IceServer[], events: VideoRoomEvents): Promise<SfuRoom>;
  close(): void;
}

/** Our membership of the call's videoroom. */
export interface SfuRoom {
  /** Publishes `stream` unless we publish already (the camera may open only after we joined). */
  ensurePublished(stream: MediaStream): Promise<void>;
  /** Sends `track` instead on the published audio or video (another device, a shared screen). */
  replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack | null): void;
  /** Asks for simulcast layer `layer` of `peer`'s video; false: not possible now. */
  setLayer(peer: string, layer: number): boolean;
  /** The sound levels (0–1) heard now: each participant's by peer id, ours as 'me'. */
  audioLevels(): Promise<Array<{ who: string; level: number }>>;
  /** The page's connections to Janus (test hooks; none where the media is native). */
  connections(): { publisher: RTCPeerConnection | null; subscriber: RTCPeerConnection | null };
  close(): void;
}

/** Makes the media of an SFU call: `opened(peer)` is said when a frame of `peer`'s first opened here. */
export type SfuMediaFactory = (call: string, opened: (peer: string) => void) => SfuMedia;

/** Whether this page can seal its frames (encoded transforms): without, its calls stay peer to peer, where
 * the connections themselves are encrypted end to end, rather than send the SFU what it could read. */
export function pageSfuSupported(): boolean {
  return FrameCrypto.supported();
}

/** The page's WebRTC: a worker seals and opens frames (e2ee.ts), sfu-janus.ts talks to Janus. */
export class PageSfuMedia implements SfuMedia {
  private readonly crypto: FrameCrypto;
  private readonly keys: CallKeys;

  constructor(call: string, opened: (peer: string) => void, sendKey: (peer: string, text: string) => void) {
    this.crypto = new FrameCrypto((peer) => opened(peer));
    this.keys = new CallKeys(call, this.crypto, sendKey);
  }

  giveKey(peer: string): void {
    this.keys.giveTo(peer);
  }

  rotateKey(stay: string[]): void {
    this.keys.rotate(stay);
  }

  setPeerKey(peer: string, id: number, raw: Uint8Array): void {
    this.crypto.setPeerKey(peer, id, raw);
  }

  forgetPeer(peer: string): void {
    this.crypto.forgetPeer(peer);
  }

  renamePeer(from: string, to: string): void {
    this.crypto.renamePeer(from, to);
  }

  ownKey(): { id: number; raw: Uint8Array } {
    return this.keys.current();
  }

  join(place: SfuPlace, me: string, stream: MediaStream | null, iceServers: IceServer[], events: VideoRoomEvents): Promise<SfuRoom> {
    return VideoRoom.join(place, me, stream, iceServers, this.crypto, events);
  }

  close(): void {
    this.keys.close();
    this.crypto.close();
  }
}
