// Read receipts, both ways. Ours: a message from a peer counts as seen once it is shown while the page is
// visible and focused; each sender then gets `{t:'read', ids}` for its own messages (never another
// peer's), unless the person turned read receipts off. Theirs are applied by the chat (✓✓ → read).

// At most MAX_READ_IDS ids go in one receipt (a page of history read at once goes out in several).
import { MAX_READ_IDS, type ChannelMessage } from '../core.gen';

export const readText = (ids: string[]): string => JSON.stringify({ t: 'read', ids } satisfies ChannelMessage);

/** Whether the person can see the chat now: the page is shown and has focus. */
export function pageSeen(): boolean {
  const doc = globalThis.document;
  return !!doc && doc.visibilityState === 'visible' && doc.hasFocus();
}

export class ReadReceipts {
  /** Per sender, ids of its messages shown but not yet seen. */
  private readonly unseen = new Map<string, string[]>();

  constructor(
    private readonly send: (peer: string, text: string) => boolean,
    private readonly enabled: () => boolean,
    private readonly seenNow: () => boolean = pageSeen,
  ) {}

  /** Message `id` from `peer` is now in the chat log. */
  shown(peer: string, id: string): void {
    const ids = this.unseen.get(peer) ?? [];
    ids.push(id);
    this.unseen.set(peer, ids);
    if (this.seenNow()) this.seen();
  }

  /** The person is looking at the chat: report what they have seen (kept for later if a channel is down). */
  seen(): void {
    if (!this.enabled()) {
      this.unseen.clear(); // seen while receipts were off: never reported
      return;
    }
    for (const [peer, ids] of this.unseen) {
      while (ids.length > 0) {
        if (!this.send(peer, readText(ids.slice(0, MAX_READ_IDS)))) break;
        ids.splice(0, MAX_READ_IDS);
      }
      if (ids.length === 0) this.unseen.delete(peer);
    }
  }

  peerLeft(peer: string): void {
    this.unseen.delete(peer);
  }

  peerRenamed(from: string, to: string): void {
    const ids = this.unseen.get(from);
    if (!ids) return;
    this.unseen.delete(from);
    this.unseen.set(to, [...(this.unseen.get(to) ?? []), ...ids]);
  }
}
