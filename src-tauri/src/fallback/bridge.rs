//! The app's side of the fallback: decides whether it is active (the webview reported no
//! `RTCPeerConnection`, or `P2PCHAT_FORCE_FALLBACK=1`), feeds it the signaling frames, relays its
//! signals through the app's signaling client, turns its events into `fallback://<name>` events for
//! the UI, and the two commands the UI calls (`fallback_status`, `fallback_send`).
//!
//! Frames that arrive before the webview has reported are kept (bounded) and replayed in order once
//! it has, so a slow page load does not lose the welcome, the room list or a peer's offer.

use std::collections::VecDeque;

use chat_protocol::{ServerFrame, SignalData};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, State};
use tokio::sync::{Mutex, mpsc};

use super::{FallbackEvent, FallbackManager, FallbackOptions};
use crate::commands::CommandError;
use crate::state::AppState;

/// Environment switch that turns the fallback on even where the webview has WebRTC (tests).
pub const FORCE_ENV: &str = "P2PCHAT_FORCE_FALLBACK";
/// Frames kept while undecided; beyond this the oldest go (a page that never reports).
const MAX_PENDING_FRAMES: usize = 1024;
/// Events between the manager and the window before links wait.
const EVENT_BUFFER: usize = 256;

enum Mode {
    /// The webview has not reported yet: frames are kept as JSON.
    Undecided(VecDeque<String>),
    Active,
    Inactive,
}

/// The fallback as the app holds it.
pub struct AppFallback {
    manager: FallbackManager,
    forced: bool,
    mode: Mutex<Mode>,
}

/// `fallback_status`'s answer.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FallbackStatus {
    pub active: bool,
    pub forced: bool,
}

impl AppFallback {
    /// Starts the event pump to the window; active at once when forced by the environment.
    pub fn new(app: AppHandle) -> AppFallback {
        let forced = std::env::var(FORCE_ENV).is_ok_and(|v| v.trim() == "1");
        let (events, mut rx) = mpsc::channel::<FallbackEvent>(EVENT_BUFFER);
        let emitter = app.clone();
        tauri::async_runtime::spawn(async move {
            while let Some(event) = rx.recv().await {
                let name = format!("fallback://{}", event.name());
                if let Err(err) = emitter.emit(&name, &event) {
                    tracing::warn!(%err, name, "cannot emit fallback event");
                }
            }
        });
        let signal_out = move |room: &str, to: &str, data: SignalData| {
            let Ok(raw) = serde_json::value::to_raw_value(&data) else {
                return;
            };
            let state = app.state::<AppState>();
            if let Err(err) = state.with_client(|c| c.signal(room, to, raw)) {
                tracing::debug!(%err, "fallback signal not sent");
            }
        };
        let manager = FallbackManager::new(signal_out, events, FallbackOptions::default());
        let mode = if forced {
            tracing::info!("native data-channel fallback forced on ({FORCE_ENV}=1)");
            Mode::Active
        } else {
            Mode::Undecided(VecDeque::new())
        };
        AppFallback {
            manager,
            forced,
            mode: Mutex::new(mode),
        }
    }

    /// The webview reported whether it has `RTCPeerConnection`. Without it the fallback turns on and
    /// catches up on the frames kept so far. Decided once: later page loads report the same webview.
    pub async fn webview_reported(&self, rtc_peer_connection: bool) {
        let mut mode = self.mode.lock().await;
        let Mode::Undecided(pending) = &mut *mode else {
            return;
        };
        let pending = std::mem::take(pending);
        if rtc_peer_connection {
            *mode = Mode::Inactive;
            return;
        }
        tracing::info!("webview has no WebRTC: chat uses the native data-channel fallback");
        for json in pending {
            if let Ok(frame) = ServerFrame::parse(&json) {
                self.manager.on_frame(&frame).await;
            }
        }
        *mode = Mode::Active;
    }

    /// Every server frame, in order (called by the app's dispatch loop).
    pub async fn on_frame(&self, frame: &ServerFrame) {
        let mut mode = self.mode.lock().await;
        match &mut *mode {
            Mode::Active => self.manager.on_frame(frame).await,
            Mode::Undecided(pending) => {
                if pending.len() == MAX_PENDING_FRAMES {
                    pending.pop_front();
                }
                if let Ok(json) = serde_json::to_string(frame) {
                    pending.push_back(json);
                }
            }
            Mode::Inactive => {}
        }
    }

    pub async fn status(&self) -> FallbackStatus {
        FallbackStatus {
            active: matches!(*self.mode.lock().await, Mode::Active),
            forced: self.forced,
        }
    }

    pub async fn leave_room(&self, room: &str) {
        self.manager.leave_room(room).await;
    }

    pub async fn close_all(&self) {
        self.manager.close_all().await;
    }
}

/// Whether chat goes through the native fallback (`active`) and whether that was forced.
#[tauri::command]
pub async fn fallback_status(state: State<'_, AppState>) -> Result<FallbackStatus, CommandError> {
    Ok(started(&state)?.status().await)
}

/// Sends `text` on the chat channel to `peer` in `room`; waits while the channel's buffer is full.
/// `false` when no channel to that peer is open.
#[tauri::command(rename_all = "snake_case")]
pub async fn fallback_send(
    state: State<'_, AppState>,
    room: String,
    peer: String,
    text: String,
) -> Result<bool, CommandError> {
    started(&state)?
        .manager
        .send(&room, &peer, &text)
        .await
        .map_err(|err| CommandError {
            kind: "unavailable",
            message: err.to_string(),
        })
}

/// Peers of `room` whose chat channel is open now (for a UI entering a room whose links the backend
/// opened earlier, e.g. rooms rejoined at startup).
#[tauri::command(rename_all = "snake_case")]
pub fn fallback_open_peers(
    state: State<'_, AppState>,
    room: String,
) -> Result<Vec<String>, CommandError> {
    Ok(started(&state)?.manager.open_peers(&room))
}

fn started(state: &AppState) -> Result<std::sync::Arc<AppFallback>, CommandError> {
    state.fallback().ok_or_else(|| CommandError {
        kind: "unavailable",
        message: "the native data-channel fallback is not started".into(),
    })
}
