//! The client against the real signaling server (started in-process on an ephemeral port), through a
//! TCP proxy the tests can cut: joining and relaying, resuming after a network drop without losing or
//! repeating a frame, rejoining rooms after a server restart, and an unreachable server showing offline.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

async fn server_at(bind: &str, extra: &[&str]) -> signaling_server::RunningServer {
    let mut args = vec!["--bind", bind, "--ui-dir", "/nonexistent"];
    args.extend_from_slice(extra);
    let config = signaling_server::Config::from_args(args).expect("valid flags");
    signaling_server::start(config)
        .await
        .expect("server starts")
}

/// Forwards connections to `target`; `cut()` drops every open connection, `freeze()` stops forwarding on
/// them while keeping them open (a phone's link after the network changed under it); new ones still work.
struct Proxy {
    addr: SocketAddr,
    generation: watch::Sender<u64>,
    frozen: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (generation, _) = watch::channel(0u64);
        let (frozen, _) = watch::channel(0u64);
        let gen_tx = generation.clone();
        let frozen_tx = frozen.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = gen_tx.subscribe();
                let mut freeze = frozen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let frozen = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        _ = cut.changed() => false,
                        _ = freeze.changed() => true,
                    };
                    if frozen {
                        // Both sockets stay open and silent until the test ends.
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
        Proxy {
            addr,
            generation,
            frozen,
        }
    }

    fn url(&self) -> Url {
        parse_server_url(&format!("ws://{}/ws", self.addr)).unwrap()
    }

    fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    fn freeze(&self) {
        self.frozen.send_modify(|g| *g += 1);
    }
}

fn config(url: Url, name: &str, rooms: &[&str]) -> ClientConfig {
    ClientConfig {
        url,
        name: name.into(),
        token: None,
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
    }
}

/// Receives events until `pick` returns a value.
async fn until<T>(
    rx: &mut mpsc::Receiver<ClientEvent>,
    mut pick: impl FnMut(&ClientEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = rx.recv().await.expect("client alive");
            if let Some(value) = pick(&event) {
                return value;
            }
        }
    })
    .await
    .expect("expected event in time")
}

fn welcome(event: &ClientEvent) -> Option<(String, bool)> {
    match event {
        ClientEvent::Frame(ServerFrame::Welcome { peer, resumed, .. }) => {
            Some((peer.clone(), *resumed))
        }
        _ => None,
    }
}

/// Our `joined` (the room list) arrived.
fn joined(event: &ClientEvent) -> Option<()> {
    matches!(event, ClientEvent::Frame(ServerFrame::Joined { .. })).then_some(())
}

fn joined_peer(event: &ClientEvent) -> Option<String> {
    match event {
        ClientEvent::Frame(ServerFrame::PeerJoined { peer, .. }) => Some(peer.clone()),
        _ => None,
    }
}

fn signal_n(event: &ClientEvent) -> Option<i64> {
    match event {
        ClientEvent::Frame(ServerFrame::Signal { data, .. }) => {
            serde_json::from_str::<serde_json::Value>(data.get()).ok()?["n"].as_i64()
        }
        _ => None,
    }
}

fn data(n: i64) -> Box<RawValue> {
    RawValue::from_string(json!({"kind": "test", "n": n}).to_string()).unwrap()
}

/// Two apps in a room see each other join and relay signals to each other.
#[tokio::test]
async fn connects_joins_and_relays() {
    let server = server_at("127.0.0.1:0", &[]).await;
    let url = parse_server_url(&server.ws_url()).unwrap();
    let (a_tx, mut a_rx) = mpsc::channel(64);
    let a = Client::spawn(config(url.clone(), "Ann", &["team"]), a_tx);
    assert_eq!(
        until(&mut a_rx, |e| {
            matches!(e, ClientEvent::State(s) if *s == ConnectionState::Connected).then_some(())
        })
        .await,
        ()
    );
    let (a_peer, resumed) = until(&mut a_rx, welcome).await;
    assert!(!resumed);
    until(&mut a_rx, |e| {
        matches!(e, ClientEvent::Frame(ServerFrame::Joined { room, .. }) if room == "team")
            .then_some(())
    })
    .await;

    let (b_tx, mut b_rx) = mpsc::channel(64);
    let b = Client::spawn(config(url, "Bob", &[]), b_tx);
    until(&mut b_rx, welcome).await;
    b.join("team").unwrap();
    let b_peer = until(&mut a_rx, joined_peer).await;
    assert_eq!(b.state(), ConnectionState::Connected);
    b.signal("team", &a_peer, data(7)).unwrap();
    assert_eq!(until(&mut a_rx, signal_n).await, 7);
    a.signal("team", &b_peer, data(8)).unwrap();
    assert_eq!(until(&mut b_rx, signal_n).await, 8);
    assert_eq!(
        b.join("bad room!"),
        Err(SignalingError::InvalidRoom("bad room!".into()))
    );
    server.shutdown().await;
}

/// A network drop resumes the same session: same peer id, no rejoin visible to others, and every signal
/// sent before, during and after the drop arrives exactly once, in order.
#[tokio::test]
async fn resumes_after_a_drop_without_losing_or_repeating_frames() {
    let server = server_at("127.0.0.1:0", &[]).await;
    let proxy = Proxy::start(server.local_addr()).await;
    let (a_tx, mut a_rx) = mpsc::channel(256);
    let a = Client::spawn(config(proxy.url(), "Ann", &["team"]), a_tx);
    let (a_peer, _) = until(&mut a_rx, welcome).await;
    let (b_tx, mut b_rx) = mpsc::channel(256);
    let b = Client::spawn(
        config(
            parse_server_url(&server.ws_url()).unwrap(),
            "Bob",
            &["team"],
        ),
        b_tx,
    );
    until(&mut b_rx, welcome).await;
    until(&mut a_rx, joined_peer).await;

    for n in 0..5 {
        b.signal("team", &a_peer, data(n)).unwrap();
    }
    for n in 0..5 {
        assert_eq!(until(&mut a_rx, signal_n).await, n);
    }
    proxy.cut();
    for n in 5..10 {
        b.signal("team", &a_peer, data(n)).unwrap();
    }
    let (peer_after, resumed) = until(&mut a_rx, welcome).await;
    assert!(resumed, "the session resumed");
    assert_eq!(peer_after, a_peer);
    for n in 10..15 {
        b.signal("team", &a_peer, data(n)).unwrap();
    }
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = a_rx.recv().await {
            assert!(
                joined_peer(&event).is_none(),
                "no spurious peer-joined after a resume"
            );
            if let Some(n) = signal_n(&event) {
                got.push(n);
            }
        }
    })
    .await
    .ok();
    assert_eq!(got, (5..15).collect::<Vec<_>>());
    // Bob saw no leave/join of Ann.
    while let Ok(event) = b_rx.try_recv() {
        assert!(!matches!(
            event,
            ClientEvent::Frame(ServerFrame::PeerLeft { .. })
        ));
    }
    drop(a);
    server.shutdown().await;
}

/// Back from the background with a link that went silent without closing: a wake probes it, finds it
/// dead within seconds (not the 3 missed heartbeats, 30 s here) and resumes the same session, with the
/// frames relayed meanwhile.
#[tokio::test]
async fn a_wake_resumes_a_silently_dead_link_at_once() {
    let server = server_at("127.0.0.1:0", &[]).await;
    let proxy = Proxy::start(server.local_addr()).await;
    let (a_tx, mut a_rx) = mpsc::channel(256);
    let a = Client::spawn(config(proxy.url(), "Ann", &["team"]), a_tx);
    let (a_peer, _) = until(&mut a_rx, welcome).await;
    let (b_tx, mut b_rx) = mpsc::channel(256);
    let b = Client::spawn(
        config(
            parse_server_url(&server.ws_url()).unwrap(),
            "Bob",
            &["team"],
        ),
        b_tx,
    );
    until(&mut b_rx, welcome).await;
    until(&mut a_rx, joined_peer).await;

    proxy.freeze();
    b.signal("team", &a_peer, data(1)).unwrap();
    let woken = tokio::time::Instant::now();
    a.wake().unwrap();
    let (peer_after, resumed) = until(&mut a_rx, welcome).await;
    assert!(
        woken.elapsed() < Duration::from_secs(8),
        "resumed {:?} after the wake: the wake did not probe the link",
        woken.elapsed()
    );
    assert!(resumed, "the session resumed");
    assert_eq!(peer_after, a_peer);
    assert_eq!(until(&mut a_rx, signal_n).await, 1);
    drop(a);
    server.shutdown().await;
}

/// After a server restart the old session is gone: the client reconnects with backoff, gets a fresh
/// session and rejoins its rooms by itself, so others see it again.
#[tokio::test]
async fn rejoins_rooms_after_a_server_restart() {
    let server = server_at("127.0.0.1:0", &[]).await;
    let addr = server.local_addr().to_string();
    let url = parse_server_url(&server.ws_url()).unwrap();
    let (a_tx, mut a_rx) = mpsc::channel(256);
    let a = Client::spawn(config(url.clone(), "Ann", &["team", "second"]), a_tx);
    let (first_peer, _) = until(&mut a_rx, welcome).await;
    server.shutdown().await;
    until(&mut a_rx, |e| {
        matches!(e, ClientEvent::State(ConnectionState::Reconnecting)).then_some(())
    })
    .await;
    assert_eq!(
        a.signal("team", "x", data(1)),
        Err(SignalingError::NotConnected)
    );

    let server = server_at(&addr, &[]).await;
    let (second_peer, resumed) = until(&mut a_rx, welcome).await;
    assert!(!resumed, "a restarted server has no session to resume");
    assert_ne!(first_peer, second_peer);
    let (b_tx, mut b_rx) = mpsc::channel(64);
    let _b = Client::spawn(config(url, "Bob", &["second"]), b_tx);
    let peers = until(&mut b_rx, |e| match e {
        ClientEvent::Frame(ServerFrame::Joined { peers, .. }) => Some(peers.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Ann"]
    );
    server.shutdown().await;
}

/// With no server, the indicator goes from connecting through reconnecting to offline, and retries
/// keep going (connecting later succeeds).
#[tokio::test]
async fn unreachable_server_shows_offline_then_recovers() {
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = parse_server_url(&format!("ws://127.0.0.1:{port}")).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let client = Client::spawn(config(url, "Ann", &[]), tx);
    let mut states = Vec::new();
    until(&mut rx, |e| match e {
        ClientEvent::State(s) => {
            states.push(*s);
            (*s == ConnectionState::Offline).then_some(())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        states,
        [ConnectionState::Reconnecting, ConnectionState::Offline]
    );
    assert_eq!(client.state(), ConnectionState::Offline);
    let server = server_at(&format!("127.0.0.1:{port}"), &[]).await;
    until(&mut rx, welcome).await;
    assert_eq!(client.state(), ConnectionState::Connected);
    server.shutdown().await;
}

/// Settings validation: what users type becomes a usable WebSocket address, or a clear error.
#[test]
fn server_urls_are_validated_and_normalised() {
    let ok = |s: &str| parse_server_url(s).unwrap().to_string();
    assert_eq!(ok("ws://127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
    assert_eq!(ok("https://chat.example.org"), "wss://chat.example.org/ws");
    assert_eq!(
        ok(" wss://chat.example.org/custom "),
        "wss://chat.example.org/custom"
    );
    for bad in [
        "",
        "chat.example.org",
        "ftp://x",
        "ws://",
        "ws://user:pw@host/ws",
    ] {
        assert!(
            matches!(
                parse_server_url(bad),
                Err(SignalingError::InvalidUrl { .. })
            ),
            "{bad:?}"
        );
    }
    let server = parse_server_url("wss://chat.example.org/ws").unwrap();
    assert_eq!(
        browser_room_url(&server, "team-1").unwrap().as_str(),
        "https://chat.example.org/#/room/team-1"
    );
    assert!(browser_room_url(&server, "../x").is_err());
}

/// An app without a token on a server that requires one is told why, once: it shows the refusal and goes
/// offline instead of reconnecting in a loop (each attempt would be refused the same way), while room
/// commands still work so the UI can leave the room without an error.
#[tokio::test]
async fn a_refused_token_stops_reconnecting() {
    let secret = "a-core-test-secret-of-32-bytes!!";
    let server = server_at("127.0.0.1:0", &["--auth-secret", secret]).await;
    let url = parse_server_url(&server.ws_url()).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let client = Client::spawn(config(url, "Ann", &["team"]), tx);
    let (message, r#ref) = until(&mut rx, |e| match e {
        ClientEvent::Frame(ServerFrame::Error {
            code: chat_protocol::ErrorCode::Unauthorized,
            message,
            r#ref,
            ..
        }) => Some((message.clone(), r#ref.clone())),
        _ => None,
    })
    .await;
    assert_eq!(message, "this server requires a token in hello");
    assert_eq!(r#ref.as_deref(), Some("hello"));
    // Everything else for two seconds (a reconnect loop would show `reconnecting` and more refusals).
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(event) = rx.recv().await {
            rest.push(format!("{event:?}"));
        }
    })
    .await;
    assert_eq!(
        rest,
        vec![format!(
            "{:?}",
            ClientEvent::State(ConnectionState::Offline)
        )]
    );
    assert_eq!(client.state(), ConnectionState::Offline);
    assert!(client.refused());
    client.leave("team").unwrap();
    server.shutdown().await;
}

/// The frames of ringing people who are away go out on the client's connection and their answers come
/// back as frames: Ann registers her device for "team" and goes; Bob, in the room, finds her device
/// among the offline members. Other frames are not taken.
#[tokio::test]
async fn push_frames_register_and_find_people_who_are_away() {
    let db = std::env::temp_dir().join(format!("p2pchat-core-push-{}.sqlite3", std::process::id()));
    let db_arg = db.to_str().unwrap().to_owned();
    let server = server_at(
        "127.0.0.1:0",
        &[
            "--push",
            "--push-allow-private",
            "--push-db",
            &db_arg,
            "--resume-grace-ms",
            "500",
        ],
    )
    .await;
    let url = parse_server_url(&server.ws_url()).unwrap();
    let (a_tx, mut a_rx) = mpsc::channel(64);
    let ann = Client::spawn(config(url.clone(), "Ann", &["team"]), a_tx);
    until(&mut a_rx, joined).await;
    assert_eq!(
        ann.push(ClientFrame::Join {
            room: "team".into()
        }),
        Err(SignalingError::NotAPushFrame("join"))
    );
    // RFC 8291 Appendix A's subscription keys; the endpoint is never called (nobody rings Ann).
    let subscription = serde_json::from_value(json!({
        "kind": "webpush",
        "endpoint": "http://127.0.0.1:9/push/ann",
        "keys": {
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"
        }
    }))
    .unwrap();
    ann.push(ClientFrame::PushRegister {
        room: "team".into(),
        device: "ann-laptop".into(),
        secret: "a-device-secret-of-enough-chars".into(),
        subscription,
    })
    .unwrap();
    let registered = until(&mut a_rx, |e| match e {
        ClientEvent::Frame(ServerFrame::PushRegistered { device, .. }) => Some(device.clone()),
        ClientEvent::Frame(ServerFrame::Error { message, .. }) => Some(format!("error: {message}")),
        _ => None,
    })
    .await;
    assert_eq!(registered, "ann-laptop");
    drop(ann);

    let (b_tx, mut b_rx) = mpsc::channel(64);
    let bob = Client::spawn(config(url, "Bob", &["team"]), b_tx);
    until(&mut b_rx, joined).await;
    // Ann's session may still be in its resume grace (present, so not away): ask until she is away.
    let away = tokio::time::timeout(WAIT, async {
        loop {
            bob.push(ClientFrame::OfflineMembers {
                room: "team".into(),
            })
            .unwrap();
            let members = until(&mut b_rx, |e| match e {
                ClientEvent::Frame(ServerFrame::OfflineMembers { members, .. }) => {
                    Some(members.clone())
                }
                _ => None,
            })
            .await;
            if !members.is_empty() {
                return members;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await
    .expect("Ann's device listed as away");
    assert_eq!(
        away.iter()
            .map(|m| (m.device.as_str(), m.name.as_str()))
            .collect::<Vec<_>>(),
        [("ann-laptop", "Ann")]
    );
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

/// Quitting leaves the rooms at once: the others see `peer-left` now, not after the resume grace (30 s),
/// and the client is gone (further requests fail).
#[tokio::test]
async fn quitting_leaves_the_rooms_at_once() {
    let server = server_at("127.0.0.1:0", &[]).await;
    let url = parse_server_url(&server.ws_url()).unwrap();
    let (a_tx, mut a_rx) = mpsc::channel(64);
    let _ann = Client::spawn(config(url.clone(), "Ann", &["team"]), a_tx);
    until(&mut a_rx, joined).await;
    let (b_tx, _b_rx) = mpsc::channel(64);
    let bob = Client::spawn(config(url, "Bob", &["team"]), b_tx);
    let bob_peer = until(&mut a_rx, joined_peer).await;
    let quit_at = std::time::Instant::now();
    bob.quit().await;
    let left = until(&mut a_rx, |e| match e {
        ClientEvent::Frame(ServerFrame::PeerLeft { peer, .. }) => Some(peer.clone()),
        _ => None,
    })
    .await;
    assert_eq!(left, bob_peer);
    assert!(
        quit_at.elapsed() < Duration::from_secs(5),
        "left after {:?}, not at once",
        quit_at.elapsed()
    );
    assert_eq!(
        bob.join("other"),
        Err(SignalingError::NotConnected),
        "the client is gone"
    );
    server.shutdown().await;
}
