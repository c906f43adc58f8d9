// The call in a room: ringing (invite/accept/decline/cancel, 30 s timeout, missed calls), local media,
// who is in the call (a full mesh of up to 6), mute/camera, hang-up, glare between two callers, and a
// 2-second quality loop that shows RTT/loss/bitrate and drives adaptive bitrate.

import { v7 as uuidv7 } from 'uuid';
import type { SignalData } from '../protocol.gen';
import { FULL_QUALITY, nextLimits, type EncodingLimits, type QualitySample } from './abr';
import { getLocalMedia, stopMedia, type DeviceChoice, type LocalMedia } from './media';
import type { PeerLink } from './peer';
import { QualityMeter, type Quality } from './stats';

export const RING_TIMEOUT_MS = 30_000;
export const MAX_CALL_PEOPLE = 6;
const QUALITY_INTERVAL_MS = 2000;

export type CallPhase = 'idle' | 'outgoing' | 'incoming' | 'active';

/** How the call reaches peers; implemented by the room. */
export interface CallLinks {
  peers(): string[];
  nameOf(peer: string): string;
  signal(peer: string, data: SignalData): void;
  link(peer: string): PeerLink | undefined;
  system(text: string): void;
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
  micMuted = $state(false);
  cameraOff = $state(false);
  /** Why the last call ended or why media is limited; shown to the person. */
  notice = $state<string | null>(null);
  quality = $state<Record<string, Quality>>({});

  /** Peers we invited and who have not answered. */
  private invited = new Set<string>();
  /** We rang this call: only the peers we invited (and who did not decline) may join it. */
  private mine = false;
  /** Peers known to have joined this call id (learned while ringing). */
  private known = new Set<string>();
  private ringTimer: ReturnType<typeof setTimeout> | undefined;
  private qualityTimer: ReturnType<typeof setInterval> | undefined;
  private meters = new Map<string, PeerQuality>();

  /** `media` opens the camera and microphone (replaced in tests). */
  constructor(
    private readonly links: CallLinks,
    private readonly media: (choice?: DeviceChoice) => Promise<LocalMedia> = getLocalMedia,
  ) {}

  /** Rings everyone in the room. */
  async start(): Promise<void> {
    if (this.phase !== 'idle') return;
    const peers = this.links.peers().slice(0, MAX_CALL_PEOPLE - 1);
    if (peers.length === 0) {
      this.notice = 'Nobody else is in this room yet.';
      return;
    }
    const id = uuidv7();
    this.id = id;
    this.phase = 'outgoing';
    this.mine = true;
    this.invited = new Set(peers);
    this.notice = null;
    // Ring at once; the camera starts while it rings.
    for (const peer of peers) this.links.signal(peer, { kind: 'invite', call: id, media: ['audio', 'video'] });
    this.ringTimer = setTimeout(() => {
      if (this.phase !== 'outgoing') return;
      this.links.system('No answer.');
      this.reset('No answer.');
    }, RING_TIMEOUT_MS);
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
    // Tell everyone in the room, so other participants of a group call connect to us too.
    for (const peer of this.links.peers()) this.links.signal(peer, { kind: 'accept', call: id });
    for (const peer of new Set([this.caller, ...this.known])) this.addParticipant(peer);
  }

  decline(): void {
    if (this.phase !== 'incoming' || !this.id || !this.caller) return;
    this.links.signal(this.caller, { kind: 'decline', call: this.id });
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
  }

  toggleCamera(): void {
    this.cameraOff = !this.cameraOff;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.cameraOff;
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
    for (const peer of this.participants) this.links.link(peer)?.setLocalMedia(stream);
  }

  /** Call signals from `peer` (offer/answer/candidate are handled by the peer link). */
  onSignal(peer: string, data: SignalData): void {
    switch (data.kind) {
      case 'invite':
        return this.onInvite(peer, data.call);
      case 'accept':
        if (data.call !== this.id) return;
        if (this.phase === 'outgoing' || this.phase === 'active') {
          // Our own call: only someone we invited who has not declined (a decline removes them), never
          // beyond the cap. Nobody else gets our camera and microphone by knowing the call id.
          if (this.mine && !this.invited.has(peer)) return;
          if (!this.participants.includes(peer) && this.participants.length >= MAX_CALL_PEOPLE - 1) return;
          clearTimeout(this.ringTimer);
          this.invited.delete(peer);
          this.phase = 'active';
          this.addParticipant(peer);
        } else if (this.phase === 'incoming' && this.known.size < MAX_CALL_PEOPLE - 2) {
          this.known.add(peer);
        }
        return;
      case 'decline':
        // Also once others accepted (a group call is active while the rest still ring).
        if (data.call !== this.id || !this.invited.has(peer)) return;
        this.invited.delete(peer);
        this.links.link(peer)?.clearLocalMedia();
        this.links.system(`${this.links.nameOf(peer)} declined the call.`);
        if (this.phase === 'outgoing' && this.invited.size === 0) this.reset(`${this.links.nameOf(peer)} declined the call.`);
        return;
      case 'cancel':
        if (data.call !== this.id || this.phase !== 'incoming') return;
        this.links.system(`Missed call from ${this.links.nameOf(peer)}.`);
        this.reset(null);
        return;
      case 'hangup':
        if (data.call !== this.id) return;
        this.known.delete(peer);
        this.removeParticipant(peer);
        if (this.phase === 'active' && this.participants.length === 0) this.reset(`${this.links.nameOf(peer)} hung up.`);
        return;
      default:
        return;
    }
  }

  /** A peer left the room or its connection failed for good. */
  peerGone(peer: string, reason?: string): void {
    this.invited.delete(peer);
    this.known.delete(peer);
    if (this.caller === peer && this.phase === 'incoming') {
      this.links.system(`Missed call from ${this.links.nameOf(peer)}.`);
      this.reset(null);
      return;
    }
    this.removeParticipant(peer);
    if (this.phase === 'active' && this.participants.length === 0) this.reset(reason ?? 'The call ended.');
    if (this.phase === 'outgoing' && this.invited.size === 0) this.reset(reason ?? 'The call ended.');
  }

  peerRenamed(from: string, to: string): void {
    // Listed once even if `to` was already in: the call stage keys its tiles by peer id.
    this.participants = [...new Set(this.participants.map((p) => (p === from ? to : p)))];
    if (this.caller === from) this.caller = to;
    for (const set of [this.invited, this.known]) {
      if (set.delete(from)) set.add(to);
    }
    const meter = this.meters.get(from);
    if (meter) {
      this.meters.delete(from);
      this.meters.set(to, meter);
    }
  }

  private onInvite(peer: string, call: string): void {
    if (this.phase === 'outgoing' && this.invited.has(peer)) {
      // Glare: both rang each other. The smaller call id wins on both sides, so they agree without talking.
      if (this.id && call < this.id) {
        clearTimeout(this.ringTimer);
        // Our own call is dropped: the others it rings stop ringing (they may take the winning call).
        this.invited.delete(peer);
        this.sendAll([...this.invited], { kind: 'cancel', call: this.id });
        this.invited.clear();
        this.mine = false;
        this.id = call;
        this.phase = 'active';
        for (const p of this.links.peers()) this.links.signal(p, { kind: 'accept', call });
        this.addParticipant(peer);
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
    this.notice = null;
    this.ringTimer = setTimeout(() => {
      if (this.phase !== 'incoming') return;
      this.links.system(`Missed call from ${this.links.nameOf(peer)}.`);
      this.reset(null);
    }, RING_TIMEOUT_MS);
  }

  private async openMedia(): Promise<void> {
    if (this.localStream) return;
    const { stream, notice } = await this.media();
    if (this.phase === 'idle') {
      // The call ended while the camera was starting.
      stopMedia(stream);
      return;
    }
    this.localStream = stream;
    if (notice) this.notice = notice;
    this.applyToggles();
    // Participants may have joined while the camera was starting (e.g. glare resolved meanwhile).
    if (stream) for (const peer of this.participants) this.links.link(peer)?.setLocalMedia(stream);
  }

  private applyToggles(): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.micMuted;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.cameraOff;
  }

  private addParticipant(peer: string): void {
    if (!this.participants.includes(peer)) this.participants = [...this.participants, peer];
    if (this.localStream) this.links.link(peer)?.setLocalMedia(this.localStream);
    if (!this.meters.has(peer)) this.meters.set(peer, { quality: emptyQuality(), samples: [], limits: FULL_QUALITY, applied: false, meter: new QualityMeter() });
    this.qualityTimer ??= setInterval(() => void this.measure(), QUALITY_INTERVAL_MS);
  }

  private removeParticipant(peer: string): void {
    if (!this.participants.includes(peer)) return;
    this.participants = this.participants.filter((p) => p !== peer);
    this.links.link(peer)?.clearLocalMedia();
    this.meters.delete(peer);
    const { [peer]: _gone, ...rest } = this.quality;
    this.quality = rest;
  }

  /** Reads stats of every participant, updates the indicator and applies adaptive bitrate. */
  private async measure(): Promise<void> {
    for (const [peer, state] of this.meters) {
      const link = this.links.link(peer);
      if (!link) continue;
      const quality = await state.meter.measure(link.pc);
      state.samples = [...state.samples.slice(-9), { loss: quality.loss, rttMs: quality.rttMs }];
      const limits = nextLimits(state.samples, state.limits);
      const sender = link.videoSender();
      if (sender && (limits !== state.limits || !state.applied)) {
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
    // Whoever our call still rings stops ringing: nobody answered, we hung up, or the others left.
    if (this.id) this.sendAll([...this.invited], { kind: 'cancel', call: this.id });
    clearTimeout(this.ringTimer);
    clearInterval(this.qualityTimer);
    this.qualityTimer = undefined;
    for (const peer of this.participants) this.links.link(peer)?.clearLocalMedia();
    stopMedia(this.localStream);
    this.localStream = null;
    this.participants = [];
    this.invited.clear();
    this.mine = false;
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

function emptyQuality(): Quality {
  return { rttMs: 0, loss: 0, bitrate: null, framesDecoded: 0, localCandidateType: null };
}
