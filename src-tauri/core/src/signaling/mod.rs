//! The app's signaling client: one WebSocket to the server (tokio-tungstenite, rustls for `wss`), owned by
//! Rust so calls keep ringing while the window is hidden. It says hello, resumes its session after a drop
//! (backoff with jitter between attempts), rejoins rooms after a fresh session, drops replayed frames, and
//! hands every server frame and connection-state change to its owner as [`ClientEvent`]s.

pub mod backoff;
mod connection;
mod session;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chat_protocol::{ClientFrame, ServerFrame};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};
use ts_rs::TS;
use url::Url;

/// What the connection indicator shows (the web UI's `ConnectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    /// First attempt in progress.
    Connecting,
    /// Welcomed by the server.
    Connected,
    /// Lost the connection; retrying.
    Reconnecting,
    /// Several attempts failed; still retrying, with longer pauses.
    Offline,
}

/// What the client reports to its owner, in order.
#[derive(Debug)]
pub enum ClientEvent {
    State(ConnectionState),
    /// A server frame, each delivered once even across resumes.
    Frame(ServerFrame),
}

/// Why a signaling request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignalingError {
    #[error("invalid server address {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid room name {0:?} (1–64 of A-Z a-z 0-9 . _ -)")]
    InvalidRoom(String),
    #[error("not connected to the signaling server")]
    NotConnected,
    #[error("{0:?} is not a frame of ringing people who are away")]
    NotAPushFrame(&'static str),
}

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub url: Url,
    pub name: String,
    pub token: Option<String>,
    /// Rooms to be in from the start (rejoined after every fresh session).
    pub rooms: BTreeSet<String>,
}

/// Checks a server address typed in settings: `ws://` or `wss://` with a host. `http(s)://` is accepted
/// and turned into `ws(s)://`, and a bare origin gets the protocol's `/ws` path.
pub fn parse_server_url(input: &str) -> Result<Url, SignalingError> {
    let invalid = |reason: &str| SignalingError::InvalidUrl {
        url: input.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(input.trim()).map_err(|e| invalid(&e.to_string()))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return Err(invalid("use ws:// or wss:// (or http:// / https://)")),
    };
    url.set_scheme(scheme)
        .map_err(|()| invalid("cannot use this scheme"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("missing host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials do not belong in the address; use a token",
        ));
    }
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/ws");
    }
    url.set_fragment(None);
    Ok(url)
}

/// The web UI's address for `room` on the same server (`<origin>/#/room/<room>`), for opening a call in
/// the default browser where this window has no WebRTC.
pub fn browser_room_url(server: &Url, room: &str) -> Result<Url, SignalingError> {
    if !chat_protocol::is_valid_room_name(room) {
        return Err(SignalingError::InvalidRoom(room.to_owned()));
    }
    let mut url = server.clone();
    let scheme = if server.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    url.set_scheme(scheme)
        .map_err(|()| SignalingError::InvalidUrl {
            url: server.to_string(),
            reason: "cannot derive the web address".into(),
        })?;
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(Some(&format!("/room/{room}")));
    Ok(url)
}

/// A request from the app to the connection task.
#[derive(Debug)]
enum Command {
    Join(String),
    Leave(String),
    Signal {
        room: String,
        to: String,
        data: Box<RawValue>,
    },
    /// See [`Client::push`].
    Push(ClientFrame),
    /// See [`Client::wake`].
    Wake,
    /// See [`Client::quit`]: answered once the leaves and the close are written.
    Quit(oneshot::Sender<()>),
}

/// Handle to a running client; dropping it closes the connection.
pub struct Client {
    config: ClientConfig,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    /// Set when the server refused the token: the client no longer tries (see [`Client::refused`]).
    refused: Arc<AtomicBool>,
}

impl Client {
    /// Starts connecting in the background; events arrive on `events` until the client is dropped.
    pub fn spawn(config: ClientConfig, events: mpsc::Sender<ClientEvent>) -> Client {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let refused = Arc::new(AtomicBool::new(false));
        tokio::spawn(connection::run(
            config.clone(),
            command_rx,
            events,
            state_tx,
            refused.clone(),
        ));
        Client {
            config,
            commands,
            state,
            refused,
        }
    }

    /// The configuration this client was started with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// True once the server refused this client's token (missing, invalid or expired): it stays offline
    /// without retrying, and connecting again (with the same or another token) needs a new client.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// Joins `room` now if connected, and after every reconnect.
    pub fn join(&self, room: &str) -> Result<(), SignalingError> {
        if !chat_protocol::is_valid_room_name(room) {
            return Err(SignalingError::InvalidRoom(room.to_owned()));
        }
        self.send(Command::Join(room.to_owned()))
    }

    /// Leaves `room` and stops rejoining it.
    pub fn leave(&self, room: &str) -> Result<(), SignalingError> {
        self.send(Command::Leave(room.to_owned()))
    }

    /// Relays `data` to peer `to` in `room`. Refused while not connected: signals are time-bound (SDP,
    /// ICE), so their owner retries after reconnecting rather than having stale ones replayed.
    pub fn signal(&self, room: &str, to: &str, data: Box<RawValue>) -> Result<(), SignalingError> {
        if self.state() != ConnectionState::Connected {
            return Err(SignalingError::NotConnected);
        }
        self.send(Command::Signal {
            room: room.to_owned(),
            to: to.to_owned(),
            data,
        })
    }

    /// Sends a frame of ringing people who are away (docs/protocol.md, Push: `push-register`,
    /// `push-unregister`, `offline-members`, `ring`, `ring-cancel`); the answers arrive as frames. Any
    /// other frame is refused: the session's own frames (hello, join, signal) have their methods. Refused
    /// while not connected, like signals: the UI asks again on its next `joined`.
    pub fn push(&self, frame: ClientFrame) -> Result<(), SignalingError> {
        if !matches!(
            frame,
            ClientFrame::PushRegister { .. }
                | ClientFrame::PushUnregister { .. }
                | ClientFrame::OfflineMembers { .. }
                | ClientFrame::Ring { .. }
                | ClientFrame::RingCancel { .. }
        ) {
            return Err(SignalingError::NotAPushFrame(frame.type_name()));
        }
        if self.state() != ConnectionState::Connected {
            return Err(SignalingError::NotConnected);
        }
        self.send(Command::Push(frame))
    }

    /// Asks where our call `call` in `room` goes now that it passed the mesh size (`sfu-join`;
    /// docs/protocol.md, SFU calls), or says we left it (`join` false: `sfu-leave`). The answer (`sfu`,
    /// or an error with ref `sfu-join`) arrives as a frame. Refused while not connected, like signals.
    pub fn sfu(&self, room: &str, call: &str, join: bool) -> Result<(), SignalingError> {
        if self.state() != ConnectionState::Connected {
            return Err(SignalingError::NotConnected);
        }
        let (room, call) = (room.to_owned(), call.to_owned());
        self.send(Command::Push(if join {
            ClientFrame::SfuJoin { room, call }
        } else {
            ClientFrame::SfuLeave { room, call }
        }))
    }

    /// The app is back in the foreground (phones suspend it in the background, and the network may have
    /// dropped the socket without a word): probe the link now instead of waiting for missed heartbeats,
    /// and end a backoff pause, so the session resumes at once.
    pub fn wake(&self) -> Result<(), SignalingError> {
        self.send(Command::Wake)
    }

    /// The app is quitting: leaves every room now (the others see `peer-left` at once, instead of the
    /// session lingering through the server's resume grace, as a closed browser tab leaves) and closes the
    /// connection. Returns once that is written, or at once without a connection.
    pub async fn quit(&self) {
        let (done, written) = oneshot::channel();
        if self.send(Command::Quit(done)).is_ok() {
            let _ = written.await;
        }
    }

    fn send(&self, command: Command) -> Result<(), SignalingError> {
        self.commands
            .send(command)
            .map_err(|_| SignalingError::NotConnected)
    }
}

/// The current client, if any, shared by its owner (who replaces it on connect and disconnect) and by
/// whoever sends through it (the links relay their negotiation this way), so neither holds the other.
#[derive(Clone, Default)]
pub struct ClientSlot(Arc<Mutex<Option<Client>>>);

impl ClientSlot {
    /// Puts `client` in (dropping, and so closing, the previous one).
    pub fn replace(&self, client: Option<Client>) {
        *self.lock() = client;
    }

    /// Runs `f` with the current client, or fails with `NotConnected`.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Client) -> Result<T, SignalingError>,
    ) -> Result<T, SignalingError> {
        self.lock()
            .as_ref()
            .map_or(Err(SignalingError::NotConnected), f)
    }

    /// Takes the current client out and quits it ([`Client::quit`]): the app is ending.
    pub async fn quit(&self) {
        let client = self.lock().take();
        if let Some(client) = client {
            client.quit().await;
        }
    }

    /// The current client's configuration, if there is one.
    pub fn config(&self) -> Option<ClientConfig> {
        self.lock().as_ref().map(|c| c.config().clone())
    }

    /// Whether the current client's token was refused (false without a client).
    pub fn refused(&self) -> bool {
        self.lock().as_ref().is_some_and(Client::refused)
    }

    /// The current client's state; `Offline` without one.
    pub fn state(&self) -> ConnectionState {
        self.lock()
            .as_ref()
            .map_or(ConnectionState::Offline, Client::state)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        // A poisoned lock only means a panic elsewhere mid-replace; the slot itself is intact.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
