// Generated from src-tauri/core (Rust) by p2pchat_core::typescript. Do not edit.
// Regenerate: UPDATE_TS=1 cargo test -p p2pchat-core --test typescript_is_fresh

export type ChannelMessage = { "t": "msg", id: string, body: string, sentAt: number, name: string, } | { "t": "ack", id: string, } | { "t": "peer-id", peer: string, } | { "t": "peer-id-proof", nonce: string, } | { "t": "read", ids: Array<string>, } | { "t": "typing", on: boolean, };

export type LinkEvent = { "kind": "open", room: string, peer: string, safety: string | null, fingerprints: LinkFingerprints | null, } | { "kind": "message", room: string, peer: string, text: string, } | { "kind": "closed", room: string, peer: string, } | { "kind": "rekeyed", room: string, from: string, to: string, } | { "kind": "failed", room: string, peer: string, reason: string, };

export type LinkFingerprints = { local: string, remote: string, };

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

export const MAX_ICE_RESTARTS = 3;
export const DISCONNECTED_GRACE_MS = 2000;
export const REKEY_WAIT_MS = 1500;
export const MAX_CLOCK_AHEAD_MS = 60000;
export const REKEY_CLAIM_TTL_MS = 60000;
export const MAX_HELD_CANDIDATES = 64;
export const CHAT_CHANNEL_LABEL = "chat";
export const BACKOFF_BASE_MS = 250;
export const BACKOFF_MAX_MS = 10000;
export const FILE_OFFER_BURST = 32;
export const FILE_OFFERS_PER_SECOND = 2;
export const MAX_INCOMING_FILES_PER_PEER = 4;
export const MAX_INCOMING_FILES = 8;
export const MAX_WAITING_FILE_OFFERS = 16;
export const FILE_WAIT_NOTICE_MS = 4000;
export const FILE_IDLE_TIMEOUT_MS = 60000;
