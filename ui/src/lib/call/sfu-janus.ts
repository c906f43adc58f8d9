// A Janus videoroom client over Janus's WebSocket API (subprotocol `janus-protocol`; Janus 1.x multistream):
// one session with two handles on janus.plugin.videoroom — a publisher that sends our camera and microphone
// once (VP8 with up to three simulcast layers, Opus) and one subscriber whose single connection carries every
// other participant's streams (`join` as subscriber, then `update` as publishers come and go). Every request
// carries the token the signaling server gave us (Janus token_auth); the display name is our peer id, so a
// feed maps to a person. Frames pass through the call's E2EE transforms (e2ee.ts) both ways.

import type { IceServer } from '../protocol.gen';
import type { FrameCrypto } from './e2ee';

/** Where the signaling server placed the call (its `sfu` frame). */
export interface SfuPlace {
  url: string;
  token: string;
  janusRoom: number;
}

export interface VideoRoomEvents {
  /** `peer`'s streams as they are now (a new MediaStream whenever its tracks change). */
  streams(peer: string, stream: MediaStream | null): void;
  /** The connection to Janus is gone (closed, timed out, or Janus hung up on us). */
  lost(reason: string): void;
}

type Json = Record<string, unknown>;
interface JanusMessage {
  janus: string;
  transaction?: string;
  sender?: number;
  data?: { id: number };
  plugindata?: { data: Json };
  jsep?: RTCSessionDescriptionInit;
  error?: { code: number; reason: string };
  reason?: string;
}
interface Publisher {
  id: number;
  display?: string;
}
interface SubscribedStream {
  mid: string;
  type: string;
  feed_id?: number;
  feed_display?: string;
  active?: boolean;
}

/** Janus drops a session after 60 s without a request. */
const KEEPALIVE_MS = 25_000;
const PLUGIN = 'janus.plugin.videoroom';

class JanusSession {
  id = 0;
  private next = 0;
  private readonly pending = new Map<string, { resolve(m: JanusMessage): void; reject(e: Error): void; ackOnly: boolean }>();
  private readonly handles = new Map<number, (m: JanusMessage) => void>();
  private keepalive: ReturnType<typeof setInterval> | undefined;
  /** Closed by us or already reported lost: `lost` is said once at most. */
  private lostOnce = false;

  private constructor(
    private readonly ws: WebSocket,
    private readonly token: string,
    private readonly lost: (reason: string) => void,
  ) {
    ws.onmessage = (e) => this.receive(JSON.parse(String(e.data)) as JanusMessage);
    ws.onclose = () => this.closed('the connection to the media server closed');
  }

  static async open(url: string, token: string, lost: (reason: string) => void): Promise<JanusSession> {
    const ws = new WebSocket(url, 'janus-protocol');
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error('the media server could not be reached'));
    });
    const session = new JanusSession(ws, token, lost);
    session.id = (await session.send({ janus: 'create' })).data?.id ?? 0;
    session.keepalive = setInterval(() => void session.send({ janus: 'keepalive' }, true).catch(() => undefined), KEEPALIVE_MS);
    return session;
  }

  /** Sends a request; resolves with its answer (`success`, or the plugin's event after Janus's `ack`). */
  send(body: Json, ackOnly = false): Promise<JanusMessage> {
    const transaction = `t${++this.next}`;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) return reject(new Error('the media server connection is closed'));
      this.pending.set(transaction, { resolve, reject, ackOnly });
      this.ws.send(JSON.stringify({ ...body, transaction, token: this.token, ...(this.id ? { session_id: this.id } : {}) }));
    });
  }

  async attach(listener: (m: JanusMessage) => void): Promise<number> {
    const handle = (await this.send({ janus: 'attach', plugin: PLUGIN })).data?.id ?? 0;
    this.handles.set(handle, listener);
    return handle;
  }

  message(handle: number, body: Json, jsep?: RTCSessionDescriptionInit): Promise<JanusMessage> {
    // `e2ee`: our frames are end-to-end encrypted (a videoroom with require_e2ee takes nothing else).
    return this.send({ janus: 'message', handle_id: handle, body, ...(jsep ? { jsep: { type: jsep.type, sdp: jsep.sdp, e2ee: true } } : {}) });
  }

  trickle(handle: number, candidate: RTCIceCandidate | null): void {
    void this.send({ janus: 'trickle', handle_id: handle, candidate: candidate ? candidate.toJSON() : { completed: true } }, true).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.keepalive);
    this.lostOnce = true;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ janus: 'destroy', session_id: this.id, transaction: 'bye', token: this.token }));
    this.ws.close();
  }

  private closed(reason: string): void {
    clearInterval(this.keepalive);
    for (const { reject } of this.pending.values()) reject(new Error(reason));
    this.pending.clear();
    if (this.lostOnce) return;
    this.lostOnce = true;
    this.lost(reason);
  }

  private receive(m: JanusMessage): void {
    const waiting = m.transaction === undefined ? undefined : this.pending.get(m.transaction);
    if (waiting && !(m.janus === 'ack' && !waiting.ackOnly)) {
      this.pending.delete(m.transaction ?? '');
      const error = m.error?.reason ?? (m.plugindata?.data.error as string | undefined);
      if (error !== undefined) waiting.reject(new Error(error));
      else waiting.resolve(m);
      return;
    }
    if (m.janus === 'timeout') return this.closed('the media server ended the session');
    if (m.sender !== undefined) this.handles.get(m.sender)?.(m);
  }
}

/** Simulcast layers for a camera of this width, high first (Janus's default rid order, "hml"). */
export function simulcastLayers(width: number): RTCRtpEncodingParameters[] {
  const high: RTCRtpEncodingParameters = { rid: 'h', maxBitrate: 1_200_000 };
  const mid: RTCRtpEncodingParameters = { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 400_000 };
  const low: RTCRtpEncodingParameters = { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 120_000 };
  // Chromium's own limits (it encodes no more layers than these at each size): three from 960 px wide
  // (960×540), two from 480 (480×270), else one.
  if (width >= 960) return [high, mid, low];
  if (width >= 480) return [high, mid];
  return [high];
}

/** Our membership of one videoroom: publishing, and the one subscriber connection. */
export class VideoRoom {
  private publisher: RTCPeerConnection | null = null;
  private readonly senders = new Map<string, RTCRtpSender>();
  private subscriber: RTCPeerConnection | null = null;
  private subscriberHandle = 0;
  private privateId = 0;
  private ownFeed = 0;
  /** Feeds in the room (not ours) → their display name (peer id). */
  private readonly feeds = new Map<number, string>();
  private readonly subscribed = new Set<number>();
  /** The subscriber's media lines → the feed each carries now. */
  private lines = new Map<string, SubscribedStream>();
  private readonly tracks = new Map<string, MediaStreamTrack>();
  /** The track ids each person's stream last had: a stream is handed on only when they change. */
  private readonly shown = new Map<string, string>();
  /** Subscriber changes, one after another (each is an offer/answer round with Janus). */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly session: JanusSession,
    private readonly publisherHandle: number,
    private readonly place: SfuPlace,
    private readonly iceServers: IceServer[],
    private readonly crypto: FrameCrypto,
    private readonly events: VideoRoomEvents,
  ) {}

  /** Joins the videoroom as `me` (our peer id), publishes `stream` and subscribes to everyone else. */
  static async join(place: SfuPlace, me: string, stream: MediaStream | null, iceServers: IceServer[], crypto: FrameCrypto, events: VideoRoomEvents): Promise<VideoRoom> {
    let room: VideoRoom | null = null;
    const session = await JanusSession.open(place.url, place.token, (reason) => room?.lose(reason));
    try {
      const handle = await session.attach((m) => room?.onPublisherEvent(m));
      room = new VideoRoom(session, handle, place, iceServers, crypto, events);
      const joined = await session.message(handle, { request: 'join', ptype: 'publisher', room: place.janusRoom, display: me, token: place.token });
      const data = joined.plugindata?.data ?? {};
      room.ownFeed = Number(data.id);
      room.privateId = Number(data.private_id);
      if (stream) await room.publish(stream);
      room.addPublishers((data.publishers as Publisher[] | undefined) ?? []);
      return room;
    } catch (err) {
      session.close();
      throw err;
    }
  }

  /** The connections to Janus, for stats (audio levels) and the test hooks. */
  connections(): { publisher: RTCPeerConnection | null; subscriber: RTCPeerConnection | null } {
    return { publisher: this.publisher, subscriber: this.subscriber };
  }

  /** The sound levels of the subscriber's audio (by the peer each line carries) and of our microphone ('me'). */
  async audioLevels(): Promise<Array<{ who: string; level: number }>> {
    const levels: Array<{ who: string; level: number }> = [];
    (await this.subscriber?.getStats())?.forEach((s: Record<string, unknown>) => {
      const who = this.lines.get(String(s.mid))?.feed_display;
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && who !== undefined && typeof s.audioLevel === 'number') levels.push({ who, level: s.audioLevel });
    });
    (await this.publisher?.getStats())?.forEach((s: Record<string, unknown>) => {
      if (s.type === 'media-source' && s.kind === 'audio' && typeof s.audioLevel === 'number') levels.push({ who: 'me', level: s.audioLevel });
    });
    return levels;
  }

  /** Asks Janus for simulcast layer `substream` (0 lowest … 2 highest) of `peer`'s video; false: not subscribed to it. */
  setLayer(peer: string, substream: number): boolean {
    const line = [...this.lines.values()].find((l) => l.type === 'video' && l.feed_display === peer && l.active !== false);
    if (!line || !this.subscriberHandle) return false;
    void this.session.message(this.subscriberHandle, { request: 'configure', streams: [{ mid: line.mid, substream }] }).catch(() => undefined);
    return true;
  }

  /** Sends `track` instead on the published audio or video (another device, a shared screen). */
  replaceTrack(kind: 'audio' | 'video', track: MediaStreamTrack | null): void {
    void this.senders.get(kind)?.replaceTrack(track).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    this.publisher?.close();
    this.subscriber?.close();
    this.session.close();
  }

  private lose(reason: string): void {
    if (this.closed) return;
    this.close();
    this.events.lost(reason);
  }

  /** Publishes `stream` unless we publish already (the camera may open only after we joined). */
  async ensurePublished(stream: MediaStream): Promise<void> {
    if (!this.publisher && !this.closed) await this.publish(stream);
  }

  private async publish(stream: MediaStream): Promise<void> {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, ...this.crypto.connectionConfig() });
    this.publisher = pc;
    pc.onicecandidate = ({ candidate }) => this.session.trickle(this.publisherHandle, candidate);
    for (const track of stream.getAudioTracks()) {
      const { sender } = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      this.crypto.encryptSender(sender, 'audio');
      this.senders.set('audio', sender);
    }
    for (const track of stream.getVideoTracks()) {
      const width = track.getSettings().width ?? 640;
      const { sender } = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings: simulcastLayers(width) });
      this.crypto.encryptSender(sender, 'video');
      this.senders.set('video', sender);
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const answer = await this.session.message(this.publisherHandle, { request: 'publish', audiocodec: 'opus', videocodec: 'vp8' }, offer);
    if (answer.jsep) await pc.setRemoteDescription(answer.jsep);
  }

  private onPublisherEvent(m: JanusMessage): void {
    if (m.janus === 'hangup' || m.janus === 'detached') return this.lose('the media server hung up');
    const data = m.plugindata?.data;
    if (!data) return;
    if (Array.isArray(data.publishers)) this.addPublishers(data.publishers as Publisher[]);
    for (const gone of [data.leaving, data.unpublished]) {
      if (typeof gone === 'number' && this.feeds.has(gone)) this.removeFeed(gone);
    }
  }

  private addPublishers(publishers: Publisher[]): void {
    const fresh = publishers.filter((p) => p.id !== this.ownFeed && p.display && !this.feeds.has(p.id));
    for (const p of fresh) this.feeds.set(p.id, p.display ?? '');
    if (fresh.length > 0) this.enqueue(() => this.subscribe(fresh.map((p) => p.id)));
  }

  private removeFeed(feed: number): void {
    const peer = this.feeds.get(feed);
    this.feeds.delete(feed);
    if (peer !== undefined) this.shown.delete(peer);
    // Janus drops its streams from our subscription itself and sends the new offer.
    this.subscribed.delete(feed);
    if (peer !== undefined) this.events.streams(peer, null);
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((err: unknown) => {
      if (!this.closed) this.lose(`the media server refused a subscription (${String(err instanceof Error ? err.message : err)})`);
    });
  }

  private async subscribe(feeds: number[]): Promise<void> {
    const wanted = feeds.filter((f) => this.feeds.has(f) && !this.subscribed.has(f));
    if (wanted.length === 0 || this.closed) return;
    for (const f of wanted) this.subscribed.add(f);
    const streams = wanted.map((feed) => ({ feed }));
    if (!this.subscriberHandle) {
      this.subscriberHandle = await this.session.attach((m) => this.onSubscriberEvent(m));
      const attached = await this.session.message(this.subscriberHandle, {
        request: 'join', ptype: 'subscriber', room: this.place.janusRoom, private_id: this.privateId, token: this.place.token, streams,
      });
      await this.answer(attached);
    } else {
      const updated = await this.session.message(this.subscriberHandle, { request: 'update', subscribe: streams });
      await this.answer(updated);
    }
  }

  /** Janus renegotiates the subscription on its own too (a publisher left): answer those offers. */
  private onSubscriberEvent(m: JanusMessage): void {
    if (m.janus === 'hangup' || m.janus === 'detached') return this.lose('the media server hung up');
    if (m.jsep?.type === 'offer') this.enqueue(() => this.answer(m));
  }

  private async answer(m: JanusMessage): Promise<void> {
    const streams = m.plugindata?.data.streams;
    if (Array.isArray(streams)) this.lines = new Map((streams as SubscribedStream[]).map((s) => [s.mid, s]));
    this.crypto.setSenders(Object.fromEntries([...this.lines].filter(([, s]) => s.feed_display).map(([mid, s]) => [mid, s.feed_display ?? ''])));
    if (!m.jsep || m.jsep.type !== 'offer' || this.closed) return;
    const pc = this.subscriber ?? this.newSubscriber();
    await pc.setRemoteDescription(m.jsep);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this.session.message(this.subscriberHandle, { request: 'start' }, answer);
    this.showStreams();
  }

  private newSubscriber(): RTCPeerConnection {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, ...this.crypto.connectionConfig() });
    this.subscriber = pc;
    pc.onicecandidate = ({ candidate }) => this.session.trickle(this.subscriberHandle, candidate);
    pc.ontrack = ({ track, transceiver, receiver }) => {
      const mid = transceiver.mid;
      if (mid === null) return;
      this.crypto.decryptReceiver(receiver, track.kind === 'audio' ? 'audio' : 'video', mid);
      this.tracks.set(mid, track);
    };
    return pc;
  }

  /** Hands each person's live tracks to the call, one stream per person. */
  private showStreams(): void {
    const byPeer = new Map<string, MediaStreamTrack[]>();
    for (const [mid, line] of this.lines) {
      const track = this.tracks.get(mid);
      if (!line.feed_display || line.active === false || !track || (line.type !== 'audio' && line.type !== 'video')) continue;
      byPeer.set(line.feed_display, [...(byPeer.get(line.feed_display) ?? []), track]);
    }
    for (const [peer, tracks] of byPeer) {
      const ids = tracks.map((t) => t.id).join(' ');
      if (this.shown.get(peer) === ids) continue;
      this.shown.set(peer, ids);
      this.events.streams(peer, new MediaStream(tracks));
    }
  }
}
