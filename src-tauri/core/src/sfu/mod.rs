//! Calls above the signaling server's mesh size, through a Janus SFU, every frame end-to-end encrypted
//! (docs/protocol.md "SFU calls", docs/security.md "Calls through the SFU"): the native engine's side of
//! what the web UI does in ui/src/lib/call/sfu*.ts and e2ee*.ts, byte for byte on the wire.
//!
//! | file | owns |
//! |---|---|
//! | `frame.rs` | the sealed frame format (AES-256-GCM, clear codec prefix, IV and key id trailer) |
//! | `keys.rs` | a call's keys: ours (rotated when someone leaves), the others' (last three), the `sfu-key` message |

pub mod frame;
pub mod keys;

pub use frame::{FrameKey, MediaKind};
pub use keys::{CallKeys, key_message, parse_key_message};

/// Whether a call of `people` (us included) goes through the SFU: it passed the server's mesh size
/// (`welcome.sfu.mesh_size`; `None`: the server has no SFU, calls stay a mesh).
pub fn above_mesh(people: usize, mesh_size: Option<usize>) -> bool {
    mesh_size.is_some_and(|mesh| people > mesh)
}
