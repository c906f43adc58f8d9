// The app's chat history on disk (Tauri only): the Rust backend keeps it in SQLite and answers these
// commands offline. A browser has no such store; its chat lives in memory for the page's lifetime.

import { invoke } from '@tauri-apps/api/core';
import type { WireMessage } from './chat/outbox';

export type StoredStatus = 'pending' | 'sent' | 'delivered' | 'failed' | 'received';

export interface StoredMessage {
  id: string;
  room: string;
  sender: string;
  sender_name: string;
  outgoing: boolean;
  body: string;
  sent_at: number;
  status: StoredStatus;
  error?: string | null;
}

export interface Conversation {
  room: string;
  title?: string | null;
  muted: boolean;
  joined: boolean;
  unread: number;
  last_message?: { id: string; sender_name: string; body: string; sent_at: number; outgoing: boolean; status: StoredStatus } | null;
}

export interface SearchHit {
  id: string;
  room: string;
  sender_name: string;
  sent_at: number;
  rank: number;
  snippet: Array<{ text: string; hit: boolean }>;
}

/** How a failed command explains itself (`kind` is e.g. `disk_full`, `locked`, `invalid`). */
export interface HistoryError {
  kind: string;
  message: string;
}

export function describeError(err: unknown): string {
  const e = err as Partial<HistoryError> | undefined;
  if (e?.kind === 'disk_full') return 'The disk is full: this message is kept as pending and not saved to history.';
  return e?.message ?? String(err);
}

/** One room's history as the chat needs it. */
export interface ChatHistory {
  /** The latest messages, oldest first. */
  recent(): Promise<StoredMessage[]>;
  /** Outgoing messages not yet delivered to anyone, oldest first. */
  undelivered(): Promise<StoredMessage[]>;
  saveOutgoing(message: WireMessage): Promise<void>;
  saveIncoming(peer: string, message: WireMessage): Promise<void>;
  setStatus(id: string, status: 'pending' | 'sent' | 'delivered'): Promise<void>;
  markRead(): Promise<void>;
}

export class TauriChatHistory implements ChatHistory {
  constructor(private readonly room: string) {}

  async recent(): Promise<StoredMessage[]> {
    const page = await invoke<{ messages: StoredMessage[] }>('messages_page', { room: this.room });
    return page.messages.reverse();
  }

  async undelivered(): Promise<StoredMessage[]> {
    // `outbox` holds pending ones; sent-but-unacked ones are in the latest page (a bounded look back).
    const pending = await invoke<StoredMessage[]>('outbox', { room: this.room });
    const recent = await this.recent();
    const byId = new Map(pending.map((m) => [m.id, m]));
    for (const m of recent) if (m.outgoing && m.status === 'sent') byId.set(m.id, m);
    return [...byId.values()].sort((a, b) => a.sent_at - b.sent_at);
  }

  async saveOutgoing(message: WireMessage): Promise<void> {
    await invoke('save_message', { message: this.stored(message, 'me', true) });
  }

  async saveIncoming(peer: string, message: WireMessage): Promise<void> {
    await invoke('save_message', { message: this.stored(message, peer, false) });
  }

  async setStatus(id: string, status: 'pending' | 'sent' | 'delivered'): Promise<void> {
    await invoke('set_message_status', { id, status });
  }

  async markRead(): Promise<void> {
    await invoke('mark_read', { room: this.room, up_to: Date.now() });
  }

  private stored(message: WireMessage, sender: string, outgoing: boolean) {
    return { id: message.id, room: this.room, sender, sender_name: message.name, outgoing, body: message.body, sent_at: message.sentAt };
  }
}

/** The `limit` most recently active conversations (all without one), newest first. */
export const listConversations = (limit?: number) => invoke<Conversation[]>('list_conversations', { limit });
export const searchMessages = (query: string) => invoke<SearchHit[]>('search_messages', { query, limit: 30 });

export interface AppInfo {
  history_path: string;
  history_recovered_from?: string | null;
  history_error?: HistoryError | null;
}

/** What the person should know about the history file (damaged and set aside, or unusable), if anything. */
export async function historyNotice(): Promise<string | null> {
  const info = await invoke<AppInfo>('app_info');
  if (info.history_recovered_from) {
    return `Your chat history file was damaged. It was kept as ${info.history_recovered_from} and a new, empty history was started.`;
  }
  if (info.history_error?.kind === 'locked') {
    return `The chat history (${info.history_path}) is in use by another program, so messages are not being saved. Close the other program and restart p2pchat.`;
  }
  if (info.history_error) return `Chat history is unavailable (${info.history_error.message}); messages are not being saved.`;
  return null;
}

export const roomMuted = (room: string) => invoke<boolean>('room_muted', { room });
export const setRoomMuted = (room: string, muted: boolean) => invoke('set_room_muted', { room, muted });

/** Turns close-to-tray on or off, keeping the other saved settings. */
export async function setCloseToTray(on: boolean): Promise<void> {
  const settings = await invoke<Record<string, unknown>>('get_settings');
  await invoke('set_settings', { settings: { ...settings, close_to_tray: on } });
}

export const closeToTray = async () => (await invoke<{ close_to_tray: boolean }>('get_settings')).close_to_tray;
