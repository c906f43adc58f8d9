//! Generates `ui/src/lib/protocol.gen.ts`, the UI's copy of these types, so the UI never hand-copies the
//! protocol. `tests/typescript_is_fresh.rs` fails when the committed file differs; regenerate with
//! `UPDATE_PROTOCOL_TS=1 cargo test -p chat-protocol --test typescript_is_fresh`.

use crate::{ClientFrame, ErrorCode, IceServer, PeerInfo, Resume, ServerFrame, SignalData};
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
         export const MAX_ROOM_NAME_CHARS = {};\n",
        crate::PROTOCOL_VERSION,
        crate::MAX_NAME_CHARS,
        crate::MAX_ROOM_NAME_CHARS
    ));
    out
}
