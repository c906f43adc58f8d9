//! What a failed command tells the UI: `{kind, message}`, where `kind` is one of [`ErrorKind`] (generated
//! into the UI's `ipc.gen.ts`, so the UI can branch on it) and `message` is for people. Every error type
//! of the app maps to a kind here, in one place.

use serde::Serialize;
use ts_rs::TS;

use crate::history::HistoryError;
use crate::settings::SettingsError;
use p2pchat_core::links::LinkError;
use p2pchat_core::signaling::SignalingError;

/// Stable names of failures the UI can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input (a server address, room or name the app cannot use).
    Invalid,
    /// No signaling connection right now.
    NotConnected,
    /// Another program holds the history file.
    Locked,
    /// The history database is briefly busy: try again.
    Busy,
    DiskFull,
    /// The history file is damaged.
    Corrupt,
    /// The history folder cannot be created.
    Folder,
    /// The history schema cannot be updated.
    Migrate,
    /// Any other database failure.
    Database,
    /// A part of the app is not running (the native links, the browser opener).
    Unavailable,
}

/// A failed command, as the UI receives it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
        }
    }
}

impl From<&HistoryError> for ErrorKind {
    fn from(err: &HistoryError) -> Self {
        match err {
            HistoryError::Locked { .. } => ErrorKind::Locked,
            HistoryError::Busy => ErrorKind::Busy,
            HistoryError::DiskFull(_) => ErrorKind::DiskFull,
            HistoryError::Corrupt(_) | HistoryError::MoveAside { .. } => ErrorKind::Corrupt,
            HistoryError::Folder { .. } => ErrorKind::Folder,
            HistoryError::Migrate(_) => ErrorKind::Migrate,
            HistoryError::Invalid(_) => ErrorKind::Invalid,
            HistoryError::Database(_) => ErrorKind::Database,
        }
    }
}

impl From<HistoryError> for CommandError {
    fn from(err: HistoryError) -> Self {
        CommandError::new(ErrorKind::from(&err), err.to_string())
    }
}

impl From<SignalingError> for CommandError {
    fn from(err: SignalingError) -> Self {
        let kind = match err {
            SignalingError::NotConnected => ErrorKind::NotConnected,
            SignalingError::InvalidUrl { .. } | SignalingError::InvalidRoom(_) => {
                ErrorKind::Invalid
            }
        };
        CommandError::new(kind, err.to_string())
    }
}

impl From<SettingsError> for CommandError {
    fn from(err: SettingsError) -> Self {
        match err {
            SettingsError::History(e) => e.into(),
            SettingsError::Url(e) => e.into(),
            SettingsError::Name => CommandError::new(ErrorKind::Invalid, err.to_string()),
        }
    }
}

impl From<LinkError> for CommandError {
    fn from(err: LinkError) -> Self {
        CommandError::new(ErrorKind::Unavailable, err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UI tells a full disk and a locked file apart from other failures by `kind`.
    #[test]
    fn history_failures_keep_their_kind_across_ipc() {
        let json = |e: HistoryError| serde_json::to_value(CommandError::from(e)).unwrap();
        assert_eq!(
            json(HistoryError::DiskFull("x".into()))["kind"],
            "disk_full"
        );
        assert_eq!(json(HistoryError::Busy)["kind"], "busy");
        let locked = HistoryError::Locked { path: "/h".into() };
        assert_eq!(json(locked)["kind"], "locked");
        let not_connected = serde_json::to_value(CommandError::from(SignalingError::NotConnected));
        assert_eq!(not_connected.unwrap()["kind"], "not_connected");
    }
}
