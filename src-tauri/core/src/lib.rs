//! p2pchat's client side without Tauri: what the desktop/mobile app (src-tauri) wraps in commands and
//! events, and what the headless peer (examples/p2pchat-peer.rs) runs on its own.
//!
//! Map: `signaling` (the WebSocket client: hello, resume, backoff, rejoin), `links` (one native WebRTC
//! connection per remote peer carrying the chat data channel, negotiated like the web UI's PeerLink, and
//! the gate that turns them on where the webview has no WebRTC), `chat` (the data channel's messages
//! and the delivery rules: ids, acks, dedupe, outbox), `sfu` (calls above the mesh size through Janus, every frame end-to-end encrypted), `identity` (this device's long-lived DTLS
//! certificate, so safety codes stay the same across sessions), `constants` (values the web UI must agree on),
//! `typescript` (generates the UI's copy of the chat types and constants).

pub mod chat;
pub mod constants;
pub mod identity;
pub mod links;
pub mod media;
pub mod sfu;
pub mod signaling;
pub mod typescript;
#[cfg(test)]
mod vectors;
