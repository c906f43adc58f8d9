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

impl ChannelMessage {
    /// Parses a channel text; `None` for anything that is not one of our messages.
    pub fn parse(text: &str) -> Option<ChannelMessage> {
        serde_json::from_str(text).ok()
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

/// Milliseconds since the epoch (the UI's `Date.now()`).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
