//! What a push means for this phone, decided here once for both platforms: the Android receivers
//! (UnifiedPush, FCM) and the iOS PushKit delegate hand the payload's JSON to [`decide_json`] (through
//! src/ffi.rs) and only draw what it answers. The payload is docs/protocol.md's "Push payload"
//! (`chat_protocol::PushPayload`): content-free, never any chat.
//!
//! - a `call` still within its `expires_at` rings, for at most [`PUSH_RING_TTL_MS`] (a sender's clock
//!   far ahead cannot make it ring longer);
//! - a `call` whose time is over, and every `call-ended`, is a missed call (it replaces the ringing
//!   notification of the same call: same `tag`, same CallKit `uuid`);
//! - anything else (not JSON, another version, ids the protocol does not allow) is ignored. iOS still
//!   reports an ignored VoIP push to CallKit and ends it at once: Apple requires a call for every one.

use chat_protocol::{MAX_NAME_CHARS, PUSH_RING_TTL_MS, PushKind, PushPayload, is_valid_room_name};
use serde::Serialize;

/// Longest call id (`[A-Za-z0-9._-]`, docs/protocol.md "Identities").
const MAX_CALL_ID_CHARS: usize = 64;
/// Longest peer id or decline token taken from a push (the server's are far shorter).
const MAX_TOKEN_CHARS: usize = 256;
/// The caller's name when the push carries none.
const SOMEONE: &str = "Someone";

/// What to show for a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Decision {
    /// An incoming call: ring until answered, declined, or `ring_ms` from now.
    Ring(Incoming),
    /// The call is over: a missed-call notification (Android) or the CallKit call ended (iOS).
    Missed(Missed),
    /// Not a push of ours, or malformed: nothing to ring.
    Ignore { reason: String },
}

/// A call to ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incoming {
    pub room: String,
    pub call: String,
    /// The caller's display name, cleaned for showing.
    pub caller: String,
    /// Where the answer's `join-call` goes.
    pub caller_peer: String,
    pub video: bool,
    /// How long to ring (ms): until the call's `expires_at`, at most [`PUSH_RING_TTL_MS`].
    pub ring_ms: u64,
    /// The body of `POST /push/decline` (JSON `{"call","token"}`), sent as is by Decline.
    pub decline_body: String,
    pub title: String,
    pub text: String,
    /// The notification's tag, shared with the call's missed-call notification (Android).
    pub tag: String,
    /// The call's CallKit UUID, the same for its `call` and `call-ended` pushes (iOS).
    pub uuid: String,
}

/// A call that is over before it was answered here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missed {
    pub room: String,
    pub call: String,
    pub caller: String,
    pub title: String,
    pub text: String,
    pub tag: String,
    pub uuid: String,
}

/// [`decide`] on the payload's JSON text.
pub fn decide_json(payload: &str, now_ms: u64) -> Decision {
    match serde_json::from_str::<PushPayload>(payload) {
        Ok(payload) => decide(&payload, now_ms),
        Err(err) => ignore(format!("not a call push: {err}")),
    }
}

/// What `payload`, received at `now_ms` (Unix ms), means.
pub fn decide(payload: &PushPayload, now_ms: u64) -> Decision {
    if payload.v != 1 {
        return ignore(format!("push payload version {} is not 1", payload.v));
    }
    if !is_valid_room_name(&payload.room) {
        return ignore("the room name is not one the protocol allows".into());
    }
    if !is_valid_call_id(&payload.call) {
        return ignore("the call id is not one the protocol allows".into());
    }
    if !is_token(&payload.caller_peer) {
        return ignore("the caller's peer id is missing or malformed".into());
    }
    if payload.media.iter().any(|m| m != "audio" && m != "video") {
        return ignore("unknown media in the push".into());
    }
    let caller = display_name(&payload.caller);
    let tag = format!("call:{}", payload.call);
    let uuid = call_uuid(&payload.room, &payload.call);
    let ringing = payload.kind == PushKind::Call && now_ms < payload.expires_at;
    if !ringing {
        return Decision::Missed(Missed {
            title: "Missed call".into(),
            text: format!("{caller} called you in {}", payload.room),
            room: payload.room.clone(),
            call: payload.call.clone(),
            caller,
            tag,
            uuid,
        });
    }
    if !is_token(&payload.decline) {
        return ignore("the decline token is missing or malformed".into());
    }
    let video = payload.media.iter().any(|m| m == "video");
    Decision::Ring(Incoming {
        title: caller.clone(),
        text: format!(
            "Incoming {} call in {}",
            if video { "video" } else { "voice" },
            payload.room
        ),
        room: payload.room.clone(),
        call: payload.call.clone(),
        caller_peer: payload.caller_peer.clone(),
        video,
        ring_ms: (payload.expires_at - now_ms).min(PUSH_RING_TTL_MS),
        decline_body: serde_json::json!({"call": payload.call, "token": payload.decline})
            .to_string(),
        caller,
        tag,
        uuid,
    })
}

fn ignore(reason: String) -> Decision {
    Decision::Ignore { reason }
}

/// 1–64 characters of `[A-Za-z0-9._-]`.
fn is_valid_call_id(call: &str) -> bool {
    (1..=MAX_CALL_ID_CHARS).contains(&call.len())
        && call
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A peer id or decline token: 1–256 printable ASCII characters (both go back to the server as is).
fn is_token(text: &str) -> bool {
    (1..=MAX_TOKEN_CHARS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic())
}

/// The caller's name as a notification shows it: no control characters, at most [`MAX_NAME_CHARS`]
/// characters, "Someone" when empty.
fn display_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        SOMEONE.to_owned()
    } else {
        clean.to_owned()
    }
}

/// A UUID (RFC 4122 form, version 8: custom) made from the room and call id, so the `call` and
/// `call-ended` pushes of one call name the same CallKit call even when the app was started anew
/// between them.
fn call_uuid(room: &str, call: &str) -> String {
    let hi = fnv1a(0xcbf2_9ce4_8422_2325, room, call);
    let lo = fnv1a(0x6c62_272e_07bb_0142, room, call);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// 64-bit FNV-1a over `room`, a separator byte the names cannot hold, and `call`.
fn fnv1a(seed: u64, room: &str, call: &str) -> u64 {
    let mut hash = seed;
    for b in room.bytes().chain([0u8]).chain(call.bytes()) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const NOW: u64 = 1_800_000_000_000;

    fn payload(kind: &str, expires_at: u64) -> Value {
        json!({
            "v": 1, "kind": kind, "room": "team", "call": "c-42", "caller": "Alice",
            "caller_peer": "peer_A1", "media": ["audio", "video"], "expires_at": expires_at,
            "decline": if kind == "call" { "tok_123" } else { "" },
        })
    }

    fn decide_value(value: &Value) -> Decision {
        decide_json(&value.to_string(), NOW)
    }

    #[test]
    fn a_call_in_time_rings_until_it_expires_with_what_decline_needs() {
        let Decision::Ring(ring) = decide_value(&payload("call", NOW + 30_000)) else {
            panic!("a call in time must ring");
        };
        assert_eq!(ring.title, "Alice");
        assert_eq!(ring.text, "Incoming video call in team");
        assert!(ring.video);
        assert_eq!(ring.ring_ms, 30_000);
        assert_eq!((ring.room.as_str(), ring.call.as_str()), ("team", "c-42"));
        assert_eq!(ring.caller_peer, "peer_A1");
        let body: Value = serde_json::from_str(&ring.decline_body).unwrap();
        assert_eq!(body, json!({"call": "c-42", "token": "tok_123"}));
    }

    #[test]
    fn a_voice_call_says_voice() {
        let mut p = payload("call", NOW + 1_000);
        p["media"] = json!(["audio"]);
        let Decision::Ring(ring) = decide_value(&p) else {
            panic!("must ring");
        };
        assert!(!ring.video);
        assert_eq!(ring.text, "Incoming voice call in team");
    }

    #[test]
    fn a_senders_clock_far_ahead_rings_no_longer_than_the_push_lives() {
        let Decision::Ring(ring) = decide_value(&payload("call", NOW + 10 * 60_000)) else {
            panic!("must ring");
        };
        assert_eq!(ring.ring_ms, PUSH_RING_TTL_MS);
    }

    #[test]
    fn an_expired_call_and_a_call_ended_are_the_same_missed_call() {
        let expired = decide_value(&payload("call", NOW));
        let ended = decide_value(&payload("call-ended", NOW + 30_000));
        let Decision::Missed(missed) = &expired else {
            panic!("an expired call is a missed call, got {expired:?}");
        };
        assert_eq!(missed.title, "Missed call");
        assert_eq!(missed.text, "Alice called you in team");
        assert_eq!(expired, ended, "same call, same missed call");
        let Decision::Ring(ring) = decide_value(&payload("call", NOW + 5_000)) else {
            panic!("must ring");
        };
        // The missed call replaces the ringing notification / ends the same CallKit call.
        assert_eq!(
            (ring.tag.as_str(), ring.uuid.as_str()),
            (missed.tag.as_str(), missed.uuid.as_str())
        );
    }

    #[test]
    fn call_uuids_are_rfc4122_and_differ_per_call_and_room() {
        let a = call_uuid("team", "c-42");
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'8', "version 8: {a}");
        assert!(
            matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
            "variant: {a}"
        );
        assert_eq!(a, call_uuid("team", "c-42"));
        assert_ne!(a, call_uuid("team", "c-43"));
        assert_ne!(a, call_uuid("team2", "c-42"));
        assert_ne!(call_uuid("ab", "c"), call_uuid("a", "bc"));
    }

    #[test]
    fn the_callers_name_is_cleaned_and_never_empty() {
        let mut p = payload("call", NOW + 1_000);
        p["caller"] = json!("  Bob\u{7}\n ");
        let Decision::Ring(ring) = decide_value(&p) else {
            panic!()
        };
        assert_eq!(ring.caller, "Bob");
        p["caller"] = json!("");
        let Decision::Ring(ring) = decide_value(&p) else {
            panic!()
        };
        assert_eq!(ring.title, "Someone");
        p["caller"] = json!("x".repeat(500));
        let Decision::Ring(ring) = decide_value(&p) else {
            panic!()
        };
        assert_eq!(ring.caller.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn malformed_pushes_ring_nothing() {
        let bad: Vec<(&str, Value)> = vec![
            ("v", json!(2)),
            ("kind", json!("chat")),
            ("room", json!("")),
            ("call", json!("no spaces allowed")),
            ("call", json!("x".repeat(65))),
            ("caller_peer", json!("")),
            ("media", json!(["screen"])),
            ("decline", json!("")),
            ("expires_at", json!("soon")),
        ];
        for (field, value) in bad {
            let mut p = payload("call", NOW + 1_000);
            p[field] = value.clone();
            assert!(
                matches!(decide_value(&p), Decision::Ignore { .. }),
                "{field} = {value} must be ignored"
            );
        }
        for text in ["", "null", "{}", "not json", "{\"v\":1}"] {
            assert!(
                matches!(decide_json(text, NOW), Decision::Ignore { .. }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_call_ended_needs_no_decline_token() {
        assert!(matches!(
            decide_value(&payload("call-ended", NOW + 1_000)),
            Decision::Missed(_)
        ));
    }

    /// The fields android/src/main/java/CallNotifier.kt and ios/Sources/PushCall/PushCallPlugin.swift
    /// read from a decision, with their JSON types: renaming one here must fail this test.
    #[test]
    fn every_field_the_natives_read_is_there() {
        let ring = serde_json::to_value(decide_value(&payload("call", NOW + 1_000))).unwrap();
        for text in [
            "action",
            "room",
            "call",
            "caller",
            "caller_peer",
            "decline_body",
            "title",
            "text",
            "tag",
            "uuid",
        ] {
            assert!(ring[text].is_string(), "ring.{text}");
        }
        assert!(ring["ring_ms"].is_u64() && ring["video"].is_boolean());
        let missed = serde_json::to_value(decide_value(&payload("call-ended", NOW))).unwrap();
        for text in [
            "action", "room", "call", "caller", "title", "text", "tag", "uuid",
        ] {
            assert!(missed[text].is_string(), "missed.{text}");
        }
    }

    #[test]
    fn the_answer_the_natives_read_is_tagged_json() {
        let ring = serde_json::to_value(decide_value(&payload("call", NOW + 1_000))).unwrap();
        assert_eq!(ring["action"], "ring");
        assert_eq!(ring["ring_ms"], 1_000);
        let missed = serde_json::to_value(decide_value(&payload("call-ended", NOW))).unwrap();
        assert_eq!(missed["action"], "missed");
        let ignored = serde_json::to_value(decide_json("{}", NOW)).unwrap();
        assert_eq!(ignored["action"], "ignore");
        assert!(ignored["reason"].as_str().is_some());
    }
}
