//! Generates `ui/src/lib/core.gen.ts`: the chat channel's message union, the link events and connection
//! states the app reports, and the constants both sides must agree on, so the web UI never copies them by
//! hand. `tests/typescript_is_fresh.rs` fails when the committed file differs; regenerate with
//! `UPDATE_TS=1 cargo test -p p2pchat-core --test typescript_is_fresh`.

use ts_rs::{Config, TS};

use crate::chat::ChannelMessage;
use crate::constants;
use crate::links::LinkEvent;
use crate::links::safety::LinkFingerprints;
use crate::signaling::{ConnectionState, backoff};

/// The full text of the generated TypeScript module.
pub fn generate() -> String {
    let cfg = Config::default().with_large_int("number");
    let decls = [
        ChannelMessage::decl(&cfg),
        LinkEvent::decl(&cfg),
        LinkFingerprints::decl(&cfg),
        ConnectionState::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from src-tauri/core (Rust) by p2pchat_core::typescript. Do not edit.\n\
         // Regenerate: UPDATE_TS=1 cargo test -p p2pchat-core --test typescript_is_fresh\n\n",
    );
    for decl in decls {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    let ms = |d: std::time::Duration| d.as_millis();
    let consts = [
        ("MAX_ICE_RESTARTS", constants::MAX_ICE_RESTARTS.to_string()),
        (
            "DISCONNECTED_GRACE_MS",
            ms(constants::DISCONNECTED_GRACE).to_string(),
        ),
        ("REKEY_WAIT_MS", ms(constants::REKEY_WAIT).to_string()),
        (
            "MAX_CLOCK_AHEAD_MS",
            ms(constants::MAX_CLOCK_AHEAD).to_string(),
        ),
        (
            "REKEY_CLAIM_TTL_MS",
            ms(constants::REKEY_CLAIM_TTL).to_string(),
        ),
        (
            "MAX_HELD_CANDIDATES",
            constants::MAX_HELD_CANDIDATES.to_string(),
        ),
        (
            "CHAT_CHANNEL_LABEL",
            format!("{:?}", constants::CHAT_CHANNEL_LABEL),
        ),
        ("BACKOFF_BASE_MS", ms(backoff::BASE).to_string()),
        ("BACKOFF_MAX_MS", ms(backoff::MAX).to_string()),
        ("FILE_OFFER_BURST", constants::FILE_OFFER_BURST.to_string()),
        (
            "FILE_OFFERS_PER_SECOND",
            constants::FILE_OFFERS_PER_SECOND.to_string(),
        ),
        (
            "MAX_INCOMING_FILES_PER_PEER",
            constants::MAX_INCOMING_FILES_PER_PEER.to_string(),
        ),
        (
            "MAX_INCOMING_FILES",
            constants::MAX_INCOMING_FILES.to_string(),
        ),
        (
            "MAX_WAITING_FILE_OFFERS",
            constants::MAX_WAITING_FILE_OFFERS.to_string(),
        ),
        (
            "FILE_WAIT_NOTICE_MS",
            ms(constants::FILE_WAIT_NOTICE).to_string(),
        ),
        (
            "FILE_IDLE_TIMEOUT_MS",
            ms(constants::FILE_IDLE_TIMEOUT).to_string(),
        ),
    ];
    for (name, value) in consts {
        out.push_str(&format!("export const {name} = {value};\n"));
    }
    out
}
