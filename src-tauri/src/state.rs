//! The app's shared state behind Tauri's `State`: the history database (or why it could not be opened),
//! the current signaling client, and what the webview reported about WebRTC. Starting a client wires its
//! events to the dispatcher; replacing it drops (closes) the previous one.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::mpsc;

use crate::dispatch::{self, Ui};
use crate::fallback::bridge::AppFallback;
use crate::history::{History, HistoryError};
use crate::signaling::{Client, ClientConfig, ClientEvent, ConnectionState, SignalingError};
use crate::webview::WebviewCapabilities;

/// Events buffered between the socket and the dispatcher before the socket reader waits.
const EVENT_BUFFER: usize = 256;

pub struct AppState {
    history: Result<History, (String, &'static str)>,
    pub history_path: PathBuf,
    /// Where a damaged database was moved at startup, for the UI to tell the user.
    pub recovered_from: Option<PathBuf>,
    client: Mutex<Option<Client>>,
    webview: Mutex<Option<WebviewCapabilities>>,
    close_to_tray: AtomicBool,
    /// Native data channels for chat where the webview has no WebRTC (set once at startup).
    fallback: OnceLock<Arc<AppFallback>>,
}

impl AppState {
    pub fn new(
        history: Result<(History, Option<PathBuf>), HistoryError>,
        history_path: PathBuf,
    ) -> AppState {
        let (history, recovered_from) = match history {
            Ok((history, recovered)) => (Ok(history), recovered),
            Err(err) => (Err((err.to_string(), err.kind())), None),
        };
        AppState {
            history,
            history_path,
            recovered_from,
            client: Mutex::new(None),
            webview: Mutex::new(None),
            close_to_tray: AtomicBool::new(true),
            fallback: OnceLock::new(),
        }
    }

    /// The history, or the error that kept it from opening (the app still runs: signaling works).
    pub fn history(&self) -> Result<&History, HistoryUnavailable> {
        self.history
            .as_ref()
            .map_err(|(message, kind)| HistoryUnavailable {
                message: message.clone(),
                kind,
            })
    }

    /// Connects (replacing any current client) as `name` to `url`, joining `rooms`.
    pub fn connect(&self, config: ClientConfig, ui: Arc<impl Ui>) -> ConnectionState {
        let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
        let history = self.history.as_ref().ok().cloned();
        let fallback = self.fallback();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if let (Some(fallback), ClientEvent::Frame(frame)) = (&fallback, &event) {
                    fallback.on_frame(frame).await;
                }
                dispatch::client_event(history.as_ref(), ui.as_ref(), event).await;
            }
        });
        let client = Client::spawn(config, tx);
        let state = client.state();
        *self.client() = Some(client);
        state
    }

    /// Closes the connection and the fallback's peer links; the UI shows offline.
    pub fn disconnect(&self) {
        *self.client() = None;
        if let Some(fallback) = self.fallback() {
            tokio::spawn(async move { fallback.close_all().await });
        }
    }

    /// Runs `f` with the current client, or fails with `NotConnected`.
    pub fn with_client<T>(
        &self,
        f: impl FnOnce(&Client) -> Result<T, SignalingError>,
    ) -> Result<T, SignalingError> {
        self.client()
            .as_ref()
            .map_or(Err(SignalingError::NotConnected), f)
    }

    /// The current client's configuration (server, name, rooms it started with), if any.
    pub fn client_config(&self) -> Option<ClientConfig> {
        self.client().as_ref().map(|c| c.config().clone())
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.client()
            .as_ref()
            .map_or(ConnectionState::Offline, Client::state)
    }

    pub fn set_webview(&self, caps: WebviewCapabilities) {
        *lock(&self.webview) = Some(caps);
    }

    pub fn set_fallback(&self, fallback: AppFallback) {
        let _ = self.fallback.set(Arc::new(fallback));
    }

    pub fn fallback(&self) -> Option<Arc<AppFallback>> {
        self.fallback.get().cloned()
    }

    pub fn webview(&self) -> Option<WebviewCapabilities> {
        *lock(&self.webview)
    }

    /// Whether closing the main window hides it to the tray (the saved setting).
    pub fn close_to_tray(&self) -> bool {
        self.close_to_tray.load(Ordering::Relaxed)
    }

    pub fn set_close_to_tray(&self, on: bool) {
        self.close_to_tray.store(on, Ordering::Relaxed);
    }

    fn client(&self) -> MutexGuard<'_, Option<Client>> {
        lock(&self.client)
    }
}

/// Rooms to join: the ones remembered as joined plus any given now.
pub fn rooms(joined: Vec<String>, extra: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    joined.into_iter().chain(extra).collect()
}

/// The history could not be opened at startup.
#[derive(Debug, Clone)]
pub struct HistoryUnavailable {
    pub message: String,
    pub kind: &'static str,
}

/// A poisoned lock only means another thread panicked mid-update of plain data; keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
