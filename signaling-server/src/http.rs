//! HTTP routes: the WebSocket endpoint, health and readiness probes, the web UI, and (on its own listener)
//! metrics. Every response carries the security headers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
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
/// no framing by other sites (clickjacking a call button).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; \
connect-src 'self' ipc: http://ipc.localhost; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// Headers on every response of the public listener.
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
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
        .route("/readyz", get(readyz));
    let router = if ui_dir.join("index.html").is_file() {
        router.fallback_service(ServeDir::new(ui_dir))
    } else {
        tracing::warn!(ui_dir = %ui_dir.display(), "no index.html in the UI directory; serving a placeholder page");
        router.route("/", get(|| async { Html(PLACEHOLDER) }))
    };
    let router = router
        .with_state(state)
        .layer(middleware::from_fn(admission::handshake_done));
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
