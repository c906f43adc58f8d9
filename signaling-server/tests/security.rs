//! Protects operators who deploy the server publicly: JWT auth decides who may connect and which rooms
//! they may join, WSS works with a real certificate, and TURN credentials are exactly what coturn's
//! `use-auth-secret` accepts.

mod common;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::{Client, expect_close, server};
use futures_util::SinkExt;
use hmac::{Hmac, Mac};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const SECRET: &str = "a-test-secret-of-32-bytes-length";

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
    let mut client = Client {
        ws,
        peer: String::new(),
        session: String::new(),
        last_seq: 0,
    };
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
    let hello = json!({"type": "hello", "v": 1, "name": "Bob", "token": bob_token,
        "resume": {"session": ann.session, "last_seq": 1}});
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
        "coturn-secret",
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
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"coturn-secret").unwrap();
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
    let mut client = Client {
        ws,
        peer: String::new(),
        session: String::new(),
        last_seq: 0,
    };
    let welcome = client.expect("welcome").await;
    assert_eq!(welcome["resumed"], false);
    client.join("tls-room").await;

    // A plain ws:// client cannot talk to the TLS port.
    let plain = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.local_addr())).await;
    assert!(plain.is_err());
    std::fs::remove_dir_all(&dir).ok();
}
