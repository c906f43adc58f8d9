//! The delivery rules of chat, the same as the web UI's (ui/src/lib/chat/outbox.ts and chat.svelte.ts),
//! both held to the cases of tests/vectors/chat.json: every message has a client-made id (UUIDv7); the
//! receiver acks every copy it gets, duplicates too, and shows each id once per sender (an id is only its
//! sender's: another peer repeating it suppresses nothing); the sender keeps each message per recipient
//! until that recipient acks it (a read receipt counts as its ack) and sends it again whenever the
//! recipient's channel (re)opens. A message written while nobody is linked waits for the next peer; one
//! whose recipients all left waits for the next one too. A peer's clock is trusted at most
//! `MAX_CLOCK_AHEAD` ahead of ours.

use std::collections::HashSet;

use super::seen::SeenIds;
use super::wire::{ChannelMessage, clamp_sent_at, now_ms};

/// What a text from a peer meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A chat message seen for the first time (its `sent_at` clamped): show it. Send `ack` back.
    New {
        message: ChannelMessage,
        ack: String,
    },
    /// A copy of a message already shown: only send `ack` back.
    Duplicate { ack: String },
    /// The peer got our message `id`; `first` is false for a repeated ack.
    Acked { id: String, first: bool },
    /// The peer's signaling session has a new id (the link manager re-keys the link).
    PeerId { peer: String },
    /// The peer has seen our messages `ids` (a read receipt). It also counts as the peer's ack: `acked`
    /// lists those of them it delivered first (their ack, if any, comes later or was lost).
    Read {
        ids: Vec<String>,
        acked: Vec<String>,
    },
    /// The peer started (`on`) or stopped typing.
    Typing { on: bool },
    /// Not one of our messages.
    Other,
}

/// One of our messages until everyone it is for has acked it.
#[derive(Debug)]
struct Pending {
    id: String,
    message: ChannelMessage,
    /// Peers it is for (empty: the next peer to link, who then becomes its recipient).
    to: HashSet<String>,
    acked_by: HashSet<String>,
}

impl Pending {
    fn delivered(&self) -> bool {
        !self.to.is_empty() && self.to.is_subset(&self.acked_by)
    }
}

/// One person's chat state across their peers: outbox and seen ids.
#[derive(Debug, Default)]
pub struct ChatSession {
    /// Our messages in the order written.
    outbox: Vec<Pending>,
    /// Ids of what was shown, per sender.
    seen: SeenIds,
    /// Messages shown so far.
    received: usize,
}

impl ChatSession {
    pub fn new() -> ChatSession {
        ChatSession::default()
    }

    /// A new message from `name`, kept until every peer in `to` acks it (`to` empty: for the next peer
    /// that links).
    pub fn compose(&mut self, body: String, name: &str, to: &[String]) -> ChannelMessage {
        let message = ChannelMessage::msg(body, name);
        self.queue(message.clone(), to);
        message
    }

    /// Keeps `message`, a `msg` written elsewhere (the app's window makes its own, with its id), until
    /// every peer in `to` acks it, as [`ChatSession::compose`] does; false, keeping nothing, for any
    /// other message and for one already kept (the window hands undelivered messages over again when a
    /// room reopens: sending them twice would only make the receivers drop copies).
    pub fn queue(&mut self, message: ChannelMessage, to: &[String]) -> bool {
        let ChannelMessage::Msg { id, .. } = &message else {
            return false;
        };
        if self.outbox.iter().any(|p| &p.id == id) {
            return false;
        }
        self.outbox.push(Pending {
            id: id.clone(),
            message: message.clone(),
            to: to.iter().cloned().collect(),
            acked_by: HashSet::new(),
        });
        true
    }

    /// Texts to send to `peer` now that its channel is open: everything it has not acked, oldest first
    /// (messages written for nobody in particular become its).
    pub fn unacked_for(&mut self, peer: &str) -> Vec<String> {
        self.outbox
            .iter_mut()
            .filter_map(|p| {
                if p.to.is_empty() {
                    p.to.insert(peer.to_owned());
                }
                (p.to.contains(peer) && !p.acked_by.contains(peer)).then(|| p.message.to_text())
            })
            .collect()
    }

    /// Interprets a text from `peer`.
    pub fn receive(&mut self, peer: &str, text: &str) -> Received {
        self.receive_at(peer, text, now_ms())
    }

    /// Interprets a text from `peer` arriving at `now` (ms since the epoch).
    pub fn receive_at(&mut self, peer: &str, text: &str, now: i64) -> Received {
        match ChannelMessage::parse(text) {
            Some(ChannelMessage::Msg {
                id,
                body,
                sent_at,
                name,
            }) => {
                let ack = ChannelMessage::ack(&id).to_text();
                if self.seen.has(peer, &id) {
                    return Received::Duplicate { ack };
                }
                self.seen.add(peer, &id);
                self.received += 1;
                let sent_at = clamp_sent_at(sent_at, now);
                let message = ChannelMessage::Msg {
                    id,
                    body,
                    sent_at,
                    name,
                };
                Received::New { message, ack }
            }
            Some(ChannelMessage::Ack { id }) => {
                let first = self.acked(peer, &id);
                Received::Acked { id, first }
            }
            Some(ChannelMessage::PeerId { peer }) => Received::PeerId { peer },
            Some(ChannelMessage::Read { ids }) => {
                // Seen implies received.
                let acked = ids
                    .iter()
                    .filter(|id| self.acked(peer, id))
                    .cloned()
                    .collect();
                Received::Read { ids, acked }
            }
            Some(ChannelMessage::Typing { on }) => Received::Typing { on },
            // Link-level (the link manager checks re-keys with it); nothing for the chat.
            Some(ChannelMessage::PeerIdProof { .. }) | None => Received::Other,
        }
    }

    /// Whether message `id` from `peer` would be shown (not a copy of one shown before): only new
    /// messages count against the peer's rate limit, as in the web UI.
    pub fn is_new(&self, peer: &str, id: &str) -> bool {
        !self.seen.has(peer, id)
    }

    /// Whether everyone message `id` was for acked it (ids we never wrote count as delivered).
    pub fn delivered(&self, id: &str) -> bool {
        self.outbox
            .iter()
            .find(|p| p.id == id)
            .is_none_or(Pending::delivered)
    }

    /// Messages received and shown so far (duplicates not counted).
    pub fn received_count(&self) -> usize {
        self.received
    }

    /// The person behind `from` now has peer id `to` (a checked re-key): their resends of what was
    /// already shown stay duplicates, and what they had not acked goes to them under `to`. Acks are
    /// never merged upwards: where `to` was a recipient of its own, the message counts as acked only if
    /// both acked it (otherwise it is resent and the receiver de-duplicates).
    pub fn peer_renamed(&mut self, from: &str, to: &str) {
        self.seen.rename(from, to);
        for pending in &mut self.outbox {
            if !pending.to.remove(from) {
                continue;
            }
            let acked = pending.acked_by.remove(from)
                && (!pending.to.contains(to) || pending.acked_by.contains(to));
            pending.to.insert(to.to_owned());
            if acked {
                pending.acked_by.insert(to.to_owned());
            } else {
                pending.acked_by.remove(to);
            }
        }
    }

    /// `peer` left for good: it no longer holds up delivery (a message that was only theirs waits for
    /// the next peer).
    pub fn peer_left(&mut self, peer: &str) {
        for pending in &mut self.outbox {
            if pending.to.remove(peer) {
                pending.acked_by.remove(peer);
            }
        }
        self.outbox.retain(|p| !p.delivered());
    }

    /// Counts `peer`'s ack of our message `id` (only from a peer it is for); false if it had acked it
    /// before, or it is not ours. Delivered messages leave the outbox.
    fn acked(&mut self, peer: &str, id: &str) -> bool {
        let Some(i) = self.outbox.iter().position(|p| p.id == id) else {
            return false;
        };
        let pending = &mut self.outbox[i];
        let first = pending.to.contains(peer) && pending.acked_by.insert(peer.to_owned());
        if pending.delivered() {
            self.outbox.remove(i);
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases shared with the web UI's chat (tests/vectors/chat.json): both send, ack, resend,
    /// de-duplicate, count read receipts and clamp a peer's clock alike. The owner's part (send to whom,
    /// when) is what the headless peer does: a new message goes to the peers linked now.
    #[test]
    fn follows_the_shared_vectors() {
        use serde_json::{Value, json};

        use crate::vectors::{cases, strings};
        for case in cases(include_str!("../../tests/vectors/chat.json")) {
            let name = case["name"].as_str().unwrap();
            let mut ann = ChatSession::new();
            let mut room: Vec<String> = Vec::new();
            let mut now = 1_700_000_000_000;
            let mut ids = std::collections::HashMap::new();
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let here = format!("{name}, step {i}: {step}");
                let mut out: Vec<(String, String)> = Vec::new();
                if let Some(peers) = step.get("room") {
                    room = strings(peers);
                }
                if let Some(at) = step.get("now") {
                    now = at.as_i64().unwrap();
                }
                if let Some(body) = step.get("send") {
                    let message = ann.compose(body.as_str().unwrap().to_owned(), "Ann", &room);
                    ids.insert(step["as"].as_str().unwrap().to_owned(), id_of(&message));
                    for peer in &room {
                        out.extend(ann.unacked_for(peer).into_iter().map(|t| (peer.clone(), t)));
                    }
                }
                if let Some(peer) = step.get("open").and_then(Value::as_str) {
                    out.extend(
                        ann.unacked_for(peer)
                            .into_iter()
                            .map(|t| (peer.to_owned(), t)),
                    );
                }
                if let Some(peer) = step.get("from").and_then(Value::as_str) {
                    let id = |name: &Value| ids[name.as_str().unwrap()].clone();
                    let text = if let Some(raw) = step.get("raw") {
                        raw.as_str().unwrap().to_owned()
                    } else if let Some(acked) = step.get("ack") {
                        ChannelMessage::ack(&id(acked)).to_text()
                    } else if let Some(read) = step.get("read") {
                        let read: Vec<String> = read.as_array().unwrap().iter().map(id).collect();
                        ChannelMessage::read(&read).to_text()
                    } else {
                        step["text"].to_string()
                    };
                    let shown = match ann.receive_at(peer, &text, now) {
                        Received::New { message, ack } => {
                            out.push((peer.to_owned(), ack));
                            let ChannelMessage::Msg {
                                id, body, sent_at, ..
                            } = message
                            else {
                                unreachable!()
                            };
                            Some(json!({"id": id, "body": body, "sentAt": sent_at}))
                        }
                        Received::Duplicate { ack } => {
                            out.push((peer.to_owned(), ack));
                            None
                        }
                        _ => None,
                    };
                    assert_eq!(shown.as_ref(), step.get("shown"), "{here}");
                }
                if let Some(peer) = step.get("left").and_then(Value::as_str) {
                    ann.peer_left(peer);
                }
                if let Some(names) = step.get("renamed") {
                    let names = strings(names);
                    ann.peer_renamed(&names[0], &names[1]);
                }
                if let Some(expected) = step.get("out") {
                    let expected: Vec<Value> = expected
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|sent| match sent[1].as_str() {
                            Some(ours) => json!([sent[0], {"t": "msg", "id": ids[ours]}]),
                            None => sent.clone(),
                        })
                        .collect();
                    let actual: Vec<Value> = out
                        .iter()
                        .map(|(peer, text)| {
                            let sent: Value = serde_json::from_str(text).unwrap();
                            match sent["t"].as_str() {
                                Some("msg") => json!([peer, {"t": "msg", "id": sent["id"]}]),
                                _ => json!([peer, sent]),
                            }
                        })
                        .collect();
                    assert_eq!(actual, expected, "{here}");
                }
                for (ours, delivered) in step
                    .get("delivered")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    assert_eq!(
                        ann.delivered(&ids[ours.as_str()]),
                        delivered.as_bool().unwrap(),
                        "{here}: {ours}"
                    );
                }
            }
        }
    }

    /// A message sent twice (a resend after a reconnect) shows once, and both copies are acked.
    #[test]
    fn duplicates_show_once_and_are_acked_every_time() {
        let mut bob = ChatSession::new();
        let text = ChannelMessage::msg("hi".into(), "Ann").to_text();
        let first = bob.receive("ann", &text);
        let Received::New { ack, .. } = &first else {
            panic!("first copy should be new: {first:?}");
        };
        assert_eq!(
            bob.receive("ann", &text),
            Received::Duplicate { ack: ack.clone() }
        );
        assert_eq!(bob.received_count(), 1);
    }

    /// An id is only its sender's: another peer sending it first suppresses nothing, and the same
    /// person's resend under a new peer id (after a re-key) is still a duplicate.
    #[test]
    fn ids_are_scoped_by_sender() {
        let mut ann = ChatSession::new();
        let real = ChannelMessage::msg("real".into(), "Bob").to_text();
        let forged = real.replace("real", "fake");
        assert!(matches!(
            ann.receive("mallory", &forged),
            Received::New { .. }
        ));
        assert!(matches!(ann.receive("bob", &real), Received::New { .. }));
        assert!(matches!(
            ann.receive("bob", &real),
            Received::Duplicate { .. }
        ));
        ann.peer_renamed("bob", "bob-2");
        assert!(matches!(
            ann.receive("bob-2", &real),
            Received::Duplicate { .. }
        ));
        assert_eq!(ann.received_count(), 2);
    }

    /// What a peer has not acked is resent when its channel opens again; once it acks, it is not.
    #[test]
    fn outbox_resends_until_each_recipient_acks() {
        let mut ann = ChatSession::new();
        let peers = ["bob".to_owned(), "cy".to_owned()];
        let message = ann.compose("hello".into(), "Ann", &peers);
        let ChannelMessage::Msg { id, .. } = &message else {
            unreachable!()
        };
        assert_eq!(ann.unacked_for("bob"), [message.to_text()]);
        assert!(ann.unacked_for("dan").is_empty(), "not addressed to dan");
        let ack = ChannelMessage::ack(id).to_text();
        assert_eq!(
            ann.receive("bob", &ack),
            Received::Acked {
                id: id.clone(),
                first: true
            }
        );
        assert_eq!(
            ann.receive("bob", &ack),
            Received::Acked {
                id: id.clone(),
                first: false
            }
        );
        assert!(ann.unacked_for("bob").is_empty());
        assert_eq!(ann.unacked_for("cy"), [message.to_text()]);
        assert!(!ann.delivered(id), "cy has not acked yet");
        ann.receive("cy", &ack);
        assert!(ann.delivered(id));
    }

    /// A read receipt that overtakes the ack delivers the message and says so; the late ack then
    /// is a repeat (the owner shows "delivered" once).
    #[test]
    fn a_read_receipt_before_the_ack_delivers() {
        let mut ann = ChatSession::new();
        let message = ann.compose("seen?".into(), "Ann", &["bob".to_owned()]);
        let id = id_of(&message);
        assert_eq!(
            ann.receive(
                "bob",
                &ChannelMessage::read(std::slice::from_ref(&id)).to_text()
            ),
            Received::Read {
                ids: vec![id.clone()],
                acked: vec![id.clone()]
            }
        );
        assert!(ann.delivered(&id));
        assert_eq!(
            ann.receive("bob", &ChannelMessage::ack(&id).to_text()),
            Received::Acked { id, first: false }
        );
    }

    /// A message handed over twice (a room reopened) is kept and sent once.
    #[test]
    fn a_message_queued_twice_is_kept_once() {
        let mut ann = ChatSession::new();
        let message = ChannelMessage::msg("again".into(), "Ann");
        assert!(ann.queue(message.clone(), &["bob".to_owned()]));
        assert!(!ann.queue(message.clone(), &["bob".to_owned()]));
        assert_eq!(ann.unacked_for("bob"), [message.to_text()]);
    }

    /// Written while alone: the first peer that links gets it.
    #[test]
    fn unaddressed_messages_wait_for_the_next_peer() {
        let mut ann = ChatSession::new();
        let message = ann.compose("anyone?".into(), "Ann", &[]);
        assert_eq!(ann.unacked_for("bob"), [message.to_text()]);
        assert!(!ann.delivered(&id_of(&message)));
        ann.receive("bob", &ChannelMessage::ack(&id_of(&message)).to_text());
        assert!(ann.delivered(&id_of(&message)));
    }

    #[test]
    fn other_texts_are_not_ours() {
        let mut s = ChatSession::new();
        assert_eq!(s.receive("p", "not json"), Received::Other);
        assert_eq!(
            s.receive("p", r#"{"t":"peer-id","peer":"p2"}"#),
            Received::PeerId { peer: "p2".into() }
        );
    }

    fn id_of(message: &ChannelMessage) -> String {
        match message {
            ChannelMessage::Msg { id, .. } => id.clone(),
            _ => unreachable!(),
        }
    }
}
