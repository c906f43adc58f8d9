// A room as the UI sees it: the connection state, who is present (from joined/peer-joined/peer-left, plus
// anyone the engine's links reach), routing of signals, and the room's chat and call. The links to the
// people — chat channels, files, call media — are one `PeerEngine` (engine/engine.ts), chosen once here:
// the page's own WebRTC, or the app's native links where the webview has none. Survives signaling drops:
// links are peer to peer and keep running; after a fresh signaling session the engine matches the same
// people to their new peer ids.
//
// Ringing people who are away (docs/ui.md): where the server rings by push (`welcome.push`) the room asks
// it which registered devices have no page open (`offline-members`, on joining and when someone leaves),
// shows those people, and a call rings their devices too (call.svelte.ts). "Ring me here when I'm away"
// registers this device for the room (`push-register`, again on every join, which renews it).

import type { IceServer, OfflineMember, ServerFrame, SignalData } from './protocol.gen';
import { Call, type AwayDevice } from './call/call.svelte';
import { Chat, type ChatLinks } from './chat/chat.svelte';
import { chatSettings } from './settings.svelte';
import { parseChannelMessage } from './chat/message';
import { insertByTime, type FileRows } from './files/rows';
import { identityStatus, markVerified, verifiedContact, type IdentityStatus } from './identity';
import { SignalTrace, testHooksEnabled } from './call/trace';
import type { ChatHistory } from './history';
import { refusalMessage } from './invite';
import type { TokenSource } from './token';
import type { ConnectionState, Transport } from './transport/types';
import { BrowserEngine } from './engine/browser.svelte';
import { NativeEngine } from './engine/native.svelte';
import type { CallSupport, EngineHost, LinkState, PeerEngine } from './engine/engine';
import type { PushClient } from './push/client';
import type { PushFrame, SfuFrame } from './transport/types';
import { PageSfuMedia, pageSfuSupported, type SfuMedia } from './call/sfu-media';
import { NativeSfuMedia } from './call/native-sfu';

export type { ConnectionState, LinkState };

export interface Presence {
  peer: string;
  name: string;
  /** Peer-to-peer connection state of our link to this person. */
  link: LinkState;
  /** Our link's safety code, once connected: the same on their screen unless someone is in the middle. */
  safety?: string;
  /** Their device's certificate fingerprint, as DTLS verified it. */
  fingerprint?: string;
  /** That device against what was verified for their name: verified, changed since, or new. */
  identity?: IdentityStatus;
}

/** Someone away from the room whose devices a call rings by push. */
export interface AwayPerson {
  name: string;
  devices: string[];
}

/** "Ring me here when I'm away" for this room: not offered here, off, on, or waiting for an answer. */
export type RingHere = 'unavailable' | 'off' | 'on' | 'busy';

export interface RoomOptions {
  /** Forces TURN relay for every peer connection (relay-only networks, tests). */
  relayOnly?: boolean;
  /** The app's native links carry chat, files and calls instead of the webview's WebRTC (app only). */
  fallback?: boolean;
  /** The app's history on disk; without it (browser) chat lives in memory. */
  history?: ChatHistory;
  /** The invitation token every hello presents (servers with an auth secret require one). */
  tokens?: TokenSource;
  /** This device's DTLS certificate (identity.ts), used by every peer link. */
  certificate?: RTCCertificate;
  /** How this device is rung by push when away (none: the switch is not offered). */
  push?: PushClient;
}

export class Room {
  connection = $state<ConnectionState>('connecting');
  me = $state<string | null>(null);
  /** Set when the server refused our invitation (session or room): why, for the join screen. */
  refused = $state<string | null>(null);
  presence = $state<Presence[]>([]);
  /** "Ring me here when I'm away" for this room. */
  ringHere = $state<RingHere>('unavailable');
  /** Why ringing here did not work (permission, the server's refusal). */
  ringHereNotice = $state<string | null>(null);
  /** Devices registered in this room without a page open, as the server last said. */
  private offline = $state<OfflineMember[]>([]);
  readonly chat: Chat;
  readonly call: Call;

  private readonly engine: PeerEngine;
  /** Peers the server lists in the room; presence may also hold people only the engine reaches. */
  private readonly listed = new Set<string>();
  private readonly trace = testHooksEnabled() ? new SignalTrace() : null;
  private iceServers: IceServer[] = [];
  /** The server's VAPID key, when it rings by push. */
  private pushKey: string | null = null;
  /** A call this page was opened to answer (the notification's Answer): asked for once the room is joined. */
  private answering: { call: string; caller: string } | null = null;
  private previousMe: string | null = null;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly myName: string,
    private readonly transport: Transport,
    private readonly options: RoomOptions = {},
  ) {
    // The one place that knows there are two kinds of links.
    this.engine = options.fallback ? new NativeEngine(this.host()) : new BrowserEngine(this.host(), options);
    const chatLinks: ChatLinks = {
      peers: () => this.presence.map((p) => p.peer),
      send: (peer, text) => this.engine.send(peer, text),
      nameOf: (p) => this.nameOf(p),
    };
    this.chat = new Chat(chatLinks, () => this.myName, options.history, chatSettings, undefined, this.engine.chatDelivery(chatLinks, options.history));
    const calls = this.engine.calls;
    this.call = new Call(
      {
        peers: () => this.presence.map((p) => p.peer),
        nameOf: (p) => this.nameOf(p),
        signal: (peer, data) => this.sendSignal(peer, data),
        link: (peer) => this.engine.mediaLink(peer),
        system: (text) => this.chat.system(text),
        away: () => this.away.flatMap((p) => p.devices.map((device): AwayDevice => ({ device, name: p.name }))),
        ring: (device, call) => this.sendPush({ type: 'ring', room: this.name, device, call, media: ['audio', 'video'] }),
        ringCancel: (device, call) => this.sendPush({ type: 'ring-cancel', room: this.name, device, call }),
        // Calls through the SFU: the media on the page's WebRTC (if it can seal frames), or in the app's
        // native engine beside its links.
        ...(!transport.sfuFrame || !(options.fallback || pageSfuSupported())
          ? {}
          : {
              sfu: {
                me: () => this.me,
                iceServers: () => this.iceServers,
                media: (call: string, opened: (peer: string) => void): SfuMedia =>
                  options.fallback
                    ? new NativeSfuMedia(this.name, call, opened)
                    : new PageSfuMedia(call, opened, (peer, text) => void this.engine.send(peer, text)),
                join: (call: string) => this.sendSfu({ type: 'sfu-join', room: this.name, call }),
                leave: (call: string) => this.sendSfu({ type: 'sfu-leave', room: this.name, call }),
                trace: (event: string) => this.trace?.record(event),
              },
            }),
      },
      (choice) => calls.media(choice),
      () => calls.screen(),
    );
    this.unsubscribe.push(
      transport.onState((s) => {
        this.trace?.record(`connection ${s}`);
        this.connection = s;
      }),
    );
    // Test hook, only with test hooks on (see trace.ts; never in a normal page): the recent signaling, the
    // people list, and the engine's own (the live peer connections, e.g. to read sender parameters).
    const trace = this.trace;
    if (trace) {
      (globalThis as { __p2pchatDebug?: unknown }).__p2pchatDebug = {
        signalTrace: () => trace.entries(),
        presence: () => $state.snapshot(this.presence),
        ...this.engine.debug(),
        sfu: () => this.call.sfu?.connections() ?? null,
        ignoreSfuKeys: () => (this.call.ignoreSfuKeys = true),
        sfuOwnKey: () => {
          const key = this.call.sfu?.ownKey();
          return key ? { id: key.id, key: btoa(String.fromCharCode(...key.raw)) } : null;
        },
      };
    }
    this.unsubscribe.push(transport.onFrame((f) => this.onFrame(f)));
  }

  /** What calls can do in this window. */
  get calls(): CallSupport {
    return this.engine.calls;
  }

  /** The room's file transfers, as the chat's rows show them. */
  get files(): FileRows {
    return this.engine.files;
  }

  /** The chat gets the big column: this window's call area is small. */
  get chatFirst(): boolean {
    return this.engine.chatFirst;
  }

  /**
   * People away from the room whose devices a call rings: devices registered here with no page open, by
   * the name they registered under; not those present under that name (they are rung here), nor our own.
   */
  get away(): AwayPerson[] {
    const present = new Set(this.presence.map((p) => p.name));
    const byName = new Map<string, string[]>();
    for (const m of this.offline) {
      if (present.has(m.name) || m.name === this.myName) continue;
      byName.set(m.name, [...(byName.get(m.name) ?? []), m.device]);
    }
    return [...byName].map(([name, devices]) => ({ name, devices }));
  }

  /** Turns "Ring me here when I'm away" on (asks for permission: call it from the person's click) or off. */
  async setRingHere(on: boolean): Promise<void> {
    const push = this.options.push;
    if (!push || !this.pushKey || this.ringHere === 'unavailable') return;
    this.ringHereNotice = null;
    if (on) return this.registerPush(true);
    this.ringHere = 'off';
    const device = await push.device();
    await push.setWanted(this.name, false);
    this.sendPush({ type: 'push-unregister', device: device.id, secret: device.secret, room: this.name });
  }

  /** This page was opened to answer `call` from `caller` (peer id): it asks to join once in the room. */
  answerOnJoin(call: string, caller: string): void {
    this.answering = { call, caller };
  }

  /** Connects (if needed) and enters the room. */
  enter(): void {
    void this.chat.restore().then(() => this.engine.start());
    this.transport.connect(this.myName, this.options.tokens);
    this.transport.join(this.name);
  }

  leave(): void {
    this.call.hangup();
    this.transport.leave(this.name);
    this.engine.close();
    this.chat.close();
    for (const stop of this.unsubscribe) stop();
    this.transport.close();
  }

  nameOf(peer: string): string {
    return this.presence.find((p) => p.peer === peer)?.name || 'someone';
  }

  /** What the engine needs of this room and tells it. */
  private host(): EngineHost {
    return {
      room: this.name,
      me: () => this.me,
      iceServers: () => this.iceServers,
      listed: (peer) => this.listed.has(peer),
      present: (peer) => this.presence.some((p) => p.peer === peer),
      peers: () => this.presence.map((p) => p.peer),
      nameOf: (peer) => this.nameOf(peer),
      signal: (peer, data) => this.sendSignal(peer, data),
      trace: (event) => this.trace?.record(event),
      linkState: (peer, state) => this.setLinkState(peer, state),
      reached: (peer) => {
        if (!this.presence.some((p) => p.peer === peer)) this.presence = [...this.presence, { peer, name: '', link: 'connected' }];
        else this.setLinkState(peer, 'connected');
      },
      linkLost: (peer, state) => {
        if (this.listed.has(peer)) this.setLinkState(peer, state);
        else this.presence = this.presence.filter((p) => p.peer !== peer);
      },
      safety: (peer, code, fingerprint) => void this.setSafety(peer, code, fingerprint),
      message: (peer, text) => this.onMessage(peer, text),
      channelOpen: (peer) => this.chat.flush(peer),
      rekeyed: (from, to) => this.rekeyed(from, to),
      linkAdded: (peer) => this.call.linkAdded(peer),
      callFailed: (peer, reason) => this.call.peerGone(peer, `Call ended: ${reason}.`),
      drop: (peer, reason) => this.dropPeer(peer, reason),
      showFileRow: (key, mine, fromName, at) => {
        if (at === undefined) this.chat.fileLine(key, mine, fromName);
        else insertByTime(this.chat.lines, { id: key, kind: 'file', mine, fromName, body: '', sentAt: at, status: 'delivered' });
      },
    };
  }

  private sendSfu(frame: SfuFrame): void {
    this.trace?.record(`out ${frame.type} ${frame.call}`);
    this.transport.sfuFrame?.(frame);
  }

  private sendPush(frame: PushFrame): void {
    this.trace?.record(`out ${frame.type}${'device' in frame ? ` ${frame.device}` : ''}`);
    this.transport.pushFrame?.(frame);
  }

  /** Registers this device for the room: turned on by the person (`ask`), or renewed on joining. */
  private async registerPush(ask: boolean): Promise<void> {
    const push = this.options.push;
    const key = this.pushKey;
    if (!push || !key) return;
    if (ask) this.ringHere = 'busy';
    const got = await push.subscribe(key, ask);
    if ('refused' in got) {
      this.ringHere = 'off';
      this.ringHereNotice = got.refused;
      return;
    }
    const device = await push.device();
    await push.setWanted(this.name, true);
    this.sendPush({ type: 'push-register', room: this.name, device: device.id, secret: device.secret, subscription: got.subscription });
  }

  private onPushFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'push-registered':
        if (frame.room === this.name) this.ringHere = 'on';
        return;
      case 'offline-members':
        if (frame.room === this.name) this.offline = frame.members;
        return;
      case 'ringing':
        if (frame.room === this.name && frame.call === this.call.id && frame.sent === 0) this.call.awayUnreachable(frame.device);
        return;
      case 'ring-declined':
        if (frame.room === this.name && frame.call === this.call.id) this.call.awayDeclined(frame.device);
        return;
      case 'error':
        if (frame.ref === 'push-register') {
          this.ringHere = 'off';
          this.ringHereNotice = `The server did not take this device: ${frame.message}`;
          void this.options.push?.setWanted(this.name, false);
        } else if (frame.ref === 'ring') {
          this.call.notice = `Some devices could not be rung: ${frame.message}`;
        }
        return;
      default:
        return;
    }
  }

  private askOffline(): void {
    if (this.pushKey) this.sendPush({ type: 'offline-members', room: this.name });
  }

  private onFrame(frame: ServerFrame): void {
    if (this.trace && frame.type !== 'pong') this.trace.record(describeFrame(frame));
    switch (frame.type) {
      case 'welcome':
        this.pushKey = frame.push?.vapid_key ?? null;
        if (!this.pushKey || !this.options.push || !this.transport.pushFrame) this.ringHere = 'unavailable';
        else if (this.ringHere === 'unavailable') this.ringHere = 'off';
        this.iceServers = frame.ice_servers;
        this.call.meshSize = frame.sfu?.mesh_size ?? null;
        this.previousMe = this.me;
        this.me = frame.peer;
        if (!frame.resumed && this.previousMe && this.previousMe !== frame.peer) this.engine.newId(this.previousMe, frame.peer);
        // A session resumed on another server: that server takes on our SFU call when we ask again.
        if (frame.resumed) this.call.sfuAskAgain();
        return;
      case 'joined':
        if (frame.room !== this.name) return;
        // After a fresh session the member list is rebuilt; people already linked keep their links, and
        // people the engine still reaches stay listed (their own session may not be back yet).
        this.listed.clear();
        for (const p of frame.peers) this.listed.add(p.peer);
        this.engine.listChanged();
        this.presence = [
          ...frame.peers.map((p) => ({ ...this.linkIdentity(p.peer), peer: p.peer, name: p.name, link: this.engine.linkState(p.peer) })),
          ...this.presence.filter((p) => !this.listed.has(p.peer) && this.engine.reachesUnlisted(p.peer)),
        ];
        for (const p of frame.peers) this.engine.linkTo(p.peer);
        // Back in the room after a fresh session: our SFU token went with the old one.
        if (this.previousMe !== null) this.call.sfuAskAgain();
        this.askOffline();
        if (this.ringHere !== 'unavailable') {
          void this.options.push?.wanted(this.name).then((wanted) => (wanted ? this.registerPush(false) : undefined));
        }
        if (this.answering) {
          const { call, caller } = this.answering;
          this.answering = null;
          void this.call.answerFromAway(call, caller);
        }
        return;
      case 'peer-joined':
        if (frame.room !== this.name) return;
        this.listed.add(frame.peer);
        if (this.presence.some((p) => p.peer === frame.peer)) {
          this.presence = this.presence.map((p) => (p.peer === frame.peer ? { ...p, name: frame.name } : p));
        } else {
          this.presence = [...this.presence, { peer: frame.peer, name: frame.name, link: this.engine.linkState(frame.peer) }];
        }
        this.engine.listChanged();
        this.call.peerArrived(frame.peer);
        // The newcomer connects to everyone present (see `joined`); waiting for its offer avoids glare.
        return;
      case 'peer-left': {
        if (frame.room !== this.name) return;
        this.listed.delete(frame.peer);
        this.engine.listChanged();
        const reason = `${this.nameOf(frame.peer)} left the room.`;
        // A link re-keying to this person's new id stays up (out of the list) until it is proven or expires.
        if (this.engine.keepsLeaving(frame.peer, reason)) {
          this.presence = this.presence.filter((p) => p.peer !== frame.peer);
          return;
        }
        this.dropPeer(frame.peer, reason);
        this.askOffline();
        return;
      }
      case 'sfu':
        if (frame.room === this.name) this.call.sfuPlaced({ call: frame.call, url: frame.url, token: frame.token, janusRoom: frame.janus_room });
        return;
      case 'sfu-lost':
        if (frame.room === this.name) this.call.sfuLost(frame.call);
        return;
      case 'signal':
        if (frame.room === this.name && !this.engine.signal(frame.from, frame.data)) this.call.onSignal(frame.from, frame.data);
        return;
      case 'error':
        if (frame.code === 'room_full') this.chat.error = 'This room is full.';
        else if (frame.code === 'unauthorized') this.refused = refusalMessage(frame, this.name, !!this.options.tokens?.current());
        else if (frame.ref === 'push-register' || frame.ref === 'ring') this.onPushFrame(frame);
        else if (frame.ref === 'sfu-join' && frame.code === 'sfu_unavailable') this.call.sfuUnavailable(frame.message);
        return;
      default:
        this.onPushFrame(frame);
        return;
    }
  }

  private onMessage(peer: string, text: string): void {
    // The SFU call's keys ride the chat channel but are no chat.
    if (this.call.sfuKey(peer, text)) return;
    const message = parseChannelMessage(text);
    // A person only a link told us about gets the name their messages carry.
    if (message?.t === 'msg' && this.presence.some((p) => p.peer === peer && !p.name)) {
      this.presence = this.presence.map((p) => (p.peer === peer ? { ...p, name: message.name } : p));
    }
    this.chat.receive(peer, text);
  }

  private setLinkState(peer: string, state: LinkState): void {
    this.presence = this.presence.map((p) => (p.peer === peer ? { ...p, link: state } : p));
  }

  /** The safety code `peer`'s link shows, once connected. */
  safetyOf(peer: string): string | undefined {
    return this.presence.find((p) => p.peer === peer)?.safety;
  }

  /** What we know of `peer`'s link identity (kept when the member list is rebuilt). */
  private linkIdentity(peer: string): Pick<Presence, 'safety' | 'fingerprint' | 'identity'> {
    const { safety, fingerprint, identity } = this.presence.find((p) => p.peer === peer) ?? {};
    return { safety, fingerprint, identity };
  }

  /** Shows `peer`'s safety code and, with their device's fingerprint, how it compares with what was
   * verified for their name. */
  private async setSafety(peer: string, safety: string, fingerprint?: string): Promise<void> {
    const name = this.presence.find((p) => p.peer === peer)?.name;
    const identity = fingerprint && name ? identityStatus(await verifiedContact(name), fingerprint) : undefined;
    this.presence = this.presence.map((p) => (p.peer === peer ? { ...p, safety, fingerprint, identity } : p));
  }

  /** The person behind `peer` read the same code: remember their device as verified for their name. */
  async verify(peer: string): Promise<void> {
    const person = this.presence.find((p) => p.peer === peer);
    if (!person?.fingerprint || !person.name) return;
    await markVerified(person.name, person.fingerprint);
    this.presence = this.presence.map((p) =>
      p.name === person.name && p.fingerprint === person.fingerprint ? { ...p, identity: 'verified' } : p,
    );
  }

  /** The person behind link `from` now has peer id `to` (the engine checked the claim). */
  private rekeyed(from: string, to: string): void {
    if (from === to) return;
    this.trace?.record(`${from} is now ${to}`);
    this.chat.peerRenamed(from, to);
    this.call.peerRenamed(from, to);
    // The same person under the new id, also before the server lists that id (peer-joined comes later).
    const person = this.presence.find((p) => p.peer === from);
    const others = this.presence.filter((p) => p.peer !== from);
    this.presence = others.some((p) => p.peer === to)
      ? others.map((p) => (p.peer === to ? { ...p, link: this.engine.linkState(to) } : p))
      : [...others, ...(person ? [{ ...person, peer: to, link: this.engine.linkState(to) }] : [])];
    this.chat.flush(to);
  }

  private sendSignal(peer: string, data: SignalData): void {
    this.trace?.record(`out ${peer} ${describeSignal(data)}`);
    this.transport.signal(this.name, peer, data);
  }

  private dropPeer(peer: string, reason: string): void {
    this.call.peerGone(peer, reason);
    this.chat.peerLeft(peer);
    this.engine.drop(peer);
    this.presence = this.presence.filter((p) => p.peer !== peer);
  }
}

function describeSignal(data: SignalData): string {
  switch (data.kind) {
    case 'offer':
    case 'answer':
      return `${data.kind} (${data.sdp.length} chars)`;
    case 'candidate':
      return data.candidate ? 'candidate' : 'end of candidates';
    case 'invite':
    case 'accept':
    case 'decline':
    case 'hangup':
    case 'cancel':
    case 'in-call':
    case 'left-call':
    case 'join-call':
      return `${data.kind} ${data.call}`;
    default:
      return data.kind;
  }
}

function describeFrame(frame: ServerFrame): string {
  switch (frame.type) {
    case 'welcome':
      return `welcome ${frame.peer}${frame.resumed ? ' (resumed)' : ''}`;
    case 'joined':
      return `joined ${frame.room}: ${frame.peers.map((p) => p.peer).join(' ') || 'nobody else'}`;
    case 'peer-joined':
    case 'peer-left':
      return `${frame.type} ${frame.peer}`;
    case 'signal':
      return `in ${frame.from} ${describeSignal(frame.data)}`;
    case 'error':
      return `error ${frame.code}: ${frame.message}`;
    default:
      return frame.type;
  }
}
