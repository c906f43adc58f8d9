//! Wire types of the signaling protocol v1 (`docs/protocol.md`), shared by the signaling server, the app's
//! Rust client and the load tool. The UI's TypeScript types are generated from these (see [`typescript`]),
//! so a change here reaches every client through one file.
//!
//! Every frame is one JSON object tagged by `type`. Unknown fields are ignored (forward compatibility);
//! an unknown `type` fails to parse and the server answers `bad_request`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use ts_rs::TS;

pub mod typescript;

/// Protocol version spoken by this crate; `hello.v` must equal it.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest display name in `hello`, in characters (the server refuses longer ones).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest room name, in characters (see [`is_valid_room_name`]).
pub const MAX_ROOM_NAME_CHARS: usize = 64;
/// Device ids of push registrations: 8–128 characters of `[A-Za-z0-9_-]` (see [`is_valid_device_id`]).
pub const MIN_DEVICE_ID_CHARS: usize = 8;
pub const MAX_DEVICE_ID_CHARS: usize = 128;
/// Device secrets of push registrations: 22–128 characters of base64url (at least 128 random bits).
pub const MIN_DEVICE_SECRET_CHARS: usize = 22;
pub const MAX_DEVICE_SECRET_CHARS: usize = 128;
/// How long a push for a call stays valid (its TTL at the push service and its payload's `expires_at`),
/// in milliseconds: the time a call that rang by push waits for the callee.
pub const PUSH_RING_TTL_MS: u64 = 45_000;

/// A frame a client sends to the server. Parse with [`ClientFrame::parse`]: serde's tagged-enum
/// derive cannot keep `data` as raw JSON, so parsing goes through a flat envelope.
#[derive(Debug, Serialize, TS)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientFrame {
    /// First frame of every connection: identifies the client and optionally resumes a dropped session.
    Hello {
        v: u32,
        #[serde(default)]
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        resume: Option<Resume>,
    },
    /// Enter a room; answered by `joined`, others get `peer-joined`.
    Join { room: String },
    /// Leave a room; others get `peer-left`.
    Leave { room: String },
    /// Relay `data` to one peer of `room`. `data` is opaque to the server and kept verbatim.
    Signal {
        room: String,
        to: String,
        #[ts(type = "SignalData")]
        data: Box<RawValue>,
    },
    /// Application-level keepalive; answered by `pong`.
    Ping,
    /// Ring this device by push for calls in `room` while it is offline; answered by `push-registered`.
    PushRegister {
        room: String,
        device: String,
        secret: String,
        subscription: PushSubscription,
    },
    /// Stop ringing this device by push in `room` (absent: in every room); answered by
    /// `push-unregistered`.
    PushUnregister {
        device: String,
        secret: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        room: Option<String>,
    },
    /// Which devices registered in `room` are offline; answered by `offline-members`.
    OfflineMembers { room: String },
    /// Ring an offline `device` of `room` by push for call `call`; answered by `ringing`.
    Ring {
        room: String,
        device: String,
        call: String,
        media: Vec<String>,
    },
    /// The call that rang `device` by push is over: its notification becomes a missed call.
    RingCancel {
        room: String,
        device: String,
        call: String,
    },
    /// Move call `call` of `room` to the SFU (the call outgrew `welcome.sfu.mesh_size`): answered by
    /// `sfu` (where to connect, with this participant's token) or `error{code:"sfu_unavailable"}`.
    SfuJoin { room: String, call: String },
    /// This participant is out of SFU call `call`: its token stops working; the last one out ends the
    /// call's videoroom. No answer.
    SfuLeave { room: String, call: String },
}

/// Where a push for a device goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PushSubscription {
    /// Web Push (RFC 8030 with RFC 8291 encryption and RFC 8292 VAPID): browsers and UnifiedPush. The
    /// fields of the browser's `PushSubscription.toJSON()`.
    Webpush { endpoint: String, keys: PushKeys },
    /// FCM or APNs, sent through the server's push gateway (`--push-gateway-url`).
    Gateway {
        platform: GatewayPlatform,
        token: String,
    },
}

/// The keys of a Web Push subscription, base64url: `p256dh` the user agent's P-256 public key
/// (uncompressed, 65 bytes), `auth` its 16-byte authentication secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// The push services a gateway delivers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayPlatform {
    Fcm,
    Apns,
    ApnsVoip,
}

impl GatewayPlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            GatewayPlatform::Fcm => "fcm",
            GatewayPlatform::Apns => "apns",
            GatewayPlatform::ApnsVoip => "apns-voip",
        }
    }
}

/// Where a reconnecting client left off, and the proof that it owns the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Resume {
    pub session: String,
    #[ts(type = "number")]
    pub last_seq: u64,
    /// The `resume_token` of the latest `welcome` of this session. Without the right one the `hello` gets a
    /// fresh session and the old one is left alone (a session id alone must not take over a session).
    #[serde(default)]
    pub token: String,
}

/// A frame the server sends to a client. Every one carries `seq` (see `docs/protocol.md`, Session 3).
/// Parse with [`ServerFrame::parse`] (same reason as [`ClientFrame`]).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerFrame {
    Welcome {
        #[ts(type = "number")]
        seq: u64,
        peer: String,
        session: String,
        resumed: bool,
        /// Secret the client must present in `hello.resume.token` to resume this session; new on every
        /// `welcome` (the previous one stops working).
        resume_token: String,
        #[ts(type = "number")]
        heartbeat_ms: u64,
        ice_servers: Vec<IceServer>,
        /// Present when the server rings offline devices by push.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        push: Option<PushInfo>,
        /// Present when the server places calls above the mesh size on an SFU.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        sfu: Option<SfuInfo>,
    },
    Joined {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        peers: Vec<PeerInfo>,
    },
    PeerJoined {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        peer: String,
        name: String,
    },
    PeerLeft {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        peer: String,
    },
    Signal {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        from: String,
        #[ts(type = "SignalData")]
        data: Box<RawValue>,
    },
    Pong {
        #[ts(type = "number")]
        seq: u64,
    },
    Error {
        #[ts(type = "number")]
        seq: u64,
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        r#ref: Option<String>,
    },
    /// The device is registered for calls in `room` until `expires_at` (Unix ms).
    PushRegistered {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        device: String,
        #[ts(type = "number")]
        expires_at: u64,
    },
    /// The device's registrations in `room` (absent: in every room) are gone.
    PushUnregistered {
        #[ts(type = "number")]
        seq: u64,
        device: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        room: Option<String>,
    },
    /// The devices registered in `room` that no live session of theirs has in the room.
    OfflineMembers {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        members: Vec<OfflineMember>,
    },
    /// The pushes for a `ring` went out: `sent` push services accepted one.
    Ringing {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        device: String,
        call: String,
        sent: u32,
    },
    /// The rung device declined the call from its notification.
    RingDeclined {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        device: String,
        call: String,
    },
    /// Answer to `sfu-join`: connect to the Janus WebSocket API at `url` and join videoroom `janus_room`
    /// as a publisher, presenting `token` (as the Janus request's `token` and the join's `token`).
    Sfu {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        call: String,
        url: String,
        token: String,
        #[ts(type = "number")]
        janus_room: u64,
    },
    /// The SFU carrying call `call` stopped answering: its media is gone; `sfu-join` again (another
    /// instance, if any) or end the call.
    SfuLost {
        #[ts(type = "number")]
        seq: u64,
        room: String,
        call: String,
    },
}

/// `welcome.sfu`: calls of more than `mesh_size` people go through the SFU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SfuInfo {
    pub mesh_size: u32,
}

/// `welcome.push`: what a client needs to register for pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PushInfo {
    /// The server's VAPID public key (RFC 8292): base64url of the uncompressed P-256 point, the
    /// `applicationServerKey` of `PushManager.subscribe`.
    pub vapid_key: String,
}

/// A device registered in a room whose sessions are all gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OfflineMember {
    pub device: String,
    /// The display name of the session that registered it.
    pub name: String,
    /// When it last registered (Unix ms): clients register on every join.
    #[ts(type = "number")]
    pub last_seen: u64,
}

/// The JSON a push carries (encrypted for Web Push; as `payload` to a gateway). Content-free beyond what
/// the notification shows: never any chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PushPayload {
    /// Always 1.
    pub v: u32,
    pub kind: PushKind,
    pub room: String,
    pub call: String,
    /// The caller's display name.
    pub caller: String,
    /// The caller's peer id: where the answer's `join-call` goes.
    pub caller_peer: String,
    pub media: Vec<String>,
    /// Unix ms after which the call no longer waits (now + 45 s when rung).
    #[ts(type = "number")]
    pub expires_at: u64,
    /// One-time token for `POST /push/decline`.
    pub decline: String,
}

/// What a push announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum PushKind {
    /// An incoming call.
    Call,
    /// The call that rang is over (cancelled by the caller): show a missed call.
    CallEnded,
}

/// The body of `POST /push/decline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PushDecline {
    pub call: String,
    pub token: String,
}

impl ServerFrame {
    /// The session sequence number every server frame carries.
    pub fn seq(&self) -> u64 {
        match self {
            ServerFrame::Welcome { seq, .. }
            | ServerFrame::Joined { seq, .. }
            | ServerFrame::PeerJoined { seq, .. }
            | ServerFrame::PeerLeft { seq, .. }
            | ServerFrame::Signal { seq, .. }
            | ServerFrame::Pong { seq }
            | ServerFrame::Error { seq, .. }
            | ServerFrame::PushRegistered { seq, .. }
            | ServerFrame::PushUnregistered { seq, .. }
            | ServerFrame::OfflineMembers { seq, .. }
            | ServerFrame::Ringing { seq, .. }
            | ServerFrame::RingDeclined { seq, .. }
            | ServerFrame::Sfu { seq, .. }
            | ServerFrame::SfuLost { seq, .. } => *seq,
        }
    }
}

/// A member of a room as listed in `joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PeerInfo {
    pub peer: String,
    pub name: String,
}

/// One entry of `welcome.ice_servers`, shaped like WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub credential: Option<String>,
}

/// Error codes of `error` frames; each has one documented meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    /// Kept for older clients; this server now closes the connection with 1009 instead (a frame above the
    /// limit is never buffered).
    TooLarge,
    RateLimited,
    Unauthorized,
    RoomFull,
    NotInRoom,
    UnknownPeer,
    /// A server-wide limit is reached (sessions, buffered bytes); retry later.
    Overloaded,
    /// The client's IP address or user already has the most sessions allowed.
    TooManySessions,
    /// A push request (`push-register`, `push-unregister`, `ring`, ...) is refused: push is off, the
    /// endpoint is not allowed, the device secret is wrong, or a push limit is reached.
    PushRefused,
    /// `sfu-join` cannot be served: no SFU is configured or none answers.
    SfuUnavailable,
    Internal,
}

impl ErrorCode {
    /// The wire spelling, also used as the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::NotInRoom => "not_in_room",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::TooManySessions => "too_many_sessions",
            ErrorCode::PushRefused => "push_refused",
            ErrorCode::SfuUnavailable => "sfu_unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Conventions for `signal.data` used by the clients (the server never interprets them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SignalData {
    Invite {
        call: String,
        media: Vec<String>,
        /// The others this call rings (group call): the callee connects to them, and to nobody else
        /// on this invite's word.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        peers: Option<Vec<String>>,
    },
    Accept {
        call: String,
    },
    Decline {
        call: String,
    },
    Hangup {
        call: String,
    },
    Cancel {
        call: String,
    },
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    /// `candidate: null` marks the end of candidates.
    Candidate {
        #[ts(type = "Record<string, unknown> | null")]
        candidate: serde_json::Value,
    },
    Restart,
    DcFallback,
    /// The sender is in call `call` (told to room members outside it, so they can join).
    InCall {
        call: String,
    },
    /// The sender is no longer in call `call`.
    LeftCall {
        call: String,
    },
    /// The sender asks to join call `call` in progress; answered with `accept` or `decline` (full).
    JoinCall {
        call: String,
    },
    /// Sent to a peer id that a link claimed with `peer-id` (a re-key): the session holding that id
    /// answers with `peer-id-proof` carrying `nonce` (128 random bits, base64url) over its own link to
    /// the sender, so a link is re-keyed only to the session really behind it (docs/security.md).
    PeerIdCheck {
        nonce: String,
    },
}

/// Why a client frame could not be parsed; maps to `error{code:"bad_request"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The frame's `type`, when it had a string one (becomes the error's `ref`).
    pub frame_type: Option<String>,
    pub message: String,
}

impl ClientFrame {
    /// Parses one text frame. Never panics on any input; the error says what was wrong and which
    /// `type` the frame claimed, so the server can fill the error's `ref`.
    pub fn parse(text: &str) -> Result<ClientFrame, ParseError> {
        let env: Envelope = parse_envelope(text)?;
        let t = env.frame_type.as_str();
        let frame = match t {
            "hello" => ClientFrame::Hello {
                v: env.required(env.v, "v")?,
                name: env.name.clone().unwrap_or_default(),
                token: env.token.clone(),
                resume: env.resume.clone(),
            },
            "join" => ClientFrame::Join {
                room: env.required(env.room.clone(), "room")?,
            },
            "leave" => ClientFrame::Leave {
                room: env.required(env.room.clone(), "room")?,
            },
            "signal" => ClientFrame::Signal {
                room: env.required(env.room.clone(), "room")?,
                to: env.required(env.to.clone(), "to")?,
                data: env.required(env.data.clone(), "data")?,
            },
            "ping" => ClientFrame::Ping,
            "push-register" => ClientFrame::PushRegister {
                room: env.required(env.room.clone(), "room")?,
                device: env.required(env.device.clone(), "device")?,
                secret: env.required(env.secret.clone(), "secret")?,
                subscription: env.required(env.subscription.clone(), "subscription")?,
            },
            "push-unregister" => ClientFrame::PushUnregister {
                device: env.required(env.device.clone(), "device")?,
                secret: env.required(env.secret.clone(), "secret")?,
                room: env.room.clone(),
            },
            "offline-members" => ClientFrame::OfflineMembers {
                room: env.required(env.room.clone(), "room")?,
            },
            "ring" => ClientFrame::Ring {
                room: env.required(env.room.clone(), "room")?,
                device: env.required(env.device.clone(), "device")?,
                call: env.required(env.call.clone(), "call")?,
                media: env.media.clone().unwrap_or_default(),
            },
            "ring-cancel" => ClientFrame::RingCancel {
                room: env.required(env.room.clone(), "room")?,
                device: env.required(env.device.clone(), "device")?,
                call: env.required(env.call.clone(), "call")?,
            },
            "sfu-join" => ClientFrame::SfuJoin {
                room: env.required(env.room.clone(), "room")?,
                call: env.required(env.call.clone(), "call")?,
            },
            "sfu-leave" => ClientFrame::SfuLeave {
                room: env.required(env.room.clone(), "room")?,
                call: env.required(env.call.clone(), "call")?,
            },
            _ => return Err(env.error(format!("unknown frame type {t:?}"))),
        };
        Ok(frame)
    }

    /// The `type` tag of this frame.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Hello { .. } => "hello",
            ClientFrame::Join { .. } => "join",
            ClientFrame::Leave { .. } => "leave",
            ClientFrame::Signal { .. } => "signal",
            ClientFrame::Ping => "ping",
            ClientFrame::PushRegister { .. } => "push-register",
            ClientFrame::PushUnregister { .. } => "push-unregister",
            ClientFrame::OfflineMembers { .. } => "offline-members",
            ClientFrame::Ring { .. } => "ring",
            ClientFrame::RingCancel { .. } => "ring-cancel",
            ClientFrame::SfuJoin { .. } => "sfu-join",
            ClientFrame::SfuLeave { .. } => "sfu-leave",
        }
    }
}

impl ServerFrame {
    /// Parses one frame from the server (used by the app's client, tests and the load tool).
    pub fn parse(text: &str) -> Result<ServerFrame, ParseError> {
        let env: Envelope = parse_envelope(text)?;
        let seq = env.required(env.seq, "seq")?;
        let frame = match env.frame_type.as_str() {
            "welcome" => ServerFrame::Welcome {
                seq,
                peer: env.required(env.peer.clone(), "peer")?,
                session: env.required(env.session.clone(), "session")?,
                resumed: env.resumed.unwrap_or(false),
                resume_token: env.resume_token.clone().unwrap_or_default(),
                heartbeat_ms: env.required(env.heartbeat_ms, "heartbeat_ms")?,
                ice_servers: env.ice_servers.clone().unwrap_or_default(),
                push: env.push.clone(),
                sfu: env.sfu.clone(),
            },
            "joined" => ServerFrame::Joined {
                seq,
                room: env.required(env.room.clone(), "room")?,
                peers: env.peers.clone().unwrap_or_default(),
            },
            "peer-joined" => ServerFrame::PeerJoined {
                seq,
                room: env.required(env.room.clone(), "room")?,
                peer: env.required(env.peer.clone(), "peer")?,
                name: env.name.clone().unwrap_or_default(),
            },
            "peer-left" => ServerFrame::PeerLeft {
                seq,
                room: env.required(env.room.clone(), "room")?,
                peer: env.required(env.peer.clone(), "peer")?,
            },
            "signal" => ServerFrame::Signal {
                seq,
                room: env.required(env.room.clone(), "room")?,
                from: env.required(env.from.clone(), "from")?,
                data: env.required(env.data.clone(), "data")?,
            },
            "pong" => ServerFrame::Pong { seq },
            "error" => ServerFrame::Error {
                seq,
                code: env.required(env.code, "code")?,
                message: env.message.clone().unwrap_or_default(),
                r#ref: env.r#ref.clone(),
            },
            "push-registered" => ServerFrame::PushRegistered {
                seq,
                room: env.required(env.room.clone(), "room")?,
                device: env.required(env.device.clone(), "device")?,
                expires_at: env.required(env.expires_at, "expires_at")?,
            },
            "push-unregistered" => ServerFrame::PushUnregistered {
                seq,
                device: env.required(env.device.clone(), "device")?,
                room: env.room.clone(),
            },
            "offline-members" => ServerFrame::OfflineMembers {
                seq,
                room: env.required(env.room.clone(), "room")?,
                members: env.members.clone().unwrap_or_default(),
            },
            "ringing" => ServerFrame::Ringing {
                seq,
                room: env.required(env.room.clone(), "room")?,
                device: env.required(env.device.clone(), "device")?,
                call: env.required(env.call.clone(), "call")?,
                sent: env.sent.unwrap_or(0),
            },
            "ring-declined" => ServerFrame::RingDeclined {
                seq,
                room: env.required(env.room.clone(), "room")?,
                device: env.required(env.device.clone(), "device")?,
                call: env.required(env.call.clone(), "call")?,
            },
            "sfu" => ServerFrame::Sfu {
                seq,
                room: env.required(env.room.clone(), "room")?,
                call: env.required(env.call.clone(), "call")?,
                url: env.required(env.url.clone(), "url")?,
                token: env.required(env.token.clone(), "token")?,
                janus_room: env.required(env.janus_room, "janus_room")?,
            },
            "sfu-lost" => ServerFrame::SfuLost {
                seq,
                room: env.required(env.room.clone(), "room")?,
                call: env.required(env.call.clone(), "call")?,
            },
            t => return Err(env.error(format!("unknown frame type {t:?}"))),
        };
        Ok(frame)
    }
}

/// Every field any frame may carry, all optional: the flat shape both parsers read first.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    frame_type: String,
    v: Option<u32>,
    name: Option<String>,
    token: Option<String>,
    resume: Option<Resume>,
    room: Option<String>,
    to: Option<String>,
    from: Option<String>,
    /// `Some` whenever the field is present, even as `null` (which is valid opaque data).
    #[serde(default, deserialize_with = "present_raw")]
    data: Option<Box<RawValue>>,
    seq: Option<u64>,
    peer: Option<String>,
    session: Option<String>,
    resumed: Option<bool>,
    resume_token: Option<String>,
    heartbeat_ms: Option<u64>,
    ice_servers: Option<Vec<IceServer>>,
    peers: Option<Vec<PeerInfo>>,
    code: Option<ErrorCode>,
    message: Option<String>,
    #[serde(rename = "ref")]
    r#ref: Option<String>,
    device: Option<String>,
    secret: Option<String>,
    subscription: Option<PushSubscription>,
    call: Option<String>,
    media: Option<Vec<String>>,
    push: Option<PushInfo>,
    expires_at: Option<u64>,
    members: Option<Vec<OfflineMember>>,
    sent: Option<u32>,
    sfu: Option<SfuInfo>,
    url: Option<String>,
    janus_room: Option<u64>,
}

impl Envelope {
    fn error(&self, message: String) -> ParseError {
        ParseError {
            frame_type: Some(self.frame_type.clone()),
            message,
        }
    }

    fn required<T>(&self, value: Option<T>, field: &str) -> Result<T, ParseError> {
        value.ok_or_else(|| {
            self.error(format!(
                "{:?} frame is missing field {field:?}",
                self.frame_type
            ))
        })
    }
}

fn present_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

fn parse_envelope(text: &str) -> Result<Envelope, ParseError> {
    serde_json::from_str(text).map_err(|err| {
        #[derive(Deserialize)]
        struct TypeOnly {
            #[serde(rename = "type")]
            frame_type: String,
        }
        let frame_type = serde_json::from_str::<TypeOnly>(text)
            .ok()
            .map(|t| t.frame_type);
        let message = match &frame_type {
            Some(t) => format!("invalid {t:?} frame: {err}"),
            None if err.is_syntax() || err.is_eof() => format!("not valid JSON: {err}"),
            None => "frame must be a JSON object with a string \"type\"".to_owned(),
        };
        ParseError {
            frame_type,
            message,
        }
    })
}

/// Room names: 1–[`MAX_ROOM_NAME_CHARS`] characters of `[A-Za-z0-9._-]`.
pub fn is_valid_room_name(room: &str) -> bool {
    (1..=MAX_ROOM_NAME_CHARS).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Device ids of push registrations: [`MIN_DEVICE_ID_CHARS`]–[`MAX_DEVICE_ID_CHARS`] characters of
/// `[A-Za-z0-9_-]`.
pub fn is_valid_device_id(device: &str) -> bool {
    (MIN_DEVICE_ID_CHARS..=MAX_DEVICE_ID_CHARS).contains(&device.len()) && is_base64url(device)
}

/// Device secrets: [`MIN_DEVICE_SECRET_CHARS`]–[`MAX_DEVICE_SECRET_CHARS`] characters of base64url.
pub fn is_valid_device_secret(secret: &str) -> bool {
    (MIN_DEVICE_SECRET_CHARS..=MAX_DEVICE_SECRET_CHARS).contains(&secret.len())
        && is_base64url(secret)
}

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_with_resume_round_trips_and_ignores_unknown_fields() {
        let text = r#"{"type":"hello","v":1,"name":"Alice","token":"t","resume":{"session":"s1","last_seq":17,"token":"rt"},"extra":true}"#;
        let ClientFrame::Hello {
            v,
            name,
            token,
            resume,
        } = ClientFrame::parse(text).unwrap()
        else {
            panic!("not a hello")
        };
        assert_eq!(
            (v, name.as_str(), token.as_deref()),
            (1, "Alice", Some("t"))
        );
        assert_eq!(
            resume,
            Some(Resume {
                session: "s1".into(),
                last_seq: 17,
                token: "rt".into(),
            })
        );
        // An old client without the resume token still parses; the server then starts a fresh session.
        let text = r#"{"type":"hello","v":1,"resume":{"session":"s1","last_seq":2}}"#;
        let ClientFrame::Hello { resume, .. } = ClientFrame::parse(text).unwrap() else {
            panic!("not a hello")
        };
        assert_eq!(resume.unwrap().token, "");
    }

    #[test]
    fn signal_data_is_kept_verbatim() {
        let text = r#"{"type":"signal","room":"r","to":"p","data":{"kind":"offer","sdp":"v=0\r\n","x":[1,2]}}"#;
        let ClientFrame::Signal { data, .. } = ClientFrame::parse(text).unwrap() else {
            panic!("not a signal")
        };
        assert_eq!(data.get(), r#"{"kind":"offer","sdp":"v=0\r\n","x":[1,2]}"#);
    }

    #[test]
    fn server_frames_serialize_with_kebab_case_types() {
        let frame = ServerFrame::PeerJoined {
            seq: 3,
            room: "team-1".into(),
            peer: "abc".into(),
            name: "Bob".into(),
        };
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"type":"peer-joined","seq":3,"room":"team-1","peer":"abc","name":"Bob"}"#
        );
        let error = ServerFrame::Error {
            seq: 4,
            code: ErrorCode::NotInRoom,
            message: "m".into(),
            r#ref: Some("signal".into()),
        };
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(
            text,
            r#"{"type":"error","seq":4,"code":"not_in_room","message":"m","ref":"signal"}"#
        );
        let back = ServerFrame::parse(&text).unwrap();
        assert_eq!(back.seq(), 4);
    }

    #[test]
    fn unknown_type_and_bad_json_are_reported_with_ref() {
        let err = ClientFrame::parse(r#"{"type":"shout","x":1}"#).unwrap_err();
        assert_eq!(err.frame_type.as_deref(), Some("shout"));
        assert!(err.message.contains("unknown frame type"));
        let err = ClientFrame::parse(r#"{"type":"join"}"#).unwrap_err();
        assert_eq!(err.frame_type.as_deref(), Some("join"));
        assert!(err.message.contains("room"), "{}", err.message);
        let err = ClientFrame::parse("{nope").unwrap_err();
        assert_eq!(err.frame_type, None);
        assert!(err.message.starts_with("not valid JSON"));
        assert!(ClientFrame::parse("[1,2]").is_err());
    }

    #[test]
    fn push_frames_parse_and_round_trip() {
        let text = r#"{"type":"push-register","room":"r","device":"dev-12345","secret":"s","subscription":{"kind":"webpush","endpoint":"https://push.example/x","keys":{"p256dh":"BA","auth":"AA"}}}"#;
        let ClientFrame::PushRegister { subscription, .. } = ClientFrame::parse(text).unwrap()
        else {
            panic!("not a push-register")
        };
        assert_eq!(
            subscription,
            PushSubscription::Webpush {
                endpoint: "https://push.example/x".into(),
                keys: PushKeys {
                    p256dh: "BA".into(),
                    auth: "AA".into()
                }
            }
        );
        let text = r#"{"type":"push-register","room":"r","device":"d","secret":"s","subscription":{"kind":"gateway","platform":"apns-voip","token":"t"}}"#;
        assert!(ClientFrame::parse(text).is_ok());
        let err = ClientFrame::parse(r#"{"type":"push-register","room":"r","device":"d","secret":"s","subscription":{"kind":"carrier-pigeon"}}"#).unwrap_err();
        assert_eq!(err.frame_type.as_deref(), Some("push-register"));
        let ClientFrame::PushUnregister { room, .. } =
            ClientFrame::parse(r#"{"type":"push-unregister","device":"d","secret":"s"}"#).unwrap()
        else {
            panic!("not a push-unregister")
        };
        assert_eq!(room, None);
        let ClientFrame::Ring { media, .. } = ClientFrame::parse(
            r#"{"type":"ring","room":"r","device":"d","call":"c","media":["audio","video"]}"#,
        )
        .unwrap() else {
            panic!("not a ring")
        };
        assert_eq!(media, ["audio", "video"]);
        for frame in [
            ServerFrame::PushRegistered {
                seq: 2,
                room: "r".into(),
                device: "d".into(),
                expires_at: 5,
            },
            ServerFrame::OfflineMembers {
                seq: 3,
                room: "r".into(),
                members: vec![OfflineMember {
                    device: "d".into(),
                    name: "Bob".into(),
                    last_seen: 7,
                }],
            },
            ServerFrame::Ringing {
                seq: 4,
                room: "r".into(),
                device: "d".into(),
                call: "c".into(),
                sent: 1,
            },
            ServerFrame::RingDeclined {
                seq: 5,
                room: "r".into(),
                device: "d".into(),
                call: "c".into(),
            },
        ] {
            let text = serde_json::to_string(&frame).unwrap();
            let back = serde_json::to_string(&ServerFrame::parse(&text).unwrap()).unwrap();
            assert_eq!(text, back);
        }
        let welcome = r#"{"type":"welcome","seq":1,"peer":"p","session":"s","resumed":false,"resume_token":"t","heartbeat_ms":10000,"ice_servers":[],"push":{"vapid_key":"BKey"}}"#;
        let ServerFrame::Welcome { push, .. } = ServerFrame::parse(welcome).unwrap() else {
            panic!("not a welcome")
        };
        assert_eq!(push.unwrap().vapid_key, "BKey");
    }

    #[test]
    fn sfu_frames_parse_and_round_trip() {
        let ClientFrame::SfuJoin { room, call } =
            ClientFrame::parse(r#"{"type":"sfu-join","room":"r","call":"c1"}"#).unwrap()
        else {
            panic!("not an sfu-join")
        };
        assert_eq!((room.as_str(), call.as_str()), ("r", "c1"));
        let err = ClientFrame::parse(r#"{"type":"sfu-leave","room":"r"}"#).unwrap_err();
        assert!(err.message.contains("call"), "{}", err.message);
        for frame in [
            ServerFrame::Sfu {
                seq: 7,
                room: "r".into(),
                call: "c1".into(),
                url: "wss://sfu.example/janus".into(),
                token: "t".into(),
                janus_room: 4_503_599_627_370_495,
            },
            ServerFrame::SfuLost {
                seq: 8,
                room: "r".into(),
                call: "c1".into(),
            },
        ] {
            let text = serde_json::to_string(&frame).unwrap();
            let back = serde_json::to_string(&ServerFrame::parse(&text).unwrap()).unwrap();
            assert_eq!(text, back);
        }
        let welcome = r#"{"type":"welcome","seq":1,"peer":"p","session":"s","resumed":false,"resume_token":"t","heartbeat_ms":10000,"ice_servers":[],"sfu":{"mesh_size":4}}"#;
        let ServerFrame::Welcome { sfu, .. } = ServerFrame::parse(welcome).unwrap() else {
            panic!("not a welcome")
        };
        assert_eq!(sfu, Some(SfuInfo { mesh_size: 4 }));
        assert_eq!(
            serde_json::to_string(&ErrorCode::SfuUnavailable).unwrap(),
            r#""sfu_unavailable""#
        );
    }

    #[test]
    fn device_ids_and_secrets_follow_the_protocol() {
        assert!(is_valid_device_id("abcdEFGH_-12"));
        assert!(!is_valid_device_id("short"));
        assert!(!is_valid_device_id(&"x".repeat(129)));
        assert!(!is_valid_device_id("has space in it"));
        assert!(is_valid_device_secret(&"A".repeat(22)));
        assert!(!is_valid_device_secret(&"A".repeat(21)));
        assert!(!is_valid_device_secret(&"A=".repeat(11)));
    }

    #[test]
    fn room_names_follow_the_protocol() {
        assert!(is_valid_room_name("team-1"));
        assert!(is_valid_room_name("a.b_c-D9"));
        assert!(is_valid_room_name(&"x".repeat(64)));
        assert!(!is_valid_room_name(""));
        assert!(!is_valid_room_name(&"x".repeat(65)));
        assert!(!is_valid_room_name("has space"));
        assert!(!is_valid_room_name("ünï"));
    }

    #[test]
    fn signal_data_conventions_parse() {
        let d: SignalData =
            serde_json::from_str(r#"{"kind":"invite","call":"c1","media":["audio"]}"#).unwrap();
        assert_eq!(
            d,
            SignalData::Invite {
                call: "c1".into(),
                media: vec!["audio".into()],
                peers: None,
            }
        );
        let d: SignalData = serde_json::from_str(r#"{"kind":"dc-fallback"}"#).unwrap();
        assert_eq!(d, SignalData::DcFallback);
    }
}
