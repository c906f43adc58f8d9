//! Protects the server from connections that never become sessions: a slow or
//! silent handshake is cut at the handshake timeout, idle HTTP connections do not linger, and connections
//! that are not sessions yet are limited per address and overall, so half-open sockets cannot pile up.
//! Clients bind other loopback addresses (127.0.0.x) to act as different hosts.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Client, metric, server};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::MaybeTlsStream;

/// A TCP connection to `server` from the loopback address `from`.
async fn tcp_from(from: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server closes `tcp` within `wait` (EOF or reset), reading and discarding anything it sends.
async fn closed_within(tcp: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A WebSocket client from loopback address `from` that completed hello.
async fn client_from(
    from: [u8; 4],
    server: &signaling_server::RunningServer,
    name: &str,
) -> Client {
    let tcp = tcp_from(from, server.local_addr()).await;
    let (ws, _) = tokio_tungstenite::client_async(server.ws_url(), MaybeTlsStream::Plain(tcp))
        .await
        .expect("websocket handshake");
    Client::hello_on(ws, json!({"type": "hello", "v": 1, "name": name}))
        .await
        .0
}

#[tokio::test]
async fn slow_or_silent_handshakes_are_cut_at_the_handshake_timeout() {
    let server = server(&["--handshake-timeout-ms", "300"]).await;
    let started = Instant::now();
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut slow = TcpStream::connect(server.local_addr()).await.unwrap();
    // Half a request, then nothing (slowloris).
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    assert!(closed_within(&mut slow, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(
        metric(&server, "signaling_handshake_timeouts_total", "").await,
        2.0
    );
    // A normal client is not affected by the deadline once its request arrived.
    let (mut a, _) = Client::hello(&server, "A").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.ping().await;
}

#[tokio::test]
async fn an_idle_kept_alive_http_connection_is_closed_after_the_handshake_timeout() {
    let server = server(&["--handshake-timeout-ms", "300"]).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut tcp, Duration::from_secs(3)).await);
}

#[tokio::test]
async fn pending_connections_are_limited_per_address_and_sessions_free_their_slot() {
    // A long handshake timeout: the held sockets must stay pending for the whole test, however slow.
    let server = server(&[
        "--max-pending-per-ip",
        "3",
        "--handshake-timeout-ms",
        "60000",
    ])
    .await;
    let addr = server.local_addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tcp_from([127, 0, 0, 2], addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fourth from the same address is closed at once.
    let mut fourth = tcp_from([127, 0, 0, 2], addr).await;
    assert!(closed_within(&mut fourth, Duration::from_secs(1)).await);
    for tcp in &mut held {
        assert!(
            !closed_within(tcp, Duration::from_millis(50)).await,
            "still open"
        );
    }
    // Another address is not affected.
    let mut other = client_from([127, 0, 0, 1], &server, "other").await;
    other.ping().await;
    // A connection stops being pending once it is a session: more sessions than pending slots.
    let mut sessions = Vec::new();
    for i in 0..5 {
        sessions.push(client_from([127, 0, 0, 3], &server, &format!("s{i}")).await);
    }
    for s in &mut sessions {
        s.ping().await;
    }
    assert_eq!(
        metric(
            &server,
            "signaling_connections_refused_total",
            "pending_per_ip"
        )
        .await,
        1.0
    );
    // Only the three held sockets are pending now.
    assert_eq!(
        metric(&server, "signaling_pending_connections ", "").await,
        3.0
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        metric(&server, "signaling_pending_connections ", "").await,
        0.0
    );
}

#[tokio::test]
async fn pending_connections_are_limited_overall() {
    let server = server(&["--max-pending", "2", "--handshake-timeout-ms", "60000"]).await;
    let addr = server.local_addr();
    let _a = tcp_from([127, 0, 0, 4], addr).await;
    let _b = tcp_from([127, 0, 0, 5], addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tcp_from([127, 0, 0, 6], addr).await;
    assert!(closed_within(&mut third, Duration::from_secs(1)).await);
    assert_eq!(
        metric(
            &server,
            "signaling_connections_refused_total",
            "reason=\"pending\""
        )
        .await,
        1.0
    );
}
