//! The messages that travel on the `chat` data channel: one JSON text each. The web UI's copy of this
//! union is generated from it (ui/src/lib/core.gen.ts), so both sides parse the same shapes.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// One data-channel message. Anything else on the channel is not ours to interpret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum ChannelMessage {
    /// A chat message; `id` is a UUIDv7 made by the sender, `sentAt` ms since the epoch.
    Msg {
        id: String,
        body: String,
        #[serde(rename = "sentAt")]
        #[ts(type = "number")]
        sent_at: i64,
        name: String,
    },
    /// The receiver got message `id` (sent for every copy, duplicates too).
    Ack { id: String },
    /// The sender's signaling session has a new peer id (after a server restart).
    PeerId { peer: String },
    /// The answer to a `peer-id-check` signal the sender's session got: its `nonce`, sent over the link
    /// whose `peer-id` claim the check was for (the proof that the claimed id's session is behind it).
    PeerIdProof { nonce: String },
    /// The sender has seen (shown to its user) our messages `ids`. Optional: a client may never send it.
    Read { ids: Vec<String> },
    /// The sender started (`on`) or stopped typing a message to us. Optional, like `Read`.
    Typing { on: bool },
}

/// Longest chat message a person may send, in characters (code points).
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// Most ids in one read receipt: more are sent in several, and a longer list received is cut to this.
pub const MAX_READ_IDS: usize = 100;
/// Longest channel text interpreted at all, in UTF-16 code units (JavaScript's string length).
pub const MAX_CHANNEL_TEXT: usize = 64 * 1024;
/// Times travel as JSON numbers: integers beyond 2^53 would not survive a browser.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

impl ChannelMessage {
    /// Parses a channel text; `None` for anything that is not one of our messages. What a peer may
    /// make us keep is bounded: a body to twice [`MAX_MESSAGE_CHARS`], a name to the protocol's
    /// `MAX_NAME_CHARS`, a read receipt to [`MAX_READ_IDS`] (tests/vectors/chat_messages.json).
    pub fn parse(text: &str) -> Option<ChannelMessage> {
        if text.len() > MAX_CHANNEL_TEXT && text.encode_utf16().count() > MAX_CHANNEL_TEXT {
            return None;
        }
        let cut = |s: String, max: usize| match s.char_indices().nth(max) {
            Some((end, _)) => s[..end].to_owned(),
            None => s,
        };
        Some(match serde_json::from_str(text).ok()? {
            ChannelMessage::Msg { sent_at, .. } if sent_at.abs() > MAX_SAFE_INTEGER => return None,
            ChannelMessage::Msg {
                id,
                body,
                sent_at,
                name,
            } => ChannelMessage::Msg {
                id,
                body: cut(body, 2 * MAX_MESSAGE_CHARS),
                sent_at,
                name: cut(name, chat_protocol::MAX_NAME_CHARS),
            },
            ChannelMessage::Read { mut ids } => {
                ids.truncate(MAX_READ_IDS);
                ChannelMessage::Read { ids }
            }
            other => other,
        })
    }

    /// A new chat message from `name`, stamped now.
    pub fn msg(body: String, name: &str) -> ChannelMessage {
        ChannelMessage::Msg {
            id: uuid::Uuid::now_v7().to_string(),
            body,
            sent_at: now_ms(),
            name: name.to_owned(),
        }
    }

    /// The receipt for message `id`.
    pub fn ack(id: &str) -> ChannelMessage {
        ChannelMessage::Ack { id: id.to_owned() }
    }

    /// The read receipt for messages `ids`.
    pub fn read(ids: &[String]) -> ChannelMessage {
        ChannelMessage::Read { ids: ids.to_vec() }
    }

    /// The JSON text sent on the channel.
    pub fn to_text(&self) -> String {
        // Serialising a plain enum of strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A peer's `sent_at` bounded to [0, now + `MAX_CLOCK_AHEAD`]: its clock drives no ordering beyond that
/// (it would keep its message newest and unread).
pub fn clamp_sent_at(sent_at: i64, now: i64) -> i64 {
    sent_at.clamp(
        0,
        (now + crate::constants::MAX_CLOCK_AHEAD.as_millis() as i64).max(0),
    )
}

/// Milliseconds since the epoch (the UI's `Date.now()`).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::{case_text, cases, expand};

    /// The cases shared with the web UI's parser (tests/vectors/chat_messages.json): both read the same
    /// texts as the same messages, and bound what a peer may make them keep alike.
    #[test]
    fn parses_as_the_shared_vectors_say() {
        for case in cases(include_str!("../../tests/vectors/chat_messages.json")) {
            let parsed =
                ChannelMessage::parse(&case_text(&case)).map(|m| serde_json::to_value(m).unwrap());
            assert_eq!(
                parsed.unwrap_or_default(),
                expand(&case["parsed"]),
                "{}",
                case["name"]
            );
        }
    }

    /// The UI's exact spellings parse, and what we write is what the UI's parser accepts.
    #[test]
    fn matches_the_web_ui_format() {
        let ui = r#"{"t":"msg","id":"0192","body":"hi","sentAt":1700000000000,"name":"Ann"}"#;
        let parsed = ChannelMessage::parse(ui).unwrap();
        assert_eq!(
            parsed,
            ChannelMessage::Msg {
                id: "0192".into(),
                body: "hi".into(),
                sent_at: 1_700_000_000_000,
                name: "Ann".into()
            }
        );
        let back: serde_json::Value = serde_json::from_str(&parsed.to_text()).unwrap();
        assert_eq!(back, serde_json::from_str::<serde_json::Value>(ui).unwrap());
        assert_eq!(
            ChannelMessage::parse(r#"{"t":"peer-id","peer":"p2"}"#),
            Some(ChannelMessage::PeerId { peer: "p2".into() })
        );
        assert_eq!(
            ChannelMessage::PeerIdProof { nonce: "n".into() }.to_text(),
            r#"{"t":"peer-id-proof","nonce":"n"}"#
        );
        assert_eq!(
            ChannelMessage::Ack { id: "x".into() }.to_text(),
            r#"{"t":"ack","id":"x"}"#
        );
        assert_eq!(
            ChannelMessage::parse(r#"{"t":"read","ids":["a","b"]}"#),
            Some(ChannelMessage::Read {
                ids: vec!["a".into(), "b".into()]
            })
        );
        assert_eq!(
            ChannelMessage::Typing { on: true }.to_text(),
            r#"{"t":"typing","on":true}"#
        );
        assert_eq!(ChannelMessage::parse("not json"), None);
        assert_eq!(ChannelMessage::parse(r#"{"t":"other"}"#), None);
    }
}
