// Chat messages as the UI shows them, and the rules for what a person may send.

import { v7 as uuidv7 } from 'uuid';
import { MAX_CHANNEL_TEXT, MAX_CLOCK_AHEAD_MS, MAX_MESSAGE_CHARS, MAX_READ_IDS, type ChannelMessage } from '../core.gen';
import { MAX_NAME_CHARS } from '../protocol.gen';
import type { DeliveryStatus } from './outbox';

/** Every message on the chat data channel: the union generated from the Rust client (core.gen.ts). */
export type { ChannelMessage };
/** A chat message as it travels over the data channel. */
export type ChatMessage = Extract<ChannelMessage, { t: 'msg' }>;

/** Longest message body, in characters (code points). */
export { MAX_MESSAGE_CHARS };

/** What our own message shows: delivery, then "read" once a peer has seen it. */
export type LineStatus = DeliveryStatus | 'read';

export interface ChatLine {
  id: string;
  /** Unique in the list where `id` may not be: a received message's id is only unique per sender. */
  key?: string;
  /** 'file': a file transfer's row; its state is the room's `files` entry under this id. */
  kind: 'text' | 'system' | 'file';
  mine: boolean;
  fromName: string;
  body: string;
  sentAt: number;
  status: LineStatus;
}

/** Why `body` cannot be sent, or null when it can. */
export function validateBody(body: string): string | null {
  const text = body.trim();
  if (text.length === 0) return 'Type a message first.';
  if ([...text].length > MAX_MESSAGE_CHARS) return `Messages are limited to ${MAX_MESSAGE_CHARS} characters.`;
  return null;
}

export function newChatMessage(body: string, name: string, now = Date.now()): ChatMessage {
  return { t: 'msg', id: uuidv7(), body: body.trim(), sentAt: now, name };
}

/** The channel text that acknowledges message `id`. */
export const ackText = (id: string): string => JSON.stringify({ t: 'ack', id } satisfies ChannelMessage);
/** The channel text that tells a peer our new peer id (a fresh signaling session). */
export const peerIdText = (peer: string): string => JSON.stringify({ t: 'peer-id', peer } satisfies ChannelMessage);
/** The channel text that answers a `peer-id-check` our session got: the proof that we hold the checked id. */
export const peerIdProofText = (nonce: string): string => JSON.stringify({ t: 'peer-id-proof', nonce } satisfies ChannelMessage);

/** A peer's `sentAt` bounded to [0, now + MAX_CLOCK_AHEAD_MS] (its clock drives no ordering beyond that). */
export function clampSentAt(sentAt: number, now: number): number {
  if (!Number.isFinite(sentAt) || sentAt < 0) return 0;
  return Math.min(Math.floor(sentAt), now + MAX_CLOCK_AHEAD_MS);
}

/** `text` cut to at most `max` characters (code points, never half a surrogate pair). */
function cut(text: string, max: number): string {
  return text.length <= max ? text : [...text].slice(0, max).join('');
}

/**
 * Parses a data-channel payload; anything malformed is ignored rather than trusted. What a peer may make us
 * keep is bounded as in the Rust client (src-tauri/core/tests/vectors/chat_messages.json).
 */
export function parseChannelMessage(data: unknown): ChannelMessage | null {
  if (typeof data !== 'string' || data.length > MAX_CHANNEL_TEXT) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.t === 'msg' && typeof v.id === 'string' && typeof v.body === 'string' && Number.isSafeInteger(v.sentAt) && typeof v.name === 'string') {
    return { t: 'msg', id: v.id, body: cut(v.body, MAX_MESSAGE_CHARS * 2), sentAt: v.sentAt as number, name: cut(v.name, MAX_NAME_CHARS) };
  }
  if (v.t === 'ack' && typeof v.id === 'string') return { t: 'ack', id: v.id };
  if (v.t === 'peer-id' && typeof v.peer === 'string') return { t: 'peer-id', peer: v.peer };
  if (v.t === 'peer-id-proof' && typeof v.nonce === 'string') return { t: 'peer-id-proof', nonce: v.nonce };
  if (v.t === 'read' && Array.isArray(v.ids) && v.ids.every((id) => typeof id === 'string')) {
    return { t: 'read', ids: (v.ids as string[]).slice(0, MAX_READ_IDS) };
  }
  if (v.t === 'typing' && typeof v.on === 'boolean') return { t: 'typing', on: v.on };
  return null;
}
