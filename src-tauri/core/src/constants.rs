//! Values the web UI and the Rust client must agree on. They are generated into the UI's
//! `ui/src/lib/core.gen.ts` (see `typescript`), so neither side copies them by hand.

use std::time::Duration;

/// ICE restarts in a row before a link (or call) is given up and reported failed.
pub const MAX_ICE_RESTARTS: u32 = 3;
/// How long ICE may stay `disconnected` before an ICE restart.
pub const DISCONNECTED_GRACE: Duration = Duration::from_secs(2);
/// How long a newly listed peer waits for a link while old links might still be re-keyed to it (after a
/// server restart everyone has new ids; `peer-id` messages match them up).
pub const REKEY_WAIT: Duration = Duration::from_millis(1500);
/// How long a `peer-id` claim waits for the server to list the new id and drop the old one before it
/// is forgotten (the other side's signaling may come back later than ours after a server restart).
pub const REKEY_CLAIM_TTL: Duration = Duration::from_secs(60);
/// Remote ICE candidates a link keeps while they cannot be applied yet (no remote description, or
/// after an ignored colliding offer); a peer sends a handful per negotiation, more are dropped.
pub const MAX_HELD_CANDIDATES: usize = 64;
/// How far ahead of the receiver's clock a chat message's sender time may be: later times are clamped
/// to it, so a peer's clock cannot keep a message newest and unread.
pub const MAX_CLOCK_AHEAD: Duration = Duration::from_secs(60);
/// Longest nonce echoed in a `peer-id-proof` (ours are 22 characters).
pub const MAX_NONCE_CHARS: usize = 64;
/// Senders whose `peer-id-check` is held until a link to (or claiming) them appears; the oldest goes first.
pub const MAX_HELD_CHECKS: usize = 8;
/// Consecutive failed connection attempts after which the state shows `offline` (retries continue).
pub const OFFLINE_AFTER: u32 = 3;
/// Messages per page of chat history, in the app's SQLite history and the browser's IndexedDB alike.
pub const HISTORY_PAGE_SIZE: u32 = 50;
/// Label of the chat data channel, which the side that initiates a link opens in-band (DCEP).
pub const CHAT_CHANNEL_LABEL: &str = "chat";
/// New file offers one peer may make at once before [`FILE_OFFERS_PER_SECOND`] applies (a token bucket,
/// as for chat): a flood of offers must not become a flood of rows, `.part` files and buffers. Offers
/// beyond it are refused unseen (docs/files.md, "Limits").
pub const FILE_OFFER_BURST: u32 = 32;
/// New file offers a peer may make per second once its burst is spent.
pub const FILE_OFFERS_PER_SECOND: u32 = 2;
/// Files from one peer that may come in at once; more wait their turn.
pub const MAX_INCOMING_FILES_PER_PEER: usize = 4;
/// Files that may come in at once from everyone together; more wait their turn.
pub const MAX_INCOMING_FILES: usize = 8;
/// Offers of one peer that may wait for their turn; more are refused unseen.
pub const MAX_WAITING_FILE_OFFERS: usize = 16;
/// How often a receiver answers a waiting offer with `file-ack` at offset 0 ("wait"), well inside the
/// sender's 10 s wait for an answer.
pub const FILE_WAIT_NOTICE: Duration = Duration::from_secs(4);
/// A transfer under way with nothing arriving on its open channel for this long fails: its buffer and
/// partial file are freed and its place goes to a waiting one.
pub const FILE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a call that rang someone's devices by push (they were offline) waits for one of them to come
/// online, join the room and ask to join the call: longer than the ring of people present
/// ([`crate::media::ring::RING_TIMEOUT`]), since a phone or a closed browser must wake, open the app and
/// join first. As long as the server's push lives (its TTL and `expires_at`, docs/protocol.md): the
/// protocol's one value.
pub const OFFLINE_RING_TIMEOUT: Duration = Duration::from_millis(chat_protocol::PUSH_RING_TTL_MS);
