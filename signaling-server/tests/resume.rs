//! Protects calls across network blips: a client that reconnects within the grace period gets its session
//! back with every frame it missed, in order, and the other peers never notice; after the grace period
//! the session ends visibly.

mod common;

use std::time::Duration;

use common::{Client, WAIT, server};
use serde_json::{Value, json};

/// Drops the TCP connection without a close handshake, as a network failure would; returns the `resume`
/// that continues the session, and its `last_seq`.
fn cut(client: Client) -> (Value, u64) {
    let resume = client.resume();
    let last_seq = client.last_seq;
    drop(client);
    (resume, last_seq)
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
    let (resume, last_seq) = cut(b);
    tokio::time::sleep(Duration::from_millis(100)).await;

    for n in 0..5 {
        a.send(json!({"type": "signal", "room": "r", "to": b_peer, "data": {"n": n}}))
            .await;
    }
    a.ping().await;

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": resume});
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
    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": b.resume()});
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
    let (resume, _) = cut(b);
    // Nothing during the grace period...
    a.expect_silence(Duration::from_millis(150)).await;
    // ...then the session ends.
    let left = a.expect("peer-left").await;
    assert_eq!(left["peer"], json!(b_peer));

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": resume});
    let (b, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], false);
    assert_eq!(welcome["seq"], 1);
    assert_ne!(b.peer, b_peer);
    assert!(WAIT > Duration::from_millis(300));
}

#[tokio::test]
async fn resume_with_an_unknown_session_starts_fresh() {
    let server = server(&[]).await;
    let hello = json!({"type": "hello", "v": 1, "name": "X", "resume": {"session": "made-up", "last_seq": 40, "token": "made-up"}});
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
    let (resume, last_seq) = cut(b);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in 0..300 {
        a.send(json!({"type": "signal", "room": "r", "to": b_peer, "data": n}))
            .await;
    }
    a.ping().await;

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": resume});
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

/// A session id alone must not resume a session. Without the resume token of its
/// latest `welcome` a `hello` gets a fresh session, and the owner keeps its connection, its rooms and its
/// frames; the server used to hand the session (and its replay) to whoever named its id.
#[tokio::test]
async fn resume_needs_the_resume_token_and_a_wrong_one_leaves_the_session_alone() {
    let server = server(&[]).await;
    let (mut a, welcome_a) = Client::hello(&server, "Alice").await;
    let (mut b, welcome_b) = Client::hello(&server, "Bob").await;
    // ≥ 128 random bits, URL-safe, different per session.
    let token = welcome_b["resume_token"].as_str().unwrap();
    assert!(token.len() >= 22, "{token}");
    assert!(
        token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    assert_ne!(welcome_a["resume_token"], welcome_b["resume_token"]);
    a.join("r").await;
    b.join("r").await;
    a.expect("peer-joined").await;

    for token in [
        json!(null),
        json!(""),
        json!("guessed-token-000000000"),
        json!(welcome_a["resume_token"]),
    ] {
        let mut resume = b.resume();
        if token.is_null() {
            resume.as_object_mut().unwrap().remove("token");
        } else {
            resume["token"] = token;
        }
        let hello = json!({"type": "hello", "v": 1, "name": "Mallory", "resume": resume});
        let (mallory, welcome) = Client::hello_with(&server, hello).await;
        assert_eq!(welcome["resumed"], false, "{welcome}");
        assert_ne!(mallory.peer, b.peer);
        assert_eq!(welcome["seq"], 1);
    }
    // Bob's session is untouched: same connection, still in the room, nobody saw him leave.
    b.ping().await;
    a.send(json!({"type": "signal", "room": "r", "to": b.peer, "data": "still you"}))
        .await;
    assert_eq!(b.expect("signal").await["data"], "still you");
    a.expect_silence(Duration::from_millis(200)).await;
}

/// The resume token changes on every welcome: after a resume the previous one is worthless, so a token
/// seen once (a log, a shoulder) does not resume the session later.
#[tokio::test]
async fn every_welcome_brings_a_new_resume_token_and_the_old_one_stops_working() {
    let server = server(&[]).await;
    let (b, _) = Client::hello(&server, "Bob").await;
    let old = b.resume();
    let (resume, _) = cut(b);
    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": resume});
    let (b2, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], true);
    assert_ne!(welcome["resume_token"], old["token"]);

    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": old});
    let (other, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], false, "the old token no longer resumes");
    assert_ne!(other.peer, b2.peer);
    // The current token still does.
    let (resume, _) = cut(b2);
    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "resume": resume});
    let (_b3, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], true);
}
