// A room as the UI sees it: the connection state, who is present (from joined/peer-joined/peer-left, plus
// anyone the engine's links reach), routing of signals, and the room's chat and call. The links to the
// people — chat channels, files, call media — are one `PeerEngine` (engine/engine.ts), chosen once here:
// the page's own WebRTC, or the app's native links where the webview has none. Survives signaling drops:
// links are peer to peer and keep running; after a fresh signaling session the engine matches the same
// people to their new peer ids.

import type { IceServer, ServerFrame, SignalData } from './protocol.gen';
import { Call } from './call/call.svelte';
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
}

export class Room {
  connection = $state<ConnectionState>('connecting');
  me = $state<string | null>(null);
  /** Set when the server refused our invitation (session or room): why, for the join screen. */
  refused = $state<string | null>(null);
  presence = $state<Presence[]>([]);
  readonly chat: Chat;
  readonly call: Call;

  private readonly engine: PeerEngine;
  /** Peers the server lists in the room; presence may also hold people only the engine reaches. */
  private readonly listed = new Set<string>();
  private readonly trace = testHooksEnabled() ? new SignalTrace() : null;
  private iceServers: IceServer[] = [];
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

  private onFrame(frame: ServerFrame): void {
    if (this.trace && frame.type !== 'pong') this.trace.record(describeFrame(frame));
    switch (frame.type) {
      case 'welcome':
        this.iceServers = frame.ice_servers;
        this.previousMe = this.me;
        this.me = frame.peer;
        if (!frame.resumed && this.previousMe && this.previousMe !== frame.peer) this.engine.newId(this.previousMe, frame.peer);
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
        return;
      }
      case 'signal':
        if (frame.room === this.name && !this.engine.signal(frame.from, frame.data)) this.call.onSignal(frame.from, frame.data);
        return;
      case 'error':
        if (frame.code === 'room_full') this.chat.error = 'This room is full.';
        else if (frame.code === 'unauthorized') this.refused = refusalMessage(frame, this.name, !!this.options.tokens?.current());
        return;
      default:
        return;
    }
  }

  private onMessage(peer: string, text: string): void {
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
