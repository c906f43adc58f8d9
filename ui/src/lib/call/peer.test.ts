// PeerLink negotiation against a fake RTCPeerConnection that keeps the rules the real one enforces (one
// operation at a time, implicit rollback of our offer when a remote offer is applied, answers only in
// have-local-offer, candidates only after a remote description and only for its ICE credentials,
// negotiationneeded only when stable, a mid from the first local description, Chromium's refusal of tracks
// after a transceiver without one was stopped, an offer that stops the m-lines): offer collisions resolve,
// candidates survive a collision, ICE restarts after `failed` or a lasting `disconnected`, the link gives up
// after the allowed restarts, and media goes out again after a call declined or ended mid-negotiation.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SignalData } from '../protocol.gen';
import { DISCONNECTED_GRACE_MS, MAX_HELD_CANDIDATES, MAX_ICE_RESTARTS, OFFER_WAIT_MS, PeerLink, type PeerLinkEvents } from './peer';

type Description = { type: 'offer' | 'answer'; sdp: string };

/** Our fake SDP: the ICE username fragment and how many media tracks the side sends. */
const sdpOf = (ufrag: string, tracks: number) => `ufrag=${ufrag} tracks=${tracks}`;
const ufragIn = (sdp: string) => /ufrag=(\S+)/.exec(sdp)?.[1];
const tracksIn = (sdp: string) => Number(/tracks=(\d+)/.exec(sdp)?.[1] ?? 0);

let pcCount = 0;

/** A data channel: its label, state, and what was sent on it. */
class FakeChannel {
  readyState: RTCDataChannelState = 'connecting';
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  readonly sent: string[] = [];
  constructor(readonly label: string) {}
  open() {
    this.readyState = 'open';
    this.onopen?.();
  }
  send(text: string) {
    this.sent.push(text);
  }
  close() {
    this.readyState = 'closed';
  }
}

/** Its `track` changes when a replaceTrack completes: later, in call order (the real one is queued too). */
class FakeSender {
  private replacing: Promise<void> = Promise.resolve();
  constructor(public track: MediaStreamTrack | null) {}
  replaceTrack(track: MediaStreamTrack | null) {
    this.replacing = this.replacing.then(() => {
      this.track = track;
    });
    return this.replacing;
  }
}

class FakeTransceiver {
  stopped = false;
  /** Set once a local description holds it, as the real one. */
  mid: string | null = null;
  get direction(): RTCRtpTransceiverDirection {
    return this.stopped ? 'stopped' : 'sendrecv';
  }
  constructor(readonly sender: FakeSender, readonly kind: string, private readonly pc: FakePC) {}
  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.pc.changed();
  }
}

class FakePC {
  static all: FakePC[] = [];
  readonly name = `pc${++pcCount}`;
  signalingState: RTCSignalingState = 'stable';
  iceConnectionState: RTCIceConnectionState = 'new';
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: Description | null = null;
  remoteDescription: Description | null = null;
  onnegotiationneeded: (() => void) | null = null;
  onicecandidate: ((e: { candidate: { toJSON(): RTCIceCandidateInit } | null }) => void) | null = null;
  ontrack: ((e: { track: unknown; streams: unknown[] }) => void) | null = null;
  oniceconnectionstatechange: (() => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  ondatachannel: ((e: { channel: FakeChannel }) => void) | null = null;
  /** Remote candidates accepted, in order. */
  readonly candidates: RTCIceCandidateInit[] = [];
  restartIceCalls = 0;
  rollbacks = 0;
  private readonly transceivers: FakeTransceiver[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private busy = 0;
  /** Local changes (channel, tracks, stops) so far, and how many a completed negotiation covers. */
  private changes = 0;
  private negotiated = 0;
  private offered = 0;
  private needed = false;
  private iceGeneration = 0;
  private gathered = -1;
  private restartWanted = false;
  private remoteTracks = 0;

  constructor(readonly config: RTCConfiguration) {
    FakePC.all.push(this);
  }

  get ufrag() {
    return `${this.name}-${this.iceGeneration}`;
  }

  createDataChannel(label: string) {
    this.changed();
    return new FakeChannel(label);
  }

  addTrack(track: MediaStreamTrack) {
    // Chromium (156) never finishes stopping a transceiver that was stopped before any description held
    // it, and refuses tracks of its kind from then on.
    if (this.transceivers.some((t) => t.stopped && t.mid === null && t.kind === track.kind)) {
      throw new DOMException("Failed to execute 'addTrack' on 'RTCPeerConnection': The existing transceiver is stopping.", 'InvalidAccessError');
    }
    const sender = new FakeSender(track);
    this.transceivers.push(new FakeTransceiver(sender, track.kind, this));
    this.changed();
    return sender;
  }

  getTransceivers() {
    return this.transceivers;
  }

  restartIce() {
    this.restartIceCalls += 1;
    this.restartWanted = true;
    this.changed();
  }

  close() {
    this.signalingState = 'closed';
  }

  setLocalDescription(): Promise<void> {
    return this.op(() => {
      if (this.signalingState === 'have-remote-offer') {
        this.localDescription = { type: 'answer', sdp: sdpOf(this.ufrag, this.tracks()) };
        this.signalingState = 'stable';
        // Our tracks found m-lines in their offer: nothing left to negotiate for them.
        if (this.remoteTracks >= this.tracks()) this.negotiated = this.changes;
        this.needed = false;
      } else if (this.signalingState === 'stable' || this.signalingState === 'have-local-offer') {
        if (this.restartWanted) {
          this.iceGeneration += 1;
          this.restartWanted = false;
        }
        this.offered = this.changes;
        this.localDescription = { type: 'offer', sdp: sdpOf(this.ufrag, this.tracks()) };
        this.signalingState = 'have-local-offer';
      } else {
        throw new DOMException(`setLocalDescription in ${this.signalingState}`, 'InvalidStateError');
      }
      let mids = this.transceivers.filter((t) => t.mid !== null).length;
      for (const t of this.transceivers) if (!t.stopped && t.mid === null) t.mid = String(++mids);
      this.gather();
    });
  }

  setRemoteDescription(description: Description): Promise<void> {
    return this.op(() => {
      if (description.type === 'offer') {
        if (this.signalingState === 'have-local-offer') {
          this.rollbacks += 1; // implicit rollback of our own offer
          this.localDescription = null;
        } else if (this.signalingState !== 'stable') {
          throw new DOMException(`offer in ${this.signalingState}`, 'InvalidStateError');
        }
        this.signalingState = 'have-remote-offer';
      } else {
        if (this.signalingState !== 'have-local-offer') throw new DOMException(`answer in ${this.signalingState}`, 'InvalidStateError');
        this.signalingState = 'stable';
        this.negotiated = this.offered;
        this.needed = false;
      }
      this.remoteDescription = description;
      // An offer that stops the media m-lines (its side's call ended): ours on them stop too.
      if (description.type === 'offer' && description.sdp.includes(' stops')) for (const t of this.transceivers) if (t.mid !== null) t.stopped = true;
      const tracks = tracksIn(description.sdp);
      for (let i = this.remoteTracks; i < tracks; i++) this.ontrack?.({ track: { kind: 'video' }, streams: [{ id: `remote-${i}` }] });
      this.remoteTracks = Math.max(this.remoteTracks, tracks);
    });
  }

  addIceCandidate(candidate?: RTCIceCandidateInit): Promise<void> {
    return this.op(() => {
      if (!this.remoteDescription) throw new DOMException('no remote description', 'InvalidStateError');
      if (candidate && candidate.usernameFragment !== ufragIn(this.remoteDescription.sdp)) {
        throw new DOMException(`unknown ufrag ${candidate.usernameFragment}`, 'OperationError');
      }
      if (candidate) this.candidates.push(candidate);
    });
  }

  /** A local change that needs negotiating (channel, track, stopped transceiver, ICE restart). */
  changed() {
    this.changes += 1;
    this.updateNegotiationNeeded();
  }

  setIceState(state: RTCIceConnectionState) {
    this.iceConnectionState = state;
    this.oniceconnectionstatechange?.();
  }

  private tracks() {
    return this.transceivers.filter((t) => !t.stopped).length;
  }

  /** One candidate per ICE generation, a moment after the description that started it. */
  private gather() {
    if (this.gathered === this.iceGeneration) return;
    this.gathered = this.iceGeneration;
    const ufrag = this.ufrag;
    setTimeout(() => {
      const init = { candidate: `candidate ${ufrag}`, sdpMid: '0', usernameFragment: ufrag };
      this.onicecandidate?.({ candidate: { toJSON: () => init } });
    }, 0);
  }

  /** Operations run one at a time, each taking a moment (a task), like the real operations chain. */
  private op(run: () => void): Promise<void> {
    this.busy += 1;
    const result = this.chain
      .then(() => new Promise((resolve) => setTimeout(resolve, 0)))
      .then(run)
      .finally(() => {
        this.busy -= 1;
        this.updateNegotiationNeeded();
      });
    this.chain = result.catch(() => undefined);
    return result;
  }

  private updateNegotiationNeeded() {
    if (this.signalingState !== 'stable' || this.busy > 0) return; // checked again once stable and idle
    if (this.changes <= this.negotiated && !this.restartWanted) {
      this.needed = false;
      return;
    }
    if (this.needed) return;
    this.needed = true;
    setTimeout(() => {
      if (this.needed && this.signalingState === 'stable' && this.busy === 0) this.onnegotiationneeded?.();
    }, 0);
  }
}

function fakeStream(): MediaStream {
  const tracks = [{ kind: 'audio' }, { kind: 'video' }];
  return { getTracks: () => tracks } as unknown as MediaStream;
}

interface Side {
  link: PeerLink;
  pc: FakePC;
  sent: SignalData[];
  streams: unknown[];
  failures: string[];
}

/** `opens`: this side started the link (the newcomer) and opens the chat channel. */
function side(polite: boolean, deliver?: (data: SignalData) => void, opens = true): Side {
  const sent: SignalData[] = [];
  const streams: unknown[] = [];
  const failures: string[] = [];
  const events: PeerLinkEvents = {
    signal: (data) => {
      sent.push(data);
      deliver?.(data);
    },
    channelOpen: () => undefined,
    channelMessage: () => undefined,
    remoteStream: (stream) => streams.push(stream),
    failed: (reason) => failures.push(reason),
    stateChange: () => undefined,
  };
  const link = new PeerLink({ iceServers: [], polite, opensChannel: opens }, events);
  return { link, pc: link.pc as unknown as FakePC, sent, streams, failures };
}

/** Two links wired through a relay that takes `delayMs` each way and keeps each direction's order. */
function pair(delayMs = 5) {
  const sides: { polite?: Side; impolite?: Side } = {};
  const relay = (to: 'polite' | 'impolite') => (data: SignalData) =>
    setTimeout(() => void sides[to]?.link.handleSignal(data).catch(() => undefined), delayMs);
  // The impolite side is the newcomer here: it opens the chat channel; the polite one accepts it.
  sides.polite = side(true, relay('impolite'), false);
  sides.impolite = side(false, relay('polite'));
  return { polite: sides.polite, impolite: sides.impolite };
}

const kinds = (s: Side) => s.sent.map((d) => d.kind).filter((k) => k !== 'candidate');
/** Runs every pending timer, also new ones; throws if it never ends (a negotiation loop). */
const settle = () => vi.runAllTimersAsync();
/** Hands `data` to the link and lets it finish. */
async function handle(s: Side, data: SignalData) {
  const done = s.link.handleSignal(data);
  await settle();
  await done;
}
const offer = (ufrag: string, tracks = 0): SignalData => ({ kind: 'offer', sdp: sdpOf(ufrag, tracks) });
const answer = (ufrag: string, tracks = 0): SignalData => ({ kind: 'answer', sdp: sdpOf(ufrag, tracks) });
const candidate = (ufrag: string): SignalData => ({ kind: 'candidate', candidate: { candidate: `candidate ${ufrag}`, sdpMid: '0', usernameFragment: ufrag } });

beforeEach(() => {
  vi.useFakeTimers();
  vi.stubGlobal('RTCPeerConnection', FakePC);
  FakePC.all = [];
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('perfect negotiation', () => {
  it('the polite side rolls its offer back on a collision and answers the other offer', async () => {
    const polite = side(true);
    await settle(); // it offered its chat channel and waits for the answer
    expect(polite.pc.signalingState).toBe('have-local-offer');
    expect(kinds(polite)).toEqual(['offer']);

    await handle(polite, offer('remote-0'));
    expect(polite.pc.rollbacks).toBe(1);
    expect(polite.pc.remoteDescription?.sdp).toBe(sdpOf('remote-0', 0));
    expect(kinds(polite)).toEqual(['offer', 'answer']);
    expect(polite.pc.signalingState).toBe('stable');
  });

  it('the impolite side ignores a colliding offer and its candidates wait for the answer', async () => {
    const impolite = side(false);
    await settle();
    expect(impolite.pc.signalingState).toBe('have-local-offer');

    await handle(impolite, offer('remote-0'));
    await handle(impolite, candidate('remote-0'));
    expect(kinds(impolite)).toEqual(['offer']); // no answer to the ignored offer
    expect(impolite.pc.signalingState).toBe('have-local-offer');
    expect(impolite.pc.remoteDescription).toBeNull();
    expect(impolite.pc.rollbacks).toBe(0);

    // The polite side answers with the credentials of the offer we ignored and gathers no more candidates.
    await handle(impolite, answer('remote-0'));
    expect(impolite.pc.signalingState).toBe('stable');
    expect(impolite.pc.candidates.map((c) => c.usernameFragment)).toEqual(['remote-0']);
  });

  it('candidates that arrive before the offer are added once it is applied; stale ones are dropped', async () => {
    const member = side(true, undefined, false); // did not start the link: waits for the newcomer's offer
    await handle(member, candidate('old-0')); // from a description that never comes
    await handle(member, candidate('remote-0'));
    expect(member.pc.candidates).toEqual([]);
    await handle(member, offer('remote-0'));
    expect(member.pc.candidates.map((c) => c.usernameFragment)).toEqual(['remote-0']);
    expect(kinds(member)).toContain('answer');
  });

  it('held candidates are bounded (MAX_HELD_CANDIDATES, as the native links): a flood before the offer is not kept', async () => {
    const member = side(true, undefined, false);
    for (let i = 0; i < MAX_HELD_CANDIDATES * 20; i++) await handle(member, candidate('remote-0'));
    await handle(member, offer('remote-0'));
    expect(member.pc.candidates.length).toBe(MAX_HELD_CANDIDATES);
  });

  it.each([1, 5, 40])('both sides adding media at once (glare, %i ms relay) converge without a negotiation loop', async (delayMs) => {
    const { polite, impolite } = pair(delayMs);
    await settle();
    expect([polite.pc.signalingState, impolite.pc.signalingState]).toEqual(['stable', 'stable']);
    polite.sent.length = 0;
    impolite.sent.length = 0;

    // Both ring at the same instant: each negotiates its camera and microphone with the other.
    polite.link.prepareLocalMedia(fakeStream());
    impolite.link.prepareLocalMedia(fakeStream());
    await settle(); // throws if negotiation never goes quiet
    expect([polite.pc.signalingState, impolite.pc.signalingState]).toEqual(['stable', 'stable']);
    // Each side receives the other's two tracks...
    expect(polite.streams).toHaveLength(2);
    expect(impolite.streams).toHaveLength(2);
    // ...and the ICE credentials each applied are the ones the other side uses, with its candidates.
    expect(ufragIn(polite.pc.remoteDescription?.sdp ?? '')).toBe(impolite.pc.ufrag);
    expect(ufragIn(impolite.pc.remoteDescription?.sdp ?? '')).toBe(polite.pc.ufrag);
    // A bounded exchange: at most one collision and one follow-up offer per side.
    const offers = [...polite.sent, ...impolite.sent].filter((d) => d.kind === 'offer').length;
    expect(offers).toBeLessThanOrEqual(4);
  });

  it('a call accepted before the caller’s media offer arrives: the callee answers with its tracks, no collision', async () => {
    // Each relay hop takes 5 ms: the callee accepts while the caller's offer is still on the way.
    const { polite, impolite } = pair(5);
    await settle();
    for (const [caller, callee] of [[impolite, polite], [polite, impolite]] as const) {
      const rollbacks = caller.pc.rollbacks + callee.pc.rollbacks;
      caller.sent.length = 0;
      callee.sent.length = 0;
      caller.link.prepareLocalMedia(fakeStream()); // the caller rings and negotiates its media
      callee.link.setLocalMedia(fakeStream(), { offerExpected: true }); // accepted at once
      await settle();
      expect([caller.pc.signalingState, callee.pc.signalingState]).toEqual(['stable', 'stable']);
      // One offer (the caller's) and one answer carrying the callee's tracks: no rollback either side.
      expect(kinds(caller)).toEqual(['offer']);
      expect(kinds(callee)).toEqual(['answer']);
      expect(tracksIn(caller.pc.remoteDescription?.sdp ?? '')).toBe(2);
      expect(caller.pc.rollbacks + callee.pc.rollbacks).toBe(rollbacks);
      caller.link.clearLocalMedia();
      callee.link.clearLocalMedia();
      await settle();
    }
  });

  it(`media waiting for an offer that never comes is offered after ${OFFER_WAIT_MS} ms`, async () => {
    const { polite, impolite } = pair(5);
    await settle();
    impolite.sent.length = 0;
    impolite.link.setLocalMedia(fakeStream(), { offerExpected: true });
    await vi.advanceTimersByTimeAsync(OFFER_WAIT_MS - 1);
    expect(kinds(impolite)).toEqual([]);
    await settle();
    expect(kinds(impolite)).toEqual(['offer']);
    expect(polite.streams.length).toBeGreaterThan(0);
  });

  it('a fresh link pair negotiates once, newcomer first', async () => {
    const { polite, impolite } = pair();
    await settle();
    expect([polite.pc.signalingState, impolite.pc.signalingState]).toEqual(['stable', 'stable']);
    expect(polite.pc.candidates.length).toBeGreaterThan(0);
    expect(impolite.pc.candidates.length).toBeGreaterThan(0);
  });
});

describe('ICE restarts', () => {
  async function connected() {
    const { polite, impolite } = pair();
    await settle();
    polite.pc.setIceState('connected');
    polite.sent.length = 0;
    return { polite, impolite };
  }

  it('restarts ICE at once when the connection fails, with new credentials the other side applies', async () => {
    const { polite, impolite } = await connected();
    const before = polite.pc.ufrag;
    polite.pc.setIceState('failed');
    await settle();
    expect(polite.pc.restartIceCalls).toBe(1);
    const restartOffer = polite.sent.find((d) => d.kind === 'offer');
    expect(restartOffer && 'sdp' in restartOffer && ufragIn(restartOffer.sdp)).not.toBe(before);
    expect(ufragIn(impolite.pc.remoteDescription?.sdp ?? '')).toBe(polite.pc.ufrag);
    expect(polite.pc.signalingState).toBe('stable');
  });

  it(`waits ${DISCONNECTED_GRACE_MS} ms of disconnected before restarting, and not at all if it recovers`, async () => {
    const { polite } = await connected();
    polite.pc.setIceState('disconnected');
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS - 1);
    expect(polite.pc.restartIceCalls).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(polite.pc.restartIceCalls).toBe(1);

    polite.pc.setIceState('connected');
    polite.pc.setIceState('disconnected');
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS / 2);
    polite.pc.setIceState('connected'); // a blip
    await vi.advanceTimersByTimeAsync(DISCONNECTED_GRACE_MS * 2);
    expect(polite.pc.restartIceCalls).toBe(1);
    expect(polite.failures).toEqual([]);
  });

  it(`gives up after ${MAX_ICE_RESTARTS} restarts that do not reconnect, and tells the owner once per failure`, async () => {
    const { polite } = await connected();
    for (let i = 0; i < MAX_ICE_RESTARTS; i++) {
      polite.pc.setIceState('failed');
      await settle();
      expect(polite.failures).toEqual([]);
    }
    expect(polite.pc.restartIceCalls).toBe(MAX_ICE_RESTARTS);
    polite.pc.setIceState('failed');
    await settle();
    expect(polite.pc.restartIceCalls).toBe(MAX_ICE_RESTARTS);
    expect(polite.failures).toEqual([`the connection was lost and ${MAX_ICE_RESTARTS} attempts to restore it failed`]);
  });

  it('a restart that reconnects gives the next outage a full set of attempts', async () => {
    const { polite } = await connected();
    for (let outage = 0; outage < 2; outage++) {
      for (let i = 0; i < MAX_ICE_RESTARTS; i++) {
        polite.pc.setIceState('failed');
        await settle();
      }
      polite.pc.setIceState('connected');
    }
    expect(polite.pc.restartIceCalls).toBe(2 * MAX_ICE_RESTARTS);
    expect(polite.failures).toEqual([]);
  });
});

describe('the chat channel', () => {
  it("calls none of its events while it is being built (its owner’s callbacks read the new link)", () => {
    let built = false;
    const early = (name: string) => () => {
      if (!built) throw new Error(`${name} called during construction`);
    };
    for (const opensChannel of [true, false]) {
      built = false;
      new PeerLink(
        { iceServers: [], polite: true, opensChannel },
        {
          signal: early('signal'),
          channelOpen: early('channelOpen'),
          channelMessage: early('channelMessage'),
          remoteStream: early('remoteStream'),
          failed: early('failed'),
          stateChange: early('stateChange'),
          trace: early('trace'),
        },
      );
      built = true;
    }
  });

  it('the side that did not start the link offers nothing and uses the channel the peer opens', async () => {
    const opened: string[] = [];
    const received: string[] = [];
    const link = new PeerLink(
      { iceServers: [], polite: true, opensChannel: false },
      {
        signal: () => opened.push('signal'),
        channelOpen: () => opened.push('open'),
        channelMessage: (text) => received.push(text),
        remoteStream: () => undefined,
        failed: () => undefined,
        stateChange: () => undefined,
      },
    );
    const pc = link.pc as unknown as FakePC;
    await settle();
    expect(opened).toEqual([]); // no channel of its own, so no offer: it waits for the newcomer's
    expect(link.send('early')).toBe(false);

    const other = new FakeChannel('file-transfer');
    pc.ondatachannel?.({ channel: other });
    const chat = new FakeChannel('chat');
    pc.ondatachannel?.({ channel: chat });
    chat.open();
    expect(opened).toEqual(['open']);
    expect(link.channelOpen).toBe(true);
    expect(link.send('hi')).toBe(true);
    expect(chat.sent).toEqual(['hi']);
    chat.onmessage?.({ data: 'hello back' });
    expect(received).toEqual(['hello back']);
    other.open();
    expect(opened).toEqual(['open']); // a channel that is not chat is not ours
  });

  it('when both sides opened one (simultaneous start) it reads both and sends on the first open', async () => {
    const received: string[] = [];
    const link = new PeerLink(
      { iceServers: [], polite: false, opensChannel: true },
      {
        signal: () => undefined,
        channelOpen: () => undefined,
        channelMessage: (text) => received.push(text),
        remoteStream: () => undefined,
        failed: () => undefined,
        stateChange: () => undefined,
      },
    );
    const pc = link.pc as unknown as FakePC;
    const theirs = new FakeChannel('chat');
    pc.ondatachannel?.({ channel: theirs });
    theirs.open();
    expect(link.send('one')).toBe(true);
    expect(theirs.sent).toEqual(['one']);
    theirs.onmessage?.({ data: 'on theirs' });
    expect(received).toEqual(['on theirs']);
  });
});

describe('sending media: ringing, answering, screen sharing', () => {
  const track = (kind: string, label: string) => ({ kind, label }) as unknown as MediaStreamTrack;
  const streamOf = (...tracks: MediaStreamTrack[]) => ({ getTracks: () => tracks }) as unknown as MediaStream;
  const videoTrack = (s: Side) => s.pc.getTransceivers().find((t) => !t.stopped && t.sender.track?.kind === 'video')?.sender.track ?? null;

  it('sends the screen on the camera’s video sender, without renegotiating, and goes back to the camera', async () => {
    const s = side(false);
    const camera = track('video', 'camera');
    s.link.setLocalMedia(streamOf(track('audio', 'mic'), camera));
    await settle();
    const senders = s.pc.getTransceivers().length;
    const offers = kinds(s).length;
    const screen = track('video', 'screen');
    s.link.shareVideo(screen);
    await settle();
    expect(videoTrack(s)).toBe(screen);
    expect(s.pc.getTransceivers().length).toBe(senders);
    expect(kinds(s).length).toBe(offers);
    // A new camera (device change) while sharing: the screen stays on the wire.
    s.link.setLocalMedia(streamOf(track('audio', 'mic 2'), track('video', 'camera 2')));
    await settle();
    expect(videoTrack(s)).toBe(screen);
    s.link.shareVideo(null);
    await settle();
    expect(videoTrack(s)?.label).toBe('camera 2');
  });

  it('an answer right after the ringing media was prepared sends the camera (the switch-off is still pending)', async () => {
    const s = side(false);
    const camera = track('video', 'camera');
    const stream = streamOf(track('audio', 'mic'), camera);
    s.link.prepareLocalMedia(stream);
    s.link.setLocalMedia(stream); // before the prepared senders' replaceTrack(null) completed
    await settle();
    expect(videoTrack(s)).toBe(camera);
  });

  it('a call declined before its media was offered: the next call sends its camera', async () => {
    const s = side(false);
    s.link.prepareLocalMedia(streamOf(track('audio', 'mic'), track('video', 'camera')));
    s.link.clearLocalMedia(); // declined at once: no description holds the senders yet
    await settle();
    const camera = track('video', 'camera 2');
    s.link.prepareLocalMedia(streamOf(track('audio', 'mic 2'), camera));
    s.link.setLocalMedia(streamOf(track('audio', 'mic 2'), camera)); // answered
    await settle();
    expect(videoTrack(s)).toBe(camera);
    expect(s.pc.getTransceivers().length).toBe(2);
    // That call ends after its media was negotiated: its senders are stopped.
    s.link.clearLocalMedia();
    expect(s.pc.getTransceivers().every((t) => t.stopped)).toBe(true);
  });

  it('tracks on m-lines the other side then stops (its last call ended as it rang again) go out on new ones', async () => {
    const s = side(true);
    const camera = track('video', 'camera');
    s.link.setLocalMedia(streamOf(track('audio', 'mic'), camera)); // answered on the old call's m-lines
    await settle();
    await handle(s, answer('peer', 2));
    await handle(s, { kind: 'offer', sdp: `${sdpOf('peer', 0)} stops` }); // that call's end, late
    expect(videoTrack(s)).toBe(camera);
    expect(s.pc.getTransceivers().filter((t) => !t.stopped).length).toBe(2);
    // Cleared (our call ended): nothing goes out again when the other side stops those too.
    s.link.clearLocalMedia();
    await handle(s, { kind: 'offer', sdp: `${sdpOf('peer', 0)} stops` });
    expect(videoTrack(s)).toBeNull();
  });

  it('sends nothing while the call only rings, and adds a video sender to a call without a camera', async () => {
    const s = side(false);
    const screen = track('video', 'screen');
    s.link.prepareLocalMedia(streamOf(track('audio', 'mic'), track('video', 'camera')));
    s.link.shareVideo(screen);
    await settle();
    expect(s.pc.getTransceivers().every((t) => t.sender.track === null)).toBe(true);

    const audioOnly = side(false);
    audioOnly.link.setLocalMedia(streamOf(track('audio', 'mic')));
    audioOnly.link.shareVideo(screen);
    await settle();
    expect(videoTrack(audioOnly)).toBe(screen);
    audioOnly.link.shareVideo(null);
    await settle();
    expect(videoTrack(audioOnly)).toBeNull();
  });
});
