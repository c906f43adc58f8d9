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
use p2pchat_core::media::{FrameSink, PlaybackOptions};
use p2pchat_core::signaling::ClientSlot;
use serde::Serialize;
use std::sync::Arc;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::mpsc;
use ts_rs::TS;

/// Environment switch that turns the fallback on even where the webview has WebRTC (tests).
pub const FORCE_ENV: &str = "P2PCHAT_FORCE_FALLBACK";
/// Events between the links and the window before links wait.
const EVENT_BUFFER: usize = 256;

/// The window event a link event is sent as.
pub fn event_name(event: &LinkEvent) -> String {
    format!("fallback://{}", event.name())
}

/// `fallback_status`'s answer.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FallbackStatus {
    /// Chat goes through the native links.
    pub active: bool,
    /// ... because `P2PCHAT_FORCE_FALLBACK=1`.
    pub forced: bool,
    /// This device's certificate fingerprint (`sha-256 AB:CD:…`), the same on every native link; the
    /// `local` of each link's `fingerprints`.
    pub fingerprint: Option<String>,
}

/// Starts the links (behind their gate) and the pump of their events to the window. The peers' call
/// pictures go to `frames`.
pub fn start<R: Runtime>(
    app: AppHandle<R>,
    client: ClientSlot,
    frames: Arc<crate::calls::FrameHub>,
) -> FallbackGate {
    let forced = std::env::var(FORCE_ENV).is_ok_and(|v| v.trim() == "1");
    if forced {
        tracing::info!("native data-channel fallback forced on ({FORCE_ENV}=1)");
    }
    // The device identity lives beside the history; without a data folder, for this run only.
    let identity = match app.path().app_data_dir() {
        Ok(dir) => DeviceIdentity::in_dir(dir),
        Err(err) => {
            tracing::warn!(%err, "no data folder: this run's device identity is not kept");
            DeviceIdentity::ephemeral()
        }
    };
    let (events, mut rx) = mpsc::channel::<LinkEvent>(EVENT_BUFFER);
    tauri::async_runtime::spawn(async move {
        while let Some(event) = rx.recv().await {
            let name = event_name(&event);
            if let Err(err) = app.emit(&name, &event) {
                tracing::warn!(%err, name, "cannot emit fallback event");
            }
        }
    });
    let signal_out = move |room: &str, to: &str, data: SignalData| {
        let Ok(raw) = serde_json::value::to_raw_value(&data) else {
            return;
        };
        if let Err(err) = client.with(|c| c.signal(room, to, raw)) {
            tracing::debug!(%err, "fallback signal not sent");
        }
    };
    let options = LinkOptions {
        playback: PlaybackOptions {
            frames: Some(frames as Arc<dyn FrameSink>),
            speaker: true,
        },
        identity: Some(identity),
        ..LinkOptions::default()
    };
    let manager = LinkManager::new(signal_out, events, options);
    FallbackGate::new(manager, forced)
}

/// A peer whose chat channel is open (`fallback_open_peers`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct OpenPeer {
    pub peer: String,
    /// The link's safety code, as `fallback://open` carries it.
    pub safety: Option<String>,
    /// The link's certificates (ours, the peer's as DTLS verified it), as `fallback://open` carries them.
    pub fingerprints: Option<LinkFingerprints>,
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
