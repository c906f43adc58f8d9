//! Test harness: starts the real server on an ephemeral 127.0.0.1 port and drives it with real WebSocket
//! clients speaking the protocol.
#![allow(dead_code)]

pub mod janus;
pub mod janus_process;
pub mod node;
pub mod redis_server;

use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use signaling_server::{Config, RunningServer};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for an expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Starts a server with the defaults plus `args` (the bind address is always an ephemeral port, and so is
/// the metrics listener's).
pub async fn server(args: &[&str]) -> RunningServer {
    let mut all = vec![
        "--bind",
        "127.0.0.1:0",
        "--ui-dir",
        "/nonexistent",
        "--metrics-bind",
        "127.0.0.1:0",
    ];
    all.extend_from_slice(args);
    signaling_server::start(Config::from_args(all).expect("valid test flags"))
        .await
        .expect("server starts")
}

/// A server whose web UI is `files` (path, content) in a fresh temporary folder named after `name`; the
/// folder is returned for the test to remove.
pub async fn ui_server(name: &str, files: &[(&str, &str)]) -> (RunningServer, PathBuf) {
    let dir = std::env::temp_dir().join(format!("signaling-{name}-{}", std::process::id()));
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in the folder")).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let path = dir.to_str().expect("a UTF-8 temporary path");
    let args = ["--bind", "127.0.0.1:0", "--ui-dir", path];
    let server = signaling_server::start(Config::from_args(args).expect("valid test flags"))
        .await
        .expect("server starts");
    (server, dir)
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub peer: String,
    pub session: String,
    /// From the latest `welcome`: what `hello.resume.token` must carry.
    pub resume_token: String,
    pub last_seq: u64,
}

impl Client {
    /// Opens a socket without saying hello.
    pub async fn raw(server: &RunningServer) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        let (ws, _) = tokio_tungstenite::connect_async(server.ws_url())
            .await
            .expect("websocket connects");
        ws
    }

    /// Connects to `ws_url` (a server in another process) and completes hello/welcome.
    pub async fn hello_url(ws_url: &str, hello: Value) -> (Client, Value) {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .expect("websocket connects");
        Self::hello_on(ws, hello).await
    }

    /// Connects and completes hello/welcome.
    pub async fn hello(server: &RunningServer, name: &str) -> (Client, Value) {
        Self::hello_with(server, json!({"type": "hello", "v": 1, "name": name})).await
    }

    pub async fn hello_with(server: &RunningServer, hello: Value) -> (Client, Value) {
        let ws = Self::raw(server).await;
        Self::hello_on(ws, hello).await
    }

    /// Says `hello` on an open socket and expects `welcome`.
    pub async fn hello_on(
        ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
        hello: Value,
    ) -> (Client, Value) {
        let mut client = Client::unwelcomed(ws);
        client.send(hello).await;
        let welcome = client.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        client.peer = welcome["peer"].as_str().unwrap().to_owned();
        client.session = welcome["session"].as_str().unwrap().to_owned();
        client.resume_token = welcome["resume_token"].as_str().unwrap().to_owned();
        (client, welcome)
    }

    /// A client on `ws` before any `welcome`.
    pub fn unwelcomed(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            peer: String::new(),
            session: String::new(),
            resume_token: String::new(),
            last_seq: 0,
        }
    }

    /// The `resume` object that continues this client's session where it left off.
    pub fn resume(&self) -> Value {
        json!({"session": self.session, "last_seq": self.last_seq, "token": self.resume_token})
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// Next JSON frame (control frames skipped); checks that `seq` rises by exactly one.
    pub async fn recv(&mut self) -> Value {
        self.recv_within(WAIT).await
    }

    /// Next frame of `type` within `wait` (for what takes a timeout to happen), failing on anything else.
    pub async fn expect_within(&mut self, frame_type: &str, wait: Duration) -> Value {
        let frame = self.recv_within(wait).await;
        assert_eq!(frame["type"], frame_type, "unexpected frame {frame}");
        frame
    }

    async fn recv_within(&mut self, wait: Duration) -> Value {
        let frame = self.try_recv(wait).await.expect("expected a frame");
        if let Some(seq) = frame["seq"].as_u64() {
            // A resumed welcome repeats the client's last_seq; errors before a session have seq 0.
            let resumed_welcome = frame["type"] == "welcome" && frame["resumed"] == true;
            if !resumed_welcome && seq != 0 {
                assert_eq!(seq, self.last_seq + 1, "seq must increase by one: {frame}");
            }
            self.last_seq = seq;
        }
        frame
    }

    /// Next frame of `type`, failing on anything else.
    pub async fn expect(&mut self, frame_type: &str) -> Value {
        let frame = self.recv().await;
        assert_eq!(frame["type"], frame_type, "unexpected frame {frame}");
        frame
    }

    /// Next error frame; asserts its code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let frame = self.expect("error").await;
        assert_eq!(frame["code"], code, "{frame}");
        assert!(
            frame["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error needs a message: {frame}"
        );
        frame
    }

    /// A JSON frame within `wait`, or `None` if nothing (but control frames) arrived.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match message.expect("socket error") {
                Message::Text(text) => {
                    return Some(serde_json::from_str(&text).expect("server sends JSON"));
                }
                Message::Close(frame) => panic!("unexpected close: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Asserts that no JSON frame arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(frame) = self.try_recv(wait).await {
            panic!("expected no frame, got {frame}");
        }
    }

    /// Round trip through the server: proves the connection is open and everything before was handled.
    pub async fn ping(&mut self) {
        self.send(json!({"type": "ping"})).await;
        self.expect("pong").await;
    }

    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type": "join", "room": room})).await;
        self.expect("joined").await
    }
}

/// Reads until the server closes; returns the close code (skipping any frames before it).
pub async fn expect_close<S>(ws: &mut WebSocketStream<S>) -> CloseCode
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("server closes in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code,
            Some(Ok(Message::Close(None))) => panic!("close without a code"),
            Some(Ok(_)) => continue,
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}

/// GET `path` over plain HTTP; returns status and body.
pub async fn http_get(server: &RunningServer, path: &str) -> (u16, String) {
    get_url(&format!("{}{path}", server.http_url())).await
}

pub async fn get_url(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("http get");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// GET /metrics from the metrics listener.
pub async fn metrics_text(server: &RunningServer) -> String {
    let url = server
        .metrics_url()
        .expect("test servers have a metrics listener");
    let (status, body) = get_url(&format!("{url}/metrics")).await;
    assert_eq!(status, 200);
    body
}

/// Reads one counter or gauge from /metrics (sum over label sets matching `filter`).
pub async fn metric(server: &RunningServer, name: &str, filter: &str) -> f64 {
    let body = metrics_text(server).await;
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reads the raw TCP stream of a client that never polled its WebSocket (so its library never answered a
/// ping) until the server's close frame; returns its code.
pub async fn raw_close_code(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> u16 {
    use tokio::io::AsyncReadExt;
    let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
        panic!("plain TCP expected")
    };
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut bytes)).await;
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0f;
        let (len, header) = match bytes[at + 1] & 0x7f {
            126 => (
                u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize,
                4,
            ),
            127 => panic!("unexpectedly large frame"),
            n => (n as usize, 2),
        };
        let payload = &bytes[at + header..at + header + len];
        if opcode == 8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
        at += header + len;
    }
    panic!("no close frame in {} bytes", bytes.len());
}
