//! Every event the app sends to the window, its name and its payload, in one place: adapters say what
//! happened with an [`AppEvent`] and [`emit`] it; `crate::typescript` types the UI's `on()` from
//! [`catalog`].

use chat_protocol::ServerFrame;
use p2pchat_core::links::LinkEvent;
use p2pchat_core::signaling::ConnectionState;
use serde::Serialize;
use tauri::{Emitter, Runtime};
use ts_rs::{Config, TS};

use super::payloads::{
    ChatIncoming, ChatStatus, FileTransfer, MediaNotice, NotificationAction, WebviewCapabilities,
};

/// Every server frame, as `ServerFrame` JSON, each once even across resumes.
const FRAME: &str = "signaling://frame";
/// Connection state changes.
const STATE: &str = "signaling://state";
/// The user acted on a notification.
const NOTIFICATION: &str = "app://notification";
/// A second start of the app brought an invite link (`p2pchat://join#…`): `take_deep_link` has it.
const DEEP_LINK: &str = "app://deep-link";
/// The webview's WebRTC capabilities, once the page reported them.
const WEBVIEW: &str = "app://webview";
/// Every change of a file transfer.
const FILE: &str = "files://transfer";
/// What a call's pipeline reported mid-call (a device failed, a stream ended).
const MEDIA: &str = "calls://media";
/// A new chat message over a native link (the app's chat rules).
const CHAT_MESSAGE: &str = "chat://message";
/// One of our chat messages reached a peer (sent, delivered, read).
const CHAT_STATUS: &str = "chat://status";
/// Native link events are sent as `fallback://<kind>` (`LinkEvent::name`).
const LINK_PREFIX: &str = "fallback://";

/// Something the window hears about; serialized as its payload alone.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum AppEvent<'a> {
    Frame(&'a ServerFrame),
    State(ConnectionState),
    Notification(&'a NotificationAction),
    /// No payload: the window takes the link with `take_deep_link`.
    DeepLink,
    Webview(WebviewCapabilities),
    Link(&'a LinkEvent),
    File(&'a FileTransfer),
    ChatMessage(&'a ChatIncoming),
    ChatStatus(&'a ChatStatus),
    Media(&'a MediaNotice),
}

impl AppEvent<'_> {
    /// The event's name as the window listens for it.
    pub fn name(&self) -> String {
        match self {
            AppEvent::Frame(_) => FRAME.into(),
            AppEvent::State(_) => STATE.into(),
            AppEvent::Notification(_) => NOTIFICATION.into(),
            AppEvent::DeepLink => DEEP_LINK.into(),
            AppEvent::Webview(_) => WEBVIEW.into(),
            AppEvent::Link(event) => format!("{LINK_PREFIX}{}", event.name()),
            AppEvent::File(_) => FILE.into(),
            AppEvent::ChatMessage(_) => CHAT_MESSAGE.into(),
            AppEvent::ChatStatus(_) => CHAT_STATUS.into(),
            AppEvent::Media(_) => MEDIA.into(),
        }
    }
}

/// Sends `event` to the window (and any listener in Rust); a failure is logged, never fatal.
pub fn emit<R: Runtime>(app: &impl Emitter<R>, event: AppEvent<'_>) {
    let name = event.name();
    if let Err(err) = app.emit(&name, event) {
        tracing::warn!(%err, name, "cannot emit event to the window");
    }
}

/// Every event name with its payload's TypeScript type (the UI's `Events` map).
pub fn catalog(cfg: &Config) -> Vec<(String, String)> {
    let mut all = vec![
        (FRAME.to_owned(), "ServerFrame".to_owned()),
        (STATE.to_owned(), ConnectionState::name(cfg)),
        (NOTIFICATION.to_owned(), NotificationAction::name(cfg)),
        (DEEP_LINK.to_owned(), "null".to_owned()),
        (WEBVIEW.to_owned(), WebviewCapabilities::name(cfg)),
        (FILE.to_owned(), FileTransfer::name(cfg)),
        (CHAT_MESSAGE.to_owned(), ChatIncoming::name(cfg)),
        (CHAT_STATUS.to_owned(), ChatStatus::name(cfg)),
        (MEDIA.to_owned(), MediaNotice::name(cfg)),
    ];
    all.extend(LinkEvent::KINDS.into_iter().map(|kind| {
        (
            format!("{LINK_PREFIX}{kind}"),
            format!("Extract<LinkEvent, {{ kind: '{kind}' }}>"),
        )
    }));
    all
}
