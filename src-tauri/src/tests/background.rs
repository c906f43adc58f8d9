//! "Ring me when the window is closed" and "Start at login" through the settings commands, as the
//! settings screen drives them (mock runtime: no tray and no login items, so the user's are left alone;
//! the real ones are tested under Xvfb by src-tauri/tests/app-tray.mjs).

use serde_json::{Value, json};
use tauri::Manager;

use super::TestApp;
use crate::state::AppState;

fn settings(close_to_tray: bool, start_at_login: bool) -> Value {
    json!({"settings": {"server_url": "https://chat.example.org", "display_name": "Ann",
        "close_to_tray": close_to_tray, "start_at_login": start_at_login}})
}

/// Both are off on a fresh device; ringing with the window closed is saved and applied at once, starting at
/// login needs it (and a place for login items: here there is none, which the screen is told), and turning
/// it off restores quit-on-close.
#[test]
fn ring_when_closed_is_opt_in_and_applied_at_once() {
    let app = TestApp::start();
    let fresh = app.invoke("get_settings", json!({})).unwrap();
    assert_eq!(
        (&fresh["close_to_tray"], &fresh["start_at_login"]),
        (&json!(false), &json!(false)),
        "{fresh}"
    );
    let closes_to_tray = || app.app.state::<AppState>().close_to_tray();
    assert!(!closes_to_tray(), "closing the window quits by default");

    let on = app.invoke("set_settings", settings(true, false)).unwrap();
    assert_eq!(on["close_to_tray"], true);
    assert!(closes_to_tray(), "applied without a restart");
    let read = app.invoke("get_settings", json!({})).unwrap();
    assert_eq!(read["close_to_tray"], true);
    assert_eq!(read["start_at_login"], false);

    let err = app
        .invoke("set_settings", settings(true, true))
        .unwrap_err();
    assert_eq!(err["kind"], "unavailable", "{err}");
    assert_eq!(
        app.invoke("get_settings", json!({})).unwrap()["start_at_login"],
        false
    );

    // Starting at login without ringing when closed would start a hidden app nobody hears: refused quietly.
    let off = app.invoke("set_settings", settings(false, true)).unwrap();
    assert_eq!(
        (&off["close_to_tray"], &off["start_at_login"]),
        (&json!(false), &json!(false))
    );
    assert!(!closes_to_tray(), "quit-on-close again");
    assert_eq!(
        app.invoke("get_settings", json!({})).unwrap()["close_to_tray"],
        false
    );
}

/// A UI of the previous release sends settings without `start_at_login`: still accepted, as off.
#[test]
fn settings_without_start_at_login_are_accepted() {
    let app = TestApp::start();
    let saved = app
        .invoke(
            "set_settings",
            json!({"settings": {"server_url": null, "display_name": null, "close_to_tray": true}}),
        )
        .unwrap();
    assert_eq!(saved["close_to_tray"], true);
    assert_eq!(saved["start_at_login"], false);
}

/// A history locked at startup holds the settings: until its passphrase is given the app closes as on a
/// fresh device; right after `unlock_history` it rings with the window closed as saved, without a restart.
#[test]
fn saved_settings_apply_once_a_locked_history_is_unlocked() {
    use crate::history::{DB_FILE, DbKey, History, OpenOptions};
    use crate::settings::Settings;

    let passphrase = "correct horse battery";
    let data = tempfile::TempDir::new().unwrap();
    tauri::async_runtime::block_on(async {
        let options = OpenOptions {
            key: Some(DbKey::passphrase(passphrase)),
            ..OpenOptions::default()
        };
        let history = History::open(&data.path().join(DB_FILE), &options)
            .await
            .unwrap()
            .history;
        let saved = Settings {
            close_to_tray: true,
            ..Settings::default()
        };
        saved.save(&history).await.unwrap();
        history.close().await;
    });
    // The test key source's key does not open a passphrase's history: it starts locked.
    let app = TestApp::start_with(|o| o.data_dir = Some(data.path().to_owned()));
    let status = app.invoke("history_key_status", json!({})).unwrap();
    assert_eq!(status["state"], "enter_passphrase", "{status}");
    let closes_to_tray = || app.app.state::<AppState>().close_to_tray();
    assert!(!closes_to_tray(), "locked: the saved settings are unread");

    let status = app
        .invoke("unlock_history", json!({"passphrase": passphrase}))
        .unwrap();
    assert_eq!(status["state"], "ready", "{status}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !closes_to_tray() {
        assert!(
            std::time::Instant::now() < deadline,
            "the saved setting is applied after unlocking"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        app.invoke("get_settings", json!({})).unwrap()["close_to_tray"],
        true
    );
}
