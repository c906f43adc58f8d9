//! What every connection of one server shares: configuration, the hub, metrics, auth and shutdown.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admission::Admission;
use crate::auth::Authenticator;
use crate::cluster::{ClusterConfig, RedisBackplane};
use crate::config::Config;
use crate::hub::{Backplane, Hub, HubLimits, LocalBackplane};
use crate::metrics::Metrics;
use crate::origin::AllowedOrigins;
use crate::push::PushSlot;
use crate::sfu::Sfu;
use crate::turn::IceServers;

pub struct ServerState {
    pub config: Config,
    pub hub: Arc<Hub>,
    /// The hub's task handling its backplane's events (see `Hub::run`), ended on shutdown.
    pub hub_events: tokio::task::JoinHandle<()>,
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
    /// Push for calls to offline devices (empty without `--push`, or while its store is not reachable).
    pub push: Arc<PushSlot>,
    /// Calls above the mesh size on Janus (`None` without `--sfu-url`).
    pub sfu: Option<Arc<Sfu>>,
}

impl ServerState {
    /// Builds the state and starts the hub's backplane (with `--redis-url`, joining the other servers in
    /// the background) and the SFU's health checks; needs a Tokio runtime.
    pub fn new(
        config: Config,
        metrics: Arc<Metrics>,
        push: Arc<PushSlot>,
    ) -> Result<ServerState, String> {
        let (events, inbox) = Hub::channel();
        let backplane: Arc<dyn Backplane> = match config.redis_url.as_deref() {
            Some(url) => RedisBackplane::start(
                ClusterConfig {
                    url: url.to_owned(),
                    node_ttl: config.node_ttl(),
                    grace: config.resume_grace(),
                    ring_frames: config.resume_buffer,
                    room_capacity: config.effective_room_capacity(),
                },
                events,
                metrics.clone(),
            ),
            None => Arc::new(LocalBackplane::new(config.effective_room_capacity())),
        };
        let hub = Arc::new(Hub::new(
            HubLimits::from_config(&config),
            metrics.clone(),
            backplane,
        ));
        let hub_events = tokio::spawn(hub.clone().run(inbox));
        let shutdown = CancellationToken::new();
        let sfu = Sfu::start(&config, hub.clone(), metrics.clone(), shutdown.clone())?;
        Ok(ServerState {
            hub,
            hub_events,
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
            shutdown,
            tasks: TaskTracker::new(),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            ready: AtomicBool::new(false),
            push,
            sfu,
            config,
        })
    }

    /// Configured with `--redis-url` but not yet in the cluster (Redis unreachable since start): no
    /// session may start, since it would live on this server alone.
    pub fn waiting_for_redis(&self) -> bool {
        !self.hub.accepting()
    }
}
