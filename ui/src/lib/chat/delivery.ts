// Who runs the delivery rules of the room's chat (ids, acks, resends, storing what was sent and received).
// The engine decides (engine/engine.ts `chatDelivery`): in a browser the window runs them itself over its
// data channels (`WindowDelivery`, with outbox.ts); in the app the Rust core's ChatSession runs them over
// the native links (engine/native-chat.ts), and the window only hands over what the person writes.

import type { ChatHistory } from '../history';
import { ackText, type ChatMessage } from './message';
import { Outbox, type DeliveryStatus } from './outbox';
import type { ChatLinks } from './chat.svelte';

/** What a delivery run elsewhere tells the chat. */
export interface DeliveryListener {
  /** A message's delivery changed (sent to someone, acked): its tick is looked at again. */
  changed(): void;
  /** `peer` has seen our messages `ids`. */
  read(peer: string, ids: string[]): void;
}

export interface ChatDelivery {
  /** The chat this delivery reports to (once, when the chat is made). */
  attach(listener: DeliveryListener): void;
  /** Our new message: stored as pending where there is a history, then sent to the room and kept for
   * each recipient until acked. Undefined: handed over now; a promise rejects with why it could not be stored. */
  send(message: ChatMessage): Promise<void> | undefined;
  /** Our messages the history says were not delivered (after a restart): they go out again. */
  resume(messages: ChatMessage[]): void;
  /** `peer`'s chat channel (re)opened. */
  flush(peer: string): void;
  /** `peer` acked (or read) our message `id`. */
  acked(id: string, peer: string): void;
  /** A new message from `peer` the chat shows: acked and stored (resolved at once where that is done). */
  received(peer: string, message: ChatMessage): Promise<void>;
  /** Another copy of a message `peer` sent before (its first ack may have been lost). */
  duplicate(peer: string, id: string): void;
  /** The tick shown next to our message `id`. */
  status(id: string): DeliveryStatus;
  /** The chat writes status changes to the history (false: the delivery stores them itself). */
  readonly chatStoresStatus: boolean;
  peerLeft(peer: string): void;
  peerRenamed(from: string, to: string): void;
  close(): void;
}

/** The chat's rules run by this window (the browser's data channels): the outbox resends until acked. */
export class WindowDelivery implements ChatDelivery {
  readonly chatStoresStatus = true;
  private readonly outbox = new Outbox();
  private listener: DeliveryListener = { changed: () => undefined, read: () => undefined };

  constructor(
    private readonly links: ChatLinks,
    private readonly history?: ChatHistory,
  ) {}

  attach(listener: DeliveryListener): void {
    this.listener = listener;
  }

  send(message: ChatMessage): Promise<void> | undefined {
    const queue = () => {
      const peers = this.links.peers();
      this.outbox.add(message, peers);
      for (const peer of peers) this.flush(peer);
    };
    if (!this.history) {
      queue();
      return undefined;
    }
    // Stored (as pending) before it goes out, so a crash or restart cannot lose it; unsaved, it is not sent.
    return this.history.saveOutgoing(message).then(queue);
  }

  resume(messages: ChatMessage[]): void {
    for (const message of messages) this.outbox.add(message, []);
    for (const peer of this.links.peers()) this.flush(peer);
  }

  flush(peer: string): void {
    for (const message of this.outbox.unackedFor(peer)) {
      if (!this.links.send(peer, JSON.stringify(message))) break;
      this.outbox.markSent(message.id, peer);
    }
    this.listener.changed();
  }

  acked(id: string, peer: string): void {
    this.outbox.ack(id, peer);
  }

  received(peer: string, message: ChatMessage): Promise<void> {
    this.links.send(peer, ackText(message.id));
    return this.history?.saveIncoming(peer, message) ?? Promise.resolve();
  }

  duplicate(peer: string, id: string): void {
    this.links.send(peer, ackText(id));
  }

  status(id: string): DeliveryStatus {
    return this.outbox.status(id);
  }

  peerLeft(peer: string): void {
    this.outbox.removePeer(peer);
  }

  peerRenamed(from: string, to: string): void {
    this.outbox.renamePeer(from, to);
  }

  close(): void {}
}
