// Generated from signaling-server/protocol (Rust) by chat_protocol::typescript. Do not edit.
// Regenerate: UPDATE_PROTOCOL_TS=1 cargo test -p chat-protocol --test typescript_is_fresh

export type ClientFrame = { "type": "hello", v: number, name: string, token?: string, resume?: Resume, } | { "type": "join", room: string, } | { "type": "leave", room: string, } | { "type": "signal", room: string, to: string, data: SignalData, } | { "type": "ping" } | { "type": "push-register", room: string, device: string, secret: string, subscription: PushSubscription, } | { "type": "push-unregister", device: string, secret: string, room?: string, } | { "type": "offline-members", room: string, } | { "type": "ring", room: string, device: string, call: string, media: Array<string>, } | { "type": "ring-cancel", room: string, device: string, call: string, } | { "type": "sfu-join", room: string, call: string, } | { "type": "sfu-leave", room: string, call: string, };

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
resume_token: string, heartbeat_ms: number, ice_servers: Array<IceServer>, 
/**
 * Present when the server rings offline devices by push.
 */
push?: PushInfo, 
/**
 * Present when the server places calls above the mesh size on an SFU.
 */
sfu?: SfuInfo, } | { "type": "joined", seq: number, room: string, peers: Array<PeerInfo>, } | { "type": "peer-joined", seq: number, room: string, peer: string, name: string, } | { "type": "peer-left", seq: number, room: string, peer: string, } | { "type": "signal", seq: number, room: string, from: string, data: SignalData, } | { "type": "pong", seq: number, } | { "type": "error", seq: number, code: ErrorCode, message: string, ref?: string, } | { "type": "push-registered", seq: number, room: string, device: string, expires_at: number, } | { "type": "push-unregistered", seq: number, device: string, room?: string, } | { "type": "offline-members", seq: number, room: string, members: Array<OfflineMember>, } | { "type": "ringing", seq: number, room: string, device: string, call: string, sent: number, } | { "type": "ring-declined", seq: number, room: string, device: string, call: string, } | { "type": "sfu", seq: number, room: string, call: string, url: string, token: string, janus_room: number, } | { "type": "sfu-lost", seq: number, room: string, call: string, };

export type PeerInfo = { peer: string, name: string, };

export type IceServer = { urls: Array<string>, username?: string, credential?: string, };

export type ErrorCode = "bad_request" | "too_large" | "rate_limited" | "unauthorized" | "room_full" | "not_in_room" | "unknown_peer" | "overloaded" | "too_many_sessions" | "push_refused" | "sfu_unavailable" | "internal";

export type SignalData = { "kind": "invite", call: string, media: Array<string>, 
/**
 * The others this call rings (group call): the callee connects to them, and to nobody else
 * on this invite's word.
 */
peers?: Array<string>, } | { "kind": "accept", call: string, } | { "kind": "decline", call: string, } | { "kind": "hangup", call: string, } | { "kind": "cancel", call: string, } | { "kind": "offer", sdp: string, } | { "kind": "answer", sdp: string, } | { "kind": "candidate", candidate: Record<string, unknown> | null, } | { "kind": "restart" } | { "kind": "dc-fallback" } | { "kind": "in-call", call: string, } | { "kind": "left-call", call: string, } | { "kind": "join-call", call: string, } | { "kind": "peer-id-check", nonce: string, };

export type PushSubscription = { "kind": "webpush", endpoint: string, keys: PushKeys, } | { "kind": "gateway", platform: GatewayPlatform, token: string, };

export type PushKeys = { p256dh: string, auth: string, };

export type GatewayPlatform = "fcm" | "apns" | "apns-voip";

export type PushInfo = { 
/**
 * The server's VAPID public key (RFC 8292): base64url of the uncompressed P-256 point, the
 * `applicationServerKey` of `PushManager.subscribe`.
 */
vapid_key: string, };

export type OfflineMember = { device: string, 
/**
 * The display name of the session that registered it.
 */
name: string, 
/**
 * When it last registered (Unix ms): clients register on every join.
 */
last_seen: number, };

export type PushPayload = { 
/**
 * Always 1.
 */
v: number, kind: PushKind, room: string, call: string, 
/**
 * The caller's display name.
 */
caller: string, 
/**
 * The caller's peer id: where the answer's `join-call` goes.
 */
caller_peer: string, media: Array<string>, 
/**
 * Unix ms after which the call no longer waits (now + 45 s when rung).
 */
expires_at: number, 
/**
 * One-time token for `POST /push/decline`.
 */
decline: string, };

export type PushKind = "call" | "call-ended";

export type PushDecline = { call: string, token: string, };

export type SfuInfo = { mesh_size: number, };

export const PROTOCOL_VERSION = 1;
export const MAX_NAME_CHARS = 64;
export const MAX_ROOM_NAME_CHARS = 64;
export const MIN_DEVICE_ID_CHARS = 8;
export const MAX_DEVICE_ID_CHARS = 128;
export const MIN_DEVICE_SECRET_CHARS = 22;
export const MAX_DEVICE_SECRET_CHARS = 128;
export const PUSH_RING_TTL_MS = 45000;
