//! Calls above the signaling server's mesh size, through a Janus SFU, every frame end-to-end encrypted
//! (docs/protocol.md "SFU calls", docs/security.md "Calls through the SFU"): the native engine's side of
//! what the web UI does in ui/src/lib/call/sfu*.ts and e2ee*.ts, byte for byte on the wire.
//!
//! | file | owns |
//! |---|---|
//! | `frame.rs` | the sealed frame format (AES-256-GCM, clear codec prefix, IV and key id trailer) |
//! | `keys.rs` | a call's keys: ours (rotated when someone leaves), the others' (last three), the `sfu-key` message |
//! | `janus.rs` | a Janus session over its WebSocket API (token on every request, keepalives) |
//! | `room.rs` | [`VideoRoom`]: publish our capture once, one multistream subscriber for everyone else |

pub mod frame;
#[cfg(target_os = "linux")]
mod janus;
pub mod keys;
#[cfg(target_os = "linux")]
mod room;

pub use frame::{FrameKey, MediaKind};
pub use keys::{CallKeys, key_message, parse_key_message};
#[cfg(target_os = "linux")]
pub use room::{SfuPlace, VideoRoom};

/// Whether a call of `people` (us included) goes through the SFU: it passed the server's mesh size
/// (`welcome.sfu.mesh_size`; `None`: the server has no SFU, calls stay a mesh).
pub fn above_mesh(people: usize, mesh_size: Option<usize>) -> bool {
    mesh_size.is_some_and(|mesh| people > mesh)
}
