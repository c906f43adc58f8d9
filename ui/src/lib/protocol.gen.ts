// Generated from signaling-server/protocol (Rust) by chat_protocol::typescript. Do not edit.
// Regenerate: UPDATE_PROTOCOL_TS=1 cargo test -p chat-protocol --test typescript_is_fresh

export type ClientFrame = { "type": "hello", v: number, name: string, token?: string, resume?: Resume, } | { "type": "join", room: string, } | { "type": "leave", room: string, } | { "type": "signal", room: string, to: string, data: SignalData, } | { "type": "ping" };

export type Resume = { session: string, last_seq: number, 
/**
 * The `resume_token` of the latest `welcome` of this session. Without the right one the `hello` gets a
 * fresh session and the old one is left alone (a session id alone must not take over a session).
 */
token: string, };

export type ServerFrame = { "type": "welcome", seq: number, peer: string, session: string, resumed: boolean, 
/**
 * Secret the client must present in `hello.resume.token` to resume this session; new on every
 * `welcome` (the previous one stops working).
 */
resume_token: string, heartbeat_ms: number, ice_servers: Array<IceServer>, } | { "type": "joined", seq: number, room: string, peers: Array<PeerInfo>, } | { "type": "peer-joined", seq: number, room: string, peer: string, name: string, } | { "type": "peer-left", seq: number, room: string, peer: string, } | { "type": "signal", seq: number, room: string, from: string, data: SignalData, } | { "type": "pong", seq: number, } | { "type": "error", seq: number, code: ErrorCode, message: string, ref?: string, };

export type PeerInfo = { peer: string, name: string, };

export type IceServer = { urls: Array<string>, username?: string, credential?: string, };

export type ErrorCode = "bad_request" | "too_large" | "rate_limited" | "unauthorized" | "room_full" | "not_in_room" | "unknown_peer" | "overloaded" | "too_many_sessions" | "internal";

export type SignalData = { "kind": "invite", call: string, media: Array<string>, 
/**
 * The others this call rings (group call): the callee connects to them, and to nobody else
 * on this invite's word.
 */
peers?: Array<string>, } | { "kind": "accept", call: string, } | { "kind": "decline", call: string, } | { "kind": "hangup", call: string, } | { "kind": "cancel", call: string, } | { "kind": "offer", sdp: string, } | { "kind": "answer", sdp: string, } | { "kind": "candidate", candidate: Record<string, unknown> | null, } | { "kind": "restart" } | { "kind": "dc-fallback" } | { "kind": "in-call", call: string, } | { "kind": "left-call", call: string, } | { "kind": "join-call", call: string, } | { "kind": "peer-id-check", nonce: string, };

export const PROTOCOL_VERSION = 1;
export const MAX_NAME_CHARS = 64;
export const MAX_ROOM_NAME_CHARS = 64;
