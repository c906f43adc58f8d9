//! Message ids already received, per sender: a message is a duplicate only if the same peer sent that id
//! before (an id is only its sender's: another member repeating it suppresses nothing). Bounded as the
//! web UI's (`ui/src/lib/chat/seen.ts`; both run tests/vectors/chat_seen.json): the ids matter only while
//! a sender may still resend (until it sees our ack), so each sender's oldest are forgotten first, and
//! the sender heard from least recently goes first when there are too many (peer ids change with every
//! signaling session, so old ones pile up).

use std::collections::{HashSet, VecDeque};

/// Ids remembered per sender (a resend comes soon after the original; far more than any outbox holds).
pub const MAX_SEEN_PER_PEER: usize = 2000;
/// Senders remembered.
pub const MAX_SEEN_PEERS: usize = 64;

#[derive(Debug, Default)]
struct Ids {
    set: HashSet<String>,
    /// Oldest first.
    order: VecDeque<String>,
}

#[derive(Debug, Default)]
pub struct SeenIds {
    /// (sender, its ids): the sender heard from most recently last.
    by_peer: VecDeque<(String, Ids)>,
}

impl SeenIds {
    pub fn has(&self, peer: &str, id: &str) -> bool {
        self.by_peer
            .iter()
            .any(|(p, ids)| p == peer && ids.set.contains(id))
    }

    pub fn add(&mut self, peer: &str, id: &str) {
        let mut ids = match self.by_peer.iter().position(|(p, _)| p == peer) {
            Some(i) => self
                .by_peer
                .remove(i)
                .map(|(_, ids)| ids)
                .unwrap_or_default(),
            None => Ids::default(),
        };
        if ids.set.insert(id.to_owned()) {
            ids.order.push_back(id.to_owned());
        }
        if ids.order.len() > MAX_SEEN_PER_PEER
            && let Some(oldest) = ids.order.pop_front()
        {
            ids.set.remove(&oldest);
        }
        self.by_peer.push_back((peer.to_owned(), ids));
        if self.by_peer.len() > MAX_SEEN_PEERS {
            self.by_peer.pop_front();
        }
    }

    /// The same person under a new peer id (a checked re-key): their resends are still recognised.
    pub fn rename(&mut self, from: &str, to: &str) {
        let Some(i) = self.by_peer.iter().position(|(p, _)| p == from) else {
            return;
        };
        if let Some((_, old)) = self.by_peer.remove(i) {
            for id in &old.order {
                self.add(to, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::cases;

    /// The cases shared with the web UI (tests/vectors/chat_seen.json): both remember and forget the
    /// same ids.
    #[test]
    fn follows_the_shared_vectors() {
        for case in cases(include_str!("../../tests/vectors/chat_seen.json")) {
            let name = case["name"].as_str().unwrap();
            let mut seen = SeenIds::default();
            let mut counts = std::collections::HashMap::<String, u64>::new();
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let pair = |key: &str| {
                    step[key]
                        .as_array()
                        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
                };
                if let Some((peer, id)) = pair("add") {
                    seen.add(peer, id);
                }
                if let Some(peer) = step["adds"].as_str() {
                    for _ in 0..step["count"].as_u64().unwrap() {
                        let n = counts.entry(peer.to_owned()).or_default();
                        *n += 1;
                        seen.add(peer, &format!("{peer}-{n}"));
                    }
                }
                if let Some((peer, id)) = pair("has") {
                    let is = step["is"].as_bool().unwrap();
                    assert_eq!(seen.has(peer, id), is, "{name}, step {i}: {step}");
                }
                if let Some((from, to)) = pair("rename") {
                    seen.rename(from, to);
                }
            }
        }
    }
}
