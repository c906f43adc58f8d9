// The typing indicator, both ways. Ours: while the person types, each peer gets `{t:'typing', on:true}`
// at most every TYPING_REFRESH_MS, and `on:false` when the draft is emptied (a sent message ends it on
// the other side by itself); nothing when they turned it off. Theirs: a peer shows as typing until it
// says it stopped, its message arrives, or TYPING_EXPIRY_MS pass without a refresh (a lost "stopped").

import type { ChannelMessage } from '../core.gen';

export const TYPING_REFRESH_MS = 3000;
export const TYPING_EXPIRY_MS = 6000;

export const typingText = (on: boolean): string => JSON.stringify({ t: 'typing', on } satisfies ChannelMessage);

export interface TypingLinks {
  peers(): string[];
  send(peer: string, text: string): boolean;
}

export class Typing {
  /** Peers typing to us now, in the order they started. */
  peers = $state<string[]>([]);
  private readonly expiry = new Map<string, ReturnType<typeof setTimeout>>();
  /** When we last told peers we are typing; 0: they think we are not. */
  private announcedAt = 0;

  constructor(
    private readonly links: TypingLinks,
    private readonly enabled: () => boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** `peer` says it started or stopped typing. */
  received(peer: string, on: boolean): void {
    clearTimeout(this.expiry.get(peer));
    this.expiry.delete(peer);
    if (!on) {
      this.peers = this.peers.filter((p) => p !== peer);
      return;
    }
    if (!this.peers.includes(peer)) this.peers = [...this.peers, peer];
    this.expiry.set(peer, setTimeout(() => this.received(peer, false), TYPING_EXPIRY_MS));
  }

  /** A message from `peer` arrived: it is done typing that one. */
  messageFrom(peer: string): void {
    if (this.peers.includes(peer)) this.received(peer, false);
  }

  /** Our draft changed to `text`. */
  drafting(text: string): void {
    const typing = this.enabled() && text.trim().length > 0;
    if (!typing) {
      if (this.announcedAt) this.broadcast(false);
      this.announcedAt = 0;
      return;
    }
    const now = this.now();
    if (this.announcedAt && now - this.announcedAt < TYPING_REFRESH_MS) return;
    this.broadcast(true);
    this.announcedAt = now;
  }

  /** We sent the draft: the message itself ends the indicator on the other side. */
  sent(): void {
    this.announcedAt = 0;
  }

  peerLeft(peer: string): void {
    this.received(peer, false);
  }

  peerRenamed(from: string, to: string): void {
    if (!this.peers.includes(from)) return;
    this.received(from, false);
    this.received(to, true);
  }

  close(): void {
    for (const timer of this.expiry.values()) clearTimeout(timer);
    this.expiry.clear();
  }

  private broadcast(on: boolean): void {
    for (const peer of this.links.peers()) this.links.send(peer, typingText(on));
  }
}
