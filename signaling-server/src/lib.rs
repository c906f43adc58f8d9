//! p2pchat's signaling server: introduces peers in rooms and relays their WebRTC signals to the addressed
//! peer only, per the protocol in `docs/protocol.md`. `main.rs` parses the configuration and calls
//! [`start`]; tests call it directly on an ephemeral port.
//!
//! Map of the crate: `config` (flags), `http` (routes, security headers), `admission` (connections before a
//! session: pending limits, handshake timeout), `origin` (who may open `/ws`), `connection` (one
//! WebSocket), `session` (numbered frame stream + resume buffer), `hub` (sessions, rooms, delivery, memory
//! and session limits; its `Backplane` reaches other servers), `cluster` (the Redis backplane: several
//! servers sharing rooms and sessions), `limits`,
//! `auth` (JWT), `invite` (the `token` command), `turn` (ICE servers), `metrics`, `error` (refusals → protocol error codes),
//! `push` (ringing offline devices: registrations, Web Push/gateway sends, declines), `sfu` (calls above
//! the mesh size on Janus: placement, tokens, health).
//! docs/security.md lists every limit.

mod admission;
pub mod auth;
mod cluster;
pub mod config;
mod connection;
pub mod error;
mod http;
pub mod hub;
pub mod invite;
pub mod limits;
pub mod metrics;
pub mod origin;
pub mod push;
mod session;
pub mod sfu;
mod state;
pub mod turn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;
use tokio::task::JoinHandle;

pub use config::Config;
pub use config::ForwardedHeader;
use state::ServerState;

/// Why the server could not start; each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load TLS certificate/key: {0}")]
    Tls(std::io::Error),
}

/// A server that is accepting connections.
pub struct RunningServer {
    addr: SocketAddr,
    tls: bool,
    state: Arc<ServerState>,
    handle: Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
    /// The metrics listener, when `--metrics-bind` is set.
    metrics: Option<(SocketAddr, Handle<SocketAddr>)>,
}

impl RunningServer {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://host:port/ws` or `wss://...`.
    pub fn ws_url(&self) -> String {
        format!("{}://{}/ws", if self.tls { "wss" } else { "ws" }, self.addr)
    }

    /// `http://host:port` or `https://...`.
    pub fn http_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// `http://host:port` of the metrics listener, if `--metrics-bind` is set.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics
            .as_ref()
            .map(|(addr, _)| format!("http://{addr}"))
    }

    /// Graceful shutdown: stop accepting, close every WebSocket with 1001, wait (bounded) for them.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        if let Some((_, handle)) = &self.metrics {
            handle.shutdown();
        }
        self.state.ready.store(false, Ordering::Relaxed);
        self.state.shutdown.cancel();
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        self.state.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.state.tasks.wait()).await;
        let _ = self.task.await;
        // With Redis, clients reconnect to another server and resume there; until they have (or the drain
        // time passes) this server keeps answering those servers' takeovers, so nobody sees them leave.
        self.state.hub.stop(self.state.config.drain()).await;
        self.state.hub_events.abort();
    }
}

/// Reads secret files, validates `config`, binds and starts serving in the background.
pub async fn start(mut config: Config) -> Result<RunningServer, StartError> {
    config.load_secret_files().map_err(StartError::Config)?;
    config.validate().map_err(StartError::Config)?;
    let addr = config.bind;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            // Both ring and aws-lc may be linked; pick one explicitly. Fails only if already installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
            Some(
                RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(StartError::Tls)?,
            )
        }
        _ => None,
    };
    let listener = bind(addr)?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let metrics_listener = match config.metrics_bind {
        Some(metrics_addr) => {
            let listener = bind(metrics_addr)?;
            let bound = listener.local_addr().map_err(|source| StartError::Bind {
                addr: metrics_addr,
                source,
            })?;
            Some((listener, bound))
        }
        None => None,
    };

    if config.auth_secret.is_none() {
        tracing::warn!(
            "no --auth-secret: open server (development mode), anyone can connect and join any room"
        );
        if config.turn_secret.is_some() {
            tracing::warn!(
                "--allow-open-turn: every client of this open server gets TURN relay credentials \
                 valid for --turn-ttl seconds"
            );
        }
    }
    if config.metrics_bind.is_none() {
        tracing::info!("no --metrics-bind: /metrics is not served");
    }
    let metrics = Arc::new(metrics::Metrics::new());
    let push = push::PushSlot::start(&config, metrics.clone())
        .await
        .map_err(StartError::Config)?;
    let state = Arc::new(ServerState::new(config, metrics, push).map_err(StartError::Config)?);
    let app = http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    let is_tls = tls.is_some();
    let admit = admission::Admit(state.admission.clone());
    let handshake_timeout = state.config.handshake_timeout();
    let mut server =
        axum_server::from_tcp(listener).map_err(|source| StartError::Bind { addr, source })?;
    // After the first request (whose deadline the acceptor enforces), each later request on a kept-alive
    // connection must send its headers within the same time; an idle connection is closed after it.
    server
        .http_builder()
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(handshake_timeout);
    let task = match tls {
        Some(tls) => {
            let acceptor = RustlsAcceptor::new(tls)
                .handshake_timeout(handshake_timeout)
                .acceptor(admit);
            tokio::spawn(server.acceptor(acceptor).handle(handle.clone()).serve(app))
        }
        None => tokio::spawn(server.acceptor(admit).handle(handle.clone()).serve(app)),
    };
    let metrics = match metrics_listener {
        Some((listener, metrics_addr)) => {
            let metrics_handle = Handle::new();
            let server = axum_server::from_tcp(listener).map_err(|source| StartError::Bind {
                addr: metrics_addr,
                source,
            })?;
            let app = http::metrics_router(state.clone()).into_make_service();
            tokio::spawn(server.handle(metrics_handle.clone()).serve(app));
            tracing::info!(addr = %metrics_addr, "metrics listening");
            Some((metrics_addr, metrics_handle))
        }
        None => None,
    };
    state.ready.store(true, Ordering::Relaxed);
    tracing::info!(%addr, tls = is_tls, "listening");
    Ok(RunningServer {
        addr,
        tls: is_tls,
        state,
        handle,
        task,
        metrics,
    })
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, StartError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok(listener)
}
