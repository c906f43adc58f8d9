//! The delivery rules of chat, the same as the web UI's (ui/src/lib/chat/outbox.ts and chat.svelte.ts):
//! every message has a client-made id (UUIDv7); the receiver acks every copy it gets, duplicates too, and
//! shows each id once per sender (an id is only its sender's: another peer repeating it suppresses
//! nothing); the sender keeps each message per recipient until that recipient acks it and sends
//! it again whenever the recipient's channel (re)opens. A message written while nobody is linked waits
//! for the next peer.

use std::collections::{HashSet, VecDeque};

use super::wire::ChannelMessage;

/// Received (sender, id) pairs remembered for de-duplication; older ones are forgotten first (a peer
/// resends only what it has not seen acked, which is recent).
const SEEN_IDS: usize = 100_000;

/// What a text from a peer meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A chat message seen for the first time: show it. Send `ack` back.
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
    /// The peer has seen our messages `ids` (a read receipt).
    Read { ids: Vec<String> },
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
    /// Peers it was written for (empty: whoever links next).
    to: HashSet<String>,
    acked_by: HashSet<String>,
}

impl Pending {
    fn is_for(&self, peer: &str) -> bool {
        self.to.is_empty() || self.to.contains(peer)
    }

    fn delivered(&self) -> bool {
        if self.to.is_empty() {
            !self.acked_by.is_empty()
        } else {
            self.to.is_subset(&self.acked_by)
        }
    }
}

/// One person's chat state across their peers: outbox and seen ids.
#[derive(Debug, Default)]
pub struct ChatSession {
    /// Our messages in the order written.
    outbox: Vec<Pending>,
    /// (sender peer, message id) of what was shown.
    seen: HashSet<(String, String)>,
    seen_order: VecDeque<(String, String)>,
}

impl ChatSession {
    pub fn new() -> ChatSession {
        ChatSession::default()
    }

    /// A new message from `name`, kept until every peer in `to` acks it (`to` empty: until someone does).
    pub fn compose(&mut self, body: String, name: &str, to: &[String]) -> ChannelMessage {
        let message = ChannelMessage::msg(body, name);
        let ChannelMessage::Msg { id, .. } = &message else {
            unreachable!("msg() makes a Msg")
        };
        self.outbox.push(Pending {
            id: id.clone(),
            message: message.clone(),
            to: to.iter().cloned().collect(),
            acked_by: HashSet::new(),
        });
        message
    }

    /// Texts to send to `peer` now that its channel is open: everything it has not acked, oldest first.
    pub fn unacked_for(&self, peer: &str) -> Vec<String> {
        self.outbox
            .iter()
            .filter(|p| p.is_for(peer) && !p.acked_by.contains(peer))
            .map(|p| p.message.to_text())
            .collect()
    }

    /// Interprets a text from `peer`.
    pub fn receive(&mut self, peer: &str, text: &str) -> Received {
        match ChannelMessage::parse(text) {
            Some(message @ ChannelMessage::Msg { .. }) => {
                let ChannelMessage::Msg { id, .. } = &message else {
                    return Received::Other;
                };
                let ack = ChannelMessage::ack(id).to_text();
                if self.remember(peer, id) {
                    Received::New { message, ack }
                } else {
                    Received::Duplicate { ack }
                }
            }
            Some(ChannelMessage::Ack { id }) => {
                let Some(i) = self.outbox.iter().position(|p| p.id == id) else {
                    return Received::Acked { id, first: false };
                };
                let first = self.outbox[i].acked_by.insert(peer.to_owned());
                if self.outbox[i].delivered() {
                    self.outbox.remove(i); // delivered messages leave the outbox
                }
                Received::Acked { id, first }
            }
            Some(ChannelMessage::PeerId { peer }) => Received::PeerId { peer },
            Some(ChannelMessage::Read { ids }) => Received::Read { ids },
            Some(ChannelMessage::Typing { on }) => Received::Typing { on },
            // Link-level (the link manager checks re-keys with it); nothing for the chat.
            Some(ChannelMessage::PeerIdProof { .. }) | None => Received::Other,
        }
    }

    /// Whether everyone message `id` was for acked it (ids we never wrote count as delivered).
    pub fn delivered(&self, id: &str) -> bool {
        self.outbox
            .iter()
            .find(|p| p.id == id)
            .is_none_or(Pending::delivered)
    }

    /// Distinct messages received so far.
    pub fn received_count(&self) -> usize {
        self.seen.len()
    }

    /// The person behind `from` now has peer id `to` (a checked re-key): their resends of what was
    /// already shown stay duplicates.
    pub fn peer_renamed(&mut self, from: &str, to: &str) {
        let rename = |key: &mut (String, String)| {
            if key.0 == from {
                key.0 = to.to_owned();
            }
        };
        self.seen_order.iter_mut().for_each(rename);
        self.seen = self.seen_order.iter().cloned().collect();
    }

    /// Remembers a received id from `peer`; false when that peer sent it before.
    fn remember(&mut self, peer: &str, id: &str) -> bool {
        let key = (peer.to_owned(), id.to_owned());
        if !self.seen.insert(key.clone()) {
            return false;
        }
        self.seen_order.push_back(key);
        if self.seen_order.len() > SEEN_IDS
            && let Some(oldest) = self.seen_order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
