//! The keys of one SFU call (docs/security.md, "Calls through the SFU"): our own, sent to every other
//! participant over the peer-to-peer chat channel as `{"t":"sfu-key","call":…,"id":…,"key":…}` and
//! replaced when someone leaves (used [`KEY_SWITCH_DELAY`] after it was sent, so the others have it
//! first), and each other participant's last [`KEPT_KEYS`] keys, so frames still on their way under the
//! previous one open. The browser's side is ui/src/lib/call/e2ee.ts.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::frame::{FrameKey, KEY_BYTES, MediaKind, frame_key_id};

/// How long a new key of ours is announced before our frames use it (the web UI's
/// `KEY_SWITCH_DELAY_MS`).
pub const KEY_SWITCH_DELAY: Duration = Duration::from_secs(1);
/// How many keys of each sender are kept.
pub const KEPT_KEYS: usize = 3;

#[derive(Serialize, Deserialize)]
struct KeyMessage {
    t: String,
    call: String,
    id: u8,
    key: String,
}

/// Reads an `sfu-key` chat channel text: the call it is for and the key; `None` for anything else.
pub fn parse_key_message(text: &str) -> Option<(String, FrameKey)> {
    if !text.contains("\"sfu-key\"") {
        return None;
    }
    let message: KeyMessage = serde_json::from_str(text).ok()?;
    if message.t != "sfu-key" {
        return None;
    }
    let raw: [u8; KEY_BYTES] = STANDARD.decode(message.key).ok()?.try_into().ok()?;
    Some((message.call, FrameKey::new(message.id, raw)))
}

/// The chat channel text that gives `key` to a participant of `call`.
pub fn key_message(call: &str, key: &FrameKey) -> String {
    serde_json::to_string(&KeyMessage {
        t: "sfu-key".into(),
        call: call.into(),
        id: key.id,
        key: STANDARD.encode(key.raw),
    })
    .expect("a key message serializes")
}

struct Own {
    current: FrameKey,
    /// A new key already sent, used from the instant given.
    next: Option<(FrameKey, Instant)>,
}

/// Our key and the other participants' keys of one call.
pub struct CallKeys {
    own: Mutex<Own>,
    peers: Mutex<HashMap<String, VecDeque<FrameKey>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for CallKeys {
    fn default() -> Self {
        CallKeys::new()
    }
}

impl CallKeys {
    /// A random key of our own, id 0.
    pub fn new() -> CallKeys {
        CallKeys {
            own: Mutex::new(Own {
                current: FrameKey::random(0),
                next: None,
            }),
            peers: Mutex::default(),
        }
    }

    /// The key our frames are sealed with now.
    pub fn sealing_key(&self) -> FrameKey {
        let mut own = lock(&self.own);
        if let Some((_, from)) = &own.next
            && Instant::now() >= *from
            && let Some((next, _)) = own.next.take()
        {
            own.current = next;
        }
        own.current.clone()
    }

    /// The key to give a participant now: the newest (a rotated key not in use yet included).
    pub fn announced_key(&self) -> FrameKey {
        let own = lock(&self.own);
        own.next
            .as_ref()
            .map_or_else(|| own.current.clone(), |(next, _)| next.clone())
    }

    /// Someone left: a new key (id one more), to send to those who stay; our frames use it after
    /// [`KEY_SWITCH_DELAY`].
    pub fn rotate(&self) -> FrameKey {
        let mut own = lock(&self.own);
        let newest = own.next.as_ref().map_or(&own.current, |(next, _)| next);
        let key = FrameKey::random(newest.id.wrapping_add(1));
        own.next = Some((key.clone(), Instant::now() + KEY_SWITCH_DELAY));
        key
    }

    /// `peer` gave us its key.
    pub fn set_peer_key(&self, peer: &str, key: FrameKey) {
        let mut peers = lock(&self.peers);
        let keys = peers.entry(peer.to_owned()).or_default();
        keys.retain(|k| k.id != key.id);
        keys.push_back(key);
        while keys.len() > KEPT_KEYS {
            keys.pop_front();
        }
    }

    /// Whether we hold a key of `peer`'s.
    pub fn has_peer_key(&self, peer: &str) -> bool {
        lock(&self.peers).get(peer).is_some_and(|k| !k.is_empty())
    }

    /// The same person under a new peer id (a new signaling session): their keys follow them.
    pub fn rename(&self, from: &str, to: &str) {
        let mut peers = lock(&self.peers);
        if let Some(keys) = peers.remove(from) {
            peers.insert(to.to_owned(), keys);
        }
    }

    /// `peer` left the call: its keys go.
    pub fn forget(&self, peer: &str) {
        lock(&self.peers).remove(peer);
    }

    /// Opens a frame `peer` sealed, with its key the frame names; `None` when we hold no such key or it
    /// does not open (the frame is dropped, never decoded).
    pub fn open(&self, peer: &str, kind: MediaKind, data: &[u8]) -> Option<Vec<u8>> {
        let id = frame_key_id(data)?;
        let key = lock(&self.peers)
            .get(peer)?
            .iter()
            .find(|k| k.id == id)?
            .clone();
        key.open(kind, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_message_round_trips_and_reads_the_browsers_shape() {
        let key = FrameKey::random(254);
        let text = key_message("call-1", &key);
        let (call, parsed) = parse_key_message(&text).expect("parses");
        assert_eq!(
            (call.as_str(), parsed.id, parsed.raw),
            ("call-1", 254, key.raw)
        );
        // As ui/src/lib/call/e2ee.ts writes it.
        let browser = format!(
            r#"{{"t":"sfu-key","call":"c","id":7,"key":"{}"}}"#,
            STANDARD.encode([9u8; 32])
        );
        assert_eq!(
            parse_key_message(&browser).map(|(_, k)| (k.id, k.raw)),
            Some((7, [9u8; 32]))
        );
        for bad in [
            r#"{"t":"sfu-key","call":"c","id":256,"key":"AAAA"}"#,
            r#"{"t":"sfu-key","call":"c","id":1,"key":"AAAA"}"#,
            r#"{"t":"msg","call":"c","id":1}"#,
            "sfu-key",
        ] {
            assert!(parse_key_message(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn frames_open_with_the_senders_last_three_keys_only() {
        let keys = CallKeys::new();
        let frame = [0x78, 1, 2, 3, 4];
        let old: Vec<FrameKey> = (0..4).map(FrameKey::random).collect();
        for key in &old {
            keys.set_peer_key("bob", key.clone());
        }
        assert!(
            keys.open(
                "bob",
                MediaKind::Audio,
                &old[0].seal(MediaKind::Audio, &frame)
            )
            .is_none()
        );
        for key in &old[1..] {
            let sealed = key.seal(MediaKind::Audio, &frame);
            assert_eq!(
                keys.open("bob", MediaKind::Audio, &sealed).as_deref(),
                Some(&frame[..])
            );
            assert!(
                keys.open("carol", MediaKind::Audio, &sealed).is_none(),
                "another sender's key"
            );
        }
        keys.forget("bob");
        assert!(!keys.has_peer_key("bob"));
    }

    #[test]
    fn a_rotated_key_is_announced_at_once_and_used_after_the_delay() {
        let keys = CallKeys::new();
        let first = keys.sealing_key();
        let next = keys.rotate();
        assert_eq!(next.id, first.id.wrapping_add(1));
        assert_eq!(keys.announced_key().raw, next.raw);
        assert_eq!(
            keys.sealing_key().raw,
            first.raw,
            "not before the others have it"
        );
        std::thread::sleep(KEY_SWITCH_DELAY + Duration::from_millis(50));
        assert_eq!(keys.sealing_key().raw, next.raw);
    }
}
