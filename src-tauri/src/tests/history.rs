//! The UI's commands through Tauri's IPC on the mock runtime (no window, no display), with the app's
//! own configuration and capabilities, over a real history file: the JSON the UI sends and gets back,
//! errors included.

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};
use tempfile::TempDir;

use crate::history::{DB_FILE, History, OpenOptions};
use crate::state::AppState;

/// The app (history commands, real config and capabilities) over a fresh history in `dir`.
fn app(dir: &TempDir) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let path = dir.path().join(DB_FILE);
    let history = tauri::async_runtime::block_on(History::open(&path, &OpenOptions::default()))
        .expect("history opens")
        .history;
    let app = mock_builder()
        .manage(AppState::new(
            Ok((history, None)),
            path,
            Default::default(),
            None,
        ))
        .invoke_handler(tauri::generate_handler![
            super::save_message,
            super::messages_page,
            super::search_messages,
            super::list_conversations,
            super::mark_read,
            super::room_muted,
            super::set_room_muted,
            super::outbox,
            super::get_settings,
            super::set_settings,
        ])
        .build(tauri::generate_context!())
        .expect("app builds");
    // Labelled "main" so the app's capabilities apply.
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("mock window");
    (app, window)
}

/// `invoke(cmd, args)` as the page does it: the JSON result, or the JSON error.
fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // The app's own origin on Linux/macOS: capabilities only allow local pages.
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request).map(|body| body.deserialize().expect("JSON response"))
}

fn message(id: &str, body: &str, sent_at: i64, outgoing: bool) -> Value {
    json!({"message": {
        "id": id, "room": "team", "sender": if outgoing { "me" } else { "peer-b" },
        "sender_name": if outgoing { "Ann" } else { "Bob" }, "outgoing": outgoing,
        "body": body, "sent_at": sent_at,
    }})
}

/// Chat as the UI drives it: a message delivered twice is stored once, pages scroll back to the first
/// message, search finds it without its accent, and reading a room clears its unread count.
#[test]
fn chat_history_commands_round_trip() {
    let dir = TempDir::new().unwrap();
    let (_app, window) = app(&dir);
    // Muted, so incoming messages do not try to post desktop notifications from the test.
    let muted = invoke(
        &window,
        "set_room_muted",
        json!({"room": "team", "muted": true}),
    );
    assert_eq!(muted, Ok(Value::Null));
    assert_eq!(
        invoke(&window, "room_muted", json!({"room": "team"})),
        Ok(json!(true))
    );

    let first = message("m1", "Lunch at the café?", 1000, false);
    assert_eq!(
        invoke(&window, "save_message", first.clone()),
        Ok(json!(true))
    );
    assert_eq!(invoke(&window, "save_message", first), Ok(json!(false)));
    let mine = message("m2", "yes, noon", 1500, true);
    assert_eq!(invoke(&window, "save_message", mine), Ok(json!(true)));
    let last = message("m3", "see you there", 2000, false);
    assert_eq!(invoke(&window, "save_message", last), Ok(json!(true)));

    let list = invoke(&window, "list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["room"], "team");
    assert_eq!(list[0]["unread"], 2);
    assert_eq!(list[0]["last_message"]["id"], "m3");

    let page = invoke(
        &window,
        "messages_page",
        json!({"room": "team", "limit": 2}),
    )
    .unwrap();
    let ids = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page), ["m3", "m2"]);
    assert_eq!(page["next"], json!({"sent_at": 1500, "id": "m2"}));
    let older = invoke(
        &window,
        "messages_page",
        json!({"room": "team", "before": page["next"], "limit": 2}),
    )
    .unwrap();
    assert_eq!(ids(&older), ["m1"]);
    assert!(older["next"].is_null(), "the oldest page has no cursor");

    let hits = invoke(&window, "search_messages", json!({"query": "cafe"})).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["id"], "m1");
    assert!(
        hits[0]["snippet"]
            .as_array()
            .unwrap()
            .contains(&json!({"text": "café", "hit": true}))
    );

    let outbox = invoke(&window, "outbox", json!({})).unwrap();
    assert_eq!(outbox[0]["id"], "m2");
    assert_eq!(outbox[0]["status"], "pending");

    let read = invoke(&window, "mark_read", json!({"room": "team", "up_to": 2000}));
    assert_eq!(read, Ok(Value::Null));
    let list = invoke(&window, "list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["unread"], 0);
}

/// The settings form gets `{kind: "invalid"}` for a server address it cannot use, and a valid one is
/// saved normalised; a message without an id is refused the same way.
#[test]
fn invalid_input_is_an_invalid_error() {
    let dir = TempDir::new().unwrap();
    let (_app, window) = app(&dir);
    let bad = json!({"settings": {"server_url": "ftp://example.org", "display_name": "Ann", "close_to_tray": true}});
    let err = invoke(&window, "set_settings", bad).unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));

    let good = json!({"settings": {"server_url": "https://chat.example.org", "display_name": "Ann", "close_to_tray": false}});
    let saved = invoke(&window, "set_settings", good).unwrap();
    assert_eq!(saved["server_url"], "wss://chat.example.org/ws");
    assert_eq!(invoke(&window, "get_settings", json!({})), Ok(saved));

    let err = invoke(&window, "save_message", message("", "no id", 1, true)).unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
}
