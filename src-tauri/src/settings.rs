//! User settings (server address, display name, ringing with the window closed), stored in the history database so one
//! file holds the app's state, and validated before they are saved. Also the invitation token of each
//! server (servers with an auth secret let in only `hello`s with one): kept per server address, so
//! switching servers presents each its own token; never shown back to the UI.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::history::{History, HistoryError};
use p2pchat_core::signaling::{SignalingError, parse_server_url};

const SERVER_URL: &str = "server_url";
const DISPLAY_NAME: &str = "display_name";
const CLOSE_TO_TRAY: &str = "close_to_tray";
/// Prefix of the per-server token settings: `token:<normalised server url>`.
const TOKEN_PREFIX: &str = "token:";

/// What the settings screen edits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// `ws(s)://host[:port]/ws` of the signaling server.
    pub server_url: Option<String>,
    pub display_name: Option<String>,
    /// "Ring me when the window is closed" (desktop): closing the main window hides it to a tray icon and
    /// the app keeps its connection, so calls still ring. Off by default: closing the window quits.
    pub close_to_tray: bool,
    /// "Start at login" (desktop, with `close_to_tray` only): the OS starts the app hidden (`--hidden`) when
    /// the person logs in. Not stored here: it is whether the OS's login item exists (`crate::background`).
    #[serde(default)]
    pub start_at_login: bool,
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Url(#[from] SignalingError),
    #[error("the display name must be 1–64 characters")]
    Name,
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl Settings {
    /// Reads the stored settings (defaults for what was never set).
    pub async fn load(history: &History) -> Result<Settings, HistoryError> {
        Ok(Settings {
            server_url: history.setting(SERVER_URL).await?,
            display_name: history.setting(DISPLAY_NAME).await?,
            close_to_tray: history.setting(CLOSE_TO_TRAY).await?.as_deref() == Some("true"),
            start_at_login: false,
        })
    }

    /// Validates, normalises (the server address) and stores these settings; returns what was stored
    /// (`start_at_login` is the caller's to apply, and only stays on with `close_to_tray`).
    pub async fn save(mut self, history: &History) -> Result<Settings, SettingsError> {
        if let Some(url) = &self.server_url {
            self.server_url = Some(parse_server_url(url)?.to_string());
        }
        if let Some(name) = &self.display_name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > chat_protocol::MAX_NAME_CHARS {
                return Err(SettingsError::Name);
            }
            self.display_name = Some(name.to_owned());
        }
        if let Some(url) = &self.server_url {
            history.set_setting(SERVER_URL, url).await?;
        }
        if let Some(name) = &self.display_name {
            history.set_setting(DISPLAY_NAME, name).await?;
        }
        history
            .set_setting(
                CLOSE_TO_TRAY,
                if self.close_to_tray { "true" } else { "false" },
            )
            .await?;
        self.start_at_login &= self.close_to_tray;
        Ok(self)
    }
}

/// The token saved for `server` (a normalised address, as `parse_server_url` gives it), if any.
pub async fn server_token(history: &History, server: &str) -> Result<Option<String>, HistoryError> {
    let token = history.setting(&format!("{TOKEN_PREFIX}{server}")).await?;
    Ok(token.filter(|t| !t.is_empty()))
}

/// Saves `token` as the one to present to `server` (replacing the previous one).
pub async fn set_server_token(
    history: &History,
    server: &str,
    token: &str,
) -> Result<(), HistoryError> {
    history
        .set_setting(&format!("{TOKEN_PREFIX}{server}"), token.trim())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpenOptions;

    /// The settings screen gets a validation error for a bad address and its values back after a restart.
    #[tokio::test]
    async fn validates_normalises_and_persists() {
        let dir = tempfile::TempDir::new().unwrap();
        let history = History::open(&dir.path().join("h"), &OpenOptions::default())
            .await
            .unwrap()
            .history;
        assert_eq!(
            Settings::load(&history).await.unwrap(),
            Settings {
                server_url: None,
                display_name: None,
                close_to_tray: false,
                start_at_login: false,
            }
        );
        let bad = Settings {
            server_url: Some("chat.example.org".into()),
            display_name: None,
            close_to_tray: true,
            start_at_login: false,
        };
        assert!(matches!(
            bad.save(&history).await,
            Err(SettingsError::Url(_))
        ));
        let blank = Settings {
            server_url: None,
            display_name: Some("  ".into()),
            close_to_tray: true,
            start_at_login: false,
        };
        assert!(matches!(
            blank.save(&history).await,
            Err(SettingsError::Name)
        ));
        let good = Settings {
            server_url: Some("https://chat.example.org".into()),
            display_name: Some(" Ann ".into()),
            close_to_tray: false,
            start_at_login: true,
        };
        let saved = good.save(&history).await.unwrap();
        assert!(
            !saved.start_at_login,
            "starting at login needs ringing when closed"
        );
        let loaded = Settings::load(&history).await.unwrap();
        assert_eq!(
            loaded.server_url.as_deref(),
            Some("wss://chat.example.org/ws")
        );
        assert_eq!(loaded.display_name.as_deref(), Some("Ann"));
        assert!(!loaded.close_to_tray);
        assert!(!loaded.start_at_login);
    }

    /// Each server keeps its own invitation token across restarts; a new one replaces the old.
    #[tokio::test]
    async fn keeps_a_token_per_server() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("h");
        let history = History::open(&path, &OpenOptions::default())
            .await
            .unwrap()
            .history;
        let (a, b) = ("wss://a.example/ws", "wss://b.example/ws");
        assert_eq!(server_token(&history, a).await.unwrap(), None);
        set_server_token(&history, a, "tok-a1").await.unwrap();
        set_server_token(&history, b, "tok-b").await.unwrap();
        set_server_token(&history, a, " tok-a2 ").await.unwrap();
        drop(history);
        let history = History::open(&path, &OpenOptions::default())
            .await
            .unwrap()
            .history;
        assert_eq!(
            server_token(&history, a).await.unwrap().as_deref(),
            Some("tok-a2")
        );
        assert_eq!(
            server_token(&history, b).await.unwrap().as_deref(),
            Some("tok-b")
        );
    }
}
