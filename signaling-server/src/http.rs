//! HTTP routes: the WebSocket endpoint, health and readiness probes, metrics, and the web UI.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeDir;

use crate::connection;
use crate::state::ServerState;

/// Shown at `/` when the web UI has not been built.
const PLACEHOLDER: &str = "<!doctype html><meta charset=utf-8><title>p2pchat signaling server</title>\
<h1>p2pchat signaling server</h1><p>The server is running. The web UI is not built: run \
<code>npm --prefix ui ci && npm --prefix ui run build</code> or start the server with <code>--ui-dir</code>.</p>";

pub fn router(state: Arc<ServerState>) -> Router {
    let ui_dir = &state.config.ui_dir;
    let router = Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    let router = if ui_dir.join("index.html").is_file() {
        router.fallback_service(ServeDir::new(ui_dir))
    } else {
        tracing::warn!(ui_dir = %ui_dir.display(), "no index.html in the UI directory; serving a placeholder page");
        router.route("/", get(|| async { Html(PLACEHOLDER) }))
    };
    router.with_state(state)
}

async fn websocket(State(state): State<Arc<ServerState>>, upgrade: WebSocketUpgrade) -> Response {
    let Ok(permit) = state.connection_slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "connection limit reached").into_response();
    };
    let max_frame = state.config.max_frame_bytes;
    // Frames above the protocol limit are still read whole (up to this hard cap) so they can be refused
    // with `too_large` and the connection kept; beyond it the WebSocket layer closes with 1009.
    let hard_cap = (max_frame * 4).max(1 << 20);
    let tracker = state.tasks.token();
    upgrade
        // Small buffers keep an idle connection cheap: tungstenite allocates the read buffer up front and
        // reserves exactly a large frame's size once its header is read.
        .read_buffer_size(512)
        .write_buffer_size(4096)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| async move {
            let _tracked = tracker;
            connection::run(socket, state, permit).await;
        })
}

async fn readyz(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
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
