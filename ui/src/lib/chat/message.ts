// Chat messages as the UI shows them, and the rules for what a person may send.

import { v7 as uuidv7 } from 'uuid';
import { MAX_CLOCK_AHEAD_MS, type ChannelMessage } from '../core.gen';
import { MAX_NAME_CHARS } from '../protocol.gen';
import type { DeliveryStatus } from './outbox';
import { MAX_READ_IDS } from './receipts';

/** Every message on the chat data channel: the union generated from the Rust client (core.gen.ts). */
export type { ChannelMessage };
/** A chat message as it travels over the data channel. */
export type ChatMessage = Extract<ChannelMessage, { t: 'msg' }>;

/** Longest message body, in characters. */
export const MAX_MESSAGE_CHARS = 2000;

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

/** Parses a data-channel payload; anything malformed is ignored rather than trusted. */
export function parseChannelMessage(data: unknown): ChannelMessage | null {
  if (typeof data !== 'string' || data.length > 64 * 1024) return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.t === 'msg' && typeof v.id === 'string' && typeof v.body === 'string' && typeof v.sentAt === 'number' && typeof v.name === 'string') {
    return { t: 'msg', id: v.id, body: v.body.slice(0, MAX_MESSAGE_CHARS * 2), sentAt: v.sentAt, name: v.name.slice(0, MAX_NAME_CHARS) };
  }
  if (v.t === 'ack' && typeof v.id === 'string') return { t: 'ack', id: v.id };
  if (v.t === 'peer-id' && typeof v.peer === 'string') return { t: 'peer-id', peer: v.peer };
  if (v.t === 'peer-id-proof' && typeof v.nonce === 'string') return { t: 'peer-id-proof', nonce: v.nonce };
  if (v.t === 'read' && Array.isArray(v.ids)) {
    const ids = v.ids.filter((id): id is string => typeof id === 'string').slice(0, MAX_READ_IDS);
    return { t: 'read', ids };
  }
  if (v.t === 'typing' && typeof v.on === 'boolean') return { t: 'typing', on: v.on };
  return null;
}
