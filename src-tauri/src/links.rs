//! The app's wiring of the native data-channel links (p2pchat-core's `links`): they run behind a
//! [`FallbackGate`] that opens where the webview reported no `RTCPeerConnection` (or with
//! `P2PCHAT_FORCE_FALLBACK=1`), relay their negotiation through the app's signaling client, and their
//! events reach the window as `fallback://<kind>` events. The commands that use it are in `commands`
//! (chat) and `calls` (call media: the peers' pictures go to the window's frame channel, their sound to
//! the speaker). Every link presents this device's identity, kept in the app's data folder
//! (p2pchat_core::identity), so a contact's safety code stays the same across links and restarts.

use chat_protocol::SignalData;
use p2pchat_core::identity::DeviceIdentity;
use p2pchat_core::links::gate::FallbackGate;
use p2pchat_core::links::safety::LinkFingerprints;
use p2pchat_core::links::{LinkEvent, LinkManager, LinkOptions};
use p2pchat_core::signaling::ClientSlot;
use std::path::Path;
use std::sync::Arc;
use tauri::{AppHandle, Runtime};

use crate::chat::NativeChat;
use crate::dispatch::Ui;
use crate::history::History;
use crate::ipc::{AppEvent, FallbackStatus, OpenPeer, emit};
use tokio::sync::mpsc;

/// Environment switch that turns the fallback on even where the webview has WebRTC (tests).
pub const FORCE_ENV: &str = "P2PCHAT_FORCE_FALLBACK";
/// Events between the links and the window before links wait.
const EVENT_BUFFER: usize = 256;

/// Starts the links (behind their gate), their chat (`chat::NativeChat`, storing in `history` and
/// notifying through `ui`) and the pump of their events to the chat and the window. Call media rides
/// on them through `calls` (the links only carry its tracks).
pub fn start<R: Runtime>(
    app: AppHandle<R>,
    data_dir: &Path,
    client: ClientSlot,
    history: Option<History>,
    ui: Arc<dyn Ui>,
) -> (FallbackGate, Arc<NativeChat>) {
    let forced = std::env::var(FORCE_ENV).is_ok_and(|v| v.trim() == "1");
    if forced {
        tracing::info!("native data-channel fallback forced on ({FORCE_ENV}=1)");
    }
    // The device identity lives beside the history.
    let identity = DeviceIdentity::in_dir(data_dir.to_owned());
    let (events, mut rx) = mpsc::channel::<LinkEvent>(EVENT_BUFFER);
    let signal_out = move |room: &str, to: &str, data: SignalData| {
        let Ok(raw) = serde_json::value::to_raw_value(&data) else {
            return;
        };
        if let Err(err) = client.with(|c| c.signal(room, to, raw)) {
            tracing::debug!(%err, "fallback signal not sent");
        }
    };
    let options = LinkOptions {
        identity: Some(identity),
        ..LinkOptions::default()
    };
    let manager = LinkManager::new(signal_out, events, options);
    let chat = Arc::new(NativeChat::new(manager.clone(), history, ui));
    let chat_events = chat.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = rx.recv().await {
            chat_events.on_link_event(&app, &event).await;
            // Every text still reaches the window too (receipts, typing, re-keying).
            emit(&app, AppEvent::Link(&event));
        }
    });
    (FallbackGate::new(manager, forced), chat)
}

/// The open peers of `room` with their links' codes and certificates (`fallback_open_peers`).
pub async fn open_peers(manager: &LinkManager, room: &str) -> Vec<OpenPeer> {
    let mut open = Vec::new();
    for peer in manager.open_peers(room) {
        let fingerprints = manager.fingerprints(room, &peer).await;
        let safety = fingerprints.as_ref().map(LinkFingerprints::code);
        open.push(OpenPeer {
            peer,
            safety,
            fingerprints,
        });
    }
    open
}

/// The gate's status for the UI.
pub async fn status(gate: &FallbackGate) -> FallbackStatus {
    FallbackStatus {
        active: gate.active().await,
        forced: gate.forced(),
        fingerprint: gate.sink().local_fingerprint(),
    }
}
