// The room's chat: lines shown in the chat log, sending over each peer's data channel with acks, the
// outbox that resends until acked, and de-duplication by message id.

import { newWireMessage, parseChannelMessage, validateBody, type ChatLine } from './message';
import { Outbox } from './outbox';

/** How chat reaches peers; implemented by the room over its peer links. */
export interface ChatLinks {
  /** Peers currently in the room. */
  peers(): string[];
  /** Sends on `peer`'s data channel; false when it is not open. */
  send(peer: string, text: string): boolean;
  nameOf(peer: string): string;
}

export class Chat {
  lines = $state<ChatLine[]>([]);
  error = $state<string | null>(null);
  private readonly outbox = new Outbox();
  private readonly seen = new Set<string>();

  constructor(private readonly links: ChatLinks, private readonly myName: () => string) {}

  /** Sends `body` to everyone in the room; returns false (and sets `error`) when it is not acceptable. */
  send(body: string): boolean {
    const problem = validateBody(body);
    this.error = problem;
    if (problem) return false;
    const message = newWireMessage(body, this.myName());
    this.seen.add(message.id);
    this.lines.push({ id: message.id, kind: 'text', mine: true, fromName: this.myName(), body: message.body, sentAt: message.sentAt, status: 'pending' });
    const peers = this.links.peers();
    this.outbox.add(message, peers);
    for (const peer of peers) this.flush(peer);
    return true;
  }

  /** A peer's channel opened (or reopened): send everything it has not acked. */
  flush(peer: string): void {
    for (const message of this.outbox.unackedFor(peer)) {
      if (!this.links.send(peer, JSON.stringify(message))) break;
      this.outbox.markSent(message.id, peer);
    }
    this.refreshStatuses();
  }

  receive(peer: string, data: string): void {
    const message = parseChannelMessage(data);
    if (!message) return;
    if (message.t === 'ack') {
      this.outbox.ack(message.id, peer);
      this.refreshStatuses();
    } else if (message.t === 'msg') {
      // Always ack, also duplicates: the first ack may have been lost with a dropped channel.
      this.links.send(peer, JSON.stringify({ t: 'ack', id: message.id }));
      if (this.seen.has(message.id)) return;
      this.seen.add(message.id);
      this.lines.push({ id: message.id, kind: 'text', mine: false, fromName: message.name, body: message.body, sentAt: message.sentAt, status: 'delivered' });
    }
  }

  /** A line from the app itself, e.g. "Missed call from Ann". */
  system(text: string): void {
    this.lines.push({ id: `sys-${this.lines.length}-${Date.now()}`, kind: 'system', mine: false, fromName: '', body: text, sentAt: Date.now(), status: 'delivered' });
  }

  peerLeft(peer: string): void {
    this.outbox.removePeer(peer);
    this.refreshStatuses();
  }

  peerRenamed(from: string, to: string): void {
    this.outbox.renamePeer(from, to);
  }

  private refreshStatuses(): void {
    for (const line of this.lines) {
      if (line.mine && line.status !== 'delivered') line.status = this.outbox.status(line.id);
    }
  }
}
