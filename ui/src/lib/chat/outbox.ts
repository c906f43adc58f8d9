// Delivery bookkeeping for chat messages: every message is kept per recipient until that peer acks it;
// when a peer's data channel (re)opens, everything it has not acked is sent again (receivers de-duplicate
// by id). A message written while nobody else is in the room waits for the next peer to connect.

import type { ChatMessage } from './message';

export type DeliveryStatus = 'pending' | 'sent' | 'delivered';

type RecipientState = 'queued' | 'sent' | 'acked';
const RANK: Record<RecipientState, number> = { queued: 0, sent: 1, acked: 2 };

interface Entry {
  message: ChatMessage;
  recipients: Map<string, RecipientState>;
}

export class Outbox {
  private readonly entries = new Map<string, Entry>();

  /** Queues `message` for `peers` (none: for whoever connects next). */
  add(message: ChatMessage, peers: string[]): void {
    this.entries.set(message.id, { message, recipients: new Map(peers.map((p) => [p, 'queued'])) });
  }

  /** Messages `peer` has not acked, oldest first; unaddressed messages are given to this peer. */
  unackedFor(peer: string): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (const entry of this.entries.values()) {
      if (entry.recipients.size === 0) entry.recipients.set(peer, 'queued');
      const state = entry.recipients.get(peer);
      if (state === 'queued' || state === 'sent') out.push(entry.message);
    }
    return out.sort((a, b) => a.sentAt - b.sentAt);
  }

  markSent(id: string, peer: string): void {
    const entry = this.entries.get(id);
    if (entry?.recipients.get(peer) === 'queued') entry.recipients.set(peer, 'sent');
  }

  /** Records `peer`'s ack; fully delivered messages leave the outbox. */
  ack(id: string, peer: string): void {
    const entry = this.entries.get(id);
    if (!entry || !entry.recipients.has(peer)) return;
    entry.recipients.set(peer, 'acked');
    if ([...entry.recipients.values()].every((s) => s === 'acked')) this.entries.delete(id);
  }

  /** A peer left for good: it no longer holds up delivery. */
  removePeer(peer: string): void {
    for (const [id, entry] of this.entries) {
      if (!entry.recipients.delete(peer)) continue;
      const states = [...entry.recipients.values()];
      if (states.length > 0 && states.every((s) => s === 'acked')) this.entries.delete(id);
    }
  }

  /**
   * The same person came back under a new peer id (fresh signaling session). Ack state is never merged
   * upwards: where `to` already has a state of its own, the less delivered one stays, so a message the
   * new id never acked cannot show delivered (it is resent; the receiver de-duplicates).
   */
  renamePeer(from: string, to: string): void {
    for (const entry of this.entries.values()) {
      const state = entry.recipients.get(from);
      if (state === undefined) continue;
      entry.recipients.delete(from);
      const own = entry.recipients.get(to);
      entry.recipients.set(to, own !== undefined && RANK[own] < RANK[state] ? own : state);
    }
  }

  /** Delivery status as shown next to the message; messages no longer in the outbox were delivered. */
  status(id: string): DeliveryStatus {
    const entry = this.entries.get(id);
    if (!entry) return 'delivered';
    const states = [...entry.recipients.values()];
    return states.some((s) => s !== 'queued') ? 'sent' : 'pending';
  }

  get size(): number {
    return this.entries.size;
  }
}
