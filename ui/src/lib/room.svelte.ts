// A room as the UI sees it: the connection state, who is present (from joined/peer-joined/peer-left, plus
// anyone the app's fallback channels reach), one peer link per other person (chat data channel, call
// media), routing of signals, and the room's chat and call. Survives signaling drops: peer links are peer
// to peer and keep running; after a fresh signaling session the same people are matched to their new peer
// ids over the data channels. Where the webview has no WebRTC, the app's Rust backend carries the chat
// channels instead (`FallbackLinks`).

import type { IceServer, ServerFrame, SignalData } from './protocol.gen';
import { Call } from './call/call.svelte';
import { PeerLink } from './call/peer';
import { NativeMedia } from './call/native.svelte';
import { Chat } from './chat/chat.svelte';
import { FileTransfers } from './files/transfers.svelte';
import { NativeFiles, insertByTime } from './files/native.svelte';
import { parseChannelMessage, peerIdProofText, peerIdText } from './chat/message';
import { codeOfFingerprints, connectionFingerprints } from './safety';
import { identityStatus, markVerified, verifiedContact, type IdentityStatus } from './identity';
import { MAX_HELD_CHECKS, MAX_NONCE_CHARS, REKEY_CLAIM_TTL_MS, REKEY_WAIT_MS } from './core.gen';
import { SignalTrace, testHooksEnabled } from './call/trace';
import type { ChatHistory } from './history';
import { refusalMessage } from './invite';
import type { TokenSource } from './token';
import { FallbackLinks } from './transport/fallback';
import type { ConnectionState, Transport } from './transport/types';

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
  /** Chat over the app's native data channels instead of the webview's WebRTC (app only). */
  fallback?: boolean;
  /** The app's history on disk; without it (browser) chat lives in memory. */
  history?: ChatHistory;
  /** The invitation token every hello presents (servers with an auth secret require one). */
  tokens?: TokenSource;
  /** This device's DTLS certificate (identity.ts), used by every peer link. */
  certificate?: RTCCertificate;
}

/** How a peer link looks in the people list. */
type LinkState = RTCPeerConnectionState | 'none';

/** A link's `peer-id` announcement: the person behind it says their session now has id `to`. */
interface Claim {
  to: string;
  /** When it was announced: it waits for the server's word and the proof at most REKEY_CLAIM_TTL_MS. */
  at: number;
  /** The nonce of the one `peer-id-check` sent to `to` once the claim held, and when. */
  nonce?: string;
  checkedAt?: number;
  /** `to`'s session answered the check over this very link. */
  proven?: boolean;
  /** The old id left while the proof was awaited: the link is kept out of the list, and closed if none comes. */
  left?: string;
}

export class Room {
  connection = $state<ConnectionState>('connecting');
  me = $state<string | null>(null);
  /** Set when the server refused our invitation (session or room): why, for the join screen. */
  refused = $state<string | null>(null);
  presence = $state<Presence[]>([]);
  remoteStreams = $state.raw<Record<string, MediaStream>>({});
  /** False where this window uses no WebRTC of its own (calls are unavailable; chat may use the fallback). */
  readonly webrtc: boolean;
  readonly chat: Chat;
  readonly call: Call;
  /** Files sent and received over the peer links (not through the app's fallback channels). */
  readonly files: FileTransfers;
  /** Call media through the app's native links, where the fallback carries chat (null elsewhere). */
  readonly native: NativeMedia | null;
  /** Files sent and received by the app over its native links, where the fallback carries chat (null elsewhere). */
  readonly nativeFiles: NativeFiles | null = null;

  private readonly links = new Map<string, PeerLink>();
  private readonly fallback: FallbackLinks | null = null;
  /** Peers the server lists in the room; presence may also hold people only the fallback reaches. */
  private readonly listed = new Set<string>();
  /** `peer-id` announcements not accepted yet: the link they came over → the claim (one per link). */
  private readonly claims = new Map<PeerLink, Claim>();
  /** `peer-id-check`s not answered yet (no link to or claiming their sender yet): sender → nonces, when. */
  private readonly heldChecks = new Map<string, { nonces: string[]; at: number }>();
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
    this.webrtc = !options.fallback && typeof RTCPeerConnection !== 'undefined';
    this.chat = new Chat(
      {
        peers: () => this.presence.map((p) => p.peer),
        send: (peer, text) => this.links.get(peer)?.send(text) ?? this.fallback?.send(peer, text) ?? false,
        nameOf: (p) => this.nameOf(p),
      },
      () => this.myName,
      options.history,
    );
    if (options.fallback) this.fallback = this.fallbackLinks();
    this.files = new FileTransfers({
      peers: () => this.presence.filter((p) => this.links.get(p.peer)?.pc.connectionState === 'connected').map((p) => p.peer),
      openChannel: (peer) => this.links.get(peer)?.openFileChannel() ?? null,
      nameOf: (p) => this.nameOf(p),
      showRow: (key, mine, fromName) => this.chat.fileLine(key, mine, fromName),
    });
    if (options.fallback) {
      this.nativeFiles = new NativeFiles(name, {
        peers: () => this.presence.filter((p) => this.fallback?.isOpen(p.peer)).map((p) => p.peer),
        nameOf: (p) => this.nameOf(p),
        showRow: (key, mine, fromName) => this.chat.fileLine(key, mine, fromName),
        showPastRow: (key, mine, fromName, at) =>
          insertByTime(this.chat.lines, { id: key, kind: 'file', mine, fromName, body: '', sentAt: at, status: 'delivered' }),
      });
    }
    const native = options.fallback ? new NativeMedia(name) : null;
    this.native = native;
    this.call = new Call(
      {
        peers: () => this.presence.map((p) => p.peer),
        nameOf: (p) => this.nameOf(p),
        signal: (peer, data) => this.sendSignal(peer, data),
        link: (peer) => this.links.get(peer) ?? native?.link(peer),
        system: (text) => this.chat.system(text),
      },
      native ? () => native.open() : undefined,
      native ? () => native.screen() : undefined,
    );
    this.unsubscribe.push(
      transport.onState((s) => {
        this.trace?.record(`connection ${s}`);
        this.connection = s;
      }),
    );
    // Test hook, only with test hooks on (see trace.ts; never in a normal page): the live peer connections,
    // e.g. to read sender parameters, and the recent signaling.
    const trace = this.trace;
    if (trace) {
      (globalThis as { __p2pchatDebug?: unknown }).__p2pchatDebug = {
        peerConnections: () => [...this.links.values()].map((l) => l.pc),
        signalTrace: () => trace.entries(),
        presence: () => $state.snapshot(this.presence),
        files: () => this.files.report(),
        holdFiles: (fraction: number, action: 'drop' | 'pause') => (this.files.hold = { fraction, action }),
      };
    }
    this.unsubscribe.push(transport.onFrame((f) => this.onFrame(f)));
  }

  /** Connects (if needed) and enters the room. */
  enter(): void {
    // The history's file rows go in among the stored messages, so they wait for them.
    void this.chat.restore().then(() => this.nativeFiles?.showHistory());
    this.transport.connect(this.myName, this.options.tokens);
    this.transport.join(this.name);
  }

  leave(): void {
    this.call.hangup();
    this.transport.leave(this.name);
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.fallback?.close();
    this.native?.close();
    this.nativeFiles?.close();
    this.files.close();
    this.chat.close();
    for (const stop of this.unsubscribe) stop();
    this.transport.close();
  }

  nameOf(peer: string): string {
    return this.presence.find((p) => p.peer === peer)?.name || 'someone';
  }

  private onFrame(frame: ServerFrame): void {
    if (this.trace && frame.type !== 'pong') this.trace.record(describeFrame(frame));
    switch (frame.type) {
      case 'welcome':
        this.iceServers = frame.ice_servers;
        this.previousMe = this.me;
        this.me = frame.peer;
        if (!frame.resumed && this.previousMe && this.previousMe !== frame.peer) this.announceNewId(frame.peer);
        return;
      case 'joined':
        if (frame.room !== this.name) return;
        // After a fresh session the member list is rebuilt; people already linked keep their links, and
        // people the fallback still reaches stay listed (their own session may not be back yet).
        this.listed.clear();
        for (const p of frame.peers) this.listed.add(p.peer);
        this.applyClaims();
        this.presence = [
          ...frame.peers.map((p) => ({ ...this.linkIdentity(p.peer), peer: p.peer, name: p.name, link: this.linkState(p.peer) })),
          ...this.presence.filter((p) => !this.listed.has(p.peer) && this.fallback?.isOpen(p.peer)),
        ];
        for (const p of frame.peers) this.linkSoon(p.peer);
        return;
      case 'peer-joined':
        if (frame.room !== this.name) return;
        this.listed.add(frame.peer);
        if (this.presence.some((p) => p.peer === frame.peer)) {
          this.presence = this.presence.map((p) => (p.peer === frame.peer ? { ...p, name: frame.name } : p));
        } else {
          this.presence = [...this.presence, { peer: frame.peer, name: frame.name, link: this.linkState(frame.peer) }];
        }
        this.applyClaims();
        this.call.peerArrived(frame.peer);
        // The newcomer connects to everyone present (see `joined`); waiting for its offer avoids glare.
        return;
      case 'peer-left': {
        if (frame.room !== this.name) return;
        this.listed.delete(frame.peer);
        // A link that already announced this person's new id carries on under it once the new session proves
        // it (the check is out now); until then it leaves the list but stays up. Otherwise it closes.
        this.applyClaims();
        const reason = `${this.nameOf(frame.peer)} left the room.`;
        const link = this.links.get(frame.peer);
        const claim = link && this.claims.get(link);
        if (claim?.nonce !== undefined) {
          claim.left = reason;
          this.presence = this.presence.filter((p) => p.peer !== frame.peer);
          setTimeout(() => this.applyClaims(), Math.max(0, claim.at + REKEY_CLAIM_TTL_MS - Date.now()) + 10);
          return;
        }
        this.dropPeer(frame.peer, reason);
        return;
      }
      case 'signal':
        if (frame.room === this.name) void this.onSignal(frame.from, frame.data);
        return;
      case 'error':
        if (frame.code === 'room_full') this.chat.error = 'This room is full.';
        else if (frame.code === 'unauthorized') this.refused = refusalMessage(frame, this.name, !!this.options.tokens?.current());
        return;
      default:
        return;
    }
  }

  private async onSignal(from: string, data: SignalData): Promise<void> {
    if (data.kind === 'peer-id-check') {
      this.answerCheck(from, data.nonce);
      return;
    }
    if (data.kind === 'offer' || data.kind === 'answer' || data.kind === 'candidate' || data.kind === 'restart') {
      const link = this.links.get(from) ?? this.createLink(from, false);
      try {
        await link?.handleSignal(data);
      } catch (err) {
        // A stale or broken description: the next negotiation replaces it.
        this.trace?.record(`link ${from} ${data.kind} refused: ${String(err)}`);
      }
      return;
    }
    this.call.onSignal(from, data);
  }

  /** Connects to `peer` now, or shortly when orphaned links might still turn out to be this person. */
  private linkSoon(peer: string): void {
    if (this.links.has(peer) || !this.webrtc) return;
    const orphans = [...this.links.keys()].some((k) => !this.presence.some((p) => p.peer === k));
    if (!orphans) {
      this.createLink(peer, true);
      return;
    }
    setTimeout(() => {
      if (!this.links.has(peer) && this.presence.some((p) => p.peer === peer)) this.createLink(peer, true);
    }, REKEY_WAIT_MS);
  }

  /** `opens`: we start this link (we are the newcomer); otherwise the peer's signal started it. */
  private createLink(peer: string, opens: boolean): PeerLink | undefined {
    if (!this.webrtc || !this.me) return undefined;
    const policy = this.options.relayOnly ? 'relay' : 'all';
    const link: PeerLink = new PeerLink(
      {
        iceServers: this.iceServers,
        polite: this.me < peer,
        iceTransportPolicy: policy,
        opensChannel: opens,
        certificate: this.options.certificate,
      },
      {
        signal: (data) => this.sendSignal(this.keyOf(link) ?? peer, data),
        channelOpen: () => {
          const key = this.keyOf(link);
          if (key) this.chat.flush(key);
        },
        channelMessage: (text) => this.onChannelMessage(link, text),
        fileChannel: (channel) => {
          const key = this.keyOf(link);
          if (key) this.files.accept(key, channel);
          else channel.close();
        },
        remoteStream: (stream) => {
          const key = this.keyOf(link);
          if (key) this.remoteStreams = { ...this.remoteStreams, [key]: stream };
        },
        failed: (reason) => {
          const key = this.keyOf(link);
          if (key) this.call.peerGone(key, `Call ended: ${reason}.`);
        },
        stateChange: (state) => {
          const key = this.keyOf(link);
          this.trace?.record(`link ${key ?? peer} ${state}`);
          if (key) this.setLinkState(key, state);
          if (state === 'connected') void this.showSafety(link);
        },
        trace: this.trace ? (event) => this.trace?.record(`link ${this.keyOf(link) ?? peer} ${event}`) : undefined,
      },
    );
    this.links.set(peer, link);
    this.call.linkAdded(peer);
    return link;
  }

  /** Chat channels run by the app's backend: it negotiates them; the room routes their text to the chat. */
  private fallbackLinks(): FallbackLinks {
    return new FallbackLinks(this.name, {
      open: (peer, safety, fingerprint) => {
        this.trace?.record(`fallback ${peer} open`);
        // Someone we can talk to is listed even before (or without) the server's word, e.g. a room opened
        // while signaling is down: the channel is peer to peer.
        if (!this.presence.some((p) => p.peer === peer)) this.presence = [...this.presence, { peer, name: '', link: 'connected' }];
        else this.setLinkState(peer, 'connected');
        if (safety) void this.setSafety(peer, safety, fingerprint);
        this.chat.flush(peer);
      },
      message: (peer, text) => {
        const message = parseChannelMessage(text);
        // Peer-id announcements are handled by the backend, which reports them as `rekeyed`.
        if (message?.t === 'peer-id' || message?.t === 'peer-id-proof') return;
        // A person only the fallback told us about gets the name their messages carry.
        if (message?.t === 'msg' && this.presence.some((p) => p.peer === peer && !p.name)) {
          this.presence = this.presence.map((p) => (p.peer === peer ? { ...p, name: message.name } : p));
        }
        this.chat.receive(peer, text);
      },
      closed: (peer) => this.fallbackLost(peer, 'closed'),
      rekeyed: (from, to) => this.rekey(from, to),
      failed: (peer) => this.fallbackLost(peer, 'failed'),
    });
  }

  /** A fallback channel closed: people the server does not list leave the list with it. */
  private fallbackLost(peer: string, state: LinkState): void {
    this.trace?.record(`fallback ${peer} ${state}`);
    if (this.listed.has(peer)) this.setLinkState(peer, state);
    else this.presence = this.presence.filter((p) => p.peer !== peer);
  }

  private linkState(peer: string): LinkState {
    if (this.fallback) return this.fallback.isOpen(peer) ? 'connected' : 'none';
    return this.links.get(peer)?.pc.connectionState ?? 'none';
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

  /** Shows a connected link's safety code, from the certificates DTLS verified (not a later description). */
  private async showSafety(link: PeerLink): Promise<void> {
    const prints = await connectionFingerprints(link.pc);
    const key = this.keyOf(link);
    if (!prints || !key || !globalThis.crypto?.subtle) return;
    await this.setSafety(key, await codeOfFingerprints(prints.local, prints.remote), prints.remote);
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

  private keyOf(link: PeerLink): string | undefined {
    for (const [key, value] of this.links) if (value === link) return key;
    return undefined;
  }

  private onChannelMessage(link: PeerLink, text: string): void {
    const key = this.keyOf(link);
    if (!key) return;
    const message = parseChannelMessage(text);
    if (message?.t === 'peer-id') {
      this.claim(link, message.peer);
      return;
    }
    if (message?.t === 'peer-id-proof') {
      this.proofArrived(link, message.nonce);
      return;
    }
    this.chat.receive(key, text);
  }

  /** Our peer id changed (fresh signaling session): tell everyone we are still linked to. */
  private announceNewId(peer: string): void {
    for (const link of this.links.values()) link.send(peerIdText(peer));
  }

  /**
   * Link `link` says the person behind it now has peer id `to`. A renewed claim replaces the pending one
   * (and gets its own check), except that the same id announced again right after its check keeps that check.
   */
  private claim(link: PeerLink, to: string): void {
    const now = Date.now();
    const pending = this.claims.get(link);
    if (pending?.to === to && pending.checkedAt !== undefined && now - pending.checkedAt < REKEY_WAIT_MS) {
      pending.at = now;
    } else {
      this.claims.set(link, { to, at: now, left: pending?.left });
    }
    this.applyClaims();
  }

  /** Whether link `from`'s claim to be `to` holds by the server's word: `from` is no longer listed, `to` is
   * listed and has no link of its own. */
  private claimHolds(from: string, to: string): boolean {
    return !this.listed.has(from) && this.listed.has(to) && !this.links.has(to);
  }

  /**
   * Re-keys the links whose `peer-id` claims are proven and hold (as the app's native links do,
   * core/src/links): the link's old id is no longer listed (the server said `peer-left`, or a fresh
   * `joined` left it out), the new id is listed with no link of its own, and the session holding the new id
   * answered our `peer-id-check` — sent to it through the server once the claim held — with a
   * `peer-id-proof` over this very link. The server delivers the check only to that session, which answers
   * only over its own link to us, so a member who claims someone else's id (a newcomer's, one whose link
   * failed, or an id another link claims too) never gets it. Claims wait at most REKEY_CLAIM_TTL_MS; a link
   * whose old id left while it waited closes then.
   */
  private applyClaims(): void {
    const now = Date.now();
    for (const [link, claim] of this.claims) {
      const from = this.keyOf(link);
      if (!from || from === claim.to || now - claim.at > REKEY_CLAIM_TTL_MS) {
        this.claims.delete(link);
        if (from && claim.left !== undefined && !this.listed.has(from)) this.dropPeer(from, claim.left);
        continue;
      }
      if (!this.claimHolds(from, claim.to)) continue;
      if (claim.proven) {
        this.claims.delete(link);
        this.rekey(from, claim.to);
      } else if (claim.nonce === undefined) {
        claim.nonce = newNonce();
        claim.checkedAt = now;
        this.sendSignal(claim.to, { kind: 'peer-id-check', nonce: claim.nonce });
      }
    }
    this.answerHeldChecks(now);
  }

  /** A `peer-id-proof` came over `link`: it counts only for the nonce of this link's own claim. */
  private proofArrived(link: PeerLink, nonce: string): void {
    const claim = this.claims.get(link);
    if (claim?.nonce === undefined || claim.nonce !== nonce) return;
    claim.proven = true;
    this.applyClaims();
  }

  /** Session `from` checks that we hold our id: answer over our link to it, or hold the check until one exists. */
  private answerCheck(from: string, nonce: string): void {
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_NONCE_CHARS) return;
    if (this.tryAnswer(from, nonce)) return;
    const held = this.heldChecks.get(from) ?? { nonces: [], at: Date.now() };
    if (!held.nonces.includes(nonce)) held.nonces = [...held.nonces, nonce].slice(-4);
    this.heldChecks.delete(from);
    this.heldChecks.set(from, held);
    for (const oldest of this.heldChecks.keys()) {
      if (this.heldChecks.size <= MAX_HELD_CHECKS) break;
      this.heldChecks.delete(oldest);
    }
  }

  /**
   * Sends the proof for `from`'s check over the link to `from`, or else over the one link that claims to be
   * `from` with a claim that holds (both sides got new ids in one server restart). Never over any other
   * link, and never when two links claim `from` (one of them is not who it says; neither gets the nonce).
   */
  private tryAnswer(from: string, nonce: string): boolean {
    const direct = this.links.get(from);
    const claiming = direct
      ? [direct]
      : [...this.claims].filter(([link, c]) => {
          const key = this.keyOf(link);
          return c.to === from && key !== undefined && this.claimHolds(key, from);
        }).map(([link]) => link);
    const [link] = claiming;
    if (!link || claiming.length !== 1) return false;
    link.send(peerIdProofText(nonce));
    return true;
  }

  private answerHeldChecks(now: number): void {
    for (const [from, held] of this.heldChecks) {
      if (now - held.at > REKEY_CLAIM_TTL_MS) {
        this.heldChecks.delete(from);
        continue;
      }
      if (!this.links.has(from) && ![...this.claims.values()].some((c) => c.to === from)) continue;
      const answered = held.nonces.filter((nonce) => this.tryAnswer(from, nonce));
      if (answered.length > 0) this.heldChecks.delete(from);
    }
  }

  /** The person behind link `from` now has peer id `to` (checked by `applyClaims`, or by the app's backend). */
  private rekey(from: string, to: string): void {
    if (from === to) return;
    this.trace?.record(`${from} is now ${to}`);
    const link = this.links.get(from);
    if (link) {
      if (this.links.has(to)) return;
      this.links.delete(from);
      this.links.set(to, link);
    } else if (!this.fallback) {
      return;
    }
    const stream = this.remoteStreams[from];
    if (stream) {
      const { [from]: _old, ...rest } = this.remoteStreams;
      this.remoteStreams = { ...rest, [to]: stream };
    }
    this.chat.peerRenamed(from, to);
    this.files.peerRenamed(from, to);
    this.nativeFiles?.peerRenamed(from, to);
    this.call.peerRenamed(from, to);
    // The same person under the new id, also before the server lists that id (peer-joined comes later).
    const person = this.presence.find((p) => p.peer === from);
    const others = this.presence.filter((p) => p.peer !== from);
    this.presence = others.some((p) => p.peer === to)
      ? others.map((p) => (p.peer === to ? { ...p, link: this.linkState(to) } : p))
      : [...others, ...(person ? [{ ...person, peer: to, link: this.linkState(to) }] : [])];
    this.chat.flush(to);
  }

  private sendSignal(peer: string, data: SignalData): void {
    this.trace?.record(`out ${peer} ${describeSignal(data)}`);
    this.transport.signal(this.name, peer, data);
  }

  private dropPeer(peer: string, reason: string): void {
    this.call.peerGone(peer, reason);
    this.chat.peerLeft(peer);
    this.files.peerLeft(peer);
    this.links.get(peer)?.close();
    this.links.delete(peer);
    this.presence = this.presence.filter((p) => p.peer !== peer);
    const { [peer]: _gone, ...rest } = this.remoteStreams;
    this.remoteStreams = rest;
  }
}

/** 128 random bits, base64url (no padding): the nonce of a `peer-id-check`. */
function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
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
