//! What every connection of one server shares: configuration, the hub, metrics, auth and shutdown.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::Admission;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::hub::{Hub, HubLimits};
use crate::metrics::Metrics;
use crate::origin::AllowedOrigins;
use crate::turn::IceServers;

pub struct ServerState {
    pub config: Config,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    /// `None`: open server (development mode).
    pub auth: Option<Authenticator>,
    pub ice_servers: IceServers,
    /// Web pages allowed to open `/ws`.
    pub origins: AllowedOrigins,
    /// Limits on connections that are not sessions yet.
    pub admission: Arc<Admission>,
    /// Cancelled on shutdown; every connection then closes with 1001.
    pub shutdown: CancellationToken,
    /// Live WebSocket connection tasks, awaited on shutdown.
    pub tasks: TaskTracker,
    /// Slots under `--max-connections`.
    pub connection_slots: Arc<Semaphore>,
    /// `/readyz` answers 200 while this is set.
    pub ready: AtomicBool,
}

impl ServerState {
    pub fn new(config: Config) -> ServerState {
        let metrics = Arc::new(Metrics::new());
        ServerState {
            hub: Arc::new(Hub::new(HubLimits::from_config(&config), metrics.clone())),
            auth: config
                .auth_secret
                .as_deref()
                .map(|secret| Authenticator::new(secret, &config.token_rules())),
            ice_servers: IceServers::from_config(&config),
            origins: AllowedOrigins::from_config(&config),
            admission: Admission::new(
                config.max_pending,
                config.max_pending_per_ip,
                config.handshake_timeout(),
                &config.trusted_proxies,
                config.forwarded_header,
                metrics.clone(),
            ),
            metrics,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            ready: AtomicBool::new(false),
            config,
        }
    }

    /// Configured with `--redis-url` but not yet in the cluster (Redis unreachable since start): no
    /// session may start, since it would live on this server alone.
    pub fn waiting_for_redis(&self) -> bool {
        self.config.redis_url.is_some() && self.hub.cluster().is_none()
    }
}
