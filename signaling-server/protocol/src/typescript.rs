//! Generates `ui/src/lib/protocol.gen.ts`, the UI's copy of these types, so the UI never hand-copies the
//! protocol. `tests/typescript_is_fresh.rs` fails when the committed file differs; regenerate with
//! `UPDATE_PROTOCOL_TS=1 cargo test -p chat-protocol --test typescript_is_fresh`.

use crate::{
    ClientFrame, ErrorCode, GatewayPlatform, IceServer, OfflineMember, PeerInfo, PushDecline,
    PushInfo, PushKeys, PushKind, PushPayload, PushSubscription, Resume, ServerFrame, SfuInfo,
    SignalData,
};
use ts_rs::{Config, TS};

/// The full text of the generated TypeScript module.
pub fn generate() -> String {
    let cfg = Config::default();
    let decls = [
        ClientFrame::decl(&cfg),
        Resume::decl(&cfg),
        ServerFrame::decl(&cfg),
        PeerInfo::decl(&cfg),
        IceServer::decl(&cfg),
        ErrorCode::decl(&cfg),
        SignalData::decl(&cfg),
        PushSubscription::decl(&cfg),
        PushKeys::decl(&cfg),
        GatewayPlatform::decl(&cfg),
        PushInfo::decl(&cfg),
        OfflineMember::decl(&cfg),
        PushPayload::decl(&cfg),
        PushKind::decl(&cfg),
        PushDecline::decl(&cfg),
        SfuInfo::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from signaling-server/protocol (Rust) by chat_protocol::typescript. Do not edit.\n\
         // Regenerate: UPDATE_PROTOCOL_TS=1 cargo test -p chat-protocol --test typescript_is_fresh\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "export const PROTOCOL_VERSION = {};\n\
         export const MAX_NAME_CHARS = {};\n\
         export const MAX_ROOM_NAME_CHARS = {};\n\
         export const MIN_DEVICE_ID_CHARS = {};\n\
         export const MAX_DEVICE_ID_CHARS = {};\n\
         export const MIN_DEVICE_SECRET_CHARS = {};\n\
         export const MAX_DEVICE_SECRET_CHARS = {};\n\
         export const PUSH_RING_TTL_MS = {};\n",
        crate::PROTOCOL_VERSION,
        crate::MAX_NAME_CHARS,
        crate::MAX_ROOM_NAME_CHARS,
        crate::MIN_DEVICE_ID_CHARS,
        crate::MAX_DEVICE_ID_CHARS,
        crate::MIN_DEVICE_SECRET_CHARS,
        crate::MAX_DEVICE_SECRET_CHARS,
        crate::PUSH_RING_TTL_MS,
    ));
    out
}
