// Chat data channels carried by the app's Rust backend (the native WebRTC stack), for webviews without
// RTCPeerConnection. Rust negotiates the connections itself from the signaling frames it owns (and re-keys
// them to new peer ids); the UI only sends and receives the channel's text, so chat works the same as over
// the webview's own channels.

import { call, on } from '../ipc';

export interface FallbackEvents {
  /** `safety`: the link's safety code (docs/security.md), when the backend knows it; `fingerprint`: the
   * peer's certificate as DTLS verified it (their device identity). */
  open(peer: string, safety?: string, fingerprint?: string): void;
  message(peer: string, text: string): void;
  closed(peer: string): void;
  /** The backend matched a link to the person's new peer id (their fresh signaling session). */
  rekeyed(from: string, to: string): void;
  failed(peer: string, reason: string): void;
}

export class FallbackLinks {
  private readonly open = new Set<string>();
  /** Sends per peer, one after another: invokes run concurrently and would reorder messages. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly unlisten: Array<Promise<() => void>> = [];

  constructor(private readonly room: string, events: FallbackEvents) {
    const inRoom = <P extends { room: string }>(handle: (p: P) => void) => (p: P) => {
      if (p.room === room) handle(p);
    };
    this.unlisten.push(
      on('fallback://open', inRoom((p) => {
        this.open.add(p.peer);
        events.open(p.peer, p.safety ?? undefined, p.fingerprints?.remote);
      })),
      on('fallback://message', inRoom((p) => events.message(p.peer, p.text))),
      on('fallback://closed', inRoom((p) => {
        this.open.delete(p.peer);
        events.closed(p.peer);
      })),
      on('fallback://rekeyed', inRoom((p) => {
        if (this.open.delete(p.from)) this.open.add(p.to);
        events.rekeyed(p.from, p.to);
      })),
      on('fallback://failed', inRoom((p) => {
        this.open.delete(p.peer);
        events.failed(p.peer, p.reason);
      })),
    );
    // Channels the backend opened before this room was shown (rooms rejoined at startup) send no event.
    call('fallback_open_peers', { room }).then(
      (peers) => {
        for (const { peer, safety, fingerprints } of peers.filter((p) => !this.open.has(p.peer))) {
          this.open.add(peer);
          events.open(peer, safety ?? undefined, fingerprints?.remote);
        }
      },
      () => undefined,
    );
  }

  isOpen(peer: string): boolean {
    return this.open.has(peer);
  }

  /** Queues `text` for `peer`; false when its channel is not open (the outbox sends it again later). */
  send(peer: string, text: string): boolean {
    if (!this.open.has(peer)) return false;
    const previous = this.queues.get(peer) ?? Promise.resolve();
    const next = previous.then(() =>
      call('fallback_send', { room: this.room, peer, text }).then(
        (sent) => sent || this.open.delete(peer),
        () => this.open.delete(peer),
      ),
    );
    this.queues.set(peer, next);
    return true;
  }

  close(): void {
    for (const pending of this.unlisten) void pending.then((stop) => stop());
  }
}
