//! The end-to-end encrypted media frame of SFU calls, byte for byte the browser's
//! (ui/src/lib/call/e2ee-frame.ts; docs/security.md, "Calls through the SFU"). One encoded frame — a VP8
//! picture or an Opus packet, before RTP packetization — becomes
//!
//! `clear prefix | AES-256-GCM ciphertext of the rest + 16-byte tag | IV (12 bytes) | key id (1 byte)`
//!
//! The clear prefix (VP8 key frame 10 bytes, delta 3, Opus 1) is what Janus and the receiver's
//! depacketizer read; it is the additional authenticated data, so it cannot be changed either.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

pub const IV_BYTES: usize = 12;
pub const TAG_BYTES: usize = 16;
/// IV and key id after the ciphertext.
pub const TRAILER_BYTES: usize = IV_BYTES + 1;
pub const KEY_BYTES: usize = 32;
const VP8_KEY_FRAME_CLEAR: usize = 10;
const VP8_DELTA_FRAME_CLEAR: usize = 3;
const OPUS_CLEAR: usize = 1;

/// Which codec a frame is (the clear prefix depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
}

/// How many leading bytes of `frame` stay clear.
fn clear_bytes(kind: MediaKind, frame: &[u8], length: usize) -> usize {
    let Some(first) = frame.first() else {
        return 0;
    };
    let clear = match kind {
        MediaKind::Audio => OPUS_CLEAR,
        // VP8 frame tag, bit 0: 0 is a key frame (RFC 6386, 9.1).
        MediaKind::Video if first & 0x01 == 0 => VP8_KEY_FRAME_CLEAR,
        MediaKind::Video => VP8_DELTA_FRAME_CLEAR,
    };
    clear.min(length)
}

/// One sender's key with its id (0–255).
#[derive(Clone)]
pub struct FrameKey {
    pub id: u8,
    pub raw: [u8; KEY_BYTES],
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for FrameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameKey").field("id", &self.id).finish()
    }
}

impl FrameKey {
    pub fn new(id: u8, raw: [u8; KEY_BYTES]) -> FrameKey {
        FrameKey {
            id,
            raw,
            cipher: Aes256Gcm::new(&raw.into()),
        }
    }

    /// A new random key (the operating system's CSPRNG).
    pub fn random(id: u8) -> FrameKey {
        FrameKey::new(id, rand::random())
    }

    /// Seals one encoded frame with a random IV.
    pub fn seal(&self, kind: MediaKind, frame: &[u8]) -> Vec<u8> {
        self.seal_with_iv(kind, frame, rand::random())
    }

    /// Seals one encoded frame with `iv` (tests give one; otherwise use [`FrameKey::seal`]).
    pub fn seal_with_iv(&self, kind: MediaKind, frame: &[u8], iv: [u8; IV_BYTES]) -> Vec<u8> {
        let clear = clear_bytes(kind, frame, frame.len());
        let (aad, rest) = frame.split_at(clear);
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(iv), Payload { msg: rest, aad })
            .expect("AES-GCM seals any frame shorter than 64 GiB");
        let mut out = Vec::with_capacity(clear + sealed.len() + TRAILER_BYTES);
        out.extend_from_slice(aad);
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&iv);
        out.push(self.id);
        out
    }

    /// Opens a sealed frame; `None` when it is not one or does not open with this key.
    pub fn open(&self, kind: MediaKind, data: &[u8]) -> Option<Vec<u8>> {
        frame_key_id(data)?;
        let (body, trailer) = data.split_at(data.len() - TRAILER_BYTES);
        let iv: [u8; IV_BYTES] = trailer[..IV_BYTES].try_into().ok()?;
        let clear = clear_bytes(kind, body, body.len() - TAG_BYTES);
        let (aad, sealed) = body.split_at(clear);
        let plain = self
            .cipher
            .decrypt(&Nonce::from(iv), Payload { msg: sealed, aad })
            .ok()?;
        let mut out = Vec::with_capacity(clear + plain.len());
        out.extend_from_slice(aad);
        out.extend_from_slice(&plain);
        Some(out)
    }
}

/// The key id a sealed frame names, or `None` when it is too short to be one.
pub fn frame_key_id(data: &[u8]) -> Option<u8> {
    if data.len() < TAG_BYTES + TRAILER_BYTES {
        return None;
    }
    data.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn kind(case: &Value) -> MediaKind {
        match case["kind"].as_str() {
            Some("audio") => MediaKind::Audio,
            _ => MediaKind::Video,
        }
    }

    /// Frames sealed by the browser's implementation open here, and sealing them again with the same
    /// key, key id and IV gives the browser's bytes exactly.
    #[test]
    fn the_browsers_sealed_frames_open_and_seal_the_same() {
        let cases = crate::vectors::cases(include_str!("../../tests/vectors/sfu_frame.json"));
        assert!(cases.len() >= 8);
        for case in cases {
            let name = case["name"].as_str().unwrap_or_default();
            let raw: [u8; KEY_BYTES] = hex(case["key"].as_str().expect("key"))
                .try_into()
                .expect("32-byte key");
            let key_id = u8::try_from(case["key_id"].as_u64().expect("key id")).expect("u8");
            let key = FrameKey::new(key_id, raw);
            let sealed = hex(case["sealed"].as_str().expect("sealed"));
            let frame = case["frame"].as_str().map(hex);
            assert_eq!(key.open(kind(&case), &sealed), frame, "{name}");
            if let Some(frame) = frame {
                let iv: [u8; IV_BYTES] = hex(case["iv"].as_str().expect("iv"))
                    .try_into()
                    .expect("12-byte iv");
                assert_eq!(key.seal_with_iv(kind(&case), &frame, iv), sealed, "{name}");
                assert_eq!(frame_key_id(&sealed), Some(key_id), "{name}");
            }
        }
    }

    #[test]
    fn random_ivs_differ_and_both_open() {
        let key = FrameKey::random(3);
        let frame = [0x31, 7, 0, 1, 2, 3, 4, 5];
        let (a, b) = (
            key.seal(MediaKind::Video, &frame),
            key.seal(MediaKind::Video, &frame),
        );
        assert_ne!(a, b);
        assert_eq!(&a[..3], &frame[..3], "the VP8 frame tag stays clear");
        assert_eq!(key.open(MediaKind::Video, &a).as_deref(), Some(&frame[..]));
        assert_eq!(key.open(MediaKind::Video, &b).as_deref(), Some(&frame[..]));
        assert_eq!(FrameKey::random(3).open(MediaKind::Video, &a), None);
    }
}
