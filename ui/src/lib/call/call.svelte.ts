// The call in a room: ringing (invite/accept/decline/cancel, 30 s timeout, missed calls), local media,
// who is in the call (a full mesh of up to 6), joining a call in progress, mute/camera, screen sharing,
// hang-up, glare between two callers, and a 2-second quality loop that shows RTT/loss/bitrate and drives
// adaptive bitrate.
//
// Who may get our camera and microphone: call control goes only to the peers it concerns, and an `accept`
// counts only from a peer we expect it from: for our own call, those we invited (until they decline or hang
// up); for a call we were invited to, its caller and the others its invite names; for a call we join, the
// people in it we asked. Anyone else in the room joins only by asking (`join-call`), which everyone in the
// call sees, and never beyond the cap of 6. Nobody gains anything by learning a call id.
//
// People away from the room (no page open, their device registered for pushes in it) are rung through
// the server (`ring`, one per device) and the call waits OFFLINE_RING_TIMEOUT_MS for one of them to come
// online: their page joins the room and asks the caller to let it in (`join-call`); the caller takes that
// ask, while the call rings them, from a room member by that person's name (the name their device
// registered under). Hanging up first stops the ringing of their devices (`ring-cancel`); an answer that
// comes after the call ended (the push was slow, the person was quick) is told so (`decline`) instead of
// being left waiting.
//
// Above the server's mesh size (`welcome.sfu.mesh_size`) the call's media goes through the SFU instead
// (sfu-call.svelte.ts): every participant moves when the call grows past it, keeping the mesh media with a
// person until their SFU media shows; a call through the SFU holds up to SFU_MAX_CALL_PEOPLE.
//
// A co-invitee's `accept` and the caller's `invite` travel separately, so the accept may come first: it is
// kept for EARLY_ACCEPT_MS (at most MAX_EARLY_ACCEPTS of them) and read when the invite arrives, under the
// same rule as one that comes after it.

import { v7 as uuidv7 } from 'uuid';
import { SvelteSet } from 'svelte/reactivity';
import { ABR_SAMPLE_EVERY_MS as QUALITY_INTERVAL_MS, EARLY_ACCEPT_MS, MAX_CALL_PEOPLE, MAX_EARLY_ACCEPTS, OFFLINE_RING_TIMEOUT_MS, RING_TIMEOUT_MS } from '../core.gen';
import type { SignalData } from '../protocol.gen';
import { FULL_QUALITY, nextLimits, type EncodingLimits, type QualitySample } from './abr';
import { getLocalMedia, getScreen, stopMedia, type DeviceChoice, type LocalMedia, type MediaControl } from './media';
import { QualityMeter, type Quality } from './stats';
import { SfuCall, SFU_MAX_CALL_PEOPLE, type SfuLinks, type SfuPlace } from './sfu-call.svelte';
import { parseSfuKey } from './e2ee';

// Ring timeout, call size and early accepts are the native ring's (src-tauri/core/src/media/ring.rs).
export { EARLY_ACCEPT_MS, MAX_CALL_PEOPLE, OFFLINE_RING_TIMEOUT_MS, RING_TIMEOUT_MS };

export type CallPhase = 'idle' | 'outgoing' | 'incoming' | 'active';

/** A device of someone away from the room that can be rung by push, and the name it registered under. */
export interface AwayDevice {
  device: string;
  name: string;
}

/** How the call reaches peers; implemented by the room. */
export interface CallLinks {
  peers(): string[];
  nameOf(peer: string): string;
  signal(peer: string, data: SignalData): void;
  link(peer: string): MediaLink | undefined;
  system(text: string): void;
  /** The devices of people away from the room that a call also rings (none where the server has no push). */
  away?(): AwayDevice[];
  /** Rings `device` for `call` through the server's push, or stops ringing it. */
  ring?(device: string, call: string): void;
  ringCancel?(device: string, call: string): void;
  /** What SFU calls need (absent: calls stay a mesh). */
  sfu?: CallSfuLinks;
}

/** The room's side of calls through the SFU (the call itself tells the SFU side the rest). */
export type CallSfuLinks = Pick<SfuLinks, 'me' | 'iceServers' | 'media' | 'join' | 'leave' | 'trace'>;

/** What the call needs of a peer's connection: the browser's PeerLink, or the app's native link. */
export interface MediaLink {
  /** `offerExpected`: the peer is the caller, who negotiates its media with us (see PeerLink). */
  setLocalMedia(stream: MediaStream, options?: { offerExpected?: boolean }): void;
  prepareLocalMedia(stream: MediaStream): void;
  clearLocalMedia(): void;
  shareVideo(track: MediaStreamTrack | null): void;
  videoSender(): RTCRtpSender | undefined;
  /** The browser's connection, whose stats the quality loop reads... */
  readonly pc?: RTCPeerConnection;
  /** ...or the link's own reading (native links). */
  measure?(): Promise<Quality | null>;
  /** Adaptive bitrate where there is no browser sender (native links: the app's encoder). */
  applyLimits?(limits: EncodingLimits): void;
}

interface PeerQuality {
  quality: Quality;
  samples: QualitySample[];
  limits: EncodingLimits;
  /** Whether `limits` reached the sender (first tick, or after a refused setParameters). */
  applied: boolean;
  meter: QualityMeter;
}

export class Call {
  phase = $state<CallPhase>('idle');
  id = $state<string | null>(null);
  /** The peer who rings us (incoming). */
  caller = $state<string | null>(null);
  /** Peers whose media we exchange. */
  participants = $state<string[]>([]);
  localStream = $state.raw<MediaStream | null>(null);
  /** The screen we share instead of the camera, while we share it. */
  screenStream = $state.raw<MediaStream | null>(null);
  micMuted = $state(false);
  cameraOff = $state(false);
  /** Why the last call ended or why media is limited; shown to the person. */
  notice = $state<string | null>(null);
  quality = $state<Record<string, Quality>>({});
  /** Devices of people away from the room our call rings by push, until one of them joins or it ends. */
  ringingAway = $state<AwayDevice[]>([]);

  /** The call's media through the SFU, once it outgrew the mesh. */
  sfu = $state.raw<SfuCall | null>(null);
  /** The server's mesh size, when it has an SFU (`welcome.sfu`); null: calls stay a mesh. */
  meshSize: number | null = null;
  /** Test hook: our SFU calls take nobody's key (a participant without the key sees no picture). */
  ignoreSfuKeys = false;

  /** Calls other people in the room are in (peer → call id), as each said for itself (`in-call`). */
  private ongoing = $state<Record<string, string>>({});

  /** Peers we invited and who have not answered. */
  private invited = new Set<string>();
  /** Peers whose `accept` adds them to this call (see the top of this file). */
  private expected = new Set<string>();
  /** Peers in the call we asked to let us in (`join-call`); a `decline` from one means the call is full. */
  private asked = new Set<string>();
  /** Peers the caller's invite names who accepted while we were still ringing. */
  private known = new Set<string>();
  /** Accepts for calls we know nothing of yet (their invite is still on its way), newest last. */
  private early: Array<{ peer: string; call: string; at: number }> = [];
  /** We told the room's other members that we are in this call (`in-call`). */
  private announced = false;
  private ringTimer: ReturnType<typeof setTimeout> | undefined;
  /** Calls ended so far: a camera that finishes starting after its call ended is not this call's. */
  private ended = 0;
  private awayTimer: ReturnType<typeof setTimeout> | undefined;
  /** Our calls that rang people away and ended, for OFFLINE_RING_TIMEOUT_MS (a late answer is declined). */
  private endedAway: Array<{ call: string; at: number }> = [];
  /** Our call rang people away (its id goes to `endedAway` when it ends). */
  private rangAway = false;
  /** This call is one we answer from away (a `decline` from the caller then means it has ended). */
  private answeringAway = false;
  private qualityTimer: ReturnType<typeof setInterval> | undefined;
  private meters = new Map<string, PeerQuality>();
  /** Switches of local media the page holds no tracks of (the app's native capture). */
  private control: MediaControl | null = null;
  /** SFU keys of this call from room members not (yet) in it here: their key, sent over the peer link, may
   * overtake their `accept` or `join-call`, which the server relays. The latest per person. */
  private earlyKeys = new Map<string, { id: number; raw: Uint8Array }>();
  /** Participants we exchange media with over our peer link (until their SFU media shows; the tiles watch it). */
  private meshMedia = new SvelteSet<string>();

  /** `media` opens the camera and microphone, `sfuCall` starts the SFU side of a call (replaced in tests). */
  constructor(
    private readonly links: CallLinks,
    private readonly media: (choice?: DeviceChoice) => Promise<LocalMedia> = getLocalMedia,
    private readonly screen: () => Promise<LocalMedia> = getScreen,
    private readonly sfuCall: (...args: ConstructorParameters<typeof SfuCall>) => SfuCall = (...args) => new SfuCall(...args),
  ) {}

  /** How many people a call holds: the mesh's cap, or more through the SFU. */
  get cap(): number {
    return this.meshSize !== null && this.links.sfu ? SFU_MAX_CALL_PEOPLE : MAX_CALL_PEOPLE;
  }

  /** `peer`'s picture through the SFU, once it replaces the mesh's (null: the mesh's, if any). */
  sfuStream(peer: string): MediaStream | null {
    const stream = this.sfu?.streams[peer];
    return stream && !this.meshMedia.has(peer) ? stream : null;
  }

  /** The call in progress in this room that we are not in (the one most people are in), if any. */
  get callInRoom(): { id: string; peers: string[] } | null {
    const present = new Set(this.links.peers());
    const byCall = new Map<string, string[]>();
    for (const [peer, call] of Object.entries(this.ongoing)) {
      if (present.has(peer) && call !== this.id) byCall.set(call, [...(byCall.get(call) ?? []), peer]);
    }
    let best: { id: string; peers: string[] } | null = null;
    for (const [id, peers] of byCall) if (!best || peers.length > best.peers.length) best = { id, peers };
    return best;
  }

  /** Rings everyone in the room, and the devices of people away from it (see the top of this file). */
  async start(): Promise<void> {
    if (this.phase !== 'idle') return;
    const peers = this.links.peers().slice(0, this.cap - 1);
    const away = awayWithin(this.links.away?.() ?? [], this.cap - 1 - peers.length);
    if (peers.length === 0 && away.length === 0) {
      this.notice = 'Nobody else is in this room yet.';
      return;
    }
    const id = uuidv7();
    this.id = id;
    this.phase = 'outgoing';
    this.invited = new Set(peers);
    this.expected = new Set(peers);
    this.notice = null;
    // Ring at once; the camera starts while it rings. Each invite names the others it rings: the only
    // people the callee connects to on our word.
    for (const peer of peers) {
      const others = peers.filter((p) => p !== peer);
      this.links.signal(peer, { kind: 'invite', call: id, media: ['audio', 'video'], ...(others.length > 0 ? { peers: others } : {}) });
    }
    this.ringingAway = away;
    this.rangAway = away.length > 0;
    for (const { device } of away) this.links.ring?.(device, id);
    this.ringTimer = setTimeout(() => {
      if (this.phase !== 'outgoing' || this.ringingAway.length > 0) return;
      this.links.system('No answer.');
      this.reset('No answer.');
    }, RING_TIMEOUT_MS);
    if (away.length > 0) {
      this.awayTimer = setTimeout(() => {
        this.stopRingingAway();
        // Those present it rang had their 30 s already.
        if (this.phase !== 'outgoing') return;
        this.links.system('No answer.');
        this.reset('No answer.');
      }, OFFLINE_RING_TIMEOUT_MS);
    }
    await this.openMedia();
    // Negotiate our media with everyone still ringing, switched off until they accept.
    if (this.phase === 'outgoing' && this.id === id && this.localStream) {
      for (const peer of this.invited) this.links.link(peer)?.prepareLocalMedia(this.localStream);
    }
  }

  async accept(): Promise<void> {
    if (this.phase !== 'incoming' || !this.id || !this.caller) return;
    clearTimeout(this.ringTimer);
    const id = this.id;
    this.phase = 'active';
    this.notice = null;
    await this.openMedia();
    if (this.phase !== 'active' || this.id !== id) return;
    // The caller and the others its invite names (they connect to us too); nobody else learns of it.
    this.sendAll([...this.expected], { kind: 'accept', call: id });
    // With those who accepted before us the call outgrows the mesh: our media goes to the SFU only.
    if (this.meshSize !== null && new Set([this.caller, ...this.known]).size + 1 > this.meshSize) this.moveToSfu();
    // The caller negotiates its media with us while ringing: our tracks go in our answer to that.
    for (const peer of new Set([this.caller, ...this.known])) this.addParticipant(peer, peer === this.caller);
    // People who joined this call while it rang us were not in the invite: ask them as a newcomer would.
    this.askToJoin(this.peersIn(id).filter((p) => !this.expected.has(p)));
    this.announce();
  }

  /**
   * Answers, from away, a call that rang this device by push: the page opened from the notification is in
   * the room now and asks the caller to let it in, as for a call in progress.
   */
  async answerFromAway(call: string, caller: string): Promise<void> {
    if (this.phase !== 'idle' || !this.links.peers().includes(caller)) {
      if (this.phase === 'idle') this.notice = 'The call has ended.';
      return;
    }
    this.id = call;
    this.phase = 'active';
    this.notice = null;
    this.answeringAway = true;
    this.ringTimer = setTimeout(() => {
      if (this.phase === 'active' && this.id === call && this.participants.length === 0) this.reset('The call has ended.');
    }, RING_TIMEOUT_MS);
    await this.openMedia();
    if (this.phase !== 'active' || this.id !== call) return;
    this.askToJoin([caller]);
  }

  /** `device` (rung by push) declined through the server: that person declined on all their devices. */
  awayDeclined(device: string): void {
    const name = this.ringingAway.find((d) => d.device === device)?.name;
    if (name === undefined) return;
    this.stopRingingAway(name, device);
    this.links.system(`${name} declined the call.`);
    if (this.phase === 'outgoing' && this.invited.size === 0 && this.ringingAway.length === 0) this.reset(`${name} declined the call.`);
  }

  /** The server could not ring `device` (no registration reached a push service). */
  awayUnreachable(device: string): void {
    const name = this.ringingAway.find((d) => d.device === device)?.name;
    if (name === undefined) return;
    this.ringingAway = this.ringingAway.filter((d) => d.device !== device);
    if (this.ringingAway.some((d) => d.name === name)) return;
    const why = `${name}'s devices could not be rung.`;
    this.links.system(why);
    if (this.phase === 'outgoing' && this.invited.size === 0 && this.ringingAway.length === 0) this.reset(why);
  }

  /** Joins the call in progress in this room (no ringing): asks everyone in it, who let us in. */
  async join(): Promise<void> {
    const target = this.callInRoom;
    if (this.phase !== 'idle' || !target) return;
    if (target.peers.length >= this.cap) {
      this.notice = 'This call is full.';
      return;
    }
    this.id = target.id;
    this.phase = 'active';
    this.notice = null;
    this.ringTimer = setTimeout(() => {
      if (this.phase === 'active' && this.id === target.id && this.participants.length === 0) this.reset('Nobody in the call answered.');
    }, RING_TIMEOUT_MS);
    await this.openMedia();
    if (this.phase !== 'active' || this.id !== target.id) return;
    // A call past the mesh size is on the SFU already: our media goes there only.
    if (this.meshSize !== null && target.peers.length + 1 > this.meshSize) this.moveToSfu();
    this.askToJoin(target.peers);
  }

  decline(): void {
    if (this.phase !== 'incoming' || !this.id || !this.caller) return;
    // The caller and the others it rings: none of them takes an accept from us for this call any more.
    this.sendAll([...this.expected], { kind: 'decline', call: this.id });
    this.links.system(`You declined a call from ${this.links.nameOf(this.caller)}.`);
    this.reset(null);
  }

  hangup(): void {
    if (this.phase === 'incoming') return this.decline();
    if (this.phase === 'active') this.sendAll(this.participants, { kind: 'hangup', call: this.id ?? '' });
    this.reset('Call ended.'); // cancels the ringing of whoever has not answered
  }

  toggleMic(): void {
    this.micMuted = !this.micMuted;
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.micMuted;
    this.control?.setMuted(this.micMuted);
  }

  toggleCamera(): void {
    this.cameraOff = !this.cameraOff;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.cameraOff;
    this.control?.setCameraOff(this.cameraOff);
  }

  /** Shares a screen or window instead of the camera, or goes back to the camera. */
  async toggleScreenShare(): Promise<void> {
    if (this.screenStream) return this.stopSharing();
    if (this.phase !== 'active') return;
    const id = this.id;
    const { stream, notice } = await this.screen();
    const track = stream?.getVideoTracks()[0];
    if (!stream || !track || this.phase !== 'active' || this.id !== id || this.screenStream) {
      stopMedia(stream);
      if (notice) this.notice = notice;
      return;
    }
    this.screenStream = stream;
    // The browser's own "Stop sharing" ends the track: back to the camera then too.
    track.addEventListener('ended', () => {
      if (this.screenStream === stream) this.stopSharing();
    });
    for (const peer of this.participants) this.links.link(peer)?.shareVideo(track);
    this.sfu?.useTracks(undefined, track);
  }

  private stopSharing(): void {
    if (!this.screenStream) return;
    stopMedia(this.screenStream);
    this.screenStream = null;
    for (const peer of this.participants) this.links.link(peer)?.shareVideo(null);
    this.sfu?.useTracks(undefined, this.localStream?.getVideoTracks()[0]);
  }

  /** Switches camera or microphone mid-call without renegotiating. */
  async useDevices(choice: { cameraId?: string; microphoneId?: string }): Promise<void> {
    const { stream, notice } = await this.media(choice);
    if (!stream) {
      this.notice = notice;
      return;
    }
    stopMedia(this.localStream);
    this.localStream = stream;
    this.applyToggles();
    for (const peer of this.participants) if (this.meshMedia.has(peer)) this.links.link(peer)?.setLocalMedia(stream);
    this.sfu?.useStream(stream, this.screenStream?.getVideoTracks()[0] ?? null);
  }

  /** Call signals from `peer` (offer/answer/candidate are handled by the peer link). */
  onSignal(peer: string, data: SignalData): void {
    switch (data.kind) {
      case 'invite':
        return this.onInvite(peer, data.call, data.peers ?? []);
      case 'accept':
        if (data.call !== this.id) return this.keepEarly(peer, data.call);
        if (!this.expected.has(peer)) return;
        if (this.phase === 'outgoing' || this.phase === 'active') {
          if (!this.participants.includes(peer) && this.participants.length >= this.cap - 1) return;
          clearTimeout(this.ringTimer);
          this.invited.delete(peer);
          this.asked.delete(peer);
          this.phase = 'active';
          this.addParticipant(peer);
          this.announce();
        } else if (this.phase === 'incoming' && peer !== this.caller && this.known.size < this.cap - 2) {
          this.known.add(peer);
        }
        return;
      case 'decline':
        if (data.call !== this.id) return;
        if (this.asked.has(peer) && this.answeringAway && this.participants.length === 0) {
          this.reset('The call has ended.');
          return;
        }
        if (this.asked.has(peer)) {
          // Someone in the call we asked to join has no room for us: the call is full.
          this.hangup();
          this.notice = 'This call is full.';
          return;
        }
        this.expected.delete(peer);
        this.known.delete(peer);
        // Also once others accepted (a group call is active while the rest still ring).
        if (!this.invited.has(peer)) return;
        this.invited.delete(peer);
        this.links.link(peer)?.clearLocalMedia();
        this.links.system(`${this.links.nameOf(peer)} declined the call.`);
        if (this.phase === 'outgoing' && this.invited.size === 0 && this.ringingAway.length === 0) this.reset(`${this.links.nameOf(peer)} declined the call.`);
        return;
      case 'join-call':
        return this.onJoinRequest(peer, data.call);
      case 'in-call':
        // From someone in our own call it says nothing new (their hang-up tells us when they leave).
        if (this.links.peers().includes(peer) && !this.participants.includes(peer)) this.ongoing = { ...this.ongoing, [peer]: data.call };
        return;
      case 'left-call':
        if (this.ongoing[peer] === data.call) this.forget(peer);
        return;
      case 'cancel':
        // Only the caller stops the ringing (room members outside a call learn its id from `in-call`).
        if (data.call !== this.id || this.phase !== 'incoming' || peer !== this.caller) return;
        this.links.system(`Missed call from ${this.links.nameOf(peer)}.`);
        this.reset(null);
        return;
      case 'hangup':
        if (this.ongoing[peer] === data.call) this.forget(peer);
        if (data.call !== this.id) return;
        this.known.delete(peer);
        this.expected.delete(peer);
        this.asked.delete(peer);
        // Without its media server the others end the call too: that is why, more than who was last.
        const why = this.sfu?.lostNotice ?? `${this.links.nameOf(peer)} hung up.`;
        this.removeParticipant(peer);
        if (this.phase === 'active' && this.participants.length === 0) this.reset(why);
        return;
      default:
        return;
    }
  }

  /** The signaling server placed our call on an SFU (`sfu`). */
  sfuPlaced(place: SfuPlace & { call: string }): void {
    if (this.sfu && place.call === this.id) void this.sfu.placed(place);
  }

  /** Our signaling session resumed elsewhere or started afresh: ask the server for our SFU place again. */
  sfuAskAgain(): void {
    this.sfu?.askAgain();
  }

  /** The SFU carrying `call` stopped answering (`sfu-lost`). */
  sfuLost(call: string): void {
    if (call === this.id) this.sfu?.lost();
  }

  /** The server has no SFU for our call (`error` sfu_unavailable): the mesh carries it while it can. */
  sfuUnavailable(why: string): void {
    if (!this.sfu || this.sfu.unavailable()) return;
    this.sfu.close();
    this.sfu = null;
    if (this.participants.length + 1 <= MAX_CALL_PEOPLE) {
      this.meshSize = null; // stays a mesh: no second attempt in this room
      this.notice = `The call stays peer to peer: ${why}`;
      // Everyone in the call was told the same and does the same.
      for (const peer of this.participants) if (!this.meshMedia.has(peer)) this.sendMedia(peer);
      return;
    }
    this.links.system('The call ended: it has too many people for a direct call and the server has no media server for it.');
    this.hangup();
  }

  /** An `sfu-key` from `peer` on the chat channel (true: it was one, the chat does not show it). */
  sfuKey(peer: string, text: string): boolean {
    const key = parseSfuKey(text);
    if (!key) return false;
    if (key.call !== this.id) return true;
    if (this.sfu && this.participants.includes(peer)) this.sfu.keyFrom(peer, key.id, key.raw);
    else if (this.links.peers().includes(peer)) this.earlyKeys.set(peer, { id: key.id, raw: key.raw });
    return true;
  }

  /** The call's media moves to the SFU (it outgrew the mesh, or we join one that did). */
  private moveToSfu(): void {
    const sfu = this.links.sfu;
    if (this.sfu || !sfu || !this.id) return;
    const call: SfuCall = this.sfuCall(
      this.id,
      {
        ...sfu,
        through: (peer) => this.sfuThrough(peer),
        ended: (notice) => {
          if (this.sfu !== call) return;
          this.sfu = null;
          if (this.phase === 'active') this.sendAll(this.participants, { kind: 'hangup', call: this.id ?? '' });
          this.reset(notice);
        },
      },
      () => this.participants,
      () => this.localStream,
    );
    call.ignoreKeys = this.ignoreSfuKeys;
    this.sfu = call;
    for (const peer of this.participants) this.takeEarlyKey(peer);
  }

  private takeEarlyKey(peer: string): void {
    const key = this.earlyKeys.get(peer);
    if (!key || !this.sfu) return;
    this.earlyKeys.delete(peer);
    this.sfu.keyFrom(peer, key.id, key.raw);
  }

  /** `peer`'s SFU media opened here: their tile shows it, and our mesh media to them stops. */
  private sfuThrough(peer: string): void {
    if (!this.meshMedia.delete(peer)) return;
    this.links.link(peer)?.clearLocalMedia();
  }

  /** A peer left the room or its connection failed for good. */
  peerGone(peer: string, reason?: string): void {
    this.invited.delete(peer);
    this.known.delete(peer);
    this.expected.delete(peer);
    this.asked.delete(peer);
    this.earlyKeys.delete(peer);
    this.forget(peer);
    if (this.caller === peer && this.phase === 'incoming') {
      this.links.system(`Missed call from ${this.links.nameOf(peer)}.`);
      this.reset(null);
      return;
    }
    this.removeParticipant(peer);
    if (this.phase === 'active' && this.participants.length === 0) this.reset(reason ?? 'The call ended.');
    if (this.phase === 'outgoing' && this.invited.size === 0 && this.ringingAway.length === 0) this.reset(reason ?? 'The call ended.');
  }

  /**
   * A peer link to `peer` now exists: someone who got into the call before their link was set up (they
   * asked to join right after entering the room) gets our media on it.
   */
  linkAdded(peer: string): void {
    if (this.participants.includes(peer)) this.sendMedia(peer);
  }

  /** Someone entered the room: tell them we are in a call they may join. */
  peerArrived(peer: string): void {
    if (this.announced && this.id && !this.participants.includes(peer)) this.links.signal(peer, { kind: 'in-call', call: this.id });
  }

  peerRenamed(from: string, to: string): void {
    // Listed once even if `to` was already in: the call stage keys its tiles by peer id.
    this.participants = [...new Set(this.participants.map((p) => (p === from ? to : p)))];
    if (this.caller === from) this.caller = to;
    for (const set of [this.invited, this.known, this.expected, this.asked, this.meshMedia]) {
      if (set.delete(from)) set.add(to);
    }
    const call = this.ongoing[from];
    if (call !== undefined) {
      this.forget(from);
      this.ongoing = { ...this.ongoing, [to]: call };
    }
    this.sfu?.peerRenamed(from, to);
    const meter = this.meters.get(from);
    if (meter) {
      this.meters.delete(from);
      this.meters.set(to, meter);
    }
  }

  private onInvite(peer: string, call: string, others: string[]): void {
    this.ring(peer, call, others);
    // Accepts that overtook this invite count now, from those it lets us expect.
    if (this.id === call) for (const early of this.takeEarly(call)) this.onSignal(early.peer, { kind: 'accept', call });
  }

  /** Keeps an accept for a call we have not heard of, in case its invite is still on the way. */
  private keepEarly(peer: string, call: string): void {
    if (!this.links.peers().includes(peer)) return;
    const now = Date.now();
    this.early = this.early.filter((e) => now - e.at < EARLY_ACCEPT_MS && !(e.peer === peer && e.call === call));
    this.early.push({ peer, call, at: now });
    if (this.early.length > MAX_EARLY_ACCEPTS) this.early.shift();
  }

  /** The unexpired early accepts for `call`, removed from the store. */
  private takeEarly(call: string): Array<{ peer: string; call: string }> {
    const now = Date.now();
    const taken = this.early.filter((e) => e.call === call && now - e.at < EARLY_ACCEPT_MS);
    this.early = this.early.filter((e) => e.call !== call && now - e.at < EARLY_ACCEPT_MS);
    return taken;
  }

  /** An invite from `peer`: ring, resolve glare, or decline while busy. */
  private ring(peer: string, call: string, others: string[]): void {
    // The others the caller rings, as far as they are in this room (never us, never beyond the cap).
    const room = this.links.peers();
    const vouched = others.filter((p) => p !== peer && room.includes(p)).slice(0, this.cap - 2);
    if (this.phase === 'outgoing' && this.invited.has(peer)) {
      // Glare: both rang each other. The smaller call id wins on both sides, so they agree without talking.
      if (this.id && call < this.id) {
        clearTimeout(this.ringTimer);
        // Our own call is dropped: the others it rings stop ringing (they may take the winning call).
        this.invited.delete(peer);
        this.sendAll([...this.invited], { kind: 'cancel', call: this.id });
        this.invited.clear();
        this.id = call;
        this.phase = 'active';
        this.expected = new Set([peer, ...vouched]);
        this.sendAll([...this.expected], { kind: 'accept', call });
        this.addParticipant(peer);
        this.announce();
      }
      return;
    }
    if (this.phase !== 'idle') {
      this.links.signal(peer, { kind: 'decline', call });
      this.links.system(`${this.links.nameOf(peer)} called while you were busy.`);
      return;
    }
    this.id = call;
    this.caller = peer;
    this.phase = 'incoming';
    this.known = new Set();
    this.expected = new Set([peer, ...vouched]);
    this.notice = null;
    this.ringTimer = setTimeout(() => {
      if (this.phase !== 'incoming') return;
      this.links.system(`Missed call from ${this.links.nameOf(peer)}.`);
      this.reset(null);
    }, RING_TIMEOUT_MS);
  }

  /** A member of the room asks to join our call in progress, or one we rang away from the room answers. */
  private onJoinRequest(peer: string, call: string): void {
    if (!this.links.peers().includes(peer)) return;
    if (call !== this.id) {
      const now = Date.now();
      this.endedAway = this.endedAway.filter((e) => now - e.at < OFFLINE_RING_TIMEOUT_MS);
      if (this.endedAway.some((e) => e.call === call)) this.links.signal(peer, { kind: 'decline', call });
      return;
    }
    const name = this.links.nameOf(peer);
    if ((this.phase === 'outgoing' || this.phase === 'active') && this.ringingAway.some((d) => d.name === name)) {
      if (this.participants.length >= this.cap - 1) return;
      // They answered on one device: the others stop ringing. In as if they had accepted our invite.
      this.stopRingingAway(name);
      clearTimeout(this.ringTimer);
      this.expected.add(peer);
      this.phase = 'active';
      this.links.signal(peer, { kind: 'accept', call });
      this.addParticipant(peer);
      this.announce();
      return;
    }
    if (this.phase !== 'active') return;
    if (this.participants.includes(peer)) {
      this.links.signal(peer, { kind: 'accept', call }); // asked again (e.g. our first answer crossed a drop)
      return;
    }
    if (this.participants.length >= this.cap - 1) {
      this.links.signal(peer, { kind: 'decline', call });
      return;
    }
    this.forget(peer);
    this.links.signal(peer, { kind: 'accept', call });
    this.links.system(`${this.links.nameOf(peer)} joined the call.`);
    this.addParticipant(peer);
  }

  /** Asks these people in our call to let us in (we arrive after the ringing). */
  private askToJoin(peers: string[]): void {
    if (!this.id) return;
    for (const peer of peers) {
      if (this.participants.includes(peer) || this.asked.size >= this.cap - 1) continue;
      this.asked.add(peer);
      this.expected.add(peer);
      this.links.signal(peer, { kind: 'join-call', call: this.id });
    }
  }

  /** Tells the room's members outside the call that we are in it (once we are), so they can join. */
  private announce(): void {
    if (this.announced || !this.id || this.participants.length === 0) return;
    this.announced = true;
    this.sendAll(this.outsiders(), { kind: 'in-call', call: this.id });
  }

  private outsiders(): string[] {
    return this.links.peers().filter((p) => !this.participants.includes(p));
  }

  /** Room members who said they are in call `id`. */
  private peersIn(id: string): string[] {
    return Object.entries(this.ongoing).filter(([, call]) => call === id).map(([peer]) => peer);
  }

  /** Stops ringing the devices of `name` (all who are away without one), except `except` (it declined). */
  private stopRingingAway(name?: string, except?: string): void {
    const stopped = this.ringingAway.filter((d) => name === undefined || d.name === name);
    this.ringingAway = this.ringingAway.filter((d) => !stopped.includes(d));
    if (this.id) for (const { device } of stopped) if (device !== except) this.links.ringCancel?.(device, this.id);
    if (this.ringingAway.length === 0) clearTimeout(this.awayTimer);
  }

  private forget(peer: string): void {
    if (!(peer in this.ongoing)) return;
    const { [peer]: _gone, ...rest } = this.ongoing;
    this.ongoing = rest;
  }

  private async openMedia(): Promise<void> {
    if (this.localStream) return;
    const ended = this.ended;
    const { stream, notice, control } = await this.media();
    if (this.phase === 'idle') {
      // The call ended while the camera was starting.
      stopMedia(stream);
      control?.stop();
      return;
    }
    if (this.ended !== ended || this.localStream) {
      // Its call ended and another started meanwhile, or another start of this call was quicker: the
      // other's camera is the one in use. (No `control.stop()`: the app's capture is one, shared by both.)
      stopMedia(stream);
      return;
    }
    this.localStream = stream;
    this.control = control ?? null;
    if (notice) this.notice = notice;
    this.applyToggles();
    // Participants may have joined while the camera was starting (e.g. glare resolved meanwhile).
    if (stream && !this.sfu) for (const peer of this.participants) this.links.link(peer)?.setLocalMedia(stream);
    // The call may have moved to the SFU while the camera was starting (all accepted at once).
    if (stream) this.sfu?.useStream(stream, null);
  }

  private applyToggles(): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.micMuted;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.cameraOff;
    if (this.micMuted) this.control?.setMuted(true);
    if (this.cameraOff) this.control?.setCameraOff(true);
  }

  private addParticipant(peer: string, offerExpected = false): void {
    const added = !this.participants.includes(peer);
    if (added) this.participants = [...this.participants, peer];
    // Whoever makes the call outgrow the mesh never gets mesh media: it starts on the SFU (which, new,
    // gives its key to everyone in the call).
    const onSfu = this.sfu !== null;
    if (this.meshSize !== null && this.participants.length + 1 > this.meshSize) this.moveToSfu();
    if (!this.sfu) this.sendMedia(peer, offerExpected);
    else if (added && onSfu) this.sfu.participantAdded(peer);
    this.takeEarlyKey(peer);
    if (!this.meters.has(peer)) this.meters.set(peer, { quality: emptyQuality(), samples: [], limits: FULL_QUALITY, applied: false, meter: new QualityMeter() });
    this.qualityTimer ??= setInterval(() => void this.measure(), QUALITY_INTERVAL_MS);
  }

  /** Our camera and microphone (or the shared screen instead of the camera) to this participant. */
  private sendMedia(peer: string, offerExpected = false): void {
    if (this.sfu) return;
    const link = this.links.link(peer);
    if (link) this.meshMedia.add(peer);
    if (this.localStream) link?.setLocalMedia(this.localStream, { offerExpected });
    const screen = this.screenStream?.getVideoTracks()[0];
    if (screen) link?.shareVideo(screen);
  }

  private removeParticipant(peer: string): void {
    if (!this.participants.includes(peer)) return;
    this.participants = this.participants.filter((p) => p !== peer);
    this.links.link(peer)?.clearLocalMedia();
    this.meshMedia.delete(peer);
    this.sfu?.participantLeft(peer);
    this.meters.delete(peer);
    const { [peer]: _gone, ...rest } = this.quality;
    this.quality = rest;
  }

  /** Reads stats of every participant, updates the indicator and applies adaptive bitrate. */
  private async measure(): Promise<void> {
    for (const [peer, state] of this.meters) {
      const link = this.links.link(peer);
      if (!link) continue;
      const quality = link.measure ? await link.measure() : link.pc ? await state.meter.measure(link.pc) : null;
      if (!quality) continue;
      state.samples = [...state.samples.slice(-9), { loss: quality.loss, rttMs: quality.rttMs }];
      const limits = nextLimits(state.samples, state.limits);
      const sender = link.videoSender();
      if (link.applyLimits && (limits !== state.limits || !state.applied)) {
        link.applyLimits(limits);
        state.applied = true;
      } else if (sender && (limits !== state.limits || !state.applied)) {
        const params = sender.getParameters();
        const encoding = params.encodings?.[0];
        if (encoding) {
          encoding.maxBitrate = limits.maxBitrate;
          encoding.scaleResolutionDownBy = limits.scaleResolutionDownBy;
          encoding.maxFramerate = limits.maxFramerate;
          try {
            await sender.setParameters(params);
            state.applied = true;
          } catch {
            // Parameters can be refused mid-renegotiation; the next tick retries.
          }
        }
      }
      state.limits = limits;
      state.quality = quality;
      this.quality = { ...this.quality, [peer]: quality };
    }
  }

  private sendAll(peers: string[], data: SignalData): void {
    for (const peer of peers) this.links.signal(peer, data);
  }

  private reset(notice: string | null): void {
    this.ended += 1;
    // Whoever our call still rings stops ringing: nobody answered, we hung up, or the others left.
    if (this.id) this.sendAll([...this.invited], { kind: 'cancel', call: this.id });
    if (this.id && this.rangAway) this.endedAway = [...this.endedAway.slice(-7), { call: this.id, at: Date.now() }];
    this.stopRingingAway();
    this.rangAway = false;
    this.answeringAway = false;
    // The room's members outside the call no longer count us in it (participants got our hang-up).
    if (this.id && this.announced) this.sendAll(this.outsiders(), { kind: 'left-call', call: this.id });
    // Two or more we leave behind carry on without us: the call is still on in the room, and we may rejoin.
    const id = this.id;
    if (id && this.participants.length >= 2) {
      this.ongoing = { ...this.ongoing, ...Object.fromEntries(this.participants.map((p) => [p, id])) };
    }
    clearTimeout(this.ringTimer);
    clearInterval(this.qualityTimer);
    this.qualityTimer = undefined;
    for (const peer of this.participants) this.links.link(peer)?.clearLocalMedia();
    this.meshMedia.clear();
    this.earlyKeys.clear();
    this.sfu?.close();
    this.sfu = null;
    stopMedia(this.localStream);
    stopMedia(this.screenStream);
    this.control?.stop();
    this.control = null;
    this.localStream = null;
    this.screenStream = null;
    this.participants = [];
    this.invited.clear();
    this.expected.clear();
    this.asked.clear();
    this.announced = false;
    this.known.clear();
    this.meters.clear();
    this.quality = {};
    this.phase = 'idle';
    this.id = null;
    this.caller = null;
    this.micMuted = false;
    this.cameraOff = false;
    this.notice = notice;
  }
}

/** Devices of at most `people` people (by name), all of each one's devices. */
export function awayWithin(away: AwayDevice[], people: number): AwayDevice[] {
  const names = [...new Set(away.map((d) => d.name))].slice(0, Math.max(0, people));
  return away.filter((d) => names.includes(d.name));
}

function emptyQuality(): Quality {
  return { rttMs: 0, loss: 0, bitrate: null, framesDecoded: 0, localCandidateType: null };
}
