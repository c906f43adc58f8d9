//! Generates `ui/src/lib/core.gen.ts`: the chat channel's message union, the file channel's control
//! messages, the link events and connection states the app reports, and every constant both sides must
//! agree on (docs/architecture.md, "One set of rules"), so the web UI never copies one by hand. `tests/typescript_is_fresh.rs` fails when the committed file differs; regenerate with
//! `UPDATE_TS=1 cargo test -p p2pchat-core --test typescript_is_fresh`.

use ts_rs::{Config, TS};

use crate::chat::{ChannelMessage, ratelimit, seen, wire};
use crate::links::safety::{self, LinkFingerprints};
use crate::links::{FileControl, LinkEvent, files};
use crate::media::{abr, ring};
use crate::signaling::{ConnectionState, backoff};
use crate::{constants, identity};

/// The full text of the generated TypeScript module.
pub fn generate() -> String {
    let cfg = Config::default().with_large_int("number");
    let decls = [
        ChannelMessage::decl(&cfg),
        FileControl::decl(&cfg),
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
    let ms = |d: std::time::Duration| d.as_millis().to_string();
    let text = |s: &str| format!("{s:?}");
    let consts = [
        // Links and signaling (constants.rs, signaling/backoff.rs).
        ("MAX_ICE_RESTARTS", constants::MAX_ICE_RESTARTS.to_string()),
        ("DISCONNECTED_GRACE_MS", ms(constants::DISCONNECTED_GRACE)),
        ("REKEY_WAIT_MS", ms(constants::REKEY_WAIT)),
        ("MAX_CLOCK_AHEAD_MS", ms(constants::MAX_CLOCK_AHEAD)),
        // Chat channel (chat/wire.rs).
        ("MAX_MESSAGE_CHARS", wire::MAX_MESSAGE_CHARS.to_string()),
        ("MAX_READ_IDS", wire::MAX_READ_IDS.to_string()),
        ("MAX_CHANNEL_TEXT", wire::MAX_CHANNEL_TEXT.to_string()),
        ("MAX_SEEN_PER_PEER", seen::MAX_SEEN_PER_PEER.to_string()),
        ("MAX_SEEN_PEERS", seen::MAX_SEEN_PEERS.to_string()),
        ("CHAT_BURST", ratelimit::CHAT_BURST.to_string()),
        ("CHAT_PER_SECOND", ratelimit::CHAT_PER_SECOND.to_string()),
        ("CHAT_MAX_WAITING", ratelimit::CHAT_MAX_WAITING.to_string()),
        ("REKEY_CLAIM_TTL_MS", ms(constants::REKEY_CLAIM_TTL)),
        (
            "MAX_HELD_CANDIDATES",
            constants::MAX_HELD_CANDIDATES.to_string(),
        ),
        ("MAX_NONCE_CHARS", constants::MAX_NONCE_CHARS.to_string()),
        ("MAX_HELD_CHECKS", constants::MAX_HELD_CHECKS.to_string()),
        ("CHAT_CHANNEL_LABEL", text(constants::CHAT_CHANNEL_LABEL)),
        ("BACKOFF_BASE_MS", ms(backoff::BASE)),
        ("BACKOFF_MAX_MS", ms(backoff::MAX)),
        ("OFFLINE_AFTER", constants::OFFLINE_AFTER.to_string()),
        // Safety codes (links/safety.rs).
        ("SAFETY_DOMAIN", text(safety::DOMAIN)),
        ("SAFETY_GROUPS", safety::GROUPS.to_string()),
        ("SAFETY_DIGITS", safety::DIGITS.to_string()),
        ("SAFETY_GROUP_BYTES", safety::GROUP_BYTES.to_string()),
        // Device identity (identity.rs).
        ("IDENTITY_LIFETIME_MS", ms(identity::LIFETIME)),
        ("IDENTITY_RENEW_BEFORE_MS", ms(identity::RENEW_BEFORE)),
        // Files: the wire (links/files.rs) and what a peer's offers may cost (constants.rs).
        ("FILE_CHANNEL_LABEL", text(files::FILE_CHANNEL_LABEL)),
        ("CHUNK_BYTES", files::CHUNK_BYTES.to_string()),
        ("ACK_EVERY_BYTES", files::ACK_EVERY_BYTES.to_string()),
        (
            "DEFAULT_MAX_FILE_BYTES",
            files::DEFAULT_MAX_FILE_BYTES.to_string(),
        ),
        ("MAX_FILE_NAME_CHARS", files::MAX_NAME_CHARS.to_string()),
        (
            "MAX_FILE_CONTROL_CHARS",
            files::MAX_CONTROL_CHARS.to_string(),
        ),
        ("FILE_RESUME_WINDOW_MS", ms(files::RESUME_WINDOW)),
        ("FILE_RETRY_EVERY_MS", ms(files::RETRY_EVERY)),
        ("FILE_ANSWER_TIMEOUT_MS", ms(files::ANSWER_TIMEOUT)),
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
            "HISTORY_PAGE_SIZE",
            constants::HISTORY_PAGE_SIZE.to_string(),
        ),
        ("FILE_WAIT_NOTICE_MS", ms(constants::FILE_WAIT_NOTICE)),
        ("FILE_IDLE_TIMEOUT_MS", ms(constants::FILE_IDLE_TIMEOUT)),
        // Calls: ringing (media/ring.rs) and adaptive bitrate (media/abr.rs).
        ("MAX_CALL_PEOPLE", ring::MAX_CALL_PEOPLE.to_string()),
        ("RING_TIMEOUT_MS", ms(ring::RING_TIMEOUT)),
        (
            "OFFLINE_RING_TIMEOUT_MS",
            ms(constants::OFFLINE_RING_TIMEOUT),
        ),
        ("EARLY_ACCEPT_MS", ms(ring::EARLY_ACCEPT)),
        ("MAX_EARLY_ACCEPTS", ring::MAX_EARLY_ACCEPTS.to_string()),
        ("ABR_SAMPLE_EVERY_MS", ms(abr::SAMPLE_EVERY)),
        ("ABR_MAX_BITRATE", abr::FULL_QUALITY.max_bitrate.to_string()),
        (
            "ABR_MAX_FRAMERATE",
            abr::FULL_QUALITY.max_framerate.to_string(),
        ),
        ("ABR_MIN_BITRATE", abr::MIN_BITRATE.to_string()),
        ("ABR_MAX_SCALE", abr::MAX_SCALE.to_string()),
        ("ABR_LOW_FRAMERATE", abr::LOW_FRAMERATE.to_string()),
        ("ABR_CONGESTED_LOSS", abr::CONGESTED_LOSS.to_string()),
        ("ABR_CONGESTED_RTT_MS", abr::CONGESTED_RTT_MS.to_string()),
        ("ABR_CLEAN_LOSS", abr::CLEAN_LOSS.to_string()),
        ("ABR_CLEAN_RTT_MS", abr::CLEAN_RTT_MS.to_string()),
        ("ABR_CLEAN_SAMPLES", abr::CLEAN_SAMPLES.to_string()),
        ("ABR_BACKOFF_FACTOR", abr::BACKOFF_FACTOR.to_string()),
        ("ABR_RECOVER_FACTOR", abr::RECOVER_FACTOR.to_string()),
    ];
    for (name, value) in consts {
        out.push_str(&format!("export const {name} = {value};\n"));
    }
    out
}
