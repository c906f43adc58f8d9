// A call's media through the SFU (docs/ui.md, "Calls through the SFU"): once a call has more people than the
// server's mesh size, every participant asks the signaling server where (`sfu-join`), joins that Janus
// videoroom (sfu-janus.ts) and publishes once, end-to-end encrypted (e2ee.ts). The call keeps its peer links
// for chat, files and keys; the mesh media to a person stops once their SFU media opens here. When Janus is
// lost, the call asks to be placed again once, and ends with a notice if it cannot be. Where the media runs
// (the page's WebRTC, or the app's native engine) is the room's `SfuMedia` (sfu-media.ts); this state
// machine is the same for both.

import type { IceServer } from '../protocol.gen';
import type { SfuMedia, SfuMediaFactory, SfuPlace, SfuRoom } from './sfu-media';

export type { SfuPlace };

/** How many people a call holds through the SFU (the mesh's cap is MAX_CALL_PEOPLE). */
export const SFU_MAX_CALL_PEOPLE = 16;
/** How often the active speaker is read from the audio levels. */
const SPEAKER_EVERY_MS = 500;
/** How many times a call lost by its media server asks to be placed again before it ends. */
const MAX_REPLACEMENTS = 2;
/** Below this audio level (0–1) nobody is speaking. */
const SPEAKING_LEVEL = 0.02;

export interface SfuLinks {
  me(): string | null;
  iceServers(): IceServer[];
  /** The call's keys and media: the page's WebRTC or the app's native engine. */
  media: SfuMediaFactory;
  /** Asks the signaling server to place the call (`sfu-join`), or says we left it (`sfu-leave`). */
  join(call: string): void;
  leave(call: string): void;
  /** `peer`'s media came through the SFU: the mesh media with them can stop. */
  through(peer: string): void;
  /** The SFU call cannot go on (Janus lost and not placed again). */
  ended(notice: string): void;
  /** For the test hooks' signal trace. */
  trace(event: string): void;
}

export class SfuCall {
  /** Each participant's media through the SFU, by peer id. */
  streams = $state.raw<Record<string, MediaStream>>({});
  /** Who speaks loudest now (a peer id, or 'me'), for the stage. */
  speaker = $state<string | null>(null);
  /** Keys of the participants we heard of (a test hook ignores them to show the picture needs the key). */
  ignoreKeys = false;

  private room: SfuRoom | null = null;
  private place: SfuPlace | null = null;
  /** Joining `place` is under way. */
  private joining = false;
  private readonly media: SfuMedia;
  private readonly opened = new Set<string>();
  /** The simulcast layer each person's tile needs, and what Janus was asked for. */
  private readonly wanted = new Map<string, number>();
  private readonly applied = new Map<string, number>();
  /** We asked the server where to go and have no answer yet. */
  private asking = true;
  private replacements = 0;
  /** Why the media server was lost, while we have none. */
  private lostWhy: string | null = null;
  private closed = false;
  private speakerTimer: ReturnType<typeof setInterval> | undefined;
  /** Who was loudest at the last reading. */
  private candidate: string | null = null;

  constructor(
    readonly call: string,
    private readonly links: SfuLinks,
    private readonly participants: () => string[],
    private readonly stream: () => MediaStream | null,
  ) {
    this.media = links.media(call, (peer) => {
      if (this.opened.has(peer)) return;
      this.opened.add(peer);
      links.through(peer);
    });
    for (const peer of participants()) this.media.giveKey(peer);
    links.join(call);
  }

  /** Asks the signaling server for our place again (a resumed or new session); the answer is the same place
   * for a resumed session, a new token (and our new peer id as the name) for a new one. */
  askAgain(): void {
    if (this.closed) return;
    this.asking = true;
    this.links.join(this.call);
  }

  /** The signaling server placed the call: join the videoroom. */
  async placed(place: SfuPlace): Promise<void> {
    const me = this.links.me();
    if (this.closed || !me) return;
    this.asking = false;
    // The same place again (an answer to asking again, or one already being joined) changes nothing.
    if (place.token === this.place?.token && (this.room || this.joining)) return;
    // A new session's token: the old one is revoked, so we join again under our new peer id and give our
    // key again (the others know us by that id now).
    const rejoining = this.room !== null;
    this.room?.close();
    this.room = null;
    this.place = place;
    this.joining = true;
    try {
      const room = await this.media.join(place, me, this.stream(), this.links.iceServers(), {
        streams: (peer, stream) => this.setStream(peer, stream),
        lost: (reason) => this.lost(reason),
      });
      if (this.closed) return room.close();
      this.room = room;
      // The camera may have opened while we were joining.
      const stream = this.stream();
      if (stream) await room.ensurePublished(stream);
      this.lostWhy = null;
      this.links.trace(`sfu joined videoroom ${place.janusRoom}`);
      if (rejoining) for (const peer of this.participants()) this.media.giveKey(peer);
      this.speakerTimer ??= setInterval(() => void this.readSpeaker(), SPEAKER_EVERY_MS);
    } catch (err) {
      this.lost(err instanceof Error ? err.message : String(err));
    } finally {
      if (this.place === place) this.joining = false;
    }
  }

  /** Janus is gone (the server's `sfu-lost`, or our connection to it): ask to be placed again, a few times. */
  lost(reason?: string): void {
    if (this.closed) return;
    this.links.trace(`sfu lost: ${reason ?? 'the server says so'}`);
    this.room?.close();
    this.room = null;
    this.streams = {};
    this.lostWhy = reason ?? 'it stopped answering';
    // The answer to the last ask is on its way and says where to go now (or that there is nowhere).
    if (this.asking) return;
    if (this.replacements >= MAX_REPLACEMENTS) return this.end(reason);
    this.replacements += 1;
    this.asking = true;
    this.links.join(this.call);
  }

  /** The server has no media server for the call. True: it had one, which was lost (the call ends here);
   * false: it never had one (the caller decides). */
  unavailable(): boolean {
    this.asking = false;
    if (this.replacements === 0) return false;
    this.end('the server has no other');
    return true;
  }

  participantAdded(peer: string): void {
    this.media.giveKey(peer);
  }

  /** `peer` left the call: their key goes, and ours is replaced for those who stay. */
  participantLeft(peer: string): void {
    this.media.forgetPeer(peer);
    this.opened.delete(peer);
    this.setStream(peer, null);
    this.media.rotateKey(this.participants().filter((p) => p !== peer));
  }

  /** The same person under a new peer id (their new signaling session): their keys and stream follow. */
  peerRenamed(from: string, to: string): void {
    this.media.renamePeer(from, to);
    if (this.opened.delete(from)) this.opened.add(to);
  }

  keyFrom(peer: string, id: number, raw: Uint8Array): void {
    if (!this.ignoreKeys && this.participants().includes(peer)) this.media.setPeerKey(peer, id, raw);
  }

  /** Asks for the simulcast layer a tile of this width needs (0 lowest: a tile not shown). */
  fitTo(peer: string, width: number): void {
    this.wanted.set(peer, width >= 480 ? 2 : width >= 240 ? 1 : 0);
    this.applyLayer(peer);
  }

  private applyLayer(peer: string): void {
    const layer = this.wanted.get(peer);
    if (layer === undefined || this.applied.get(peer) === layer) return;
    if (this.room?.setLayer(peer, layer)) this.applied.set(peer, layer);
  }

  /** Our camera and microphone opened (after the call moved here) or changed: publish them, or send them
   * instead. */
  useStream(stream: MediaStream, screen: MediaStreamTrack | null): void {
    const room = this.room;
    if (!room) return; // joining: it publishes what the call has then
    void room.ensurePublished(stream).then(() => this.useTracks(stream.getAudioTracks()[0], screen ?? stream.getVideoTracks()[0]));
  }

  /** Publishes these tracks instead (another camera or microphone, a shared screen). */
  useTracks(audio: MediaStreamTrack | undefined, video: MediaStreamTrack | undefined): void {
    if (audio) this.room?.replaceTrack('audio', audio);
    if (video) this.room?.replaceTrack('video', video);
  }

  /** Our current key, as the others hold it (test hooks only). */
  ownKey(): { id: number; raw: Uint8Array } | null {
    return this.media.ownKey();
  }

  connections(): { publisher: RTCPeerConnection | null; subscriber: RTCPeerConnection | null } {
    return this.room?.connections() ?? { publisher: null, subscriber: null };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.speakerTimer);
    this.links.leave(this.call);
    this.room?.close();
    this.media.close();
  }

  /** What ends the call when its media server is lost now (null: it has one). */
  get lostNotice(): string | null {
    return this.lostWhy === null ? null : `The call's media server was lost (${this.lostWhy}): the call ended.`;
  }

  private end(reason?: string): void {
    this.lostWhy = reason ?? this.lostWhy ?? 'it stopped answering';
    const notice = this.lostNotice ?? '';
    this.close();
    this.links.ended(notice);
  }

  private setStream(peer: string, stream: MediaStream | null): void {
    const { [peer]: _old, ...rest } = this.streams;
    this.streams = stream ? { ...rest, [peer]: stream } : rest;
    // A new subscription starts at Janus's default layer: ask again for the one the tile needs.
    this.applied.delete(peer);
    if (stream) this.applyLayer(peer);
  }

  /** The loudest voice above SPEAKING_LEVEL, from the audio levels the media reads. */
  private async readSpeaker(): Promise<void> {
    const room = this.room;
    if (!room) return;
    let loudest: { who: string; level: number } | null = null;
    for (const { who, level } of await room.audioLevels()) {
      if (level >= SPEAKING_LEVEL && (!loudest || level > loudest.level)) loudest = { who, level };
    }
    // The stage moves to someone loudest twice in a row (a second), not at every syllable or cough.
    const found = loudest?.who ?? null;
    if (found !== null && found === this.candidate) this.speaker = found;
    this.candidate = found;
  }
}
