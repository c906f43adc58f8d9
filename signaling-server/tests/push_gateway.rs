//! The reference push gateway (`signaling-server push-gateway`) between the real server and local
//! stand-ins for FCM (OAuth token endpoint + HTTP v1 send) and APNs (HTTP/2 without TLS): a ring of a
//! registration of kind `gateway` reaches the right service, signed with the right credentials, carrying the
//! push payload; a token the service no longer knows removes the registration.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::Client;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use signaling_server::config::GatewayArgs;
use signaling_server::push::gateway::Gateway;
use tokio::sync::mpsc;

const ROOM: &str = "team-1";

/// A request a stand-in received: its path, headers and body.
type Seen = (String, HeaderMap, String);

#[derive(Clone)]
struct StandIn {
    seen: mpsc::UnboundedSender<Seen>,
    /// The status and body the next send answers with.
    answer: Arc<Mutex<(u16, String)>>,
}

async fn record(
    State(stand_in): State<StandIn>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let _ = stand_in.seen.send((path.clone(), headers, body));
    if path == "token" {
        return (
            StatusCode::OK,
            json!({"access_token": "access-1", "expires_in": 3600, "token_type": "Bearer"})
                .to_string(),
        );
    }
    let (status, body) = stand_in.answer.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), body)
}

/// Serves `/{*path}` on a loopback port (HTTP/1.1 and, with prior knowledge, HTTP/2).
async fn stand_in() -> (
    String,
    mpsc::UnboundedReceiver<Seen>,
    Arc<Mutex<(u16, String)>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let answer = Arc::new(Mutex::new((200, "{}".to_owned())));
    let app = axum::Router::new()
        .route("/{*path}", post(record))
        .with_state(StandIn {
            seen: tx,
            answer: answer.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx, answer)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a request within 10 s")
        .unwrap()
}

fn ring(device: &str, call: &str) -> Value {
    json!({"type": "ring", "room": ROOM, "device": device, "call": call, "media": ["audio"]})
}

#[tokio::test]
async fn rings_reach_fcm_and_apns_through_the_gateway() {
    let dir = std::env::temp_dir().join(format!("signaling-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (fcm_url, mut fcm_seen, fcm_answer) = stand_in().await;
    let (apns_url, mut apns_seen, apns_answer) = stand_in().await;

    // The publisher's credentials: a service account (RSA) and an APNs key (P-256).
    let mut rng = p256::elliptic_curve::rand_core::OsRng;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let account = json!({
        "project_id": "p2pchat-test",
        "client_email": "gateway@p2pchat-test.iam.example",
        "private_key": rsa_key.to_pkcs8_pem(Default::default()).unwrap().to_string(),
        "token_uri": format!("{fcm_url}/token"),
    });
    let account_path = dir.join("service-account.json");
    std::fs::write(&account_path, account.to_string()).unwrap();
    let apns_key = p256::SecretKey::random(&mut rng);
    let apns_path = dir.join("apns.p8");
    std::fs::write(
        &apns_path,
        apns_key
            .to_pkcs8_pem(Default::default())
            .unwrap()
            .as_bytes(),
    )
    .unwrap();

    let gateway = Gateway::new(&GatewayArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        fcm_service_account: Some(account_path),
        fcm_url: fcm_url.clone(),
        apns_key: Some(apns_path),
        apns_key_id: Some("KEY123".into()),
        apns_team_id: Some("TEAM42".into()),
        apns_topic: Some("org.p2pchat.app".into()),
        apns_url: apns_url.clone(),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, gateway.router()).await.unwrap() });

    let db = dir.join("push.sqlite3");
    let server = common::server(&[
        "--push",
        "--push-db",
        db.to_str().unwrap(),
        "--push-gateway-url",
        &gateway_url,
    ])
    .await;
    let (mut phones, _) = Client::hello(&server, "Bob").await;
    phones.join(ROOM).await;
    for (device, platform, token) in [
        ("android-0001", "fcm", "fcm-token-1"),
        ("iphone-00001", "apns-voip", "apns-token-1"),
        ("ipad-0000001", "apns", "apns-token-2"),
    ] {
        phones
            .send(json!({
                "type": "push-register", "room": ROOM, "device": device,
                "secret": URL_SAFE_NO_PAD.encode([3u8; 24]),
                "subscription": {"kind": "gateway", "platform": platform, "token": token},
            }))
            .await;
        phones.expect("push-registered").await;
    }
    let (mut alice, _) = Client::hello(&server, "Alice").await;
    alice.join(ROOM).await;

    // FCM: an OAuth assertion signed with the service account's key, then a high-priority data message.
    alice.send(ring("android-0001", "call-1")).await;
    let (path, _, form) = next(&mut fcm_seen).await;
    assert_eq!(path, "token");
    let assertion = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("assertion="))
        .expect("a JWT bearer grant");
    assert!(form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"));
    let public = rsa_key.to_public_key();
    let key = DecodingKey::from_rsa_components(
        &URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        &URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    )
    .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{fcm_url}/token")]);
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .expect("signed by the service account")
        .claims;
    assert_eq!(claims["iss"], "gateway@p2pchat-test.iam.example");
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    let (path, headers, body) = next(&mut fcm_seen).await;
    assert_eq!(path, "v1/projects/p2pchat-test/messages:send");
    assert_eq!(headers["authorization"], "Bearer access-1");
    let message: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(message["message"]["token"], "fcm-token-1");
    assert_eq!(message["message"]["android"]["priority"], "HIGH");
    assert_eq!(message["message"]["android"]["ttl"], "45s");
    let payload: Value =
        serde_json::from_str(message["message"]["data"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (&payload["kind"], &payload["caller"], &payload["call"]),
        (&json!("call"), &json!("Alice"), &json!("call-1"))
    );
    assert_eq!(alice.expect("ringing").await["sent"], 1);

    // APNs VoIP: HTTP/2, a provider token for the team and key, the .voip topic.
    alice.send(ring("iphone-00001", "call-2")).await;
    let (path, headers, body) = next(&mut apns_seen).await;
    assert_eq!(path, "3/device/apns-token-1");
    assert_eq!(headers["apns-topic"], "org.p2pchat.app.voip");
    assert_eq!(headers["apns-push-type"], "voip");
    assert_eq!(headers["apns-priority"], "10");
    let jwt = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("bearer ")
        .unwrap()
        .to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().kid.as_deref(),
        Some("KEY123")
    );
    let point = apns_key.public_key().to_encoded_point(false);
    let key = DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        &URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    )
    .unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
        .expect("signed with the APNs key")
        .claims;
    assert_eq!(claims["iss"], "TEAM42");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["p2pchat"]["call"], "call-2");
    assert_eq!(alice.expect("ringing").await["sent"], 1);

    // APNs alert: the caller's name shows; a token APNs no longer knows removes the registration.
    *apns_answer.lock().unwrap() = (400, json!({"reason": "BadDeviceToken"}).to_string());
    alice.send(ring("ipad-0000001", "call-3")).await;
    let (_, headers, body) = next(&mut apns_seen).await;
    assert_eq!(headers["apns-push-type"], "alert");
    assert_eq!(headers["apns-topic"], "org.p2pchat.app");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["aps"]["alert"]["title"], "Alice");
    assert_eq!(alice.expect("ringing").await["sent"], 0);
    alice.send(ring("ipad-0000001", "call-4")).await;
    alice.expect_error("push_refused").await;

    // FCM says UNREGISTERED (404): gone too; a failure that is not about the token keeps it.
    *fcm_answer.lock().unwrap() = (500, "{}".into());
    alice.send(ring("android-0001", "call-5")).await;
    next(&mut fcm_seen).await;
    assert_eq!(alice.expect("ringing").await["sent"], 0);
    *fcm_answer.lock().unwrap() = (404, json!({"error": {"status": "NOT_FOUND"}}).to_string());
    alice.send(ring("android-0001", "call-6")).await;
    next(&mut fcm_seen).await;
    assert_eq!(alice.expect("ringing").await["sent"], 0);
    alice.send(ring("android-0001", "call-7")).await;
    alice.expect_error("push_refused").await;

    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
