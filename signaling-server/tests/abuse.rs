//! Protects the server and other users from broken or hostile clients: malformed, oversized, binary and
//! flooding frames each get their documented error while the connection stays usable, repeated protocol
//! errors and silence get the connection closed, and a client that stops reading cannot grow memory.

mod common;

use std::time::Duration;

use common::{Client, expect_close, metric, raw_close_code, server};
use futures_util::SinkExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn malformed_and_unknown_frames_get_bad_request_and_keep_the_connection() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "A").await;
    a.send_text("{not json".into()).await;
    let error = a.expect_error("bad_request").await;
    assert!(error.get("ref").is_none());
    a.send(json!({"type": "shout", "loud": true})).await;
    let error = a.expect_error("bad_request").await;
    assert_eq!(error["ref"], "shout");
    a.send(json!({"type": "signal", "room": "r"})).await;
    let error = a.expect_error("bad_request").await;
    assert_eq!(error["ref"], "signal");
    a.send(json!({"type": "hello", "v": 1, "name": "again"}))
        .await;
    a.expect_error("bad_request").await;
    a.ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let error = a.expect_error("bad_request").await;
    assert!(error["message"].as_str().unwrap().contains("binary"));
    a.ping().await;
    assert_eq!(
        metric(&server, "signaling_errors_total", "bad_request").await,
        5.0
    );
}

/// The socket never buffers more than the frame limit. A frame above it closes the
/// connection with 1009 as soon as its header announces the size, before hello as after it; the old hard
/// cap of max(4 × limit, 1 MiB) answered `too_large` and buffered the whole frame.
#[tokio::test]
async fn a_frame_above_the_limit_closes_with_1009_before_and_after_hello() {
    let server = server(&["--max-frame-bytes", "1024"]).await;
    let (mut a, _) = Client::hello(&server, "A").await;
    a.join("r").await;
    // Exactly at the limit is fine.
    let at_limit = json!({"type": "signal", "room": "r", "to": a.peer, "data": ""}).to_string();
    let pad = 1024 - at_limit.len();
    let exact = json!({"type": "signal", "room": "r", "to": a.peer, "data": "x".repeat(pad)});
    assert_eq!(exact.to_string().len(), 1024);
    a.send(exact).await;
    a.expect("signal").await;
    let big = json!({"type": "signal", "room": "r", "to": a.peer, "data": "x".repeat(2000)});
    a.send(big).await;
    assert_eq!(expect_close(&mut a.ws).await, CloseCode::Size);

    // Before hello, a header announcing 64 KiB is refused without waiting for the payload: the client
    // sends only the header and 10 bytes, and the close comes at once (not after the hello timeout).
    let mut raw = Client::raw(&server).await;
    let MaybeTlsStream::Plain(tcp) = raw.get_mut() else {
        panic!("plain TCP expected")
    };
    let mut header = vec![0x81, 0xFF]; // FIN + text, masked, 64-bit length
    header.extend_from_slice(&(64u64 * 1024).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // mask key
    header.extend_from_slice(&[0u8; 10]);
    tcp.write_all(&header).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(raw_close_code(&mut raw).await, 1009);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        metric(&server, "signaling_oversized_frames_total", "").await,
        2.0
    );
}

#[tokio::test]
async fn more_than_ten_protocol_errors_in_ten_seconds_close_with_1008() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "A").await;
    for _ in 0..10 {
        a.send_text("nope".into()).await;
        a.expect_error("bad_request").await;
    }
    a.ping().await;
    a.send_text("nope".into()).await;
    assert_eq!(expect_close(&mut a.ws).await, CloseCode::Policy);
}

#[tokio::test]
async fn flooding_is_rate_limited_never_silently() {
    let server = server(&["--rate-per-sec", "5", "--rate-burst", "10"]).await;
    let (mut a, _) = Client::hello(&server, "A").await;
    for _ in 0..40 {
        a.send(json!({"type": "ping"})).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..40 {
        let frame = a.recv().await;
        match frame["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if frame["code"] == "rate_limited" => limited += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    // Every frame was answered; the burst of 10 (plus at most a token or two refilled) got through.
    assert_eq!(pongs + limited, 40);
    assert!((10..=13).contains(&pongs), "pongs={pongs}");
    // Rate limiting is not a protocol error: the connection stays open and recovers.
    tokio::time::sleep(Duration::from_millis(400)).await;
    a.ping().await;
}

#[tokio::test]
async fn first_frame_must_be_hello_within_the_timeout() {
    let server = server(&["--hello-timeout-ms", "300"]).await;
    let mut silent = Client::raw(&server).await;
    assert_eq!(expect_close(&mut silent).await, CloseCode::Policy);

    let mut rude = Client::raw(&server).await;
    rude.send(Message::Text(
        json!({"type": "join", "room": "r"}).to_string().into(),
    ))
    .await
    .unwrap();
    let mut client = Client::unwelcomed(rude);
    let error = client.expect_error("bad_request").await;
    assert_eq!(error["seq"], 0);
    assert_eq!(expect_close(&mut client.ws).await, CloseCode::Policy);

    let (mut old, _) = (Client::raw(&server).await, ());
    old.send(Message::Text(
        json!({"type": "hello", "v": 2}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(expect_close(&mut old).await, CloseCode::Policy);
}

#[tokio::test]
async fn silent_connection_is_dropped_after_three_heartbeats_and_a_live_one_is_kept() {
    let server = server(&["--heartbeat-ms", "200"]).await;
    let (mut live, welcome) = Client::hello(&server, "live").await;
    assert_eq!(welcome["heartbeat_ms"], 200);
    let (mut silent, _) = Client::hello(&server, "silent").await;
    // The live client keeps reading, so its WebSocket layer answers the server's pings.
    live.expect_silence(Duration::from_millis(1200)).await;
    live.ping().await;
    // The silent one never read, so it never answered a ping: the server closed it.
    assert_eq!(raw_close_code(&mut silent.ws).await, 1008);
}

#[tokio::test]
async fn slow_reader_is_dropped_instead_of_growing_memory() {
    let server = server(&["--rate-per-sec", "100000", "--rate-burst", "100000"]).await;
    let (mut slow, _) = Client::hello(&server, "slow").await;
    let (mut fast, _) = Client::hello(&server, "fast").await;
    slow.join("r").await;
    fast.join("r").await;
    slow.expect("peer-joined").await;
    // 60 KiB signals: the socket buffers fill, then more than 256 frames queue up unread.
    let blob = "y".repeat(60_000);
    let text = json!({"type": "signal", "room": "r", "to": slow.peer, "data": blob}).to_string();
    for _ in 0..1500 {
        fast.send_text(text.clone()).await;
        if metric(&server, "signaling_slow_reader_drops_total", "").await >= 1.0 {
            break;
        }
    }
    assert_eq!(
        metric(&server, "signaling_slow_reader_drops_total", "").await,
        1.0
    );
    // The sender is unaffected.
    fast.ping().await;
}

#[tokio::test]
async fn connection_limit_refuses_with_503() {
    let server = server(&["--max-connections", "1"]).await;
    let (_a, _) = Client::hello(&server, "A").await;
    let refused = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("503"), "{refused}");
}
