//! What a failed command tells the UI: `{kind, message}` (`ipc::CommandError`), where `kind` is one of
//! `ipc::ErrorKind` (generated into the UI's `ipc.gen.ts`, so the UI can branch on it) and `message` is for
//! people. Every error type of the app maps to a kind here, in one place.

use crate::history::HistoryError;
pub use crate::ipc::{CommandError, ErrorKind};
use crate::settings::SettingsError;
use p2pchat_core::links::LinkError;
use p2pchat_core::signaling::SignalingError;

impl From<&HistoryError> for ErrorKind {
    fn from(err: &HistoryError) -> Self {
        match err {
            HistoryError::Locked { .. } => ErrorKind::Locked,
            HistoryError::Busy => ErrorKind::Busy,
            HistoryError::DiskFull(_) => ErrorKind::DiskFull,
            HistoryError::Corrupt(_)
            | HistoryError::NotADatabase(_)
            | HistoryError::MoveAside { .. } => ErrorKind::Corrupt,
            HistoryError::WrongKey { .. } | HistoryError::KeyNeeded { .. } => ErrorKind::WrongKey,
            HistoryError::Folder { .. } => ErrorKind::Folder,
            HistoryError::Migrate(_) | HistoryError::Encrypt(_) => ErrorKind::Migrate,
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
            SignalingError::InvalidUrl { .. }
            | SignalingError::InvalidRoom(_)
            | SignalingError::NotAPushFrame(_) => ErrorKind::Invalid,
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
