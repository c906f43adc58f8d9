// One WebRTC connection to one remote peer: an ordered, reliable data channel for chat (always) and audio/
// video (during a call). The side that starts the link (the newcomer) opens the chat channel in-band; the
// other side accepts it (`ondatachannel`), so neither can send before the other's end of it exists. If both
// start a link at once, a link has two chat channels: it reads both and sends on the first open one. Negotiation follows the "perfect negotiation" pattern, so both sides may start
// (re)negotiating at any time, glare included, without deadlock. ICE problems trigger ICE restarts; after
// three failed restarts the owner is told and ends the call.

import { CHAT_CHANNEL_LABEL, DISCONNECTED_GRACE_MS, MAX_HELD_CANDIDATES, MAX_ICE_RESTARTS } from '../core.gen';
import type { IceServer, SignalData } from '../protocol.gen';
import { FILE_CHANNEL_LABEL } from '../files/wire';

// Shared with the app's native links (generated from its Rust constants).
export { DISCONNECTED_GRACE_MS, MAX_HELD_CANDIDATES, MAX_ICE_RESTARTS };

/** How long accepted media waits for the caller's offer before offering it ourselves (see setLocalMedia). */
export const OFFER_WAIT_MS = 2000;

export interface PeerLinkEvents {
  /** Sends signaling data to the remote peer through the server. */
  signal(data: SignalData): void;
  channelOpen(): void;
  channelMessage(data: string): void;
  /** The peer opened a file-transfer channel (files/transfers.svelte.ts reads it). */
  fileChannel?(channel: RTCDataChannel): void;
  remoteStream(stream: MediaStream): void;
  /** ICE could not recover after the allowed restarts. */
  failed(reason: string): void;
  stateChange(state: RTCPeerConnectionState): void;
  /** Negotiation and ICE events, for the test hook's signal trace. */
  trace?(event: string): void;
}

export interface PeerLinkOptions {
  iceServers: IceServer[];
  /** Impolite peers win offer collisions; exactly one side of a pair is polite. */
  polite: boolean;
  /** 'relay' forces TURN (used to test relay paths). */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** This side starts the link (it is the newcomer): it opens the chat channel and offers first. */
  opensChannel: boolean;
  /** This device's long-lived DTLS certificate (identity.ts); without it the browser makes one per link. */
  certificate?: RTCCertificate;
}

export class PeerLink {
  readonly pc: RTCPeerConnection;
  /** The chat channels (normally one: ours if we opened it, else the peer's). */
  private readonly channels: RTCDataChannel[] = [];
  private makingOffer = false;
  private ignoreOffer = false;
  private restarts = 0;
  private disconnectedTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly senders = new Map<string, RTCRtpSender>();
  /** The tracks we send (or prepare), whether they are switched on, and a shared screen sent instead of
   * the stream's video. */
  private local: { stream: MediaStream; live: boolean } | null = null;
  private screen: MediaStreamTrack | null = null;
  /** Our tracks, held until the caller's offer with its media is applied (see setLocalMedia). */
  private awaiting: { stream: MediaStream; timer: ReturnType<typeof setTimeout> } | null = null;
  private closed = false;
  private signals: Promise<void> = Promise.resolve();
  private readonly heldCandidates: RTCIceCandidateInit[] = [];

  constructor(private readonly options: PeerLinkOptions, private readonly events: PeerLinkEvents) {
    this.pc = new RTCPeerConnection({
      iceServers: options.iceServers.map((s) => ({ urls: s.urls, username: s.username, credential: s.credential })),
      iceTransportPolicy: options.iceTransportPolicy ?? 'all',
      ...(options.certificate ? { certificates: [options.certificate] } : {}),
    });
    this.pc.ondatachannel = ({ channel }) => {
      events.trace?.(`peer opened channel ${channel.label}`);
      if (channel.label === CHAT_CHANNEL_LABEL) this.adopt(channel);
      else if (channel.label === FILE_CHANNEL_LABEL) events.fileChannel?.(channel);
    };
    if (options.opensChannel) this.adopt(this.pc.createDataChannel(CHAT_CHANNEL_LABEL, { ordered: true }));
    this.pc.onnegotiationneeded = () => {
      events.trace?.('negotiationneeded');
      void this.offer();
    };
    this.pc.onicecandidate = ({ candidate }) => events.signal({ kind: 'candidate', candidate: candidate ? (candidate.toJSON() as Record<string, unknown>) : null });
    this.pc.ontrack = ({ track, streams }) => events.remoteStream(streams[0] ?? new MediaStream([track]));
    this.pc.oniceconnectionstatechange = () => this.onIceState();
    this.pc.onconnectionstatechange = () => events.stateChange(this.pc.connectionState);
  }

  get channelOpen(): boolean {
    return this.channels.some((c) => c.readyState === 'open');
  }

  send(text: string): boolean {
    const channel = this.channels.find((c) => c.readyState === 'open');
    if (!channel) return false;
    channel.send(text);
    return true;
  }

  /** A new file-transfer channel, or null while the connection is not up (the sender tries again later). */
  openFileChannel(): RTCDataChannel | null {
    if (this.closed || this.pc.connectionState !== 'connected') return null;
    return this.pc.createDataChannel(FILE_CHANNEL_LABEL, { ordered: true });
  }

  /**
   * Handles offer/answer/candidate/restart signals from the remote peer, strictly one after another in
   * arrival order: interleaving them would make the collision check read a stale signaling state and let
   * candidates overtake their description.
   */
  handleSignal(data: SignalData): Promise<void> {
    const run = this.signals.then(() => this.process(data));
    this.signals = run.catch(() => undefined);
    return run;
  }

  private async process(data: SignalData): Promise<void> {
    if (this.closed) return;
    if (data.kind === 'offer' || data.kind === 'answer') {
      const description: RTCSessionDescriptionInit = { type: data.kind, sdp: data.sdp };
      const collision = data.kind === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
      this.ignoreOffer = !this.options.polite && collision;
      if (collision) this.events.trace?.(this.ignoreOffer ? 'offer collision: ignored theirs' : 'offer collision: rolled ours back');
      if (this.ignoreOffer) return;
      await this.pc.setRemoteDescription(description);
      // Held tracks ride on the transceivers this offer made, so our answer carries them.
      if (data.kind === 'offer') this.attachAwaited();
      await this.retryCandidates();
      if (data.kind === 'offer') {
        await this.pc.setLocalDescription();
        const sdp = this.pc.localDescription?.sdp;
        if (sdp) this.events.signal({ kind: 'answer', sdp });
      }
      this.resendStopped();
    } else if (data.kind === 'candidate') {
      const candidate = (data.candidate ?? undefined) as RTCIceCandidateInit | undefined;
      if (this.ignoreOffer || !this.pc.remoteDescription) {
        // After a collision the other side answers with the ICE credentials of the offer we ignored and
        // does not gather again, so these candidates are needed later: keep them.
        this.hold(candidate);
        return;
      }
      try {
        await this.pc.addIceCandidate(candidate);
      } catch {
        this.hold(candidate);
      }
    } else if (data.kind === 'restart') {
      this.pc.restartIce();
    }
  }

  /**
   * Starts sending these tracks (a call begins or a device changes). `offerExpected`: we accepted a call
   * whose caller negotiates its media with us while it rings; if that offer has not been applied yet, the
   * tracks wait for it (at most OFFER_WAIT_MS) and go in our answer. Attaching them at once would make
   * both sides offer together: a collision, a rollback and a second round trip before the call connects.
   */
  setLocalMedia(stream: MediaStream, { offerExpected = false }: { offerExpected?: boolean } = {}): void {
    if (this.awaiting) {
      this.awaiting.stream = stream;
      return;
    }
    if (offerExpected && this.senders.size === 0 && !this.hasRemoteMedia()) {
      const timer = setTimeout(() => this.attachAwaited(), OFFER_WAIT_MS);
      this.awaiting = { stream, timer };
      this.events.trace?.('media waits for the offer');
      return;
    }
    this.attach(stream, true);
  }

  /** Whether the peer's media is negotiated on this connection (live transceivers the offer made). */
  private hasRemoteMedia(): boolean {
    return this.pc.getTransceivers().some((t) => t.mid !== null && t.mid !== undefined && t.direction !== 'stopped');
  }

  /**
   * Sends our tracks again on new transceivers when the other side stopped the ones they were on: we
   * answered its next call on the m-lines of the call it had just ended, before its offer stopping them
   * came. (When the other side leaves a call, its hang-up comes first and clears our media.) Called once
   * stable: Chromium refuses a track that a stopped transceiver's sender still holds, until it is gone.
   */
  private resendStopped(): void {
    let lost = false;
    for (const [kind, sender] of this.senders) {
      const transceiver = this.transceiverOf(sender);
      if (transceiver && transceiver.direction !== 'stopped' && transceiver.currentDirection !== 'stopped') continue;
      this.senders.delete(kind);
      lost = true;
    }
    if (lost && this.local) {
      this.events.trace?.('media sent again: its transceivers were stopped');
      this.attach(this.local.stream, this.local.live);
    }
  }

  private transceiverOf(sender: RTCRtpSender): RTCRtpTransceiver | undefined {
    return this.pc.getTransceivers().find((t) => t.sender === sender);
  }

  /** Attaches the tracks held by setLocalMedia, if any. */
  private attachAwaited(): void {
    if (!this.awaiting) return;
    const { stream, timer } = this.awaiting;
    clearTimeout(timer);
    this.awaiting = null;
    this.attach(stream, true);
  }

  /**
   * Negotiates media for these tracks without sending anything yet (while a call rings), so that accepting
   * only has to switch the tracks on with `setLocalMedia`, which needs no renegotiation.
   */
  prepareLocalMedia(stream: MediaStream): void {
    this.attach(stream, false);
  }

  /**
   * Stops sending audio and video (the call ended); the data channel stays. The media transceivers are
   * stopped, so the next call negotiates fresh ones in the same SDP slots (stopped m-lines are recycled)
   * instead of the SDP growing with every call past the signaling frame limit. One not negotiated yet (a
   * call declined before our offer went out) is only emptied and kept for the next call: Chromium never
   * finishes stopping such a transceiver, asks for negotiation again and again, and refuses `addTrack`
   * for its kind ("The existing transceiver is stopping"), so the next call would send nothing.
   */
  clearLocalMedia(): void {
    if (this.awaiting) clearTimeout(this.awaiting.timer);
    this.awaiting = null;
    if (this.pc.signalingState === 'closed') return;
    for (const [kind, sender] of this.senders) {
      const transceiver = this.transceiverOf(sender);
      if (transceiver && transceiver.mid === null) {
        void sender.replaceTrack(null);
        continue;
      }
      transceiver?.stop();
      this.senders.delete(kind);
    }
    this.local = null;
    this.screen = null;
  }

  /**
   * Sends `track` (a shared screen) instead of the camera's video, on the same sender: no renegotiation
   * when there is a camera. `null` goes back to the camera.
   */
  shareVideo(track: MediaStreamTrack | null): void {
    this.screen = track;
    if (this.local) this.attach(this.local.stream, this.local.live);
  }

  private attach(stream: MediaStream, live: boolean): void {
    if (this.pc.signalingState === 'closed') return;
    this.local = { stream, live };
    const tracks = new Map(stream.getTracks().map((t) => [t.kind, t]));
    if (this.screen) tracks.set('video', this.screen);
    for (const [kind, track] of tracks) {
      const sender = this.senders.get(kind);
      if (sender) {
        // Always replaced, even when `sender.track` looks right already: an earlier replaceTrack (e.g. the
        // switched-off media of a ringing call) may still be pending and would land after this one.
        void sender.replaceTrack(live ? track : null);
        continue;
      }
      const added = this.pc.addTrack(track, stream);
      if (!live) void added.replaceTrack(null);
      this.senders.set(kind, added);
    }
    // Sharing ended in a call without a camera: nothing to send on the video sender any more.
    const video = this.senders.get('video');
    if (!tracks.has('video') && video) void video.replaceTrack(null);
  }

  videoSender(): RTCRtpSender | undefined {
    return this.senders.get('video');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.disconnectedTimer);
    if (this.awaiting) clearTimeout(this.awaiting.timer);
    for (const channel of this.channels) channel.close();
    this.pc.close();
  }

  /** Reads `channel` as one of this link's chat channels. */
  private adopt(channel: RTCDataChannel): void {
    this.channels.push(channel);
    channel.onopen = () => this.events.channelOpen();
    channel.onmessage = (e) => this.events.channelMessage(typeof e.data === 'string' ? e.data : '');
    // A channel the peer opened may be open already when it is handed over.
    if (channel.readyState === 'open') queueMicrotask(() => this.events.channelOpen());
  }

  /** Keeps a candidate for later, at most MAX_HELD_CANDIDATES (as the app's native links): a peer sends a
   * handful per negotiation, and a flood must not grow memory. */
  private hold(candidate: RTCIceCandidateInit | undefined): void {
    if (candidate && this.heldCandidates.length < MAX_HELD_CANDIDATES) this.heldCandidates.push(candidate);
  }

  /** Adds held candidates once a remote description may match them; ones that still do not fit are dropped. */
  private async retryCandidates(): Promise<void> {
    const held = this.heldCandidates.splice(0);
    for (const candidate of held) {
      try {
        await this.pc.addIceCandidate(candidate);
      } catch {
        // From a description that was rolled back for good.
      }
    }
  }

  private async offer(): Promise<void> {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const sdp = this.pc.localDescription?.sdp;
      if (sdp && this.pc.localDescription?.type === 'offer') this.events.signal({ kind: 'offer', sdp });
    } catch (err) {
      // A collision rolled the offer back; the polite side answers the other offer instead.
      this.events.trace?.(`offer failed: ${String(err)}`);
    } finally {
      this.makingOffer = false;
    }
  }

  private onIceState(): void {
    const state = this.pc.iceConnectionState;
    this.events.trace?.(`ice ${state}`);
    clearTimeout(this.disconnectedTimer);
    if (state === 'connected' || state === 'completed') {
      this.restarts = 0;
    } else if (state === 'disconnected') {
      this.disconnectedTimer = setTimeout(() => this.restartIce(), DISCONNECTED_GRACE_MS);
    } else if (state === 'failed') {
      this.restartIce();
    }
  }

  private restartIce(): void {
    if (this.closed) return;
    if (this.restarts >= MAX_ICE_RESTARTS) {
      this.events.trace?.('ice restart: giving up');
      this.events.failed(`the connection was lost and ${MAX_ICE_RESTARTS} attempts to restore it failed`);
      return;
    }
    this.restarts += 1;
    this.events.trace?.(`ice restart ${this.restarts}`);
    this.pc.restartIce();
  }
}
