//! A per-peer limit on received chat messages, so one member cannot flood everyone's screen,
//! notifications and history (docs/ui.md; the web UI's `ui/src/lib/chat/ratelimit.ts`, both held to
//! tests/vectors/chat_ratelimit.json). A token bucket: a burst of [`CHAT_BURST`] messages, then
//! [`CHAT_PER_SECOND`]. Messages beyond it wait their turn (up to [`CHAT_MAX_WAITING`] per peer) and are
//! then handed back in order; beyond that they are dropped unacknowledged, so the sender sees them as sent,
//! not delivered, and its outbox sends them again when the link is re-established. Sans-I/O: the owner
//! passes the time and asks for what is due (at least every [`RELEASE_EVERY_MS`] while some wait).

use std::collections::{HashMap, VecDeque};

/// Messages a peer may send at once.
pub const CHAT_BURST: u32 = 30;
/// Messages a peer may send per second once its burst is spent.
pub const CHAT_PER_SECOND: u32 = 5;
/// A peer's messages that may wait their turn; more are dropped.
pub const CHAT_MAX_WAITING: usize = 200;
/// How often waiting messages are looked at: one token's worth of time.
pub const RELEASE_EVERY_MS: i64 = 1000 / CHAT_PER_SECOND as i64;

/// What happens to a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Handle it now.
    Now,
    /// It waits its turn: [`ChatRateLimit::due`] hands it back.
    Later,
    /// Too many wait: drop it without an ack.
    Dropped,
}

struct Bucket {
    tokens: f64,
    /// When `tokens` was last brought up to date (ms).
    at: i64,
    waiting: VecDeque<String>,
}

impl Bucket {
    /// Refills up to `now`, then takes a token if there is one (the web UI's `takeToken`).
    fn take(&mut self, now: i64) -> bool {
        let earned = (now - self.at) as f64 / 1000.0 * f64::from(CHAT_PER_SECOND);
        self.tokens = f64::from(CHAT_BURST).min(self.tokens + earned);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[derive(Default)]
pub struct ChatRateLimit {
    buckets: HashMap<String, Bucket>,
}

impl ChatRateLimit {
    pub fn new() -> ChatRateLimit {
        ChatRateLimit::default()
    }

    /// Whether `text` from `peer`, arriving at `now` (ms), may be handled now, waits, or is dropped.
    pub fn admit(&mut self, peer: &str, text: &str, now: i64) -> Admission {
        let bucket = self.buckets.entry(peer.to_owned()).or_insert(Bucket {
            tokens: f64::from(CHAT_BURST),
            at: now,
            waiting: VecDeque::new(),
        });
        if bucket.waiting.is_empty() && bucket.take(now) {
            return Admission::Now;
        }
        if bucket.waiting.len() >= CHAT_MAX_WAITING {
            return Admission::Dropped;
        }
        bucket.waiting.push_back(text.to_owned());
        Admission::Later
    }

    /// The waiting messages whose turn has come by `now`, as (peer, text), each peer's in order.
    pub fn due(&mut self, now: i64) -> Vec<(String, String)> {
        let mut due = Vec::new();
        for (peer, bucket) in &mut self.buckets {
            while !bucket.waiting.is_empty() && bucket.take(now) {
                if let Some(text) = bucket.waiting.pop_front() {
                    due.push((peer.clone(), text));
                }
            }
        }
        due
    }

    /// Whether anyone's messages wait (the owner then asks [`ChatRateLimit::due`] every
    /// [`RELEASE_EVERY_MS`]).
    pub fn any_waiting(&self) -> bool {
        self.buckets.values().any(|b| !b.waiting.is_empty())
    }

    /// How many of `peer`'s messages wait.
    pub fn waiting(&self, peer: &str) -> usize {
        self.buckets.get(peer).map_or(0, |b| b.waiting.len())
    }

    /// `peer` left: its waiting messages are not shown (it resends them).
    pub fn peer_gone(&mut self, peer: &str) {
        self.buckets.remove(peer);
    }

    /// The person behind `from` is now `to`: their bucket and waiting line go with them.
    pub fn peer_renamed(&mut self, from: &str, to: &str) {
        if self.buckets.contains_key(to) {
            return;
        }
        if let Some(bucket) = self.buckets.remove(from) {
            self.buckets.insert(to.to_owned(), bucket);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::vectors::cases;

    /// The cases shared with the web UI's limit (tests/vectors/chat_ratelimit.json): a flood is shown
    /// at the same pace, in the same order, and the same messages are dropped.
    #[test]
    fn follows_the_shared_vectors() {
        for case in cases(include_str!("../../tests/vectors/chat_ratelimit.json")) {
            let name = case["name"].as_str().unwrap();
            let mut limit = ChatRateLimit::new();
            let mut now = 0;
            let mut sent: HashMap<String, u64> = HashMap::new();
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                let here = format!("{name}, step {i}: {step}");
                if let Some(at) = step["at_ms"].as_i64() {
                    now = at;
                    let released: Vec<Value> = limit
                        .due(now)
                        .into_iter()
                        .map(|(peer, text)| json!([peer, text]))
                        .collect();
                    if let Some(expected) = step.get("released") {
                        assert_eq!(&Value::from(released), expected, "{here}");
                    }
                }
                if let Some(peer) = step["from"].as_str() {
                    let mut admitted = json!({"now": 0, "later": 0, "dropped": 0});
                    for _ in 0..step["count"].as_u64().unwrap() {
                        let n = sent.entry(peer.to_owned()).or_default();
                        *n += 1;
                        let kind = match limit.admit(peer, &format!("{peer} {n}"), now) {
                            Admission::Now => "now",
                            Admission::Later => "later",
                            Admission::Dropped => "dropped",
                        };
                        admitted[kind] = json!(admitted[kind].as_u64().unwrap() + 1);
                    }
                    assert_eq!(admitted, step["admitted"], "{here}");
                }
                if let Some(peer) = step["gone"].as_str() {
                    limit.peer_gone(peer);
                }
                if let Some(names) = step["renamed"].as_array() {
                    limit.peer_renamed(names[0].as_str().unwrap(), names[1].as_str().unwrap());
                }
            }
        }
    }
}
