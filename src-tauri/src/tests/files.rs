//! The window's file commands on the whole app (mock runtime, real history): a picked file arrives as
//! raw bytes in order or is refused, goes nowhere without a link (and its copy is deleted), and the
//! room's finished files, thumbnails and the start screen's search come from the history.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use p2pchat_core::links::{DEFAULT_MAX_FILE_BYTES, FileEvent};
use serde_json::json;
use tauri::Manager;
use tauri::async_runtime::block_on;
use tauri::http::HeaderMap;
use tauri::ipc::InvokeBody;

use super::TestApp;
use crate::files::{Outgoing, record};
use crate::state::AppState;

#[test]
fn file_commands_through_ipc() {
    let app = TestApp::start();
    let history = app.app.state::<AppState>().history().unwrap().clone();
    let staging = app.dir.path().join("data").join(crate::files::STAGING_DIR);
    let too_big = app.invoke(
        "file_send_start",
        json!({"name": "huge.iso", "size": DEFAULT_MAX_FILE_BYTES + 1}),
    );
    assert_eq!(too_big.unwrap_err()["kind"], "invalid");
    let upload = app
        .invoke(
            "file_send_start",
            json!({"name": "../x/hello.txt", "size": 5}),
        )
        .unwrap();
    let upload = upload.as_str().unwrap();
    let chunk = |offset: u64, data: &[u8]| {
        let mut headers = HeaderMap::new();
        headers.insert("upload", upload.parse().unwrap());
        headers.insert("offset", offset.into());
        app.request("file_send_chunk", InvokeBody::Raw(data.to_vec()), headers)
    };
    assert_eq!(chunk(0, b"hel").unwrap(), json!(3));
    assert_eq!(
        chunk(0, b"hel").unwrap_err()["kind"],
        "invalid",
        "out of order"
    );
    // JSON is not a chunk: the bytes go as the body.
    let json_chunk = app.invoke(
        "file_send_chunk",
        json!({"upload": upload, "offset": 3, "data": "bG8="}),
    );
    assert_eq!(json_chunk.unwrap_err()["kind"], "invalid");
    assert_eq!(chunk(3, b"lo").unwrap(), json!(5));
    let copy = staging.join(upload).join("hello.txt");
    assert_eq!(std::fs::read(&copy).unwrap(), b"hello");
    let nobody = app
        .invoke(
            "file_send_finish",
            json!({"upload": upload, "room": "team", "peers": ["p-nobody"]}),
        )
        .unwrap_err();
    assert_eq!(nobody["kind"], "unavailable");
    assert!(!copy.exists(), "a copy that goes nowhere is deleted");

    assert_eq!(
        app.invoke("file_cancel", json!({"id": "nope"})).unwrap(),
        json!(false)
    );
    assert_eq!(
        app.invoke("file_transfers", json!({"room": "team"}))
            .unwrap(),
        json!([])
    );
    let event = FileEvent::Received {
        room: "team".into(),
        peer: "peer-b".into(),
        id: "t-1".into(),
        name: "a.pdf".into(),
        size: 7,
        sha256: "ab".repeat(32),
        path: app.dir.path().join("Downloads/a.pdf"),
    };
    block_on(record(&history, &event, &Outgoing::default())).unwrap();
    let listed = app.invoke("file_history", json!({"room": "team"})).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &listed[0]["name"],
            &listed[0]["direction"],
            &listed[0]["size"]
        ),
        (&json!("a.pdf"), &json!("incoming"), &json!(7))
    );
    assert_eq!(
        app.invoke("file_history", json!({"room": "other"}))
            .unwrap(),
        json!([])
    );

    // A file received in an earlier run is named by its transfer id: its thumbnail comes from the
    // path the history keeps; an unknown id, or a sent file, is refused.
    let png = app.dir.path().join("Downloads/Crème brûlée.png");
    std::fs::write(&png, b"\x89PNG fake").unwrap();
    let past = FileEvent::Received {
        room: "kitchen".into(),
        peer: "peer-c".into(),
        id: "t-2".into(),
        name: "Crème brûlée.png".into(),
        size: 9,
        sha256: "cd".repeat(32),
        path: png,
    };
    block_on(record(&history, &past, &Outgoing::default())).unwrap();
    assert_eq!(
        app.invoke("file_image", json!({"id": "t-2"})).unwrap(),
        json!(BASE64.encode(b"\x89PNG fake"))
    );
    assert_eq!(
        app.invoke("file_image", json!({"id": "t-1"})).unwrap(),
        json!(null),
        "not an image"
    );
    assert_eq!(
        app.invoke("file_image", json!({"id": "nope"})).unwrap_err()["kind"],
        "invalid"
    );
    let sends = Outgoing::default();
    sends
        .lock()
        .insert("t-3".into(), app.dir.path().join("mine.png"));
    let sent = FileEvent::Sent {
        room: "kitchen".into(),
        peer: "peer-c".into(),
        id: "t-3".into(),
        name: "mine.png".into(),
        size: 1,
        sha256: "ef".repeat(32),
    };
    block_on(record(&history, &sent, &sends)).unwrap();
    assert_eq!(
        app.invoke("file_image", json!({"id": "t-3"})).unwrap_err()["kind"],
        "invalid",
        "only received files"
    );

    // The start screen's search: every room, by name, case and accents ignored.
    let found = app
        .invoke("history_search_files", json!({"query": "CREME"}))
        .unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(
        (&found[0]["room"], &found[0]["name"]),
        (&json!("kitchen"), &json!("Crème brûlée.png"))
    );
    let all = app
        .invoke("history_search_files", json!({"query": "p", "limit": 2}))
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(
        app.invoke("history_search_files", json!({"query": "  "}))
            .unwrap(),
        json!([])
    );
}
