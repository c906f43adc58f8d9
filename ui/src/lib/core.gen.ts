// Generated from src-tauri/core (Rust) by p2pchat_core::typescript. Do not edit.
// Regenerate: UPDATE_TS=1 cargo test -p p2pchat-core --test typescript_is_fresh

export type ChannelMessage = { "t": "msg", id: string, body: string, sentAt: number, name: string, } | { "t": "ack", id: string, } | { "t": "peer-id", peer: string, } | { "t": "peer-id-proof", nonce: string, } | { "t": "read", ids: Array<string>, } | { "t": "typing", on: boolean, };

export type FileControl = { "t": "file-offer", id: string, name: string, size: number, mime: string, } | { "t": "file-accept", id: string, offset: number, } | { "t": "file-ack", id: string, offset: number, } | { "t": "file-done", id: string, sha256: string, } | { "t": "file-received", id: string, sha256: string, } | { "t": "file-cancel", id: string, reason: string, };

export type LinkEvent = { "kind": "open", room: string, peer: string, safety: string | null, fingerprints: LinkFingerprints | null, } | { "kind": "message", room: string, peer: string, text: string, } | { "kind": "closed", room: string, peer: string, } | { "kind": "rekeyed", room: string, from: string, to: string, } | { "kind": "failed", room: string, peer: string, reason: string, };

export type LinkFingerprints = { local: string, remote: string, };

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

export const MAX_ICE_RESTARTS = 3;
export const DISCONNECTED_GRACE_MS = 2000;
export const REKEY_WAIT_MS = 1500;
export const MAX_CLOCK_AHEAD_MS = 60000;
export const MAX_MESSAGE_CHARS = 2000;
export const MAX_READ_IDS = 100;
export const MAX_CHANNEL_TEXT = 65536;
export const MAX_SEEN_PER_PEER = 2000;
export const MAX_SEEN_PEERS = 64;
export const CHAT_BURST = 30;
export const CHAT_PER_SECOND = 5;
export const CHAT_MAX_WAITING = 200;
export const REKEY_CLAIM_TTL_MS = 60000;
export const MAX_HELD_CANDIDATES = 64;
export const MAX_NONCE_CHARS = 64;
export const MAX_HELD_CHECKS = 8;
export const CHAT_CHANNEL_LABEL = "chat";
export const BACKOFF_BASE_MS = 250;
export const BACKOFF_MAX_MS = 10000;
export const OFFLINE_AFTER = 3;
export const SAFETY_DOMAIN = "p2pchat-safety-v1\n";
export const SAFETY_GROUPS = 4;
export const SAFETY_DIGITS = 5;
export const SAFETY_GROUP_BYTES = 5;
export const IDENTITY_LIFETIME_MS = 31536000000;
export const IDENTITY_RENEW_BEFORE_MS = 2592000000;
export const FILE_CHANNEL_LABEL = "file";
export const CHUNK_BYTES = 65536;
export const ACK_EVERY_BYTES = 1048576;
export const DEFAULT_MAX_FILE_BYTES = 2147483648;
export const MAX_FILE_NAME_CHARS = 255;
export const MAX_FILE_CONTROL_CHARS = 4096;
export const FILE_RESUME_WINDOW_MS = 120000;
export const FILE_RETRY_EVERY_MS = 1000;
export const FILE_ANSWER_TIMEOUT_MS = 10000;
export const FILE_OFFER_BURST = 32;
export const FILE_OFFERS_PER_SECOND = 2;
export const MAX_INCOMING_FILES_PER_PEER = 4;
export const MAX_INCOMING_FILES = 8;
export const MAX_WAITING_FILE_OFFERS = 16;
export const HISTORY_PAGE_SIZE = 50;
export const FILE_WAIT_NOTICE_MS = 4000;
export const FILE_IDLE_TIMEOUT_MS = 60000;
export const MAX_CALL_PEOPLE = 6;
export const RING_TIMEOUT_MS = 30000;
export const OFFLINE_RING_TIMEOUT_MS = 45000;
export const EARLY_ACCEPT_MS = 5000;
export const MAX_EARLY_ACCEPTS = 12;
export const ABR_SAMPLE_EVERY_MS = 2000;
export const ABR_MAX_BITRATE = 1500000;
export const ABR_MAX_FRAMERATE = 30;
export const ABR_MIN_BITRATE = 150000;
export const ABR_MAX_SCALE = 4;
export const ABR_LOW_FRAMERATE = 15;
export const ABR_CONGESTED_LOSS = 0.08;
export const ABR_CONGESTED_RTT_MS = 400;
export const ABR_CLEAN_LOSS = 0.02;
export const ABR_CLEAN_RTT_MS = 200;
export const ABR_CLEAN_SAMPLES = 3;
export const ABR_BACKOFF_FACTOR = 0.6;
export const ABR_RECOVER_FACTOR = 1.25;
