//! Protects operators who deploy the server publicly: JWT auth decides who may connect and which rooms
//! they may join, WSS works with a real certificate, and TURN credentials are exactly what coturn's
//! `use-auth-secret` accepts.

mod common;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{Client, expect_close, metric, server};
use futures_util::SinkExt;
use hmac::{Hmac, Mac};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const SECRET: &str = "a-test-secret-of-32-bytes-length";
const TURN_SECRET: &str = "a-coturn-secret-of-32-bytes-long";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Sends a hello with `token` and expects `unauthorized` then close 1008.
async fn refused(server: &signaling_server::RunningServer, token: Option<String>) {
    let mut ws = Client::raw(server).await;
    let mut hello = json!({"type": "hello", "v": 1, "name": "Mallory"});
    if let Some(token) = token {
        hello["token"] = token.into();
    }
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let mut client = Client::unwelcomed(ws);
    let error = client.expect_error("unauthorized").await;
    assert_eq!(error["ref"], "hello");
    assert_eq!(expect_close(&mut client.ws).await, CloseCode::Policy);
}

#[tokio::test]
async fn missing_invalid_or_expired_tokens_are_unauthorized_and_closed() {
    let server = server(&["--auth-secret", SECRET]).await;
    refused(&server, None).await;
    refused(&server, Some("not-a-jwt".into())).await;
    refused(
        &server,
        Some(token(
            "another-secret-of-enough-length",
            json!({"sub": "u", "exp": now() + 60}),
        )),
    )
    .await;
    refused(
        &server,
        Some(token(SECRET, json!({"sub": "u", "exp": now() - 3600}))),
    )
    .await;
    refused(&server, Some(token(SECRET, json!({"exp": now() + 60})))).await;
}

#[tokio::test]
async fn token_rooms_limit_joins_without_closing_the_connection() {
    let server = server(&["--auth-secret", SECRET]).await;
    let hello = json!({"type": "hello", "v": 1, "name": "Ann",
        "token": token(SECRET, json!({"sub": "ann", "exp": now() + 60, "rooms": ["team-1"]}))});
    let (mut ann, _) = Client::hello_with(&server, hello).await;
    ann.join("team-1").await;
    ann.send(json!({"type": "join", "room": "team-2"})).await;
    let error = ann.expect_error("unauthorized").await;
    assert_eq!(error["ref"], "join");
    ann.ping().await;

    let hello = json!({"type": "hello", "v": 1, "name": "Root",
        "token": token(SECRET, json!({"sub": "root", "exp": now() + 60, "rooms": ["*"]}))});
    let (mut root, _) = Client::hello_with(&server, hello).await;
    root.join("anything").await;
}

#[tokio::test]
async fn a_session_can_only_be_resumed_by_the_same_user() {
    let server = server(&["--auth-secret", SECRET]).await;
    let ann_token = token(SECRET, json!({"sub": "ann", "exp": now() + 60}));
    let (ann, _) = Client::hello_with(
        &server,
        json!({"type": "hello", "v": 1, "name": "Ann", "token": ann_token}),
    )
    .await;
    let bob_token = token(SECRET, json!({"sub": "bob", "exp": now() + 60}));
    // Even with Ann's resume token, Bob's token does not resume Ann's session.
    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "token": bob_token,
        "resume": ann.resume()});
    let (bob, welcome) = Client::hello_with(&server, hello).await;
    assert_eq!(welcome["resumed"], false);
    assert_ne!(bob.peer, ann.peer);
}

#[tokio::test]
async fn turn_credentials_follow_the_turn_rest_scheme() {
    let server = server(&[
        "--stun-url",
        "stun:stun.example.org:3478",
        "--turn-url",
        "turn:turn.example.org:3478?transport=udp",
        "--turn-url",
        "turns:turn.example.org:5349",
        "--turn-secret",
        TURN_SECRET,
        "--allow-open-turn",
        "--turn-ttl",
        "600",
    ])
    .await;
    let (client, welcome) = Client::hello(&server, "A").await;
    let servers = welcome["ice_servers"].as_array().unwrap();
    assert_eq!(servers[0], json!({"urls": ["stun:stun.example.org:3478"]}));
    let turn = &servers[1];
    assert_eq!(
        turn["urls"],
        json!([
            "turn:turn.example.org:3478?transport=udp",
            "turns:turn.example.org:5349"
        ])
    );
    let username = turn["username"].as_str().unwrap();
    let (expiry, peer) = username.split_once(':').unwrap();
    assert_eq!(peer, client.peer);
    let expiry: u64 = expiry.parse().unwrap();
    assert!(
        (now() + 595..=now() + 605).contains(&expiry),
        "expiry {expiry}"
    );
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TURN_SECRET.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(turn["credential"], json!(expected));
}

#[tokio::test]
async fn wss_with_a_self_signed_certificate() {
    let dir = std::env::temp_dir().join(format!("signaling-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let server = server(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ])
    .await;
    assert!(server.ws_url().starts_with("wss://"));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        server.ws_url(),
        None,
        false,
        Some(Connector::Rustls(Arc::new(tls))),
    )
    .await
    .expect("wss handshake with the test certificate");
    ws.send(Message::Text(
        json!({"type": "hello", "v": 1, "name": "secure"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut client = Client::unwelcomed(ws);
    let welcome = client.expect("welcome").await;
    assert_eq!(welcome["resumed"], false);
    client.join("tls-room").await;

    // A plain ws:// client cannot talk to the TLS port.
    let plain = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.local_addr())).await;
    assert!(plain.is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// A hello with `token` as Ann, optionally resuming.
fn ann(token: String, resume: Option<Value>) -> Value {
    let mut hello = json!({"type": "hello", "v": 1, "name": "Ann", "token": token});
    if let Some(resume) = resume {
        hello["resume"] = resume;
    }
    hello
}

/// The token presented at resume is the one that counts. Ann's session started with
/// a token for two rooms; she resumes with one that allows only the room she is in: the resume works and
/// joining the other room is now refused (it used to keep the first token's rooms forever).
#[tokio::test]
async fn resume_applies_the_rooms_of_the_token_presented_at_resume() {
    let server = server(&["--auth-secret", SECRET]).await;
    let wide = token(
        SECRET,
        json!({"sub": "ann", "exp": now() + 60, "rooms": ["a", "b"]}),
    );
    let (mut a, _) = Client::hello_with(&server, ann(wide, None)).await;
    a.join("a").await;
    let narrow = token(
        SECRET,
        json!({"sub": "ann", "exp": now() + 60, "rooms": ["a"]}),
    );
    let resume = a.resume();
    drop(a);
    let (mut a, welcome) = Client::hello_with(&server, ann(narrow, Some(resume))).await;
    assert_eq!(welcome["resumed"], true);
    a.last_seq = welcome["seq"].as_u64().unwrap();
    a.send(json!({"type": "join", "room": "b"})).await;
    let error = a.expect_error("unauthorized").await;
    assert_eq!(error["ref"], "join");
    a.join("a").await;
}

/// A resume whose token no longer allows a room the session is in ends that session (the room sees
/// `peer-left`) and gives a fresh one, which can only rejoin what the new token allows.
#[tokio::test]
async fn resume_with_a_token_that_drops_a_joined_room_starts_a_fresh_session() {
    let server = server(&["--auth-secret", SECRET]).await;
    let (mut bob, _) = Client::hello_with(
        &server,
        json!({"type": "hello", "v": 1, "name": "Bob",
            "token": token(SECRET, json!({"sub": "bob", "exp": now() + 60}))}),
    )
    .await;
    bob.join("a").await;
    let wide = token(
        SECRET,
        json!({"sub": "ann", "exp": now() + 60, "rooms": "*"}),
    );
    let (mut a, _) = Client::hello_with(&server, ann(wide, None)).await;
    a.join("a").await;
    bob.expect("peer-joined").await;
    let other = token(
        SECRET,
        json!({"sub": "ann", "exp": now() + 60, "rooms": ["b"]}),
    );
    let resume = a.resume();
    let old_peer = a.peer.clone();
    drop(a);
    let (_a, welcome) = Client::hello_with(&server, ann(other, Some(resume))).await;
    assert_eq!(welcome["resumed"], false);
    let left = bob.expect("peer-left").await;
    assert_eq!(left["peer"], json!(old_peer));
}

/// A connection does not outlive its token: at `exp` (plus the leeway, here 0) the server says
/// `unauthorized` and closes with 1008; the session waits in its grace period, and the client resumes it
/// with a fresh token without losing a frame.
#[tokio::test]
async fn the_connection_closes_when_its_token_expires_and_a_fresh_token_resumes_the_session() {
    let server = server(&["--auth-secret", SECRET, "--jwt-leeway-secs", "0"]).await;
    let short = token(SECRET, json!({"sub": "ann", "exp": now() + 2}));
    let (mut a, _) = Client::hello_with(&server, ann(short, None)).await;
    a.join("r").await;
    let started = std::time::Instant::now();
    let frame = a
        .try_recv(std::time::Duration::from_secs(4))
        .await
        .expect("the server speaks up at expiry");
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "unauthorized");
    a.last_seq = frame["seq"].as_u64().unwrap();
    assert_eq!(expect_close(&mut a.ws).await, CloseCode::Policy);
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(
        metric(&server, "signaling_token_expiries_total", "").await,
        1.0
    );

    let fresh = token(SECRET, json!({"sub": "ann", "exp": now() + 60}));
    let (mut a2, welcome) = Client::hello_with(&server, ann(fresh, Some(a.resume()))).await;
    assert_eq!(welcome["resumed"], true);
    assert_eq!(welcome["peer"], json!(a.peer));
    a2.last_seq = welcome["seq"].as_u64().unwrap();
    a2.ping().await;
}

/// `nbf` in the future is refused (jsonwebtoken only checks it when asked); `aud` and `iss` are required
/// and checked when configured, and a token naming an audience is refused by a server without one.
#[tokio::test]
async fn nbf_audience_and_issuer_are_checked() {
    let server = server(&["--auth-secret", SECRET]).await;
    refused(
        &server,
        Some(token(
            SECRET,
            json!({"sub": "u", "exp": now() + 600, "nbf": now() + 300}),
        )),
    )
    .await;
    refused(
        &server,
        Some(token(
            SECRET,
            json!({"sub": "u", "exp": now() + 600, "aud": "someone-else"}),
        )),
    )
    .await;
    Client::hello_with(
        &server,
        ann(
            token(
                SECRET,
                json!({"sub": "u", "exp": now() + 600, "nbf": now() - 10}),
            ),
            None,
        ),
    )
    .await;

    let strict = common::server(&[
        "--auth-secret",
        SECRET,
        "--jwt-audience",
        "p2pchat",
        "--jwt-issuer",
        "https://login.example.org",
    ])
    .await;
    let good = json!({"sub": "u", "exp": now() + 600, "aud": "p2pchat", "iss": "https://login.example.org"});
    Client::hello_with(&strict, ann(token(SECRET, good.clone()), None)).await;
    for (field, value) in [
        ("aud", json!(null)),
        ("aud", json!("other-app")),
        ("iss", json!(null)),
        ("iss", json!("https://evil.example")),
    ] {
        let mut claims = good.clone();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(field);
        } else {
            claims[field] = value;
        }
        refused(&strict, Some(token(SECRET, claims))).await;
    }
}

/// docs/protocol.md allows `rooms` to be `*`: the string is accepted as every room (it used to make the
/// token malformed), like `["*"]`; a single room name as a string allows that room.
#[tokio::test]
async fn rooms_star_as_a_string_allows_every_room() {
    let server = server(&["--auth-secret", SECRET]).await;
    let star = token(
        SECRET,
        json!({"sub": "root", "exp": now() + 60, "rooms": "*"}),
    );
    let (mut root, _) = Client::hello_with(&server, ann(star, None)).await;
    root.join("anything").await;
    let one = token(
        SECRET,
        json!({"sub": "one", "exp": now() + 60, "rooms": "team-1"}),
    );
    let (mut one, _) = Client::hello_with(&server, ann(one, None)).await;
    one.join("team-1").await;
    one.send(json!({"type": "join", "room": "team-2"})).await;
    one.expect_error("unauthorized").await;
}
