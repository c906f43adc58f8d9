//! p2pchat's signaling server: introduces peers in rooms and relays their WebRTC signals to the addressed
//! peer only, per the protocol in `docs/protocol.md`. `main.rs` parses the configuration and calls
//! [`start`]; tests call it directly on an ephemeral port.
//!
//! Map of the crate: `config` (flags), `http` (routes), `connection` (one WebSocket), `session` (numbered
//! frame stream + resume buffer), `hub` (rooms and delivery), `limits`, `auth` (JWT), `turn` (ICE
//! servers), `metrics`, `error` (refusals → protocol error codes).

pub mod auth;
pub mod config;
mod connection;
pub mod error;
mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
mod session;
mod state;
pub mod turn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

pub use config::Config;
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

    /// Graceful shutdown: stop accepting, close every WebSocket with 1001, wait (bounded) for them.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        self.state.ready.store(false, Ordering::Relaxed);
        self.state.shutdown.cancel();
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        self.state.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.state.tasks.wait()).await;
        let _ = self.task.await;
    }
}

/// Validates `config`, binds and starts serving in the background.
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
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
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    if config.auth_secret.is_none() {
        tracing::warn!(
            "no --auth-secret: open server (development mode), anyone can connect and join any room"
        );
    }
    let state = Arc::new(ServerState::new(config));
    let app = http::router(state.clone()).into_make_service();
    let handle = Handle::new();
    let is_tls = tls.is_some();
    let task = match tls {
        Some(tls) => {
            let server = axum_server::from_tcp_rustls(listener, tls)
                .map_err(|source| StartError::Bind { addr, source })?;
            tokio::spawn(server.handle(handle.clone()).serve(app))
        }
        None => {
            let server = axum_server::from_tcp(listener)
                .map_err(|source| StartError::Bind { addr, source })?;
            tokio::spawn(server.handle(handle.clone()).serve(app))
        }
    };
    state.ready.store(true, Ordering::Relaxed);
    tracing::info!(%addr, tls = is_tls, "listening");
    Ok(RunningServer {
        addr,
        tls: is_tls,
        state,
        handle,
        task,
    })
}
