//! User settings (server address, display name, close-to-tray), stored in the history database so one
//! file holds the app's state, and validated before they are saved.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::history::{History, HistoryError};
use p2pchat_core::signaling::{SignalingError, parse_server_url};

const SERVER_URL: &str = "server_url";
const DISPLAY_NAME: &str = "display_name";
const CLOSE_TO_TRAY: &str = "close_to_tray";

/// What the settings screen edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// `ws(s)://host[:port]/ws` of the signaling server.
    pub server_url: Option<String>,
    pub display_name: Option<String>,
    /// Closing the main window hides it to the tray so calls still ring (default on).
    pub close_to_tray: bool,
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
            close_to_tray: history.setting(CLOSE_TO_TRAY).await?.as_deref() != Some("false"),
        })
    }

    /// Validates, normalises (the server address) and stores these settings; returns what was stored.
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
        Ok(self)
    }
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
                close_to_tray: true
            }
        );
        let bad = Settings {
            server_url: Some("chat.example.org".into()),
            display_name: None,
            close_to_tray: true,
        };
        assert!(matches!(
            bad.save(&history).await,
            Err(SettingsError::Url(_))
        ));
        let blank = Settings {
            server_url: None,
            display_name: Some("  ".into()),
            close_to_tray: true,
        };
        assert!(matches!(
            blank.save(&history).await,
            Err(SettingsError::Name)
        ));
        let good = Settings {
            server_url: Some("https://chat.example.org".into()),
            display_name: Some(" Ann ".into()),
            close_to_tray: false,
        };
        good.save(&history).await.unwrap();
        let loaded = Settings::load(&history).await.unwrap();
        assert_eq!(
            loaded.server_url.as_deref(),
            Some("wss://chat.example.org/ws")
        );
        assert_eq!(loaded.display_name.as_deref(), Some("Ann"));
        assert!(!loaded.close_to_tray);
    }
}
