//! Protects the core promise of the server: peers find each other in rooms and a signal reaches exactly
//! the addressed peer, with `from` set by the server, and every refusal comes back as its documented error.

mod common;

use std::time::Duration;

use common::{Client, server};
use serde_json::json;

#[tokio::test]
async fn hello_gets_welcome_with_unguessable_ids_and_seq_one() {
    let server = server(&[]).await;
    let (a, welcome) = Client::hello(&server, "Alice").await;
    assert_eq!(welcome["seq"], 1);
    assert_eq!(welcome["resumed"], false);
    assert_eq!(welcome["heartbeat_ms"], 10_000);
    assert_eq!(welcome["ice_servers"], json!([]));
    // 128 random bits, base64url: 22 URL-safe characters.
    for id in [&a.peer, &a.session] {
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
    assert_ne!(a.peer, a.session);
    let (b, _) = Client::hello(&server, "Bob").await;
    assert_ne!(a.peer, b.peer);
}

#[tokio::test]
async fn join_lists_present_peers_and_announces_newcomers_and_leavers() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let joined = a.join("team-1").await;
    assert_eq!(joined["room"], "team-1");
    assert_eq!(joined["peers"], json!([]));

    let (mut b, _) = Client::hello(&server, "Bob").await;
    let joined = b.join("team-1").await;
    assert_eq!(joined["peers"], json!([{"peer": a.peer, "name": "Alice"}]));
    let announced = a.expect("peer-joined").await;
    assert_eq!(
        (&announced["room"], &announced["peer"], &announced["name"]),
        (&json!("team-1"), &json!(b.peer), &json!("Bob"))
    );

    b.send(json!({"type": "leave", "room": "team-1"})).await;
    let left = a.expect("peer-left").await;
    assert_eq!(
        (&left["room"], &left["peer"]),
        (&json!("team-1"), &json!(b.peer))
    );
    b.ping().await;
    // Leaving twice is refused: b is no longer in the room.
    b.send(json!({"type": "leave", "room": "team-1"})).await;
    b.expect_error("not_in_room").await;
}

#[tokio::test]
async fn signal_reaches_only_the_addressed_peer_with_server_set_from() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let (mut b, _) = Client::hello(&server, "Bob").await;
    let (mut c, _) = Client::hello(&server, "Carol").await;
    a.join("r").await;
    b.join("r").await;
    c.join("r").await;
    a.expect("peer-joined").await;
    a.expect("peer-joined").await;
    b.expect("peer-joined").await;

    let data = json!({"kind": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "n": 1.5e300, "deep": [{"x": null}]});
    // A forged `from` is ignored.
    a.send(json!({"type": "signal", "room": "r", "to": b.peer, "from": c.peer, "data": data}))
        .await;
    let got = b.expect("signal").await;
    assert_eq!(got["from"], json!(a.peer));
    assert_eq!(got["room"], "r");
    assert_eq!(got["data"], data);
    // Carol was not addressed and sees nothing.
    c.expect_silence(Duration::from_millis(300)).await;
    a.expect_silence(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn relay_refuses_outside_the_room() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let (mut b, _) = Client::hello(&server, "Bob").await;
    a.join("one").await;
    b.join("two").await;
    let signal = |room: &str, to: &str| json!({"type": "signal", "room": room, "to": to, "data": {"kind": "restart"}});

    // Sender not in the room.
    a.send(signal("two", &b.peer)).await;
    let error = a.expect_error("not_in_room").await;
    assert_eq!(error["ref"], "signal");
    // Recipient not in the sender's room, or no such peer at all.
    a.send(signal("one", &b.peer)).await;
    a.expect_error("unknown_peer").await;
    a.send(signal("one", "no-such-peer")).await;
    a.expect_error("unknown_peer").await;
    b.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn room_capacity_name_rules_and_room_count_are_enforced() {
    let server = server(&["--room-capacity", "2"]).await;
    let (mut a, _) = Client::hello(&server, "A").await;
    let (mut b, _) = Client::hello(&server, "B").await;
    let (mut c, _) = Client::hello(&server, "C").await;
    a.join("small").await;
    b.join("small").await;
    c.send(json!({"type": "join", "room": "small"})).await;
    let error = c.expect_error("room_full").await;
    assert_eq!(error["ref"], "join");
    a.expect("peer-joined").await;
    // Joining again a room one is in just repeats `joined`, it does not count twice.
    let again = a.join("small").await;
    assert_eq!(again["peers"].as_array().unwrap().len(), 1);

    for bad in ["", "has space", &"x".repeat(65), "ünï"] {
        c.send(json!({"type": "join", "room": bad})).await;
        c.expect_error("bad_request").await;
    }
    for i in 0..16 {
        c.join(&format!("room-{i}")).await;
    }
    c.send(json!({"type": "join", "room": "room-16"})).await;
    let error = c.expect_error("bad_request").await;
    assert!(error["message"].as_str().unwrap().contains("16"));
}

#[tokio::test]
async fn ping_is_answered_with_pong_and_unknown_fields_are_tolerated() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello_with(
        &server,
        json!({"type": "hello", "v": 1, "name": "A", "future": {"x": 1}}),
    )
    .await;
    a.send(json!({"type": "ping", "extra": true})).await;
    a.expect("pong").await;
}
