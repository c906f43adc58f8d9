// The browser's engine: one RTCPeerConnection per person (call/peer.ts) carrying the chat channel, the
// file channels (files/transfers.svelte.ts) and call media. It links to everyone the server lists when we
// are the newcomer, and re-keys a link to a person's new peer id after a fresh signaling session by the
// same rule as the app's native links (core/src/links): the claim must hold by the server's word and be
// proven over that very link.

import type { SignalData } from '../protocol.gen';
import { PeerLink } from '../call/peer';
import { canShareScreen, getLocalMedia, getScreen, listDevices } from '../call/media';
import { FileTransfers } from '../files/transfers.svelte';
import { parseChannelMessage, peerIdProofText, peerIdText } from '../chat/message';
import { WindowDelivery } from '../chat/delivery';
import type { ChatLinks } from '../chat/chat.svelte';
import type { ChatHistory } from '../history';
import { codeOfFingerprints, connectionFingerprints } from '../safety';
import { MAX_HELD_CHECKS, MAX_NONCE_CHARS, REKEY_CLAIM_TTL_MS, REKEY_WAIT_MS } from '../core.gen';
import { NO_WEBRTC, type CallSupport, type EngineHost, type LinkState, type PeerEngine, type Picture } from './engine';

export interface BrowserEngineOptions {
  /** Forces TURN relay for every peer connection (relay-only networks, tests). */
  relayOnly?: boolean;
  /** This device's DTLS certificate (identity.ts), used by every peer link. */
  certificate?: RTCCertificate;
}

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

export class BrowserEngine implements PeerEngine {
  readonly files: FileTransfers;
  readonly calls: CallSupport;
  readonly chatFirst: boolean;
  /** Remote media by peer id, as the call tiles show it. */
  private remoteStreams = $state.raw<Record<string, MediaStream>>({});
  private readonly webrtc = typeof RTCPeerConnection !== 'undefined';
  private readonly links = new Map<string, PeerLink>();
  /** `peer-id` announcements not accepted yet: the link they came over → the claim (one per link). */
  private readonly claims = new Map<PeerLink, Claim>();
  /** `peer-id-check`s not answered yet (no link to or claiming their sender yet): sender → nonces, when. */
  private readonly heldChecks = new Map<string, { nonces: string[]; at: number }>();

  constructor(
    private readonly host: EngineHost,
    private readonly options: BrowserEngineOptions = {},
  ) {
    this.chatFirst = !this.webrtc;
    this.files = new FileTransfers({
      peers: () => host.peers().filter((p) => this.links.get(p)?.pc.connectionState === 'connected'),
      openChannel: (peer) => this.links.get(peer)?.openFileChannel() ?? null,
      nameOf: (p) => host.nameOf(p),
      showRow: (key, mine, fromName) => host.showFileRow(key, mine, fromName),
    });
    const engine = this;
    this.calls = {
      available: this.webrtc,
      unavailableText: this.webrtc ? null : NO_WEBRTC,
      mediaNotice: null,
      get screenShare() {
        return canShareScreen();
      },
      deviceMenu: null,
      listDevices,
      media: getLocalMedia,
      screen: getScreen,
      picture(peer, local): Picture {
        if (peer === null) return { kind: 'stream', stream: local.screenStream ?? local.localStream, muted: true };
        return { kind: 'stream', stream: engine.remoteStreams[peer] ?? null, muted: false };
      },
    };
  }

  start(): void {}

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.files.close();
  }

  /** This window runs the chat's rules itself (outbox, acks) over its data channels. */
  chatDelivery(links: ChatLinks, history?: ChatHistory): WindowDelivery {
    return new WindowDelivery(links, history);
  }

  send(peer: string, text: string): boolean {
    return this.links.get(peer)?.send(text) ?? false;
  }

  linkState(peer: string): LinkState {
    return this.links.get(peer)?.pc.connectionState ?? 'none';
  }

  /** The people list shows our links under the ids the server lists (a re-keyed link moves to its new id). */
  reachesUnlisted(): boolean {
    return false;
  }

  mediaLink(peer: string): PeerLink | undefined {
    return this.links.get(peer);
  }

  /** Our peer id changed (fresh signaling session): tell everyone we are still linked to. */
  newId(_previous: string, me: string): void {
    for (const link of this.links.values()) link.send(peerIdText(me));
  }

  /** Connects to `peer` now, or shortly when orphaned links might still turn out to be this person. */
  linkTo(peer: string): void {
    if (this.links.has(peer) || !this.webrtc) return;
    const orphans = [...this.links.keys()].some((k) => !this.host.present(k));
    if (!orphans) {
      this.createLink(peer, true);
      return;
    }
    setTimeout(() => {
      if (!this.links.has(peer) && this.host.present(peer)) this.createLink(peer, true);
    }, REKEY_WAIT_MS);
  }

  listChanged(): void {
    this.applyClaims();
  }

  /** A link that already announced this person's new id carries on under it once the new session proves
   * it (the check is out now); until then it leaves the list but stays up. */
  keepsLeaving(peer: string, reason: string): boolean {
    const link = this.links.get(peer);
    const claim = link && this.claims.get(link);
    if (claim?.nonce === undefined) return false;
    claim.left = reason;
    setTimeout(() => this.applyClaims(), Math.max(0, claim.at + REKEY_CLAIM_TTL_MS - Date.now()) + 10);
    return true;
  }

  signal(from: string, data: SignalData): boolean {
    if (data.kind === 'peer-id-check') {
      this.answerCheck(from, data.nonce);
      return true;
    }
    if (data.kind !== 'offer' && data.kind !== 'answer' && data.kind !== 'candidate' && data.kind !== 'restart') return false;
    const link = this.links.get(from) ?? this.createLink(from, false);
    link?.handleSignal(data).catch((err: unknown) => {
      // A stale or broken description: the next negotiation replaces it.
      this.host.trace(`link ${from} ${data.kind} refused: ${String(err)}`);
    });
    return true;
  }

  drop(peer: string): void {
    this.files.peerLeft(peer);
    this.links.get(peer)?.close();
    this.links.delete(peer);
    const { [peer]: _gone, ...rest } = this.remoteStreams;
    this.remoteStreams = rest;
  }

  debug(): Record<string, unknown> {
    return {
      peerConnections: () => [...this.links.values()].map((l) => l.pc),
      files: () => this.files.report(),
      holdFiles: (fraction: number, action: 'drop' | 'pause') => (this.files.hold = { fraction, action }),
    };
  }

  /** `opens`: we start this link (we are the newcomer); otherwise the peer's signal started it. */
  private createLink(peer: string, opens: boolean): PeerLink | undefined {
    const me = this.host.me();
    if (!this.webrtc || !me) return undefined;
    const host = this.host;
    const link: PeerLink = new PeerLink(
      {
        iceServers: host.iceServers(),
        polite: me < peer,
        iceTransportPolicy: this.options.relayOnly ? 'relay' : 'all',
        opensChannel: opens,
        certificate: this.options.certificate,
      },
      {
        signal: (data) => host.signal(this.keyOf(link) ?? peer, data),
        channelOpen: () => {
          const key = this.keyOf(link);
          if (key) host.channelOpen(key);
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
          if (key) host.callFailed(key, reason);
        },
        stateChange: (state) => {
          const key = this.keyOf(link);
          host.trace(`link ${key ?? peer} ${state}`);
          if (key) host.linkState(key, state);
          if (state === 'connected') void this.showSafety(link);
        },
        trace: (event) => host.trace(`link ${this.keyOf(link) ?? peer} ${event}`),
      },
    );
    this.links.set(peer, link);
    host.linkAdded(peer);
    return link;
  }

  /** Shows a connected link's safety code, from the certificates DTLS verified (not a later description). */
  private async showSafety(link: PeerLink): Promise<void> {
    const prints = await connectionFingerprints(link.pc);
    const key = this.keyOf(link);
    if (!prints || !key || !globalThis.crypto?.subtle) return;
    this.host.safety(key, await codeOfFingerprints(prints.local, prints.remote), prints.remote);
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
    this.host.message(key, text);
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
    return !this.host.listed(from) && this.host.listed(to) && !this.links.has(to);
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
        if (from && claim.left !== undefined && !this.host.listed(from)) this.host.drop(from, claim.left);
        continue;
      }
      if (!this.claimHolds(from, claim.to)) continue;
      if (claim.proven) {
        this.claims.delete(link);
        this.rekey(from, claim.to);
      } else if (claim.nonce === undefined) {
        claim.nonce = newNonce();
        claim.checkedAt = now;
        this.host.signal(claim.to, { kind: 'peer-id-check', nonce: claim.nonce });
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

  /** The link to `from` now belongs to `to`, with its transfers and media. */
  private rekey(from: string, to: string): void {
    const link = this.links.get(from);
    if (!link || this.links.has(to)) return;
    this.links.delete(from);
    this.links.set(to, link);
    const stream = this.remoteStreams[from];
    if (stream) {
      const { [from]: _old, ...rest } = this.remoteStreams;
      this.remoteStreams = { ...rest, [to]: stream };
    }
    this.files.peerRenamed(from, to);
    this.host.rekeyed(from, to);
  }
}

/** 128 random bits, base64url (no padding): the nonce of a `peer-id-check`. */
function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
