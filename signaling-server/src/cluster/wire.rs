//! What one server publishes to another's channel: `"<session id> <json>"`, the JSON flat so a signal's
//! `data` stays raw JSON. The Lua scripts write some of these themselves (`pl`, `jd`).

use std::sync::Arc;

use chat_protocol::PeerInfo;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::hub::Remote;

/// A message about one session.
#[derive(Debug)]
pub enum Message {
    /// Something for the session's client.
    Deliver(Remote),
    /// Another server resumed this session: close its connection and hand it over.
    Take { by: String },
    /// Reply to `Take`: every frame of the session is in Redis.
    Released,
    /// To a server that sent a signal for this session straight to one that no longer holds it (it was
    /// passed on): stop addressing that server once it answers `Flush`.
    Moved,
    /// From server `by` to the session's former holder: answer `Flushed` once every signal `by` sent
    /// before has been passed on.
    Flush { by: String },
    /// Reply to `Flush`.
    Flushed,
    /// A server's note to itself: everything it published before has arrived.
    Mark,
}

/// The JSON form of [`Message`].
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    t: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    room: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    peer: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    from: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    by: Option<&'a str>,
    /// Of `sig`: the sender's server, when it addressed the recipient's server directly.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    n: Option<&'a str>,
    /// Of `jd`: peer, name, peer, name… (Lua's JSON encoder writes an empty list as `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peers: Option<serde_json::Value>,
    /// Of `rd`: the device and call of a declined ring.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    device: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    call: Option<&'a str>,
}

impl Wire<'_> {
    fn empty(t: &str) -> Wire<'_> {
        Wire {
            t,
            room: None,
            peer: None,
            name: None,
            from: None,
            data: None,
            at: None,
            by: None,
            n: None,
            peers: None,
            device: None,
            call: None,
        }
    }
}

impl Message {
    pub fn encode(&self) -> String {
        let wire = match self {
            Message::Deliver(remote) => return encode_remote(remote),
            Message::Take { by } => Wire {
                by: Some(by),
                ..Wire::empty("take")
            },
            Message::Released => Wire::empty("rel"),
            Message::Moved => Wire::empty("mv"),
            Message::Flush { by } => Wire {
                by: Some(by),
                ..Wire::empty("fl")
            },
            Message::Flushed => Wire::empty("fd"),
            Message::Mark => Wire::empty("mk"),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Option<Message> {
        let w: Wire = serde_json::from_str(text).ok()?;
        let s = |v: Option<&str>| v.map(str::to_owned);
        let remote = match w.t {
            "sig" => Remote::Signal {
                room: s(w.room)?,
                from: s(w.from)?,
                data: w.data?.to_owned(),
                at: w.at.unwrap_or(0),
                sender: w.n.map(Arc::from),
            },
            "pj" => Remote::PeerJoined {
                room: s(w.room)?,
                peer: s(w.peer)?,
                name: w.name.unwrap_or_default(),
            },
            "pl" => Remote::PeerLeft {
                room: s(w.room)?,
                peer: s(w.peer)?,
            },
            "jd" => Remote::Joined {
                room: s(w.room)?,
                peers: peer_pairs(w.peers),
            },
            "rd" => Remote::RingDeclined {
                room: s(w.room)?,
                device: s(w.device)?,
                call: s(w.call)?,
            },
            "take" => return Some(Message::Take { by: s(w.by)? }),
            "rel" => return Some(Message::Released),
            "mv" => return Some(Message::Moved),
            "fl" => return Some(Message::Flush { by: s(w.by)? }),
            "fd" => return Some(Message::Flushed),
            "mk" => return Some(Message::Mark),
            _ => return None,
        };
        Some(Message::Deliver(remote))
    }
}

/// The JSON of an event for a session's client.
pub fn encode_remote(remote: &Remote) -> String {
    let wire = match remote {
        Remote::Signal {
            room,
            from,
            data,
            at,
            sender,
        } => Wire {
            room: Some(room),
            from: Some(from),
            data: Some(data),
            at: Some(*at),
            n: sender.as_deref(),
            ..Wire::empty("sig")
        },
        Remote::PeerJoined { room, peer, name } => Wire {
            room: Some(room),
            peer: Some(peer),
            name: Some(name.clone()),
            ..Wire::empty("pj")
        },
        Remote::PeerLeft { room, peer } => Wire {
            room: Some(room),
            peer: Some(peer),
            ..Wire::empty("pl")
        },
        Remote::Joined { room, peers } => Wire {
            room: Some(room),
            peers: Some(
                peers
                    .iter()
                    .flat_map(|p| [p.peer.clone(), p.name.clone()])
                    .collect(),
            ),
            ..Wire::empty("jd")
        },
        Remote::RingDeclined { room, device, call } => Wire {
            room: Some(room),
            device: Some(device),
            call: Some(call),
            ..Wire::empty("rd")
        },
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// `[peer, name, peer, name…]` as members (anything else: none).
fn peer_pairs(flat: Option<serde_json::Value>) -> Vec<PeerInfo> {
    let flat: Vec<String> = match flat {
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    flat.chunks(2)
        .filter_map(|pair| match pair {
            [peer, name] => Some(PeerInfo {
                peer: peer.clone(),
                name: name.clone(),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_raw_data() {
        let data = RawValue::from_string(r#"{"kind":"offer","sdp":"v=0\r\n"}"#.into()).unwrap();
        let text = Message::Deliver(Remote::Signal {
            room: "r".into(),
            from: "p".into(),
            data,
            at: 7,
            sender: Some("node-1".into()),
        })
        .encode();
        match Message::decode(&text) {
            Some(Message::Deliver(Remote::Signal {
                data, at, sender, ..
            })) => {
                assert_eq!(data.get(), r#"{"kind":"offer","sdp":"v=0\r\n"}"#);
                assert_eq!(at, 7);
                assert_eq!(sender.as_deref(), Some("node-1"));
            }
            other => panic!("{other:?}"),
        }
        // The scripts write peer-left and joined themselves; they must read back.
        let lua_written = r#"{"t":"pl","room":"team-1","peer":"abc_-"}"#;
        assert!(matches!(
            Message::decode(lua_written),
            Some(Message::Deliver(Remote::PeerLeft { .. }))
        ));
        let empty = r#"{"t":"jd","room":"r","peers":{}}"#;
        assert!(matches!(
            Message::decode(empty),
            Some(Message::Deliver(Remote::Joined { peers, .. })) if peers.is_empty()
        ));
        let two = r#"{"t":"jd","room":"r","peers":["p1","Ann","p2",""]}"#;
        match Message::decode(two) {
            Some(Message::Deliver(Remote::Joined { peers, .. })) => assert_eq!(
                peers
                    .into_iter()
                    .map(|p| (p.peer, p.name))
                    .collect::<Vec<_>>(),
                vec![("p1".into(), "Ann".into()), ("p2".into(), String::new())]
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Message::decode(&Message::Take { by: "n".into() }.encode()),
            Some(Message::Take { by }) if by == "n"
        ));
        assert!(matches!(
            Message::decode(&Message::Flush { by: "n".into() }.encode()),
            Some(Message::Flush { by }) if by == "n"
        ));
        let declined = Message::Deliver(Remote::RingDeclined {
            room: "r".into(),
            device: "device-1".into(),
            call: "c1".into(),
        });
        let again = Message::decode(&declined.encode());
        assert_eq!(format!("{again:?}"), format!("{:?}", Some(declined)));
        for message in [
            Message::Moved,
            Message::Flushed,
            Message::Mark,
            Message::Released,
        ] {
            let again = Message::decode(&message.encode());
            assert_eq!(format!("{again:?}"), format!("{:?}", Some(message)));
        }
    }
}
