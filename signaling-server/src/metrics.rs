//! Prometheus metrics of one server instance, served at `/metrics`. One registry per server (not a global)
//! so several servers in one process, as in the tests, count separately.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels `{type="..."}`, `{code="..."}`, `{reason="..."}` or `{outcome="..."}`.
type Label = [(&'static str, &'static str); 1];

pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Live sessions, including dropped ones waiting in their resume grace period.
    pub sessions: Gauge,
    /// Rooms with at least one member.
    pub rooms: Gauge,
    frames_in: Family<Label, Counter>,
    frames_out: Family<Label, Counter>,
    errors: Family<Label, Counter>,
    /// Successful session resumes.
    pub resumes: Counter,
    /// Connections dropped because they did not read their frames fast enough.
    pub slow_reader_drops: Counter,
    /// Seconds from a `signal` arriving to its relay being written to the recipient's socket.
    pub relay_latency: Histogram,
    /// Bytes of frames held in all sessions' resume rings.
    pub buffered_bytes: Gauge,
    /// Sessions without a connection, waiting in their resume grace period.
    pub sessions_parked: Gauge,
    /// TCP connections that are not (yet) a session.
    pub pending_connections: Gauge,
    sessions_refused: Family<Label, Counter>,
    sessions_evicted: Family<Label, Counter>,
    connections_refused: Family<Label, Counter>,
    /// Connections closed because the TLS/HTTP handshake took longer than the handshake timeout.
    pub handshake_timeouts: Counter,
    /// Connections closed when their token expired.
    pub token_expiries: Counter,
    /// Passes that dropped connected sessions' already-written frames to stay under the buffer budget.
    pub buffer_trims: Counter,
    /// Connections closed with 1009 for a frame above the size limit.
    pub oversized_frames: Counter,
    /// With Redis: 1 while subscribed and heartbeating (what `/readyz` reports), else 0.
    pub cluster_up: Gauge,
    /// With Redis: operations Redis failed or refused.
    pub cluster_errors: Counter,
    /// With Redis: signals sent to a peer on another server.
    pub cluster_relays: Counter,
    /// With Redis: sessions resumed here that another server held.
    pub cluster_takeovers: Counter,
    /// With Redis: signals from another server dropped because this server's buffer budget was full.
    pub remote_signals_dropped: Counter,
    /// With Redis: seconds from a signal's arrival at the sender's server to its queueing at the
    /// recipient's (both clocks; NTP-synchronized hosts assumed).
    pub cross_node_latency: Histogram,
    pushes: Family<Label, Counter>,
    /// With --sfu-url: Janus instances answering their health checks.
    pub sfu_instances_up: Gauge,
    /// With --sfu-url: SFU calls with a participant on this server.
    pub sfu_calls: Gauge,
    /// With --sfu-url: this server's sessions in an SFU call.
    pub sfu_participants: Gauge,
    sfu_joins: Family<Label, Counter>,
    /// With --sfu-url: `sfu-lost` frames sent (participants of calls on a lost instance).
    pub sfu_lost: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            connections: Gauge::default(),
            sessions: Gauge::default(),
            rooms: Gauge::default(),
            frames_in: Family::default(),
            frames_out: Family::default(),
            errors: Family::default(),
            resumes: Counter::default(),
            slow_reader_drops: Counter::default(),
            // 50 µs .. ~0.8 s in powers of two.
            relay_latency: Histogram::new((0..15).map(|i| 0.000_05 * f64::from(1u32 << i))),
            buffered_bytes: Gauge::default(),
            sessions_parked: Gauge::default(),
            pending_connections: Gauge::default(),
            sessions_refused: Family::default(),
            sessions_evicted: Family::default(),
            connections_refused: Family::default(),
            handshake_timeouts: Counter::default(),
            token_expiries: Counter::default(),
            buffer_trims: Counter::default(),
            oversized_frames: Counter::default(),
            cluster_up: Gauge::default(),
            cluster_errors: Counter::default(),
            cluster_relays: Counter::default(),
            cluster_takeovers: Counter::default(),
            remote_signals_dropped: Counter::default(),
            cross_node_latency: Histogram::new((0..15).map(|i| 0.000_05 * f64::from(1u32 << i))),
            pushes: Family::default(),
            sfu_instances_up: Gauge::default(),
            sfu_calls: Gauge::default(),
            sfu_participants: Gauge::default(),
            sfu_joins: Family::default(),
            sfu_lost: Counter::default(),
            registry: Registry::with_prefix("signaling"),
        };
        m.registry.register(
            "connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        m.registry.register(
            "sessions",
            "Live sessions, including those in their resume grace period",
            m.sessions.clone(),
        );
        m.registry
            .register("rooms", "Rooms with at least one member", m.rooms.clone());
        m.registry.register(
            "frames_in",
            "Client frames received, by type",
            m.frames_in.clone(),
        );
        m.registry.register(
            "frames_out",
            "Server frames queued to clients, by type",
            m.frames_out.clone(),
        );
        m.registry
            .register("errors", "Error frames sent, by code", m.errors.clone());
        m.registry.register(
            "resumes",
            "Sessions resumed within the grace period",
            m.resumes.clone(),
        );
        m.registry.register(
            "slow_reader_drops",
            "Connections dropped for not reading their frames",
            m.slow_reader_drops.clone(),
        );
        m.registry.register(
            "relay_latency_seconds",
            "Time from a signal's arrival to its write to the recipient",
            m.relay_latency.clone(),
        );
        m.registry.register(
            "buffered_bytes",
            "Bytes of frames held in all sessions' resume rings (bounded by --max-buffered-bytes)",
            m.buffered_bytes.clone(),
        );
        m.registry.register(
            "sessions_parked",
            "Sessions waiting in their resume grace period",
            m.sessions_parked.clone(),
        );
        m.registry.register(
            "pending_connections",
            "TCP connections not (yet) bound to a session",
            m.pending_connections.clone(),
        );
        m.registry.register(
            "sessions_refused",
            "hello refused by a session limit, by reason",
            m.sessions_refused.clone(),
        );
        m.registry.register(
            "sessions_evicted",
            "Sessions in their grace period ended early to make room, by reason",
            m.sessions_evicted.clone(),
        );
        m.registry.register(
            "connections_refused",
            "Connections refused before a session (pending limits, origin, connection limit), by reason",
            m.connections_refused.clone(),
        );
        m.registry.register(
            "handshake_timeouts",
            "Connections closed for a TLS/HTTP handshake slower than --handshake-timeout-ms",
            m.handshake_timeouts.clone(),
        );
        m.registry.register(
            "token_expiries",
            "Connections closed because their token expired",
            m.token_expiries.clone(),
        );
        m.registry.register(
            "buffer_trims",
            "Passes that freed connected sessions' already-written frames under --max-buffered-bytes",
            m.buffer_trims.clone(),
        );
        m.registry.register(
            "oversized_frames",
            "Connections closed with 1009 for a frame above --max-frame-bytes",
            m.oversized_frames.clone(),
        );
        m.registry.register(
            "cluster_up",
            "With --redis-url: 1 while subscribed to Redis and heartbeating, else 0",
            m.cluster_up.clone(),
        );
        m.registry.register(
            "cluster_errors",
            "With --redis-url: operations Redis failed or refused",
            m.cluster_errors.clone(),
        );
        m.registry.register(
            "cluster_relays",
            "With --redis-url: signals relayed to a peer on another server",
            m.cluster_relays.clone(),
        );
        m.registry.register(
            "cluster_takeovers",
            "With --redis-url: sessions resumed here that another server held",
            m.cluster_takeovers.clone(),
        );
        m.registry.register(
            "cluster_signals_dropped",
            "With --redis-url: signals from another server dropped at --max-buffered-bytes",
            m.remote_signals_dropped.clone(),
        );
        m.registry.register(
            "cross_node_relay_latency_seconds",
            "With --redis-url: time from a signal's arrival at the sender's server to its queueing at the recipient's",
            m.cross_node_latency.clone(),
        );
        m.registry.register(
            "pushes",
            "With --push: pushes by outcome (sent: accepted by the push service; gone: 404/410, registration removed; failed: other answers, timeouts, network errors; refused: not sent, over the rings-per-minute limit or the endpoint no longer public)",
            m.pushes.clone(),
        );
        m.registry.register(
            "sfu_instances_up",
            "With --sfu-url: Janus instances answering their health checks",
            m.sfu_instances_up.clone(),
        );
        m.registry.register(
            "sfu_calls",
            "With --sfu-url: SFU calls with a participant on this server",
            m.sfu_calls.clone(),
        );
        m.registry.register(
            "sfu_participants",
            "With --sfu-url: this server's sessions in an SFU call",
            m.sfu_participants.clone(),
        );
        m.registry.register(
            "sfu_joins",
            "With --sfu-url: sfu-join requests by outcome (placed, unavailable)",
            m.sfu_joins.clone(),
        );
        m.registry.register(
            "sfu_lost",
            "With --sfu-url: sfu-lost frames sent to participants of a lost Janus instance",
            m.sfu_lost.clone(),
        );
        m
    }

    pub fn sfu_join(&self, outcome: &'static str) {
        self.sfu_joins.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn push(&self, outcome: &'static str) {
        self.pushes.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub fn session_refused(&self, reason: &'static str) {
        self.sessions_refused
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    pub fn session_evicted(&self, reason: &'static str) {
        self.sessions_evicted
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    pub fn frame_in(&self, frame_type: &'static str) {
        self.frames_in.get_or_create(&[("type", frame_type)]).inc();
    }

    pub fn frame_out(&self, frame_type: &'static str) {
        self.frames_out.get_or_create(&[("type", frame_type)]).inc();
    }

    pub fn error(&self, code: &'static str) {
        self.errors.get_or_create(&[("code", code)]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
