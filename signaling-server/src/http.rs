//! HTTP routes: the WebSocket endpoint, health and readiness probes, the web UI, and (on its own listener)
//! metrics. Every response carries the security headers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router, middleware};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::admission::{self, PendingSlot};
use crate::connection;
use crate::state::ServerState;

/// Shown at `/` when the web UI has not been built.
const PLACEHOLDER: &str = "<!doctype html><meta charset=utf-8><title>p2pchat signaling server</title>\
<h1>p2pchat signaling server</h1><p>The server is running. The web UI is not built: run \
<code>npm --prefix ui ci && npm --prefix ui run build</code> or start the server with <code>--ui-dir</code>.</p>";

/// The UI's own policy (ui/index.html carries the same as a meta tag, which cannot say `frame-ancestors`):
/// scripts and styles only from this origin (Svelte sets style attributes, hence 'unsafe-inline' for
/// styles, never for scripts; 'wasm-unsafe-eval' lets the page compile its own WebAssembly, the file
/// hasher, and allows no JavaScript eval), the WebSocket to this origin, the app's IPC, no plugins, and
/// no framing by other sites (clickjacking a call button). `{sfu}`: the origins of the SFU's WebSocket
/// (`--sfu-public-url`), which SFU calls connect to.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
connect-src 'self' ipc: http://ipc.localhost{sfu}; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The policy with the configured SFU origins.
pub fn content_security_policy(sfu_public_urls: &[String]) -> String {
    let sfu: String = sfu_public_urls
        .iter()
        .filter_map(|url| reqwest::Url::parse(url).ok())
        .map(|url| format!(" {}", url.origin().ascii_serialization()))
        .collect();
    CONTENT_SECURITY_POLICY.replace("{sfu}", &sfu)
}

/// Headers on every response of the public listener besides the policy.
const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// The public listener: `/ws`, probes and the web UI.
pub fn router(state: Arc<ServerState>) -> Router {
    let ui_dir = &state.config.ui_dir;
    let router = Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/push/decline", post(push_decline));
    let router = if ui_dir.join("index.html").is_file() {
        router.fallback_service(ServeDir::new(ui_dir))
    } else {
        tracing::warn!(ui_dir = %ui_dir.display(), "no index.html in the UI directory; serving a placeholder page");
        router.route("/", get(|| async { Html(PLACEHOLDER) }))
    };
    let policy = content_security_policy(&state.config.sfu_public_urls);
    let router = router
        .with_state(state)
        .layer(middleware::from_fn(admission::handshake_done))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ));
    SECURITY_HEADERS
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::overriding(
                name,
                HeaderValue::from_static(value),
            ))
        })
}

/// The metrics listener (`--metrics-bind`): `/metrics` and the probes, for the operator's network only.
pub fn metrics_router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn websocket(
    State(state): State<Arc<ServerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    slot: Option<Extension<Arc<PendingSlot>>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let origin = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or("invalid"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !state.origins.allows(origin, host) {
        state.metrics.connection_refused("origin");
        tracing::info!(
            origin = origin.unwrap_or_default(),
            "refused /ws from a page of another origin"
        );
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let Ok(permit) = state.connection_slots.clone().try_acquire_owned() else {
        state.metrics.connection_refused("max_connections");
        return (StatusCode::SERVICE_UNAVAILABLE, "connection limit reached").into_response();
    };
    let client_ip = state.admission.client_ip(peer.ip(), &headers);
    let max_frame = state.config.max_frame_bytes;
    let tracker = state.tasks.token();
    let slot = slot.map(|Extension(slot)| slot);
    upgrade
        // Small buffers keep an idle connection cheap: tungstenite allocates the read buffer up front and
        // reserves a frame's announced size as soon as its header arrives, so the frame limit is also the
        // most a client can make the server reserve (beyond it the connection is closed with 1009).
        .read_buffer_size(512)
        .write_buffer_size(4096)
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_upgrade(move |socket| async move {
            let _tracked = tracker;
            connection::run(socket, state, permit, client_ip, slot).await;
        })
}

/// `POST /push/decline` `{"call","token"}`: a call rung by push declined from its notification, without
/// joining. 204 when the token was valid (the caller gets `ring-declined`), 404 when it is unknown, used or
/// expired, 400 for a malformed body. The token is the only credential: random, one-time, valid 45 s; so
/// any page may send it (a service worker of another origin that serves the UI).
async fn push_decline(State(state): State<Arc<ServerState>>, body: Bytes) -> Response {
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    let Some(push) = state.push.get() else {
        return (StatusCode::NOT_FOUND, cors, "push is off on this server").into_response();
    };
    let Ok(decline) = serde_json::from_slice::<chat_protocol::PushDecline>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            cors,
            "expected JSON {\"call\",\"token\"}",
        )
            .into_response();
    };
    if !chat_protocol::is_valid_room_name(&decline.call)
        || !crate::push::plausible_token(&decline.token)
    {
        return (StatusCode::NOT_FOUND, cors, "unknown or expired").into_response();
    }
    match push
        .decline(&state.hub, &decline.call, &decline.token)
        .await
    {
        Ok(true) => (StatusCode::NO_CONTENT, cors).into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, cors, "unknown or expired").into_response(),
        Err(e) => {
            tracing::warn!("{e}");
            (StatusCode::SERVICE_UNAVAILABLE, cors, "try again later").into_response()
        }
    }
}

async fn readyz(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) && state.hub.accepting() && state.hub.healthy() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
