//! Protects the server's memory: a session's resume ring is bounded in bytes, all
//! rings together stay under a global budget (sessions waiting in their grace period give way first, then
//! relays are refused with `overloaded`), and sessions, parked ones included, are limited overall, per
//! address and per user. Clients bind other loopback addresses (127.0.0.x) to act as different hosts.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, expect_close, metric, server};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const SECRET: &str = "a-test-secret-of-32-bytes-length";

/// Opens a WebSocket from loopback address `from` and sends `hello`.
async fn connect_from(
    from: [u8; 4],
    server: &signaling_server::RunningServer,
    hello: &Value,
) -> Client {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let tcp = socket.connect(server.local_addr()).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(server.ws_url(), MaybeTlsStream::Plain(tcp))
        .await
        .expect("websocket handshake");
    let mut client = Client::unwelcomed(ws);
    client.send(hello.clone()).await;
    client
}

async fn hello_from(from: [u8; 4], server: &signaling_server::RunningServer, name: &str) -> Client {
    let hello = json!({"type": "hello", "v": 1, "name": name});
    welcomed(connect_from(from, server, &hello).await).await
}

async fn welcomed(mut client: Client) -> Client {
    let welcome = client.expect("welcome").await;
    client.peer = welcome["peer"].as_str().unwrap().to_owned();
    client.session = welcome["session"].as_str().unwrap().to_owned();
    client.resume_token = welcome["resume_token"].as_str().unwrap().to_owned();
    client
}

/// Signals of about `size` bytes from `from` to `to` in room `r`, numbered from `first`.
async fn send_big(from: &mut Client, to: &str, first: u64, count: u64, size: usize) {
    for n in first..first + count {
        let data = json!({"n": n, "pad": "x".repeat(size)});
        from.send(json!({"type": "signal", "room": "r", "to": to, "data": data}))
            .await;
    }
}

#[tokio::test]
async fn the_resume_ring_keeps_at_most_its_byte_budget() {
    let server = server(&[
        "--max-frame-bytes",
        "16384",
        "--resume-buffer-bytes",
        "65536",
    ])
    .await;
    let (mut a, _) = Client::hello(&server, "A").await;
    let (mut b, _) = Client::hello(&server, "B").await;
    a.join("r").await;
    b.join("r").await;
    a.expect("peer-joined").await;
    let resume = b.resume();
    let b_peer = b.peer.clone();
    drop(b);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // 10 × 15 KB to the parked session: its ring keeps only what fits in 64 KiB (4 frames), the newest.
    send_big(&mut a, &b_peer, 0, 10, 15_000).await;
    a.ping().await;
    let buffered = metric(&server, "signaling_buffered_bytes", "").await;
    assert!(buffered <= 65536.0 + 4096.0, "buffered {buffered}");
    assert!(buffered >= 4.0 * 15_000.0, "buffered {buffered}");
    assert_eq!(metric(&server, "signaling_sessions_parked", "").await, 1.0);

    let hello = json!({"type": "hello", "v": 1, "name": "B", "resume": resume});
    let (mut b, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], true);
    b.last_seq = welcome["seq"].as_u64().unwrap();
    let mut replayed = Vec::new();
    while let Some(frame) = b.try_recv(Duration::from_millis(300)).await {
        replayed.push(frame["data"]["n"].as_u64().unwrap());
    }
    assert_eq!(replayed, vec![6, 7, 8, 9], "the newest frames that fit");
    assert_eq!(metric(&server, "signaling_sessions_parked", "").await, 0.0);
}

/// Frames are ≈ 15.1 KB: a 64 KiB ring holds 4, and the 140 000-byte budget 8 plus small frames. Two
/// parked rings of 4 fill most of it; each later relay that needs room ends the oldest parked session (its
/// peers see it leave, long before its 30 s grace period). With nobody parked, connected sessions drop the
/// frames their connection already wrote, and relaying goes on. (When frames not yet written fill the
/// budget, relays are refused with `overloaded`: hub::tests.)
#[tokio::test]
async fn over_the_global_buffer_budget_parked_sessions_go_first_then_written_frames() {
    let server = server(&[
        "--max-frame-bytes",
        "16384",
        "--resume-buffer-bytes",
        "65536",
        "--max-buffered-bytes",
        "140000",
    ])
    .await;
    let (mut a, _) = Client::hello(&server, "A").await;
    a.join("r").await;
    let mut others = Vec::new();
    for name in ["B", "C", "D", "E", "F"] {
        let (mut c, _) = Client::hello(&server, name).await;
        c.join("r").await;
        a.expect("peer-joined").await;
        others.push(c);
    }
    let [b, c, mut d, mut e, mut f]: [Client; 5] = others.try_into().ok().unwrap();
    let (b_peer, c_peer) = (b.peer.clone(), c.peer.clone());
    let b_resume = b.resume();
    for parked in [b, c] {
        let to = parked.peer.clone();
        drop(parked);
        tokio::time::sleep(Duration::from_millis(50)).await;
        send_big(&mut a, &to, 0, 4, 15_000).await;
        a.ping().await;
    }
    assert_eq!(metric(&server, "signaling_sessions_parked", "").await, 2.0);
    // D's first signal ends B, E's first ends C.
    send_big(&mut a, &d.peer, 0, 4, 15_000).await;
    send_big(&mut a, &e.peer, 0, 4, 15_000).await;
    a.send(json!({"type": "ping"})).await;
    assert_eq!(a.expect("peer-left").await["peer"], json!(b_peer));
    assert_eq!(a.expect("peer-left").await["peer"], json!(c_peer));
    a.expect("pong").await;
    assert_eq!(
        metric(
            &server,
            "signaling_sessions_evicted_total",
            "buffered_bytes"
        )
        .await,
        2.0
    );
    // D and E hold ≈ 120 KB they have been sent. F's signals need room: those frames go.
    send_big(&mut a, &f.peer, 0, 2, 15_000).await;
    a.ping().await;
    assert_eq!(
        metric(&server, "signaling_buffer_trims_total", "").await,
        1.0
    );
    let buffered = metric(&server, "signaling_buffered_bytes", "").await;
    assert!(buffered <= 140_000.0, "buffered {buffered}");
    for (client, count) in [(&mut d, 4), (&mut e, 4), (&mut f, 2)] {
        let mut got = Vec::new();
        while got.len() < count {
            let frame = client.recv().await;
            if frame["type"] == "signal" {
                got.push(frame["data"]["n"].as_u64().unwrap());
            }
        }
        assert_eq!(
            got,
            (0..count as u64).collect::<Vec<_>>(),
            "every signal arrived"
        );
    }
    assert_eq!(
        metric(&server, "signaling_errors_total", "overloaded").await,
        0.0
    );
    // B's session is gone: resuming it starts afresh.
    let hello = json!({"type": "hello", "v": 1, "name": "B", "resume": b_resume});
    let (_b, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], false);
}

#[tokio::test]
async fn sessions_per_address_end_that_address_parked_sessions_first_then_are_refused() {
    let server = server(&["--max-sessions-per-ip", "2"]).await;
    let mut first = hello_from([127, 0, 0, 2], &server, "one").await;
    let _second = hello_from([127, 0, 0, 2], &server, "two").await;
    // Both live: a third from the same address is refused.
    let hello = json!({"type": "hello", "v": 1, "name": "three"});
    let mut third = connect_from([127, 0, 0, 2], &server, &hello).await;
    let error = third.expect_error("too_many_sessions").await;
    assert_eq!(
        (error["seq"].as_u64(), error["ref"].as_str()),
        (Some(0), Some("hello"))
    );
    assert_eq!(expect_close(&mut third.ws).await, CloseCode::Policy);
    // Another address is not affected.
    hello_from([127, 0, 0, 3], &server, "elsewhere")
        .await
        .ping()
        .await;
    // A parked session of that address makes room (a reload must not lock its owner out for 30 s).
    first.ping().await;
    let resume = first.resume();
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    hello_from([127, 0, 0, 2], &server, "three")
        .await
        .ping()
        .await;
    let hello = json!({"type": "hello", "v": 1, "name": "one", "resume": resume});
    let resumed = welcomed(connect_from([127, 0, 0, 4], &server, &hello).await).await;
    assert_ne!(
        resumed.session,
        resume["session"].as_str().unwrap(),
        "evicted"
    );
    assert_eq!(
        metric(&server, "signaling_sessions_evicted_total", "per_ip").await,
        1.0
    );
    assert_eq!(
        metric(&server, "signaling_sessions_refused_total", "per_ip").await,
        1.0
    );
}

#[tokio::test]
async fn sessions_per_user_are_limited() {
    let server = server(&["--auth-secret", SECRET, "--max-sessions-per-user", "2"]).await;
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    let token = |sub: &str| {
        encode(
            &Header::default(),
            &json!({"sub": sub, "exp": exp}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let hello = |sub: &str| json!({"type": "hello", "v": 1, "name": sub, "token": token(sub)});
    let _a1 = welcomed(connect_from([127, 0, 0, 2], &server, &hello("ann")).await).await;
    let _a2 = welcomed(connect_from([127, 0, 0, 3], &server, &hello("ann")).await).await;
    let mut a3 = connect_from([127, 0, 0, 4], &server, &hello("ann")).await;
    a3.expect_error("too_many_sessions").await;
    assert_eq!(expect_close(&mut a3.ws).await, CloseCode::Policy);
    welcomed(connect_from([127, 0, 0, 4], &server, &hello("bob")).await).await;
}

#[tokio::test]
async fn the_global_session_limit_counts_parked_sessions_and_answers_overloaded() {
    let server = server(&["--max-sessions", "2", "--resume-grace-ms", "30000"]).await;
    let one = hello_from([127, 0, 0, 2], &server, "one").await;
    let _two = hello_from([127, 0, 0, 3], &server, "two").await;
    // Parked sessions count: with one parked, a new hello ends it to make room...
    drop(one);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(metric(&server, "signaling_sessions ", "").await, 2.0);
    let _three = hello_from([127, 0, 0, 4], &server, "three").await;
    // ...and with none parked the next one is refused as overloaded (1013: try again later).
    let hello = json!({"type": "hello", "v": 1, "name": "four"});
    let mut four = connect_from([127, 0, 0, 5], &server, &hello).await;
    four.expect_error("overloaded").await;
    assert_eq!(expect_close(&mut four.ws).await, CloseCode::Again);
    assert_eq!(
        metric(&server, "signaling_sessions_refused_total", "max_sessions").await,
        1.0
    );
}
