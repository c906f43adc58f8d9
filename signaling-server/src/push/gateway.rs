//! `signaling-server push-gateway`: a reference push gateway for FCM and APNs, run by whoever publishes the
//! apps (it holds their credentials). It takes what the server POSTs to `--push-gateway-url`
//! (`{"platform","token","payload"}`, docs/operations.md "Push: calls to offline devices") and hands it on:
//! FCM HTTP v1 as a high-priority data message with one field, `payload` (the push payload's JSON); APNs
//! over HTTP/2 with a token-based (ES256) authorization, `{"p2pchat": payload}` as body (`apns-voip`: a
//! PushKit push; `apns`: an alert). It answers 204 when handed on, 410 when the service says the token is
//! no longer valid (the server then drops the registration), 501 for a platform it has no credentials for,
//! 502 for anything else.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chat_protocol::{GatewayPlatform, PushKind, PushPayload};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde::Deserialize;
use serde_json::json;

use crate::config::GatewayArgs;

/// How long a push may wait at FCM/APNs: the ring's lifetime.
const TTL_SECS: u64 = chat_protocol::PUSH_RING_TTL_MS / 1000;
/// OAuth tokens (FCM, 1 h) and APNs provider tokens (valid 1 h, refreshed at most every 20 min) are
/// renewed this long after they were made.
const TOKEN_REUSE: Duration = Duration::from_secs(45 * 60);
const TIMEOUT: Duration = Duration::from_secs(10);

/// The fields of a service-account file the gateway uses.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    token_uri: String,
}

struct Fcm {
    account: ServiceAccount,
    key: EncodingKey,
    url: String,
    token: Mutex<Option<(String, Instant)>>,
}

struct Apns {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    topic: String,
    url: String,
    token: Mutex<Option<(String, Instant)>>,
}

/// A running gateway's state.
pub struct Gateway {
    /// HTTP/1.1 or 2 (FCM, OAuth).
    client: reqwest::Client,
    /// HTTP/2 only (APNs).
    h2: reqwest::Client,
    fcm: Option<Fcm>,
    apns: Option<Apns>,
}

/// What the signaling server sends.
#[derive(Deserialize)]
struct Request {
    platform: GatewayPlatform,
    token: String,
    payload: PushPayload,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl Gateway {
    /// Loads the credentials named in `args`; at least one service must be configured.
    pub fn new(args: &GatewayArgs) -> Result<Gateway, String> {
        let fcm = match &args.fcm_service_account {
            None => None,
            Some(path) => {
                let account: ServiceAccount = serde_json::from_str(&read(path)?)
                    .map_err(|e| format!("{}: not a service-account key: {e}", path.display()))?;
                let der = rsa::RsaPrivateKey::from_pkcs8_pem(&account.private_key)
                    .and_then(|key| key.to_pkcs1_der().map_err(rsa::pkcs8::Error::from))
                    .map_err(|e| format!("{}: private_key: {e}", path.display()))?;
                Some(Fcm {
                    key: EncodingKey::from_rsa_der(der.as_bytes()),
                    account,
                    url: args.fcm_url.trim_end_matches('/').to_owned(),
                    token: Mutex::new(None),
                })
            }
        };
        let apns = match &args.apns_key {
            None => None,
            Some(path) => {
                let key = p256::SecretKey::from_pkcs8_pem(&read(path)?)
                    .and_then(|key| key.to_pkcs8_der())
                    .map_err(|e| format!("{}: not an APNs .p8 key: {e}", path.display()))?;
                Some(Apns {
                    key: EncodingKey::from_ec_der(key.as_bytes()),
                    key_id: args.apns_key_id.clone().unwrap_or_default(),
                    team_id: args.apns_team_id.clone().unwrap_or_default(),
                    topic: args.apns_topic.clone().unwrap_or_default(),
                    url: args.apns_url.trim_end_matches('/').to_owned(),
                    token: Mutex::new(None),
                })
            }
        };
        if fcm.is_none() && apns.is_none() {
            return Err("give --fcm-service-account and/or --apns-key".into());
        }
        let builder = || {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
        };
        let client = builder().build().map_err(|e| format!("HTTP client: {e}"))?;
        let h2 = builder()
            .http2_prior_knowledge()
            .build()
            .map_err(|e| format!("HTTP/2 client: {e}"))?;
        Ok(Gateway {
            client,
            h2,
            fcm,
            apns,
        })
    }

    /// `POST /`: the gateway's one route.
    pub fn router(self) -> axum::Router {
        axum::Router::new()
            .route("/", post(handle))
            .with_state(Arc::new(self))
    }

    /// Serves until the process is stopped.
    pub async fn serve(self, listen: SocketAddr) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tracing::info!(addr = %listener.local_addr()?, "push gateway listening");
        axum::serve(listener, self.router()).await
    }

    async fn fcm(
        &self,
        fcm: &Fcm,
        token: &str,
        payload: &PushPayload,
    ) -> Result<StatusCode, String> {
        let access = self.fcm_access_token(fcm).await?;
        let message = json!({"message": {
            "token": token,
            "data": {"payload": serde_json::to_string(payload).unwrap_or_default()},
            "android": {"priority": "HIGH", "ttl": format!("{TTL_SECS}s")},
        }});
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            fcm.url, fcm.account.project_id
        );
        let response = self
            .client
            .post(url)
            .bearer_auth(access)
            .json(&message)
            .send()
            .await
            .map_err(|e| format!("FCM: {e}"))?;
        Ok(match response.status() {
            s if s.is_success() => StatusCode::NO_CONTENT,
            // UNREGISTERED: the app was uninstalled or the token rotated.
            StatusCode::NOT_FOUND => StatusCode::GONE,
            status => {
                tracing::warn!(%status, "FCM refused a push");
                StatusCode::BAD_GATEWAY
            }
        })
    }

    /// An OAuth access token for FCM (RFC 7523 JWT bearer grant), reused until [`TOKEN_REUSE`].
    async fn fcm_access_token(&self, fcm: &Fcm) -> Result<String, String> {
        if let Some((token, made)) = fcm.token.lock().unwrap_or_else(|p| p.into_inner()).clone()
            && made.elapsed() < TOKEN_REUSE
        {
            return Ok(token);
        }
        let now = unix_secs();
        let claims = json!({
            "iss": fcm.account.client_email,
            "scope": "https://www.googleapis.com/auth/firebase.messaging",
            "aud": fcm.account.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &fcm.key)
            .map_err(|e| format!("FCM assertion: {e}"))?;
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
        }
        let response = self
            .client
            .post(&fcm.account.token_uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
            ))
            .send()
            .await
            .map_err(|e| format!("FCM OAuth: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("FCM OAuth: {}", response.status()));
        }
        let token: Token = response
            .json()
            .await
            .map_err(|e| format!("FCM OAuth: {e}"))?;
        *fcm.token.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((token.access_token.clone(), Instant::now()));
        Ok(token.access_token)
    }

    async fn apns(
        &self,
        apns: &Apns,
        voip: bool,
        token: &str,
        payload: &PushPayload,
    ) -> Result<StatusCode, String> {
        let jwt = apns_token(apns)?;
        let (topic, push_type, body) = if voip {
            (
                format!("{}.voip", apns.topic),
                "voip",
                json!({"p2pchat": payload}),
            )
        } else {
            let body = match payload.kind {
                PushKind::Call => "Incoming call",
                PushKind::CallEnded => "Missed call",
            };
            (
                apns.topic.clone(),
                "alert",
                json!({
                    "aps": {"alert": {"title": payload.caller, "body": body}, "sound": "default"},
                    "p2pchat": payload,
                }),
            )
        };
        let response = self
            .h2
            .post(format!("{}/3/device/{token}", apns.url))
            .header("authorization", format!("bearer {jwt}"))
            .header("apns-topic", topic)
            .header("apns-push-type", push_type)
            .header("apns-priority", "10")
            .header("apns-expiration", (unix_secs() + TTL_SECS).to_string())
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("APNs: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(StatusCode::NO_CONTENT);
        }
        #[derive(Deserialize)]
        struct Reason {
            reason: String,
        }
        let reason = response
            .json::<Reason>()
            .await
            .map(|r| r.reason)
            .unwrap_or_default();
        Ok(match (status, reason.as_str()) {
            (StatusCode::GONE, _) | (_, "BadDeviceToken" | "Unregistered") => StatusCode::GONE,
            _ => {
                tracing::warn!(%status, reason, "APNs refused a push");
                StatusCode::BAD_GATEWAY
            }
        })
    }
}

/// The APNs provider token (ES256, `kid` the key id, `iss` the team), reused until [`TOKEN_REUSE`].
fn apns_token(apns: &Apns) -> Result<String, String> {
    let mut cached = apns.token.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((token, made)) = cached.as_ref()
        && made.elapsed() < TOKEN_REUSE
    {
        return Ok(token.clone());
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(apns.key_id.clone());
    let claims = json!({"iss": apns.team_id, "iat": unix_secs()});
    let token = jsonwebtoken::encode(&header, &claims, &apns.key)
        .map_err(|e| format!("APNs token: {e}"))?;
    *cached = Some((token.clone(), Instant::now()));
    Ok(token)
}

async fn handle(State(gateway): State<Arc<Gateway>>, body: axum::body::Bytes) -> StatusCode {
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let sent = match (request.platform, &gateway.fcm, &gateway.apns) {
        (GatewayPlatform::Fcm, Some(fcm), _) => {
            gateway.fcm(fcm, &request.token, &request.payload).await
        }
        (GatewayPlatform::Apns | GatewayPlatform::ApnsVoip, _, Some(apns)) => {
            let voip = request.platform == GatewayPlatform::ApnsVoip;
            gateway
                .apns(apns, voip, &request.token, &request.payload)
                .await
        }
        _ => return StatusCode::NOT_IMPLEMENTED,
    };
    sent.unwrap_or_else(|e| {
        tracing::warn!("{e}");
        StatusCode::BAD_GATEWAY
    })
}
