// The chat's delivery in the app window: the Rust core's ChatSession runs the rules over the native links
// (src-tauri/src/chat.rs). The window hands over each message the person writes with one `chat_send`
// (Rust stores it, sends it to every open link of the room, resends until each acks); what arrives comes
// back once, acked and stored, as `chat://message`, and acks and read receipts as `chat://status`. The
// window keeps only what the ticks need: who each of our messages went to and who has it.

import { call, on } from '../ipc';
import type { ChatDelivery, DeliveryListener } from '../chat/delivery';
import type { ChatMessage } from '../chat/message';
import type { DeliveryStatus } from '../chat/outbox';

type Recipient = 'sent' | 'delivered';

export class AppDelivery implements ChatDelivery {
  readonly chatStoresStatus = false;
  /** Per message of ours: the peers Rust sent it to, and whether each has it. */
  private readonly recipients = new Map<string, Map<string, Recipient>>();
  private listener: DeliveryListener = { changed: () => undefined, read: () => undefined };
  /** Messages go to Rust one after another: invokes run concurrently and would reorder them. */
  private last: Promise<unknown> = Promise.resolve();
  private readonly unlisten: Array<Promise<() => void>>;

  /** `arrived`: a new message from `peer`, as the chat channel's text (already acked and stored). */
  constructor(
    private readonly room: string,
    arrived: (peer: string, text: string) => void,
  ) {
    this.unlisten = [
      on('chat://message', (p) => {
        if (p.room === room) arrived(p.peer, JSON.stringify(p.message));
      }).catch(() => () => undefined),
      on('chat://status', (p) => {
        if (p.room !== room) return;
        if (p.status === 'read') this.listener.read(p.peer, [p.id]);
        else this.mark(p.id, p.peer, p.status);
      }).catch(() => () => undefined),
    ];
  }

  attach(listener: DeliveryListener): void {
    this.listener = listener;
  }

  send(message: ChatMessage): Promise<void> {
    const handed = this.last.then(() => call('chat_send', { room: this.room, message }));
    this.last = handed.catch(() => undefined);
    return handed.then((peers) => {
      for (const peer of peers) this.mark(message.id, peer, 'sent');
    });
  }

  /** After a restart Rust no longer holds them: handed over again (the history keeps them once, by id). */
  resume(messages: ChatMessage[]): void {
    for (const message of messages) void this.send(message).catch(() => undefined);
  }

  /** Rust sends what a reopened link has not acked itself. */
  flush(): void {}

  acked(id: string, peer: string): void {
    this.mark(id, peer, 'delivered');
  }

  /** Rust acked and stored it before telling the window. */
  received(): Promise<void> {
    return Promise.resolve();
  }

  /** Rust acks every copy itself. */
  duplicate(): void {}

  status(id: string): DeliveryStatus {
    const states = [...(this.recipients.get(id)?.values() ?? [])];
    if (states.length === 0) return 'pending';
    return states.every((s) => s === 'delivered') ? 'delivered' : 'sent';
  }

  peerLeft(peer: string): void {
    for (const states of this.recipients.values()) states.delete(peer);
  }

  /** As Rust re-keys its session: a message the new id never acked does not show delivered. */
  peerRenamed(from: string, to: string): void {
    for (const states of this.recipients.values()) {
      const state = states.get(from);
      if (state === undefined) continue;
      states.delete(from);
      if (states.get(to) !== 'sent') states.set(to, state);
    }
  }

  close(): void {
    for (const pending of this.unlisten) void pending.then((stop) => stop());
  }

  private mark(id: string, peer: string, state: Recipient): void {
    let states = this.recipients.get(id);
    if (!states) this.recipients.set(id, (states = new Map()));
    if (states.get(peer) !== 'delivered') states.set(peer, state);
    this.listener.changed();
  }
}
