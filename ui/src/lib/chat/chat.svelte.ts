// The room's chat: lines shown in the chat log with their ticks, de-duplication by message id, read
// receipts, typing, the rate limit on what arrives. Delivery (acks, resends, storing) is the engine's
// `ChatDelivery` (delivery.ts): the window's outbox over browser data channels, or the app's Rust core over
// its native links. In the app every message and status change is in the history on disk, which the chat
// starts from (offline too).

import { describeError, type ChatHistory, type StoredMessage } from '../history';
import { clampSentAt, newChatMessage, parseChannelMessage, validateBody, type ChatLine, type ChatMessage } from './message';
import { WindowDelivery, type ChatDelivery } from './delivery';
import { CHAT_PER_SECOND, ChatRateLimit, type Admission } from './ratelimit';
import { SeenIds } from './seen';
import { ReadReceipts } from './receipts';
import { Typing } from './typing.svelte';
import { chatSettings } from '../settings.svelte';
import type { LineStatus } from './message';

/** How chat reaches peers; implemented by the room over its peer links. */
export interface ChatLinks {
  /** Peers currently in the room. */
  peers(): string[];
  /** Sends on `peer`'s data channel; false when it is not open. */
  send(peer: string, text: string): boolean;
  nameOf(peer: string): string;
}

/** Lines kept in memory; older ones leave the list (the history keeps them). */
export const MAX_LINES = 1000;
/** The sender of our own messages in `seen`. */
const SELF = '';

export class Chat {
  lines = $state<ChatLine[]>([]);
  error = $state<string | null>(null);
  /** Received ids per sender (a peer's id may repeat another's: it is theirs only). */
  private readonly seen = new SeenIds();
  private readonly limit = new ChatRateLimit((peer, text) => this.released(peer, text));
  /** Peers told about (`throttled`: messages waiting; `dropped`: some not accepted) until their queue drains. */
  private readonly throttled = new Map<string, Admission>();
  /** Our messages not handed to delivery yet: being stored, or unsaved (they stay pending). */
  private readonly held = new Set<string>();
  /** Held messages a peer has read: the app's chat sends before its call returns, so a receipt can come first. */
  private readonly readWhileHeld = new Set<string>();
  /** Read receipts we send for what the person has seen (optional in settings). */
  readonly receipts: ReadReceipts;
  /** Who is typing to us, and telling peers when we type (optional in settings). */
  readonly typing: Typing;

  constructor(
    private readonly links: ChatLinks,
    private readonly myName: () => string,
    private readonly history?: ChatHistory,
    settings: { readReceipts: boolean; typing: boolean } = chatSettings,
    seenNow?: () => boolean,
    private readonly delivery: ChatDelivery = new WindowDelivery(links, history),
  ) {
    delivery.attach({ changed: () => this.refreshStatuses(), read: (peer, ids) => this.readBy(peer, ids) });
    this.receipts = new ReadReceipts((peer, text) => links.send(peer, text), () => settings.readReceipts, seenNow);
    this.typing = new Typing(links, () => settings.typing);
  }

  /**
   * Shows the stored conversation and queues our undelivered messages again (they go out when a peer's
   * channel opens). Works offline; a history that cannot be read is reported, not fatal.
   */
  async restore(): Promise<void> {
    if (!this.history) return;
    try {
      const [recent, undelivered] = await Promise.all([this.history.recent(), this.history.undelivered()]);
      const stored = recent.filter((m) => !this.seen.has(storedSender(m), m.id));
      for (const m of stored) this.seen.add(storedSender(m), m.id);
      this.lines = [...stored.map((m) => this.storedLine(m)), ...this.lines];
      this.trim();
      for (const m of undelivered) {
        if (!this.seen.has(SELF, m.id)) {
          this.seen.add(SELF, m.id);
          this.lines.push(this.storedLine(m));
        }
      }
      this.delivery.resume(undelivered.map((m) => ({ t: 'msg', id: m.id, body: m.body, sentAt: m.sent_at, name: m.sender_name })));
      void this.history.markRead().catch(() => undefined);
    } catch (err) {
      this.error = `Could not read the chat history: ${describeError(err)}`;
    }
  }

  /** Sends `body` to everyone in the room; returns false (and sets `error`) when it is not acceptable. */
  send(body: string): boolean {
    const problem = validateBody(body);
    this.error = problem;
    if (problem) return false;
    const message = newChatMessage(body, this.myName());
    this.typing.sent();
    this.seen.add(SELF, message.id);
    this.lines.push({ id: message.id, kind: 'text', mine: true, fromName: this.myName(), body: message.body, sentAt: message.sentAt, status: 'pending' });
    this.trim();
    const handed = this.delivery.send(message);
    if (!handed) return true;
    // Stored (as pending) before it goes out, so a crash or restart cannot lose it. Unsaved (disk full):
    // it stays pending here with the reason, and is not sent.
    this.held.add(message.id);
    handed.then(
      () => {
        this.held.delete(message.id);
        if (this.readWhileHeld.delete(message.id)) this.markRead(message.id);
        this.refreshStatuses();
      },
      (err: unknown) => {
        this.readWhileHeld.delete(message.id);
        this.error = describeError(err);
      },
    );
    return true;
  }

  /** A peer's channel opened (or reopened): everything it has not acked goes again. */
  flush(peer: string): void {
    this.delivery.flush(peer);
  }

  receive(peer: string, data: string): void {
    const message = parseChannelMessage(data);
    if (!message) return;
    if (message.t === 'ack') {
      this.delivery.acked(message.id, peer);
      this.refreshStatuses();
    } else if (message.t === 'read') {
      this.readBy(peer, message.ids);
    } else if (message.t === 'typing') {
      this.typing.received(peer, message.on);
    } else if (message.t === 'msg') {
      // A copy this peer sent before: ack again (the first ack may have been lost with a dropped channel).
      if (this.seen.has(peer, message.id)) {
        this.delivery.duplicate(peer, message.id);
        return;
      }
      const admission = this.limit.admit(peer, data);
      if (admission === 'now') this.accept(peer, message);
      else this.tooFast(peer, admission);
    }
  }

  /** A new message from `peer`, within its rate limit: acked, shown, stored. */
  private accept(peer: string, message: ChatMessage): void {
    this.seen.add(peer, message.id);
    // The name is the one the server gave this peer (a message's own `name` could say anyone), and the
    // sender's clock is not trusted beyond a minute ahead of ours (it would pin the message as newest).
    const incoming: ChatMessage = { ...message, name: this.links.nameOf(peer), sentAt: clampSentAt(message.sentAt, Date.now()) };
    this.lines.push({ id: incoming.id, key: `${peer} ${incoming.id}`, kind: 'text', mine: false, fromName: incoming.name, body: incoming.body, sentAt: incoming.sentAt, status: 'delivered' });
    this.trim();
    this.typing.messageFrom(peer);
    // Acked (inside `received`) before the read receipt goes: a peer that does not count a receipt as
    // an ack (older clients) still sees its message delivered.
    void this.delivery
      .received(peer, incoming)
      .then(() => (globalThis.document?.hasFocus() ? this.history?.markRead() : undefined))
      .catch((err: unknown) => (this.error = `Could not save a received message: ${describeError(err)}`));
    this.receipts.shown(peer, incoming.id);
  }

  /** Names of the people typing to us now. */
  get typingNames(): string[] {
    return this.typing.peers.map((p) => this.links.nameOf(p));
  }

  /** The row of a file transfer (`key` is its key in the room's FileTransfers). */
  fileLine(key: string, mine: boolean, fromName: string): void {
    this.lines.push({ id: key, kind: 'file', mine, fromName, body: '', sentAt: Date.now(), status: 'delivered' });
  }

  /** A line from the app itself, e.g. "Missed call from Ann". */
  system(text: string): void {
    this.lines.push({ id: `sys-${this.lines.length}-${Date.now()}`, kind: 'system', mine: false, fromName: '', body: text, sentAt: Date.now(), status: 'delivered' });
  }

  /** A message that waited for its turn (`ChatRateLimit`). */
  private released(peer: string, text: string): void {
    const message = parseChannelMessage(text);
    if (message?.t === 'msg' && !this.seen.has(peer, message.id)) this.accept(peer, message);
    else if (message?.t === 'msg') this.delivery.duplicate(peer, message.id);
    if (this.limit.waiting(peer) === 0) this.throttled.delete(peer);
  }

  /** Says once per flood that `peer`'s messages wait their turn, and once if some were not accepted. */
  private tooFast(peer: string, admission: Admission): void {
    const told = this.throttled.get(peer);
    if (told === 'dropped' || told === admission) return;
    this.throttled.set(peer, admission);
    const name = this.links.nameOf(peer);
    this.system(
      admission === 'later'
        ? `${name} is sending messages very fast: they are shown at ${CHAT_PER_SECOND} a second.`
        : `Too many messages from ${name}: some were not accepted (they come again when the connection is re-established).`,
    );
  }

  /** Keeps the newest MAX_LINES lines in memory. */
  private trim(): void {
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
  }

  /** We left the room: messages still waiting their turn are not shown (their senders resend them). */
  close(): void {
    this.limit.close();
    this.delivery.close();
  }

  peerLeft(peer: string): void {
    this.limit.peerGone(peer);
    this.throttled.delete(peer);
    this.delivery.peerLeft(peer);
    this.receipts.peerLeft(peer);
    this.typing.peerLeft(peer);
    this.refreshStatuses();
  }

  peerRenamed(from: string, to: string): void {
    this.seen.rename(from, to);
    this.limit.peerRenamed(from, to);
    this.delivery.peerRenamed(from, to);
    this.receipts.peerRenamed(from, to);
    this.typing.peerRenamed(from, to);
  }

  /**
   * `peer` has seen our messages `ids`: they show "read" (at the first reader). Seen implies received,
   * so it also counts as that peer's ack. Ids that are not our messages are ignored.
   */
  private readBy(peer: string, ids: string[]): void {
    const wanted = new Set(ids);
    for (const id of wanted) {
      this.delivery.acked(id, peer);
      if (this.held.has(id)) this.readWhileHeld.add(id);
      else this.markRead(id);
    }
    this.refreshStatuses();
  }

  private markRead(id: string): void {
    const line = this.lines.find((l) => l.mine && l.kind === 'text' && l.id === id);
    if (!line || line.status === 'read') return;
    line.status = 'read';
    if (this.delivery.chatStoresStatus) void this.history?.setStatus(line.id, 'read').catch(() => undefined);
  }

  private refreshStatuses(): void {
    for (const line of this.lines) {
      if (!line.mine || line.kind !== 'text' || line.status === 'delivered' || line.status === 'read' || this.held.has(line.id)) continue;
      const status = this.delivery.status(line.id);
      if (status === line.status) continue;
      line.status = status;
      if (this.delivery.chatStoresStatus) void this.history?.setStatus(line.id, status).catch(() => undefined);
    }
  }

  private storedLine(m: StoredMessage): ChatLine {
    const status: LineStatus = m.status === 'pending' || m.status === 'sent' || m.status === 'read' ? m.status : 'delivered';
    const key = m.outgoing ? undefined : `${m.sender} ${m.id}`;
    return { id: m.id, key, kind: 'text', mine: m.outgoing, fromName: m.sender_name, body: m.body, sentAt: m.sent_at, status };
  }
}

/** Who sent a stored message, as `seen` knows senders. */
const storedSender = (m: StoredMessage): string => (m.outgoing ? SELF : m.sender);
