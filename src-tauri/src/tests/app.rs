//! The app as a whole: every command of the list answers through IPC with the app's capabilities, the
//! state setup builds (history path, deep link, webview report), and the signaling connection against the
//! real server in process, with its state and frames reaching the window as events.

use serde_json::{Value, json};

use super::{TestApp, real_server};
use crate::ipc::COMMANDS;

/// Every command in the list is registered and allowed for the main window: a call with arguments it
/// cannot take reaches the command (an argument error or its own answer), never "not found" or "not
/// allowed". (The two commands that open devices and take no arguments are left out: they would run.)
#[test]
fn every_listed_command_is_registered_and_allowed() {
    let app = TestApp::start();
    let opens_devices = ["call_media_start", "call_media_devices"];
    for command in COMMANDS.iter().filter(|c| !opens_devices.contains(c)) {
        // Numbers where commands take strings: refused by the arguments' parser, if it takes any.
        let answer = app.invoke(command, json!({"room": 1, "id": 1, "upload": 1, "name": 1}));
        let text = match &answer {
            Ok(_) => continue,
            Err(Value::String(text)) => text.clone(),
            Err(other) => other.to_string(),
        };
        assert!(
            !text.contains("not found") && !text.contains("not allowed"),
            "{command}: {text}"
        );
    }
    // The probe tells a missing command apart.
    let unknown = app.invoke("no_such_command", json!({})).unwrap_err();
    let unknown = unknown.as_str().unwrap_or_default();
    assert!(
        unknown.contains("not found") || unknown.contains("not allowed"),
        "{unknown}"
    );
}

/// Offline at start (nothing configured): the app says so, still answers from the history, refuses to
/// send, and hands the invite link it was opened with to the join screen once.
#[test]
fn offline_app_serves_history_and_the_invite_link() {
    let link = "p2pchat://join#room=team&token=a.b.c";
    let app = TestApp::start_with(|o| o.deep_link = Some(link.into()));
    assert_eq!(
        app.invoke("connection_state", json!({})),
        Ok(json!("offline"))
    );
    let info = app.invoke("app_info", json!({})).unwrap();
    let history = app.dir.path().join("data").join(crate::history::DB_FILE);
    assert_eq!(info["history_path"], json!(history.to_str().unwrap()));
    assert!(info["history_error"].is_null(), "{info}");
    assert!(history.exists(), "the history file is created at startup");
    assert_eq!(app.invoke("take_deep_link", json!({})), Ok(json!(link)));
    assert_eq!(app.invoke("take_deep_link", json!({})), Ok(Value::Null));

    let err = app
        .invoke(
            "send_signal",
            json!({"room": "team", "to": "p1", "data": {"kind": "x"}}),
        )
        .unwrap_err();
    assert_eq!(err["kind"], "not_connected", "{err}");
    // Joining offline is remembered (rejoined on connect) but reported as not connected.
    let err = app
        .invoke("join_room", json!({"room": "team"}))
        .unwrap_err();
    assert_eq!(err["kind"], "not_connected", "{err}");
    let list = app.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(
        (&list[0]["room"], &list[0]["joined"]),
        (&json!("team"), &json!(true))
    );
}

/// The page's WebRTC report: kept for `app_info`, told to the window, and a webview without
/// `RTCPeerConnection` turns the native links on, with this device's certificate.
#[test]
fn a_webview_without_webrtc_turns_the_native_links_on() {
    let app = TestApp::start();
    let reports = app.events("app://webview");
    let status = app.invoke("fallback_status", json!({})).unwrap();
    assert_eq!(status["active"], json!(false), "{status}");
    let caps = json!({"rtc_peer_connection": false, "get_user_media": false});
    let reported = app.invoke("report_webview_capabilities", json!({"capabilities": caps}));
    assert_eq!(reported, Ok(Value::Null));
    assert_eq!(reports.wait_for("app://webview", |_| true), caps);
    assert_eq!(app.invoke("app_info", json!({})).unwrap()["webview"], caps);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let status = app.invoke("fallback_status", json!({})).unwrap();
        if status["active"] == json!(true) || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status["active"], json!(true), "{status}");
    assert!(
        status["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha-256 ")),
        "{status}"
    );
    assert_eq!(
        app.invoke("fallback_open_peers", json!({"room": "team"})),
        Ok(json!([]))
    );
}

/// `connect` against the real signaling server: the state and every frame reach the window as events,
/// the settings keep the server and name, a joined room is remembered, and `disconnect` ends it.
#[test]
fn connects_joins_and_disconnects_through_the_real_server() {
    let (_server, url) = real_server(&[]);
    let app = TestApp::start();
    let states = app.events("signaling://state");
    let frames = app.events("signaling://frame");
    let state = app
        .invoke("connect", json!({"name": "Ann", "url": url}))
        .unwrap();
    assert!(
        state == json!("connecting") || state == json!("connected"),
        "{state}"
    );
    states.wait_for("connected", |s| s == "connected");
    let settings = app.invoke("get_settings", json!({})).unwrap();
    assert_eq!(
        (&settings["server_url"], &settings["display_name"]),
        (&json!(url), &json!("Ann"))
    );
    assert_eq!(
        app.invoke("join_room", json!({"room": "team"})),
        Ok(Value::Null)
    );
    let joined = frames.wait_for("joined", |f| f["type"] == "joined");
    assert_eq!(joined["room"], "team");
    // Connecting again the same way keeps the session.
    assert_eq!(
        app.invoke("connect", json!({"name": "Ann"})),
        Ok(json!("connected"))
    );
    assert_eq!(app.invoke("disconnect", json!({})), Ok(Value::Null));
    assert_eq!(
        app.invoke("connection_state", json!({})),
        Ok(json!("offline"))
    );
}

/// Ringing people who are away from the app's connection, against the real server with push on: a room
/// the window opens on the running session hears that session's `welcome` again (the server's push key
/// in it), `push_frame` registers this device and asks who is away, the answers come back as frames, and
/// a frame that is not one of ringing people who are away is refused.
#[test]
fn push_frames_go_out_on_the_apps_connection() {
    let store = tempfile::TempDir::new().unwrap();
    let db = store.path().join("push.sqlite3");
    let push_db = db.to_str().unwrap();
    let (_server, url) = real_server(&["--push", "--push-allow-private", "--push-db", push_db]);
    let app = TestApp::start();
    let frames = app.events("signaling://frame");
    app.invoke("connect", json!({"name": "Ann", "url": url}))
        .unwrap();
    let first = frames.wait_for("welcome", |f| f["type"] == "welcome");
    assert!(first["push"]["vapid_key"].is_string(), "{first}");
    // The room opened later connects the same way: the session stays and its welcome comes again.
    assert_eq!(
        app.invoke("connect", json!({"name": "Ann"})),
        Ok(json!("connected"))
    );
    let again = frames.wait_for("welcome again", |f| f["type"] == "welcome");
    assert_eq!(again["peer"], first["peer"]);
    assert_eq!(again["push"], first["push"]);

    app.invoke("join_room", json!({"room": "team"})).unwrap();
    frames.wait_for("joined", |f| f["type"] == "joined");
    // RFC 8291 Appendix A's keys; the endpoint is never called (nobody rings Ann here).
    let register = json!({"type": "push-register", "room": "team", "device": "ann-desktop",
        "secret": "a-device-secret-of-enough-chars", "subscription": {"kind": "webpush",
        "endpoint": "http://127.0.0.1:9/push/ann", "keys": {
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}});
    assert_eq!(
        app.invoke("push_frame", json!({"frame": register})),
        Ok(Value::Null)
    );
    let registered = frames.wait_for("push-registered", |f| {
        f["type"] == "push-registered" || f["type"] == "error"
    });
    assert_eq!(registered["device"], "ann-desktop", "{registered}");
    let ask = json!({"type": "offline-members", "room": "team"});
    assert_eq!(
        app.invoke("push_frame", json!({"frame": ask})),
        Ok(Value::Null)
    );
    let members = frames.wait_for("offline-members", |f| f["type"] == "offline-members");
    assert_eq!(members["members"], json!([]), "Ann is here, so not away");

    let join = json!({"type": "join", "room": "other"});
    let err = app
        .invoke("push_frame", json!({"frame": join}))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
    let malformed = json!({"type": "ring", "room": "team"});
    let err = app
        .invoke("push_frame", json!({"frame": malformed}))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
    app.invoke("disconnect", json!({})).unwrap();
    let err = app.invoke("push_frame", json!({"frame": ask})).unwrap_err();
    assert_eq!(err["kind"], "not_connected", "{err}");
}

/// Moving a call to the SFU from the app's connection, against the real server: `sfu_frame` sends
/// `sfu-join`, and the server's answer reaches the window as a frame (this server has no SFU: the
/// `sfu_unavailable` error the room reads to keep the call peer to peer); `sfu-leave` goes out too,
/// and anything but those two frames is refused.
#[test]
fn sfu_frames_go_out_on_the_apps_connection() {
    let (_server, url) = real_server(&[]);
    let app = TestApp::start();
    let frames = app.events("signaling://frame");
    app.invoke("connect", json!({"name": "Ann", "url": url}))
        .unwrap();
    frames.wait_for("welcome", |f| f["type"] == "welcome");
    app.invoke("join_room", json!({"room": "team"})).unwrap();
    frames.wait_for("joined", |f| f["type"] == "joined");

    let join = json!({"type": "sfu-join", "room": "team", "call": "c-1"});
    assert_eq!(
        app.invoke("sfu_frame", json!({"frame": join})),
        Ok(Value::Null)
    );
    let refused = frames.wait_for("sfu-join's answer", |f| f["type"] == "error");
    assert_eq!(refused["code"], "sfu_unavailable", "{refused}");
    assert_eq!(refused["ref"], "sfu-join", "{refused}");
    let leave = json!({"type": "sfu-leave", "room": "team", "call": "c-1"});
    assert_eq!(
        app.invoke("sfu_frame", json!({"frame": leave})),
        Ok(Value::Null)
    );

    let ring = json!({"type": "offline-members", "room": "team"});
    let err = app.invoke("sfu_frame", json!({"frame": ring})).unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
    let malformed = json!({"type": "sfu-join", "room": "team"});
    let err = app
        .invoke("sfu_frame", json!({"frame": malformed}))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
    app.invoke("disconnect", json!({})).unwrap();
    let err = app.invoke("sfu_frame", json!({"frame": join})).unwrap_err();
    assert_eq!(err["kind"], "not_connected", "{err}");
}

/// `chat_send` with nobody linked: the message is stored as pending (the outbox) and kept for the next
/// peer that links; anything but a chat message is refused.
#[test]
fn chat_send_keeps_a_message_nobody_got_yet() {
    let app = TestApp::start();
    let message = json!({"t": "msg", "id": "m-1", "body": "hello", "sentAt": 1000, "name": "Ann"});
    let sent = app.invoke("chat_send", json!({"room": "team", "message": message}));
    assert_eq!(sent, Ok(json!([])));
    let outbox = app.invoke("outbox", json!({"room": "team"})).unwrap();
    assert_eq!(
        (&outbox[0]["id"], &outbox[0]["status"], &outbox[0]["body"]),
        (&json!("m-1"), &json!("pending"), &json!("hello"))
    );
    let ack = json!({"t": "ack", "id": "m-1"});
    let err = app
        .invoke("chat_send", json!({"room": "team", "message": ack}))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
}
