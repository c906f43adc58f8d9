//! The app's shared state behind Tauri's `State`: the history database (or why it could not be opened),
//! the current signaling client, the native links behind their gate, and what the webview reported about
//! WebRTC. Starting a client wires its events to the links and the dispatcher; replacing it drops (closes)
//! the previous one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use p2pchat_core::links::gate::FallbackGate;
use p2pchat_core::signaling::{
    Client, ClientConfig, ClientEvent, ClientSlot, ConnectionState, SignalingError,
};
use tokio::sync::mpsc;

use crate::chat::NativeChat;
use crate::dispatch::{self, Ui};
use crate::history::{History, HistoryState};
use crate::ipc::{CommandError, WebviewCapabilities};
use chat_protocol::ServerFrame;

/// Events buffered between the socket and the dispatcher before the socket reader waits.
const EVENT_BUFFER: usize = 256;

pub struct AppState {
    history: Result<History, CommandError>,
    pub history_path: PathBuf,
    /// Where a damaged database was moved at startup, for the UI to tell the user.
    pub recovered_from: Option<PathBuf>,
    client: ClientSlot,
    /// The native links (the links plugin's), closed on disconnect and fed the signaling frames.
    fallback: Arc<FallbackGate>,
    /// Chat over those links by the core's rules (forgets peers that left).
    chat: Arc<NativeChat>,
    webview: Mutex<Option<WebviewCapabilities>>,
    close_to_tray: AtomicBool,
    /// Phones: the app is suspended in the background (see `frontend::on_window_event`).
    in_background: AtomicBool,
    /// An invite deep link the app was opened with, until the join screen takes it.
    deep_link: Mutex<Option<String>>,
    /// The current session's `welcome` (peer id, ICE servers, the server's push key), for a room the
    /// window opens after the connection was made (see [`AppState::welcome`]).
    welcome: Arc<Mutex<Option<ServerFrame>>>,
}

impl AppState {
    /// `client` is the slot the links relay their negotiation through (see `links::init`).
    pub fn new(
        history: &HistoryState,
        client: ClientSlot,
        fallback: Arc<FallbackGate>,
        chat: Arc<NativeChat>,
    ) -> AppState {
        AppState {
            history: history.history().cloned(),
            history_path: history.path.clone(),
            recovered_from: history.recovered_from.clone(),
            client,
            fallback,
            chat,
            webview: Mutex::new(None),
            close_to_tray: AtomicBool::new(true),
            in_background: AtomicBool::new(false),
            deep_link: Mutex::new(None),
            welcome: Arc::default(),
        }
    }

    /// Keeps an invite link (`p2pchat://join#…`) for the join screen.
    pub fn set_deep_link(&self, link: String) {
        *lock(&self.deep_link) = Some(link);
    }

    /// The invite link the app was opened with, once (a reload does not fill the form again).
    pub fn take_deep_link(&self) -> Option<String> {
        lock(&self.deep_link).take()
    }

    /// The history, or the error that kept it from opening (the app still runs: signaling works).
    pub fn history(&self) -> Result<&History, CommandError> {
        self.history.as_ref().map_err(Clone::clone)
    }

    /// Connects (replacing any current client) as `name` to `url`, joining `rooms`.
    pub fn connect(&self, config: ClientConfig, ui: Arc<impl Ui>) -> ConnectionState {
        let (tx, mut rx) = mpsc::channel(EVENT_BUFFER);
        let history = self.history.as_ref().ok().cloned();
        let fallback = self.fallback.clone();
        let chat = self.chat.clone();
        let welcome = self.welcome.clone();
        *lock(&welcome) = None;
        tauri::async_runtime::spawn(async move {
            while let Some(event) = rx.recv().await {
                if let ClientEvent::Frame(frame) = &event {
                    if let ServerFrame::Welcome { .. } = frame {
                        *lock(&welcome) = Some(frame.clone());
                    }
                    fallback.on_frame(frame).await;
                    if let ServerFrame::PeerLeft { room, peer, .. } = frame {
                        chat.peer_left(room, peer);
                    }
                }
                dispatch::client_event(history.as_ref(), ui.as_ref(), event).await;
            }
        });
        let client = Client::spawn(config, tx);
        let state = client.state();
        self.client.replace(Some(client));
        state
    }

    /// Closes the connection and the links; the UI shows offline.
    pub fn disconnect(&self) {
        self.client.replace(None);
        *lock(&self.welcome) = None;
        let fallback = self.fallback.clone();
        // Tauri's runtime: a sync command runs on the main thread, outside any runtime.
        tauri::async_runtime::spawn(async move { fallback.sink().close_all().await });
    }

    /// The app is ending: the current client leaves its rooms and closes (see `ClientSlot::quit`).
    pub fn quit(&self) -> impl std::future::Future<Output = ()> + use<> {
        let client = self.client.clone();
        async move { client.quit().await }
    }

    /// Runs `f` with the current client, or fails with `NotConnected`.
    pub fn with_client<T>(
        &self,
        f: impl FnOnce(&Client) -> Result<T, SignalingError>,
    ) -> Result<T, SignalingError> {
        self.client.with(f)
    }

    /// The current client's configuration (server, name, rooms it started with), if any.
    pub fn client_config(&self) -> Option<ClientConfig> {
        self.client.config()
    }

    /// The current session's latest `welcome`. The window's rooms learn their session from it (peer id,
    /// ICE servers, whether the server rings people who are away), but the app connects at startup, before
    /// any room is open: `connect` hands it again to a room that keeps the running session.
    pub fn welcome(&self) -> Option<ServerFrame> {
        lock(&self.welcome).clone()
    }

    /// Whether the server refused the current client's token (it then no longer retries).
    pub fn client_refused(&self) -> bool {
        self.client.refused()
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.client.state()
    }

    /// The native links (the links plugin's).
    pub fn fallback(&self) -> &Arc<FallbackGate> {
        &self.fallback
    }

    pub fn set_webview(&self, caps: WebviewCapabilities) {
        *lock(&self.webview) = Some(caps);
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

    /// Whether the app is in the background on a phone (its window then counts as not focused, so calls
    /// and messages notify).
    pub fn in_background(&self) -> bool {
        self.in_background.load(Ordering::Relaxed)
    }

    /// Going to the background and back. Coming back wakes the signaling client: the OS may have frozen
    /// or dropped its socket meanwhile, and the session should resume before the user acts.
    #[cfg_attr(desktop, allow(dead_code))] // desktop windows have no suspend/resume events
    pub fn set_in_background(&self, background: bool) {
        self.in_background.store(background, Ordering::Relaxed);
        if !background && let Err(err) = self.client.with(|c| c.wake()) {
            tracing::debug!(%err, "back in the foreground with no signaling client");
        }
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain data; keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
