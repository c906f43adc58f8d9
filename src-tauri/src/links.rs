//! The native data-channel links (p2pchat-core's `links`) as an in-crate plugin
//! (`plugin:links|<command>`): they run behind a [`FallbackGate`] that opens where the webview reported
//! no `RTCPeerConnection` (or with `P2PCHAT_FORCE_FALLBACK=1`), relay their negotiation through the app's
//! signaling client, carry the chat by the core's rules (`crate::chat`), and their events reach the
//! window as `fallback://<kind>` events. The plugin owns [`Links`] (`LinksExt::links()`) and the chat
//! commands; `calls` and `files` ride on the same links. Every link presents this device's identity,
//! kept in the app's data folder (p2pchat_core::identity), so a contact's safety code stays the same
//! across links and restarts.

use chat_protocol::SignalData;
use p2pchat_core::chat::ChannelMessage;
use p2pchat_core::chat::ratelimit::RELEASE_EVERY_MS;
use p2pchat_core::identity::DeviceIdentity;
use p2pchat_core::links::gate::FallbackGate;
use p2pchat_core::links::safety::LinkFingerprints;
use p2pchat_core::links::{LinkEvent, LinkManager, LinkOptions};
use p2pchat_core::signaling::ClientSlot;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tauri::plugin::{Builder, TauriPlugin};
use tauri::{AppHandle, Manager, Runtime, State};

use crate::chat::NativeChat;
use crate::dispatch::Ui;
use crate::history::{History, HistoryExt};
use crate::ipc::{AppEvent, CommandError, FallbackStatus, OpenPeer, emit};

type Result<T> = std::result::Result<T, CommandError>;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// Environment switch that turns the fallback on even where the webview has WebRTC (tests).
pub const FORCE_ENV: &str = "P2PCHAT_FORCE_FALLBACK";
/// Events between the links and the window before links wait.
const EVENT_BUFFER: usize = 256;

/// The links behind their gate and their chat (managed by the plugin).
pub struct Links {
    pub gate: Arc<FallbackGate>,
    pub chat: Arc<NativeChat>,
}

/// The links of the app `Self` belongs to.
pub trait LinksExt<R: Runtime> {
    fn links(&self) -> &Links;
}

impl<R: Runtime, T: Manager<R>> LinksExt<R> for T {
    fn links(&self) -> &Links {
        self.state::<Links>().inner()
    }
}

/// The links plugin: the device identity in the data folder the history plugin resolved, negotiation
/// through `client`, the chat stored in the history plugin's database and notified through the window
/// `ui` makes (the history plugin must be registered first).
pub fn init<R: Runtime>(
    client: ClientSlot,
    ui: impl Fn(AppHandle<R>) -> Arc<dyn Ui> + Send + 'static,
) -> TauriPlugin<R> {
    Builder::new("links")
        .invoke_handler(tauri::generate_handler![
            fallback_status,
            fallback_send,
            chat_send,
            fallback_open_peers,
        ])
        .setup(move |app, _api| {
            let state = app.history_state();
            let history = state.history().ok().cloned();
            let links = start(app.clone(), &state.dir, client, history, ui(app.clone()));
            app.manage(links);
            Ok(())
        })
        .build()
}

/// Starts the links (behind their gate), their chat (`chat::NativeChat`, storing in `history` and
/// notifying through `ui`) and the pump of their events to the chat and the window. Call media rides
/// on them through `calls` (the links only carry its tracks).
fn start<R: Runtime>(
    app: AppHandle<R>,
    data_dir: &Path,
    client: ClientSlot,
    history: Option<History>,
    ui: Arc<dyn Ui>,
) -> Links {
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
        // Ticks only while a flooding peer's messages wait their turn.
        let mut release = tokio::time::interval(Duration::from_millis(RELEASE_EVERY_MS as u64));
        release.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = rx.recv() => {
                    let Some(event) = event else { break };
                    chat_events.on_link_event(&app, &event).await;
                    // Every text still reaches the window too (receipts, typing, re-keying).
                    emit(&app, AppEvent::Link(&event));
                }
                _ = release.tick(), if chat_events.any_waiting() => chat_events.release_due(&app).await,
            }
        }
    });
    Links {
        gate: Arc::new(FallbackGate::new(manager, forced)),
        chat,
    }
}

/// The open peers of `room` with their links' codes and certificates (`fallback_open_peers`).
async fn open_peers(manager: &LinkManager, room: &str) -> Vec<OpenPeer> {
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
async fn status(gate: &FallbackGate) -> FallbackStatus {
    FallbackStatus {
        active: gate.active().await,
        forced: gate.forced(),
        fingerprint: gate.sink().local_fingerprint(),
    }
}

/// Whether chat goes through the native links (`active`) and whether that was forced.
#[tauri::command]
pub async fn fallback_status(links: State<'_, Links>) -> Result<FallbackStatus> {
    Ok(status(&links.gate).await)
}

/// Sends `text` on the chat channel to `peer` in `room`; waits while the channel's buffer is full.
/// `false` when no channel to that peer is open.
#[tauri::command(rename_all = "snake_case")]
pub async fn fallback_send(
    links: State<'_, Links>,
    room: String,
    peer: String,
    text: String,
) -> Result<bool> {
    Ok(links.gate.sink().send(&room, &peer, &text).await?)
}

/// Sends chat `message` (a `msg` with its id) to everyone linked in `room` by the core's chat rules (kept
/// for each until they ack it, sent again when their link reopens) and stores it as pending; progress
/// comes as `chat://status`. Returns the peers it went out to now.
#[tauri::command(rename_all = "snake_case")]
pub async fn chat_send<R: Runtime>(
    app: AppHandle<R>,
    links: State<'_, Links>,
    room: String,
    message: ChannelMessage,
) -> Result<Vec<String>> {
    links.chat.send(&app, &room, message).await
}

/// Peers of `room` whose chat channel is open now, with each link's safety code and certificates (for a
/// UI entering a room whose links the backend opened earlier, e.g. rooms rejoined at startup: they sent
/// no event).
#[tauri::command(rename_all = "snake_case")]
pub async fn fallback_open_peers(links: State<'_, Links>, room: String) -> Result<Vec<OpenPeer>> {
    Ok(open_peers(links.gate.sink(), &room).await)
}
