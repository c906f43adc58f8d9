// The app's engine, where the webview has no RTCPeerConnection (Debian 12's WebKitGTK): the app's Rust side
// negotiates the links itself from the signaling frames it owns, re-keys them to new peer ids, and carries
// chat (native-links.ts), files (files/native.svelte.ts) and call media (call/native.svelte.ts) over them.
// Every user action is one IPC command; what happens on the links comes back as events.

import type { SignalData } from '../protocol.gen';
import { NativeMedia } from '../call/native.svelte';
import { NativeFiles } from '../files/native.svelte';
import { parseChannelMessage } from '../chat/message';
import { FallbackLinks } from './native-links';
import { AppDelivery } from './native-chat';
import { NO_WEBRTC, type CallSupport, type EngineHost, type LinkState, type PeerEngine } from './engine';

export class NativeEngine implements PeerEngine {
  readonly files: NativeFiles;
  readonly calls: CallSupport;
  readonly chatFirst = true;
  private readonly links: FallbackLinks;
  private readonly media: NativeMedia;

  constructor(private readonly host: EngineHost) {
    const room = host.room;
    this.links = new FallbackLinks(room, {
      open: (peer, safety, fingerprint) => {
        host.trace(`fallback ${peer} open`);
        // Someone we can talk to is listed even before (or without) the server's word, e.g. a room opened
        // while signaling is down: the channel is peer to peer.
        host.reached(peer);
        if (safety) host.safety(peer, safety, fingerprint);
        host.channelOpen(peer);
      },
      message: (peer, text) => {
        const kind = parseChannelMessage(text)?.t;
        // Rust's: peer-id announcements (reported as `rekeyed`), and the chat's messages, acks and read
        // receipts (its ChatSession reports them as chat://message and chat://status, native-chat.ts).
        if (kind === 'peer-id' || kind === 'peer-id-proof' || kind === 'msg' || kind === 'ack' || kind === 'read') return;
        host.message(peer, text);
      },
      closed: (peer) => this.lost(peer, 'closed'),
      rekeyed: (from, to) => {
        this.files.peerRenamed(from, to);
        host.rekeyed(from, to);
      },
      failed: (peer) => this.lost(peer, 'failed'),
    });
    this.files = new NativeFiles(room, {
      peers: () => host.peers().filter((p) => this.links.isOpen(p)),
      nameOf: (p) => host.nameOf(p),
      showRow: (key, mine, fromName) => host.showFileRow(key, mine, fromName),
      showPastRow: (key, mine, fromName, at) => host.showFileRow(key, mine, fromName, at),
    });
    const media = new NativeMedia(room);
    this.media = media;
    this.calls = {
      get available() {
        return media.available;
      },
      get unavailableText() {
        if (media.available) return null;
        return media.missingText ?? (media.support ? NO_WEBRTC : null);
      },
      get mediaNotice() {
        return media.notice;
      },
      get screenShare() {
        return media.available;
      },
      get deviceMenu() {
        return media.available ? media : null;
      },
      media: () => media.open(),
      screen: () => media.screen(),
      picture: (peer, local) => ({
        kind: 'frame',
        frame: peer !== null ? media.frame(peer) : local.cameraOff && !local.screenStream ? undefined : media.frame(),
      }),
    };
  }

  /** The history's file rows go in among the stored messages, so they wait for them. */
  start(): void {
    void this.files.showHistory();
  }

  close(): void {
    this.links.close();
    this.media.close();
    this.files.close();
  }

  /** The app's Rust core runs the chat's rules over its links: the window hands over what is written. */
  chatDelivery(): AppDelivery {
    return new AppDelivery(this.host.room, (peer, text) => this.host.message(peer, text));
  }

  /** Typing and read receipts (the chat's messages go by `chatDelivery`). */
  send(peer: string, text: string): boolean {
    return this.links.send(peer, text);
  }

  linkState(peer: string): LinkState {
    return this.links.isOpen(peer) ? 'connected' : 'none';
  }

  reachesUnlisted(peer: string): boolean {
    return this.links.isOpen(peer);
  }

  mediaLink(peer: string) {
    return this.media.link(peer);
  }

  // The backend links, announces our new id, answers id checks and re-keys from the frames it gets itself.
  newId(): void {}
  linkTo(): void {}
  listChanged(): void {}
  keepsLeaving(): boolean {
    return false;
  }

  signal(_from: string, data: SignalData): boolean {
    return data.kind === 'offer' || data.kind === 'answer' || data.kind === 'candidate' || data.kind === 'restart' || data.kind === 'peer-id-check';
  }

  /** The backend closes its link when the server says the person left. */
  drop(): void {}

  debug(): Record<string, unknown> {
    return {};
  }

  /** A channel closed: people the server does not list leave the list with it. */
  private lost(peer: string, state: LinkState): void {
    this.host.trace(`fallback ${peer} ${state}`);
    this.host.linkLost(peer, state);
  }
}
