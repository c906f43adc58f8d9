//! Push for calls to offline devices (docs/protocol.md, "Push: ringing devices that are offline"): the real
//! server on a loopback port, real WebSocket clients, and a local HTTP endpoint standing in for the push
//! service. The test decrypts what it receives (RFC 8291 aes128gcm) with the subscription's private key,
//! as a browser does, and checks the VAPID signature (RFC 8292) with the key from `welcome`. The cluster
//! test starts Debian's `redis-server` (CI installs it).

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Client, metric};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{Value, json};
use signaling_server::RunningServer;
use tokio::sync::mpsc;

const ROOM: &str = "team-1";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A push as the push service received it.
#[derive(Debug)]
struct Received {
    subscriber: String,
    headers: HeaderMap,
    body: Bytes,
}

/// The stand-in push service: `POST /push/<subscriber>` answers 201, or the status set for that
/// subscriber, and hands every request to the test.
struct PushService {
    addr: SocketAddr,
    statuses: Arc<Mutex<HashMap<String, u16>>>,
    received: mpsc::UnboundedReceiver<Received>,
}

#[derive(Clone)]
struct ServiceState {
    statuses: Arc<Mutex<HashMap<String, u16>>>,
    received: mpsc::UnboundedSender<Received>,
}

async fn accept_push(
    State(state): State<ServiceState>,
    Path(subscriber): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = state
        .statuses
        .lock()
        .unwrap()
        .get(&subscriber)
        .copied()
        .unwrap_or(201);
    let _ = state.received.send(Received {
        subscriber,
        headers,
        body,
    });
    StatusCode::from_u16(status).unwrap()
}

impl PushService {
    async fn start() -> PushService {
        let (tx, received) = mpsc::unbounded_channel();
        let statuses = Arc::new(Mutex::new(HashMap::new()));
        let app = axum::Router::new()
            .route("/push/{subscriber}", axum::routing::post(accept_push))
            .with_state(ServiceState {
                statuses: statuses.clone(),
                received: tx,
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        PushService {
            addr,
            statuses,
            received,
        }
    }

    fn endpoint(&self, subscriber: &str) -> String {
        format!("http://{}/push/{subscriber}", self.addr)
    }

    fn answer(&self, subscriber: &str, status: u16) {
        self.statuses
            .lock()
            .unwrap()
            .insert(subscriber.into(), status);
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("a push within 10 s")
            .expect("push service running")
    }
}

/// A browser's push subscription: its P-256 key pair and auth secret.
struct Subscriber {
    name: String,
    secret: p256::SecretKey,
    auth: [u8; 16],
    device: String,
    device_secret: String,
}

impl Subscriber {
    fn new(name: &str) -> Subscriber {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        Subscriber {
            name: name.into(),
            secret,
            auth: rand::random(),
            device: format!("device-{name}-{}", rand::random::<u32>()),
            device_secret: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>()),
        }
    }

    fn public(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn register(&self, service: &PushService) -> Value {
        json!({
            "type": "push-register",
            "room": ROOM,
            "device": self.device,
            "secret": self.device_secret,
            "subscription": {
                "kind": "webpush",
                "endpoint": service.endpoint(&self.name),
                "keys": {"p256dh": URL_SAFE_NO_PAD.encode(self.public()), "auth": URL_SAFE_NO_PAD.encode(self.auth)},
            },
        })
    }

    /// Decrypts an RFC 8291 `aes128gcm` body (one record) as the user agent does.
    fn decrypt(&self, body: &[u8]) -> Value {
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
        let id_len = body[20] as usize;
        assert_eq!(id_len, 65, "keyid is the sender's uncompressed public key");
        let sender = p256::PublicKey::from_sec1_bytes(&body[21..21 + id_len]).unwrap();
        let ciphertext = &body[21 + id_len..];
        assert!(ciphertext.len() <= record_size as usize, "one record");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());
        // RFC 8291 3.3: IKM from the ECDH secret, keyed by the auth secret, bound to both public keys.
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.public());
        info.extend_from_slice(sender.to_encoded_point(false).as_bytes());
        let mut ikm = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .unwrap();
        // RFC 8188 2.2/2.3: content encryption key and nonce from the salt.
        let prk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), &ikm);
        let mut cek = [0u8; 16];
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
            .unwrap();
        let mut nonce = [0u8; 12];
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
            .unwrap();
        let mut plain = Aes128Gcm::new_from_slice(&cek)
            .unwrap()
            .decrypt(&Nonce::from(nonce), ciphertext)
            .expect("the push decrypts with the subscription's keys");
        // The last record ends with the delimiter 2, then optional zero padding.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "last-record delimiter");
        serde_json::from_slice(&plain).expect("the payload is JSON")
    }
}

/// Checks the Web Push request's headers and its VAPID signature against `vapid_key` (from `welcome`).
fn check_webpush_headers(push: &Received, vapid_key: &str, origin: &str) {
    let header = |name: &str| {
        push.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert_eq!(header("ttl"), "45");
    assert_eq!(header("urgency"), "high");
    let authorization = header("authorization");
    let (jwt, key) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .expect("vapid t=<jwt>, k=<key>");
    assert_eq!(key, vapid_key, "signed with the key from welcome");
    let point = URL_SAFE_NO_PAD.decode(key).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(jwt, &decoding, &validation)
        .expect("a valid ES256 VAPID token for the endpoint's origin")
        .claims;
    let exp = claims["exp"].as_u64().unwrap();
    let now = now_ms() / 1000;
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "exp within 24 h: {claims}"
    );
    assert!(
        claims["sub"]
            .as_str()
            .is_some_and(|s| s.starts_with("mailto:")),
        "{claims}"
    );
}

fn temp_db(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "signaling-push-{name}-{}-{}.sqlite3",
        std::process::id(),
        rand::random::<u32>()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

async fn push_server(db: &std::path::Path, extra: &[&str]) -> RunningServer {
    let mut args = vec![
        "--push",
        "--push-allow-private",
        "--push-db",
        db.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::server(&args).await
}

/// Connects `name` and joins the room; returns the client and `welcome.push.vapid_key`.
async fn member(server: &RunningServer, name: &str) -> (Client, String) {
    let (mut client, welcome) = Client::hello(server, name).await;
    let key = welcome["push"]["vapid_key"]
        .as_str()
        .expect("welcome.push.vapid_key on a push server")
        .to_owned();
    client.join(ROOM).await;
    (client, key)
}

/// Registers `sub` from `client` and checks the answer.
async fn register(client: &mut Client, sub: &Subscriber, service: &PushService) {
    client.send(sub.register(service)).await;
    let registered = client.expect("push-registered").await;
    assert_eq!(registered["device"], sub.device.as_str());
    assert_eq!(registered["room"], ROOM);
    let expires = registered["expires_at"].as_u64().unwrap();
    let month = 30 * 24 * 3600 * 1000;
    assert!(expires.abs_diff(now_ms() + month) < 60_000, "30 days");
}

/// `leaver` leaves the room (a tab closing), as `watcher`, still in it, sees.
async fn leave(leaver: &mut Client, watcher: &mut Client) {
    leaver.send(json!({"type": "leave", "room": ROOM})).await;
    watcher.expect("peer-left").await;
}

async fn offline_devices(client: &mut Client) -> Vec<(String, String)> {
    client
        .send(json!({"type": "offline-members", "room": ROOM}))
        .await;
    let frame = client.expect("offline-members").await;
    frame["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["device"].as_str().unwrap().to_owned(),
                m["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn ring(device: &str, call: &str) -> Value {
    json!({"type": "ring", "room": ROOM, "device": device, "call": call, "media": ["audio", "video"]})
}

async fn post_decline(server: &RunningServer, body: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/push/decline", server.http_url()))
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /push/decline")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_ring_reaches_the_push_service_encrypted_and_signed_and_can_be_declined() {
    let db = temp_db("ring");
    let server = push_server(&db, &[]).await;
    let mut service = PushService::start().await;
    let origin = format!("http://{}", service.addr);
    let bob = Subscriber::new("bob");

    let (mut bob_client, vapid_key) = member(&server, "Bob").await;
    assert_eq!(URL_SAFE_NO_PAD.decode(&vapid_key).unwrap().len(), 65);
    register(&mut bob_client, &bob, &service).await;
    let (mut alice, _) = member(&server, "Alice").await;
    bob_client.expect("peer-joined").await;
    assert!(
        offline_devices(&mut alice).await.is_empty(),
        "Bob is in the room"
    );
    // Bob's tab closes: his session leaves the room.
    leave(&mut bob_client, &mut alice).await;
    assert_eq!(
        offline_devices(&mut alice).await,
        vec![(bob.device.clone(), "Bob".to_owned())]
    );

    alice.send(ring(&bob.device, "call-1")).await;
    let push = service.next().await;
    assert_eq!(push.subscriber, "bob");
    check_webpush_headers(&push, &vapid_key, &origin);
    let payload = bob.decrypt(&push.body);
    let alice_peer = alice.peer.clone();
    assert_eq!(payload["v"], 1);
    assert_eq!(payload["kind"], "call");
    assert_eq!(payload["room"], ROOM);
    assert_eq!(payload["call"], "call-1");
    assert_eq!(payload["caller"], "Alice");
    assert_eq!(payload["caller_peer"], alice_peer.as_str());
    assert_eq!(payload["media"], json!(["audio", "video"]));
    let expires = payload["expires_at"].as_u64().unwrap();
    assert!(expires.abs_diff(now_ms() + 45_000) < 5_000, "{payload}");
    let keys: Vec<&String> = payload.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        9,
        "nothing but the documented fields: {payload}"
    );
    let ringing = alice.expect("ringing").await;
    assert_eq!(
        (
            &ringing["device"],
            &ringing["call"],
            ringing["sent"].as_u64()
        ),
        (&json!(bob.device), &json!("call-1"), Some(1))
    );

    // Decline from the notification: the caller hears it; the token works once, for its call only.
    let token = payload["decline"].as_str().unwrap();
    assert_eq!(
        post_decline(&server, json!({"call": "call-2", "token": token})).await,
        404
    );
    alice.send(ring(&bob.device, "call-2")).await;
    let payload2 = bob.decrypt(&service.next().await.body);
    alice.expect("ringing").await;
    let token2 = payload2["decline"].as_str().unwrap();
    assert_eq!(
        post_decline(&server, json!({"call": "call-2", "token": token2})).await,
        204
    );
    let declined = alice.expect("ring-declined").await;
    assert_eq!(
        (&declined["room"], &declined["device"], &declined["call"]),
        (&json!(ROOM), &json!(bob.device), &json!("call-2"))
    );
    assert_eq!(
        post_decline(&server, json!({"call": "call-2", "token": token2})).await,
        404,
        "one-time"
    );
    assert_eq!(post_decline(&server, json!({"nope": 1})).await, 400);

    // The caller hangs up before an answer: a call-ended push, once.
    alice
        .send(json!({"type": "ring-cancel", "room": ROOM, "device": bob.device, "call": "call-1"}))
        .await;
    let ended = bob.decrypt(&service.next().await.body);
    assert_eq!(ended["kind"], "call-ended");
    assert_eq!(ended["call"], "call-1");
    assert_eq!(ended["decline"], "");
    alice
        .send(json!({"type": "ring-cancel", "room": ROOM, "device": bob.device, "call": "call-1"}))
        .await;
    let refused = alice.expect_error("push_refused").await;
    assert_eq!(refused["ref"], "ring-cancel");
    assert_eq!(
        post_decline(&server, json!({"call": "call-1", "token": token})).await,
        404,
        "a cancelled ring can no longer be declined"
    );
    assert_eq!(metric(&server, "signaling_pushes_total", "sent").await, 3.0);

    // Stop ringing me here.
    bob_client.join(ROOM).await;
    alice.expect("peer-joined").await;
    bob_client
        .send(json!({"type": "push-unregister", "device": bob.device, "secret": bob.device_secret}))
        .await;
    let gone = bob_client.expect("push-unregistered").await;
    assert_eq!(gone["device"], bob.device.as_str());
    leave(&mut bob_client, &mut alice).await;
    assert!(offline_devices(&mut alice).await.is_empty());
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn a_subscription_the_push_service_no_longer_knows_is_removed() {
    let db = temp_db("gone");
    let server = push_server(&db, &[]).await;
    let mut service = PushService::start().await;
    let bob = Subscriber::new("bob");
    let (mut bob_client, _) = member(&server, "Bob").await;
    register(&mut bob_client, &bob, &service).await;
    drop(bob_client);
    let (mut alice, _) = member(&server, "Alice").await;
    // Bob's session still waits in its grace period, in the room: not offline yet, but he can be rung.
    service.answer("bob", 410);
    alice.send(ring(&bob.device, "c1")).await;
    service.next().await;
    assert_eq!(alice.expect("ringing").await["sent"], 0);
    assert!(offline_devices(&mut alice).await.is_empty());
    alice.send(ring(&bob.device, "c2")).await;
    let refused = alice.expect_error("push_refused").await;
    assert_eq!(refused["ref"], "ring");
    assert_eq!(metric(&server, "signaling_pushes_total", "gone").await, 1.0);
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn a_device_is_rung_at_most_six_times_a_minute() {
    let db = temp_db("limit");
    let server = push_server(&db, &[]).await;
    let mut service = PushService::start().await;
    let bob = Subscriber::new("bob");
    let (mut bob_client, _) = member(&server, "Bob").await;
    register(&mut bob_client, &bob, &service).await;
    let (mut alice, _) = member(&server, "Alice").await;
    for i in 0..6 {
        alice.send(ring(&bob.device, &format!("c{i}"))).await;
        assert_eq!(alice.expect("ringing").await["sent"], 1);
        service.next().await;
    }
    alice.send(ring(&bob.device, "c7")).await;
    let refused = alice.expect_error("push_refused").await;
    assert_eq!(refused["ref"], "ring");
    assert!(refused["message"].as_str().unwrap().contains("minute"));
    // Another caller does not reset it: the limit is the device's.
    let (mut carol, _) = member(&server, "Carol").await;
    alice.expect("peer-joined").await;
    carol.send(ring(&bob.device, "c8")).await;
    carol.expect_error("push_refused").await;
    assert_eq!(
        metric(&server, "signaling_pushes_total", "refused").await,
        2.0
    );
    assert_eq!(metric(&server, "signaling_pushes_total", "sent").await, 6.0);
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn bad_registrations_are_refused_and_a_flood_is_capped() {
    let db = temp_db("bad");
    let server = common::server(&[
        "--push",
        "--push-db",
        db.to_str().unwrap(),
        "--push-max-per-room",
        "3",
    ])
    .await;
    let service = PushService::start().await;
    let (mut client, _) = member(&server, "Mallory").await;
    let sub = Subscriber::new("m");
    let with = |patch: &dyn Fn(&mut Value)| {
        let mut frame = sub.register(&service);
        patch(&mut frame);
        frame
    };
    let malformed = [
        with(&|f| f["subscription"]["endpoint"] = json!("not a url")),
        with(&|f| f["subscription"]["endpoint"] = json!("ftp://push.example.org/x")),
        with(&|f| {
            f["subscription"]["endpoint"] = json!(format!("https://x.org/{}", "a".repeat(1100)))
        }),
        with(&|f| f["subscription"]["keys"]["p256dh"] = json!(URL_SAFE_NO_PAD.encode([4u8; 65]))),
        with(&|f| f["subscription"]["keys"]["p256dh"] = json!("!!!")),
        with(&|f| f["subscription"]["keys"]["auth"] = json!(URL_SAFE_NO_PAD.encode([1u8; 8]))),
        with(&|f| f["subscription"]["keys"] = json!({"p256dh": "x"})),
        with(&|f| f["device"] = json!("short")),
        with(&|f| f["secret"] = json!("too-short")),
    ];
    for frame in malformed {
        client.send(frame.clone()).await;
        let error = client.expect_error("bad_request").await;
        assert_eq!(error["ref"], "push-register", "{frame}");
    }
    // Well-formed but not allowed without --push-allow-private: no SSRF through push.
    let refused = [
        with(&|f| f["subscription"]["endpoint"] = json!("https://127.0.0.1:9/push/x")),
        with(&|f| f["subscription"]["endpoint"] = json!("https://[::1]/push/x")),
        with(&|f| f["subscription"]["endpoint"] = json!("https://169.254.169.254/latest")),
        with(&|f| f["subscription"]["endpoint"] = json!("https://10.0.0.1/push")),
        with(&|f| f["subscription"]["endpoint"] = json!("https://localhost/push")),
        with(&|f| f["subscription"]["endpoint"] = json!(service.endpoint("m"))),
        with(&|f| f["subscription"] = json!({"kind": "gateway", "platform": "fcm", "token": "t"})),
    ];
    for frame in refused {
        client.send(frame.clone()).await;
        let error = client.expect_error("push_refused").await;
        assert_eq!(error["ref"], "push-register", "{frame}");
    }
    // Not in the room.
    let mut outside = with(&|_| {});
    outside["room"] = json!("elsewhere");
    client.send(outside).await;
    client.expect_error("not_in_room").await;
    client
        .send(json!({"type": "ring", "room": ROOM, "device": sub.device, "call": "c", "media": ["smell"]}))
        .await;
    client.expect_error("bad_request").await;

    // A flood: many devices into one room stops at --push-max-per-room; one connection registers at most 4
    // devices; each device keeps its secret.
    let server_open = push_server(&temp_db("flood"), &["--push-max-per-room", "3"]).await;
    let mut answers = Vec::new();
    let mut flooder = member(&server_open, "Flood").await.0;
    let mut first = None;
    for i in 0..6 {
        let s = Subscriber::new(&format!("f{i}"));
        flooder.send(s.register(&service)).await;
        let frame = flooder.recv().await;
        answers.push(
            frame["type"].as_str().unwrap().to_owned() + frame["code"].as_str().unwrap_or(""),
        );
        first.get_or_insert(s);
    }
    assert_eq!(
        answers,
        [
            "push-registered",
            "push-registered",
            "push-registered",
            "errorpush_refused",
            "errorpush_refused",
            "errorpush_refused"
        ],
        "3 per room, then refused"
    );
    let mut other = member(&server_open, "Other").await.0;
    let first = first.unwrap();
    let mut stolen = first.register(&service);
    stolen["secret"] = json!(URL_SAFE_NO_PAD.encode([9u8; 24]));
    other.send(stolen).await;
    let error = other.expect_error("push_refused").await;
    assert!(error["message"].as_str().unwrap().contains("secret"));
    other
        .send(json!({"type": "push-unregister", "device": first.device, "secret": URL_SAFE_NO_PAD.encode([9u8; 24])}))
        .await;
    other.expect_error("push_refused").await;
    server_open.shutdown().await;

    // A server without --push refuses every push frame and offers no key.
    let plain = common::server(&[]).await;
    let (mut client, welcome) = Client::hello(&plain, "P").await;
    assert!(welcome.get("push").is_none(), "{welcome}");
    client.join(ROOM).await;
    client
        .send(json!({"type": "offline-members", "room": ROOM}))
        .await;
    client.expect_error("push_refused").await;
    plain.shutdown().await;
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn the_vapid_key_and_registrations_survive_a_restart() {
    let db = temp_db("restart");
    let service = PushService::start().await;
    let bob = Subscriber::new("bob");
    let server = push_server(&db, &[]).await;
    let (mut bob_client, key) = member(&server, "Bob").await;
    register(&mut bob_client, &bob, &service).await;
    drop(bob_client);
    server.shutdown().await;
    let server = push_server(&db, &[]).await;
    let (mut alice, key_again) = member(&server, "Alice").await;
    assert_eq!(key, key_again, "the key is kept in the store");
    assert_eq!(
        offline_devices(&mut alice).await,
        vec![(bob.device.clone(), "Bob".to_owned())]
    );
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn gateway_registrations_are_pushed_through_the_gateway() {
    let db = temp_db("gateway");
    let mut service = PushService::start().await;
    let gateway = service.endpoint("gateway");
    // Without --push-allow-private: the operator's gateway may be on a private address and plain http.
    let server = common::server(&[
        "--push",
        "--push-db",
        db.to_str().unwrap(),
        "--push-gateway-url",
        &gateway,
    ])
    .await;
    let (mut phone, _) = member(&server, "Bob").await;
    let device = "phone-0123456789";
    phone
        .send(json!({
            "type": "push-register", "room": ROOM, "device": device,
            "secret": URL_SAFE_NO_PAD.encode([7u8; 24]),
            "subscription": {"kind": "gateway", "platform": "apns-voip", "token": "apns-token-1"},
        }))
        .await;
    phone.expect("push-registered").await;
    let (mut alice, _) = member(&server, "Alice").await;
    alice.send(ring(device, "call-g")).await;
    let push = service.next().await;
    assert_eq!(push.subscriber, "gateway");
    let body: Value = serde_json::from_slice(&push.body).unwrap();
    assert_eq!(body["platform"], "apns-voip");
    assert_eq!(body["token"], "apns-token-1");
    assert_eq!(body["payload"]["kind"], "call");
    assert_eq!(body["payload"]["caller"], "Alice");
    assert_eq!(body["payload"]["call"], "call-g");
    assert_eq!(alice.expect("ringing").await["sent"], 1);
    // The gateway says the token is gone: the registration goes.
    service.answer("gateway", 410);
    alice.send(ring(device, "call-h")).await;
    service.next().await;
    assert_eq!(alice.expect("ringing").await["sent"], 0);
    alice.send(ring(device, "call-i")).await;
    alice.expect_error("push_refused").await;
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An empty Redis (no persistence) on a free loopback port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("these tests need Debian's redis-server (.ci/deps.sh installs it)");
        let redis = Redis { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while redis::Client::open(redis.url())
            .and_then(|c| c.get_connection())
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of a clustered server, once push is ready there (it waits for Redis in the background).
async fn cluster_member(server: &RunningServer, name: &str) -> (Client, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::http_get(server, "/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "server never joined the cluster");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let (mut client, welcome) = Client::hello(server, name).await;
        if let Some(key) = welcome["push"]["vapid_key"].as_str() {
            client.join(ROOM).await;
            return (client, key.to_owned());
        }
        assert!(Instant::now() < deadline, "push never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SECRET: &str = "a-test-secret-of-32-bytes-length";

/// A member of `room` with a token for `sub`.
async fn user_member(server: &RunningServer, sub: &str, room: &str) -> Client {
    let now = now_ms() / 1000;
    let claims = json!({"sub": sub, "exp": now + 600});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::http_get(server, "/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "server never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    loop {
        let hello = json!({"type": "hello", "v": 1, "name": sub, "token": token});
        let (mut client, welcome) = Client::hello_with(server, hello).await;
        if welcome.get("push").is_some() {
            client.join(room).await;
            return client;
        }
        assert!(Instant::now() < deadline, "push never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers `sub` in `room`; the answer's type, or the error's code and message.
async fn try_register(
    client: &mut Client,
    sub: &Subscriber,
    room: &str,
    service: &PushService,
) -> String {
    let mut frame = sub.register(service);
    frame["room"] = json!(room);
    client.send(frame).await;
    let answer = client.recv().await;
    match answer["type"].as_str() {
        Some("error") => format!("{}: {}", answer["code"], answer["message"]),
        other => other.unwrap_or_default().to_owned(),
    }
}

/// With auth, a device belongs to the user who registered it, and the per-device and per-user limits hold;
/// the same on both stores.
async fn owners_and_user_limits(server: &RunningServer) {
    let service = PushService::start().await;
    let (d1, d2, d3) = (
        Subscriber::new("d1"),
        Subscriber::new("d2"),
        Subscriber::new("d3"),
    );
    let mut ann = user_member(server, "ann", "team-1").await;
    ann.join("team-2").await;
    assert_eq!(
        try_register(&mut ann, &d1, "team-1", &service).await,
        "push-registered"
    );
    let refused = try_register(&mut ann, &d1, "team-2", &service).await;
    assert!(
        refused.contains("push_refused") && refused.contains("rooms"),
        "{refused}"
    );
    assert_eq!(
        try_register(&mut ann, &d2, "team-1", &service).await,
        "push-registered"
    );
    let refused = try_register(&mut ann, &d3, "team-1", &service).await;
    assert!(
        refused.contains("push_refused") && refused.contains("user"),
        "{refused}"
    );
    // Registering again (renewal) is not a new registration.
    assert_eq!(
        try_register(&mut ann, &d1, "team-1", &service).await,
        "push-registered"
    );
    // Another user presenting Ann's device and secret is refused, registering or unregistering.
    let mut eve = user_member(server, "eve", "team-1").await;
    ann.expect("peer-joined").await;
    let refused = try_register(&mut eve, &d1, "team-1", &service).await;
    assert!(refused.contains("push_refused"), "{refused}");
    eve.send(json!({"type": "push-unregister", "device": d1.device, "secret": d1.device_secret}))
        .await;
    eve.expect_error("push_refused").await;
    // Ann frees a room of d1 and of her own count: d3 fits now.
    ann.send(json!({"type": "push-unregister", "device": d1.device, "secret": d1.device_secret, "room": "team-1"}))
        .await;
    assert_eq!(ann.expect("push-unregistered").await["room"], "team-1");
    assert_eq!(
        try_register(&mut ann, &d3, "team-1", &service).await,
        "push-registered"
    );
    let refused = try_register(&mut ann, &d1, "team-2", &service).await;
    assert!(refused.contains("user"), "{refused}");
}

const USER_LIMITS: [&str; 6] = [
    "--auth-secret",
    SECRET,
    "--push-max-per-user",
    "2",
    "--push-max-rooms-per-device",
    "1",
];

#[tokio::test]
async fn a_device_belongs_to_its_user_and_users_are_capped_in_sqlite() {
    let db = temp_db("users");
    let server = push_server(&db, &USER_LIMITS).await;
    owners_and_user_limits(&server).await;
    server.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

#[tokio::test]
async fn a_device_belongs_to_its_user_and_users_are_capped_in_redis() {
    let redis = Redis::start();
    let url = redis.url();
    let mut args = vec!["--push", "--push-allow-private", "--redis-url", &url];
    args.extend_from_slice(&USER_LIMITS);
    let server = common::server(&args).await;
    owners_and_user_limits(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_same_ring_across_two_servers_sharing_redis() {
    let redis = Redis::start();
    let url = redis.url();
    let args = [
        "--push",
        "--push-allow-private",
        "--redis-url",
        &url,
        "--node-ttl-ms",
        "1000",
    ];
    let a = common::server(&args).await;
    let b = common::server(&args).await;
    let mut service = PushService::start().await;
    let bob = Subscriber::new("bob");

    let (mut bob_client, key_a) = cluster_member(&a, "Bob").await;
    register(&mut bob_client, &bob, &service).await;
    let (mut alice, key_b) = cluster_member(&b, "Alice").await;
    assert_eq!(key_a, key_b, "one VAPID key for every server");
    bob_client.expect("peer-joined").await;
    assert!(
        offline_devices(&mut alice).await.is_empty(),
        "Bob is in the room, on the other server"
    );
    leave(&mut bob_client, &mut alice).await;
    assert_eq!(
        offline_devices(&mut alice).await,
        vec![(bob.device.clone(), "Bob".to_owned())],
        "registered on A, listed on B"
    );

    alice.send(ring(&bob.device, "call-x")).await;
    let push = service.next().await;
    check_webpush_headers(&push, &key_a, &format!("http://{}", service.addr));
    let payload = bob.decrypt(&push.body);
    assert_eq!(payload["caller"], "Alice");
    assert_eq!(alice.expect("ringing").await["sent"], 1);
    // Declined through server A: Alice, on B, hears it.
    let token = payload["decline"].as_str().unwrap();
    assert_eq!(
        post_decline(&a, json!({"call": "call-x", "token": token})).await,
        204
    );
    assert_eq!(alice.expect("ring-declined").await["call"], "call-x");
    assert_eq!(
        post_decline(&b, json!({"call": "call-x", "token": token})).await,
        404,
        "one-time on every server"
    );

    // The rate limit is the device's on every server: 5 more rings from B, the 7th from A is refused.
    for i in 0..5 {
        alice.send(ring(&bob.device, &format!("c{i}"))).await;
        assert_eq!(alice.expect("ringing").await["sent"], 1);
        service.next().await;
    }
    let (mut carol, _) = cluster_member(&a, "Carol").await;
    carol.send(ring(&bob.device, "c7")).await;
    assert_eq!(carol.expect_error("push_refused").await["ref"], "ring");

    a.shutdown().await;
    b.shutdown().await;
}
