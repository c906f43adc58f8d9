//! Protects calls across network blips: a client that reconnects within the grace period gets its session
//! back with every frame it missed, in order, and the other peers never notice; after the grace period
//! the session ends visibly.

mod common;

use std::time::Duration;

use common::{Client, WAIT, server};
use serde_json::json;

/// Drops the TCP connection without a close handshake, as a network failure would.
fn cut(client: Client) -> (String, u64) {
    let Client {
        ws,
        session,
        last_seq,
        ..
    } = client;
    drop(ws);
    (session, last_seq)
}

#[tokio::test]
async fn resume_within_grace_replays_missed_frames_in_order_and_keeps_rooms() {
    let server = server(&["--resume-grace-ms", "5000"]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let (mut b, _) = Client::hello(&server, "Bob").await;
    a.join("r").await;
    b.join("r").await;
    a.expect("peer-joined").await;
    let b_peer = b.peer.clone();
    let (session, last_seq) = cut(b);
    tokio::time::sleep(Duration::from_millis(100)).await;

    for n in 0..5 {
        a.send(json!({"type": "signal", "room": "r", "to": b_peer, "data": {"n": n}}))
            .await;
    }
    a.ping().await;

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": {"session": session, "last_seq": last_seq}});
    let (mut b, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], true);
    assert_eq!(welcome["peer"], json!(b_peer), "same peer id after resume");
    assert_eq!(
        welcome["seq"],
        json!(last_seq),
        "resumed welcome carries the seq the replay continues after"
    );
    b.last_seq = last_seq;
    for n in 0..5 {
        let signal = b.expect("signal").await;
        assert_eq!(signal["data"], json!({"n": n}));
        assert_eq!(signal["from"], json!(a.peer));
    }
    // Still in the room: signals keep flowing both ways, and Alice saw no leave or join.
    b.send(json!({"type": "signal", "room": "r", "to": a.peer, "data": "back"}))
        .await;
    assert_eq!(a.expect("signal").await["data"], "back");
    a.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn resume_replays_only_frames_after_last_seq_and_replaces_a_stale_connection() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let (mut b, _) = Client::hello(&server, "Bob").await;
    a.join("r").await;
    b.join("r").await;
    a.expect("peer-joined").await;
    for n in 0..3 {
        a.send(json!({"type": "signal", "room": "r", "to": b.peer, "data": n}))
            .await;
    }
    // Bob processed only the first signal, then his network changed while the old socket still looks open.
    assert_eq!(b.expect("signal").await["data"], 0);
    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": {"session": b.session, "last_seq": b.last_seq}});
    let (mut b2, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], true);
    b2.last_seq = b.last_seq;
    assert_eq!(b2.expect("signal").await["data"], 1);
    assert_eq!(b2.expect("signal").await["data"], 2);
    // The stale connection is closed by the server.
    let code = common::expect_close(&mut b.ws).await;
    assert_eq!(u16::from(code), 1000);
}

#[tokio::test]
async fn after_the_grace_period_peers_see_peer_left_and_a_late_resume_starts_fresh() {
    let server = server(&["--resume-grace-ms", "300"]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let (mut b, _) = Client::hello(&server, "Bob").await;
    a.join("r").await;
    b.join("r").await;
    a.expect("peer-joined").await;
    let b_peer = b.peer.clone();
    let (session, last_seq) = cut(b);
    // Nothing during the grace period...
    a.expect_silence(Duration::from_millis(150)).await;
    // ...then the session ends.
    let left = a.expect("peer-left").await;
    assert_eq!(left["peer"], json!(b_peer));

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": {"session": session, "last_seq": last_seq}});
    let (b, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], false);
    assert_eq!(welcome["seq"], 1);
    assert_ne!(b.peer, b_peer);
    assert!(WAIT > Duration::from_millis(300));
}

#[tokio::test]
async fn resume_with_an_unknown_session_starts_fresh() {
    let server = server(&[]).await;
    let hello = json!({"type": "hello", "v": 1, "name": "X", "resume": {"session": "made-up", "last_seq": 40}});
    let (_c, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], false);
    assert_eq!(welcome["seq"], 1);
}

#[tokio::test]
async fn a_long_absence_replays_the_last_256_frames_and_shows_the_gap() {
    let server = server(&["--rate-burst", "1000", "--rate-per-sec", "1000"]).await;
    let (mut a, _) = Client::hello(&server, "Alice").await;
    let (mut b, _) = Client::hello(&server, "Bob").await;
    a.join("r").await;
    b.join("r").await;
    a.expect("peer-joined").await;
    let b_peer = b.peer.clone();
    let (session, last_seq) = cut(b);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 0..300 {
        a.send(json!({"type": "signal", "room": "r", "to": b_peer, "data": n}))
            .await;
    }
    a.ping().await;

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": {"session": session, "last_seq": last_seq}});
    let (mut b, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], true);
    // Frames 1..=last_seq were seen; the next 300 were signals; only the newest 256 frames are kept.
    let newest = last_seq + 300;
    let oldest_kept = newest - 255;
    assert_eq!(
        welcome["seq"],
        json!(oldest_kept - 1),
        "replay starts at the oldest kept frame"
    );
    b.last_seq = oldest_kept - 1;
    for n in 44..300 {
        assert_eq!(b.expect("signal").await["data"], n);
    }
    b.expect_silence(Duration::from_millis(100)).await;
}
