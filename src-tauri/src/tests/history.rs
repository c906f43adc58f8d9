//! The history commands as the UI drives them, on the whole app (mock runtime, real SQLite file).

use serde_json::{Value, json};

use super::TestApp;

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
    let app = TestApp::start();
    // Muted, so incoming messages do not try to post desktop notifications from the test.
    let muted = app.invoke("set_room_muted", json!({"room": "team", "muted": true}));
    assert_eq!(muted, Ok(Value::Null));
    assert_eq!(
        app.invoke("room_muted", json!({"room": "team"})),
        Ok(json!(true))
    );

    let first = message("m1", "Lunch at the café?", 1000, false);
    assert_eq!(app.invoke("save_message", first.clone()), Ok(json!(true)));
    assert_eq!(app.invoke("save_message", first), Ok(json!(false)));
    let mine = message("m2", "yes, noon", 1500, true);
    assert_eq!(app.invoke("save_message", mine), Ok(json!(true)));
    let last = message("m3", "see you there", 2000, false);
    assert_eq!(app.invoke("save_message", last), Ok(json!(true)));

    let list = app.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["room"], "team");
    assert_eq!(list[0]["unread"], 2);
    assert_eq!(list[0]["last_message"]["id"], "m3");

    let page = app
        .invoke("messages_page", json!({"room": "team", "limit": 2}))
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
    let older = app
        .invoke(
            "messages_page",
            json!({"room": "team", "before": page["next"], "limit": 2}),
        )
        .unwrap();
    assert_eq!(ids(&older), ["m1"]);
    assert!(older["next"].is_null(), "the oldest page has no cursor");

    let found = app
        .invoke("search_messages", json!({"query": "cafe"}))
        .unwrap();
    assert!(found["next"].is_null(), "every message was searched");
    let hits = &found["hits"];
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["id"], "m1");
    assert!(
        hits[0]["snippet"]
            .as_array()
            .unwrap()
            .contains(&json!({"text": "café", "hit": true}))
    );

    let outbox = app.invoke("outbox", json!({})).unwrap();
    assert_eq!(outbox[0]["id"], "m2");
    assert_eq!(outbox[0]["status"], "pending");

    let read = app.invoke("mark_read", json!({"room": "team", "up_to": 2000}));
    assert_eq!(read, Ok(Value::Null));
    let list = app.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["unread"], 0);
}

/// Search as the start screen pages it: each page holds the next older matches, newest first; its
/// `next` continues where it stopped, none twice and none skipped, until the oldest message (`next`
/// null).
#[test]
fn search_pages_continue_with_older_matches() {
    let app = TestApp::start();
    app.invoke("set_room_muted", json!({"room": "team", "muted": true}))
        .unwrap();
    for i in 0..75 {
        // Some match better than others (the page's rank order), but the list goes by time.
        let body = match i % 5 {
            4 => format!("nothing to see {i}"),
            0 => format!("kubernetes upgrade, kubernetes upgrade {i}"),
            _ => format!("kubernetes upgrade step {i} of the long plan for today"),
        };
        let saved = app.invoke(
            "save_message",
            message(&format!("m{i:02}"), &body, 1000 + i, false),
        );
        assert_eq!(saved, Ok(json!(true)));
    }
    let mut pages = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = app
            .invoke(
                "search_messages",
                json!({"query": "kuber upgr", "before": cursor, "limit": 25}),
            )
            .unwrap();
        let times: Vec<i64> = page["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["sent_at"].as_i64().unwrap())
            .collect();
        cursor = page["next"].clone();
        pages.push(times);
        if cursor.is_null() {
            break;
        }
        assert!(pages.len() < 10, "the pages end");
    }
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [25, 25, 10]);
    let all: Vec<i64> = pages.concat();
    let want: Vec<i64> = (0..75)
        .rev()
        .filter(|i| i % 5 != 4)
        .map(|i| 1000 + i)
        .collect();
    assert_eq!(all, want, "newest first, page after page, each match once");
}

/// The settings form gets `{kind: "invalid"}` for a server address it cannot use, and a valid one is
/// saved normalised; a message without an id is refused the same way.
#[test]
fn invalid_input_is_an_invalid_error() {
    let app = TestApp::start();
    let bad = json!({"settings": {"server_url": "ftp://example.org", "display_name": "Ann", "close_to_tray": true}});
    let err = app.invoke("set_settings", bad).unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));

    let good = json!({"settings": {"server_url": "https://chat.example.org", "display_name": "Ann", "close_to_tray": false}});
    let saved = app.invoke("set_settings", good).unwrap();
    assert_eq!(saved["server_url"], "wss://chat.example.org/ws");
    assert_eq!(app.invoke("get_settings", json!({})), Ok(saved));

    let err = app
        .invoke("save_message", message("", "no id", 1, true))
        .unwrap_err();
    assert_eq!(err["kind"], "invalid", "{err}");
}
