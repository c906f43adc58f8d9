//! Server configuration: every flag also reads an environment variable, and [`Config::validate`] turns a
//! bad combination into one clear sentence (the binary prints it and exits with code 2).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::invite::TokenArgs;

pub mod origin;
mod proxy;
mod push_gateway;

pub use proxy::{ForwardedHeader, ProxyNet};
pub use push_gateway::GatewayArgs;

/// Signaling server of p2pchat: introduces peers in rooms and relays their WebRTC signals (SDP/ICE) to the
/// addressed peer only. Serves the web UI at / and the WebSocket protocol at /ws.
#[derive(Debug, Clone, Parser)]
#[command(name = "signaling-server", version)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "SIGNALING_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory of the built web UI served at `/` (a placeholder page is served when it is missing).
    #[arg(long, env = "SIGNALING_UI_DIR", default_value = "ui/dist")]
    pub ui_dir: PathBuf,

    /// PEM certificate chain; with --tls-key the server speaks HTTPS/WSS only.
    #[arg(long, env = "SIGNALING_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "SIGNALING_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// HS256 secret for client JWTs (`hello.token`), at least 32 bytes. Without it the server is open to
    /// anyone (development). Prefer the environment variable or --auth-secret-file: a command-line value
    /// shows in `ps`.
    #[arg(
        long,
        env = "SIGNALING_AUTH_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub auth_secret: Option<String>,

    /// File holding the HS256 secret for client JWTs (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "SIGNALING_AUTH_SECRET_FILE",
        conflicts_with = "auth_secret",
        global = true
    )]
    pub auth_secret_file: Option<PathBuf>,

    /// Required `aud` claim of client tokens (unset: tokens must not carry an audience).
    #[arg(long, env = "SIGNALING_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// Required `iss` claim of client tokens (unset: any issuer).
    #[arg(long, env = "SIGNALING_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// Clock skew tolerated on a token's `exp` and `nbf`, in seconds. A connection is closed when its
    /// token's `exp` plus this leeway passes.
    #[arg(long, env = "SIGNALING_JWT_LEEWAY_SECS", default_value_t = 5)]
    pub jwt_leeway_secs: u64,

    /// STUN server URL handed to clients in `welcome.ice_servers` (repeatable), e.g. stun:stun.example.org:3478.
    #[arg(long = "stun-url", env = "SIGNALING_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// TURN server URL handed to clients with ephemeral credentials (repeatable), e.g.
    /// turn:turn.example.org:3478?transport=udp. Requires --turn-secret.
    #[arg(long = "turn-url", env = "SIGNALING_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// Shared secret of the TURN server (coturn `static-auth-secret` with `use-auth-secret`), at least 32
    /// bytes. Prefer the environment variable or --turn-secret-file.
    #[arg(long, env = "SIGNALING_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// File holding the TURN shared secret (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "SIGNALING_TURN_SECRET_FILE",
        conflicts_with = "turn_secret"
    )]
    pub turn_secret_file: Option<PathBuf>,

    /// Hand out TURN credentials on an open server (no --auth-secret), i.e. to anyone who connects. Without
    /// this flag that combination is refused.
    #[arg(long, env = "SIGNALING_ALLOW_OPEN_TURN", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    pub allow_open_turn: bool,

    /// Lifetime of issued TURN credentials, in seconds.
    #[arg(long, env = "SIGNALING_TURN_TTL", default_value_t = 86_400)]
    pub turn_ttl: u64,

    /// Largest accepted text frame in bytes; a larger frame closes the connection with 1009 (the socket
    /// never buffers more than this for a frame).
    #[arg(long, env = "SIGNALING_MAX_FRAME_BYTES", default_value_t = 65_536)]
    pub max_frame_bytes: usize,

    /// Sustained messages per second allowed per connection (token bucket rate).
    #[arg(long, env = "SIGNALING_RATE_PER_SEC", default_value_t = 50)]
    pub rate_per_sec: u32,

    /// Burst size of the per-connection token bucket.
    #[arg(long, env = "SIGNALING_RATE_BURST", default_value_t = 200)]
    pub rate_burst: u32,

    /// Most peers in one room (calls are a full mesh, so keep it small).
    #[arg(long, env = "SIGNALING_ROOM_CAPACITY", default_value_t = 8)]
    pub room_capacity: usize,

    /// How long a dropped session is kept for `resume`, in milliseconds.
    #[arg(long, env = "SIGNALING_RESUME_GRACE_MS", default_value_t = 30_000)]
    pub resume_grace_ms: u64,

    /// Server frames kept per session for replay on resume; also the most frames a slow reader may lag
    /// behind before it is disconnected.
    #[arg(long, env = "SIGNALING_RESUME_BUFFER", default_value_t = 256)]
    pub resume_buffer: usize,

    /// Bytes of server frames kept per session for replay (the oldest go first); also the most bytes a slow
    /// reader may lag behind. At least twice --max-frame-bytes.
    #[arg(long, env = "SIGNALING_RESUME_BUFFER_BYTES", default_value_t = 262_144)]
    pub resume_buffer_bytes: usize,

    /// Bytes of buffered frames over all sessions. Beyond it, sessions waiting in their resume grace period
    /// are ended (oldest first), then relays are refused with `overloaded`.
    #[arg(
        long,
        env = "SIGNALING_MAX_BUFFERED_BYTES",
        default_value_t = 268_435_456
    )]
    pub max_buffered_bytes: usize,

    /// Most sessions, including those waiting in their resume grace period; beyond it the oldest waiting
    /// session is ended, or `hello` is refused with `overloaded`.
    #[arg(long, env = "SIGNALING_MAX_SESSIONS", default_value_t = 50_000)]
    pub max_sessions: usize,

    /// Most sessions per client IPv4 address or IPv6 /64 (0: no limit). Beyond it that address's oldest
    /// waiting session is ended, or `hello` is refused with `too_many_sessions`.
    #[arg(long, env = "SIGNALING_MAX_SESSIONS_PER_IP", default_value_t = 64)]
    pub max_sessions_per_ip: usize,

    /// Most sessions per user (token `sub`; 0: no limit; not applied on an open server). Beyond it that
    /// user's oldest waiting session is ended, or `hello` is refused with `too_many_sessions`.
    #[arg(long, env = "SIGNALING_MAX_SESSIONS_PER_USER", default_value_t = 16)]
    pub max_sessions_per_user: usize,

    /// Interval of WebSocket pings; a connection silent for 3 intervals is dropped.
    #[arg(long, env = "SIGNALING_HEARTBEAT_MS", default_value_t = 10_000)]
    pub heartbeat_ms: u64,

    /// Time a new connection has to send `hello`, in milliseconds.
    #[arg(long, env = "SIGNALING_HELLO_TIMEOUT_MS", default_value_t = 10_000)]
    pub hello_timeout_ms: u64,

    /// Most simultaneous WebSocket connections; more are refused with HTTP 503.
    #[arg(long, env = "SIGNALING_MAX_CONNECTIONS", default_value_t = 50_000)]
    pub max_connections: usize,

    /// Most TCP connections that are not (yet) a session: still in the TLS/HTTP handshake, serving files,
    /// or upgraded but before `hello`. More are closed as soon as they are accepted.
    #[arg(long, env = "SIGNALING_MAX_PENDING", default_value_t = 1024)]
    pub max_pending: usize,

    /// Most such pending connections per client IPv4 address or IPv6 /64 (0: no limit).
    #[arg(long, env = "SIGNALING_MAX_PENDING_PER_IP", default_value_t = 64)]
    pub max_pending_per_ip: usize,

    /// Time a new TCP connection has to complete the TLS handshake and send its first HTTP request's
    /// headers, and the longest an idle HTTP connection waits for its next request's headers, in ms.
    #[arg(long, env = "SIGNALING_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub handshake_timeout_ms: u64,

    /// Origin allowed to open `/ws` from a browser, besides the server's own origin, the app's, and on an
    /// open server localhost pages (repeatable; `*` allows any). Requests without an Origin header (native
    /// clients) are always allowed.
    #[arg(
        long = "allowed-origin",
        env = "SIGNALING_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Address of a separate listener for `/metrics` (plus `/healthz` and `/readyz`), e.g. 127.0.0.1:9090.
    /// Without it `/metrics` is not served: the public listener never exposes it.
    #[arg(long, env = "SIGNALING_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Threads that serve connections (default: one per CPU core). When several instances share a
    /// machine, give each its share of the cores, as with nginx's worker_processes: threads of two
    /// instances competing for the same cores add latency under load (docs/performance.md).
    #[arg(long, env = "SIGNALING_WORKER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "SIGNALING_LOG_JSON", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    pub log_json: bool,

    /// Redis shared by several instances behind one address (redis://[:password@]host:port[/db]). Without
    /// it this instance holds every session and room itself. With it, rooms and sessions live in Redis,
    /// signals between instances go through it, and a client may resume on any instance
    /// (docs/operations.md, "Several servers (Redis)"). A password is best given in the environment variable.
    #[arg(long, env = "SIGNALING_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Ring devices that are offline by push (docs/operations.md, "Push"): `welcome.push` carries the VAPID
    /// key and clients may register. Registrations live in --push-db, or in Redis with --redis-url.
    #[arg(long, env = "SIGNALING_PUSH", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    pub push: bool,

    /// With --push and without --redis-url: the SQLite file holding push registrations and the VAPID key
    /// (created on first start; keep it: a new key invalidates every browser's subscription).
    #[arg(long, env = "SIGNALING_PUSH_DB", default_value = "push.sqlite3")]
    pub push_db: PathBuf,

    /// With --push: the contact push services may use (VAPID `sub`): mailto:you@example.org or an https URL.
    #[arg(
        long,
        env = "SIGNALING_PUSH_SUBJECT",
        default_value = "mailto:postmaster@localhost"
    )]
    pub push_subject: String,

    /// With --push: where FCM/APNs registrations are sent (POST JSON {platform, token, payload}); without
    /// it only Web Push (browsers, UnifiedPush) rings.
    #[arg(long, env = "SIGNALING_PUSH_GATEWAY_URL")]
    pub push_gateway_url: Option<String>,

    /// With --push: accept push endpoints over plain http and on private, loopback or link-local
    /// addresses (tests, closed networks). Otherwise such endpoints are refused: no SSRF through push.
    #[arg(long, env = "SIGNALING_PUSH_ALLOW_PRIVATE", value_parser = BoolishValueParser::new(), action = ArgAction::SetTrue)]
    pub push_allow_private: bool,

    /// With --push: most devices registered in one room.
    #[arg(long, env = "SIGNALING_PUSH_MAX_PER_ROOM", default_value_t = 64)]
    pub push_max_per_room: u32,

    /// With --push: most rooms one device is registered in.
    #[arg(
        long,
        env = "SIGNALING_PUSH_MAX_ROOMS_PER_DEVICE",
        default_value_t = 32
    )]
    pub push_max_rooms_per_device: u32,

    /// With --push and auth: most registrations of one token `sub` (all its devices and rooms).
    #[arg(long, env = "SIGNALING_PUSH_MAX_PER_USER", default_value_t = 256)]
    pub push_max_per_user: u32,

    /// With --push: most rings of one device in any minute (each may be followed by one call-ended push).
    #[arg(long, env = "SIGNALING_PUSH_RINGS_PER_MINUTE", default_value_t = 6)]
    pub push_rings_per_minute: u32,

    /// Janus HTTP API of an SFU instance (repeatable), e.g. http://10.0.0.5:8088/janus: calls of more than
    /// --mesh-size people go through the least loaded one that answers (docs/operations.md, "SFU: Janus").
    /// Give --sfu-admin-url and --sfu-public-url once per --sfu-url, in the same order.
    #[arg(long = "sfu-url", env = "SIGNALING_SFU_URLS", value_delimiter = ',')]
    pub sfu_urls: Vec<String>,

    /// Janus admin API of each --sfu-url, in the same order, e.g. http://10.0.0.5:7088/admin (per-participant
    /// tokens are added and removed there).
    #[arg(
        long = "sfu-admin-url",
        env = "SIGNALING_SFU_ADMIN_URLS",
        value_delimiter = ','
    )]
    pub sfu_admin_urls: Vec<String>,

    /// What clients connect to for each --sfu-url, in the same order: the ws:// or wss:// URL of that
    /// Janus's WebSocket transport, as browsers reach it.
    #[arg(
        long = "sfu-public-url",
        env = "SIGNALING_SFU_PUBLIC_URLS",
        value_delimiter = ','
    )]
    pub sfu_public_urls: Vec<String>,

    /// Janus's `api_secret` (janus.jcfg), shared by every --sfu-url; only this server holds it. Prefer the
    /// environment variable or --sfu-api-secret-file.
    #[arg(long, env = "SIGNALING_SFU_API_SECRET", hide_env_values = true)]
    pub sfu_api_secret: Option<String>,

    /// File holding Janus's `api_secret` (surrounding whitespace is ignored).
    #[arg(
        long,
        env = "SIGNALING_SFU_API_SECRET_FILE",
        conflicts_with = "sfu_api_secret"
    )]
    pub sfu_api_secret_file: Option<PathBuf>,

    /// Janus's `admin_secret` (janus.jcfg), shared by every --sfu-admin-url. Prefer the environment
    /// variable or --sfu-admin-secret-file.
    #[arg(long, env = "SIGNALING_SFU_ADMIN_SECRET", hide_env_values = true)]
    pub sfu_admin_secret: Option<String>,

    /// File holding Janus's `admin_secret`.
    #[arg(
        long,
        env = "SIGNALING_SFU_ADMIN_SECRET_FILE",
        conflicts_with = "sfu_admin_secret"
    )]
    pub sfu_admin_secret_file: Option<PathBuf>,

    /// The videoroom plugin's `admin_key` (janus.plugin.videoroom.jcfg), needed to create rooms when it is
    /// set there (set it: otherwise any client holding a token may create rooms).
    #[arg(long, env = "SIGNALING_SFU_ROOM_ADMIN_KEY", hide_env_values = true)]
    pub sfu_room_admin_key: Option<String>,

    /// File holding the videoroom `admin_key`.
    #[arg(
        long,
        env = "SIGNALING_SFU_ROOM_ADMIN_KEY_FILE",
        conflicts_with = "sfu_room_admin_key"
    )]
    pub sfu_room_admin_key_file: Option<PathBuf>,

    /// With --sfu-url: the most people in a peer-to-peer (mesh) call; a call that would have more moves to
    /// the SFU (`welcome.sfu.mesh_size`).
    #[arg(long, env = "SIGNALING_MESH_SIZE", default_value_t = 4)]
    pub mesh_size: u32,

    /// With --sfu-url: most peers in one room (replaces --room-capacity, which bounds mesh-only rooms).
    #[arg(long, env = "SIGNALING_SFU_ROOM_CAPACITY", default_value_t = 32)]
    pub sfu_room_capacity: usize,

    /// With --sfu-url: record every SFU call into this folder of the Janus host (videoroom `record` and
    /// `rec_dir`; convert with janus-pp-rec). For tests and audits: with end-to-end encryption the recordings
    /// hold only encrypted media. Janus must be able to write there (not one of its `protected_folders`).
    #[arg(long, env = "SIGNALING_SFU_RECORD_DIR")]
    pub sfu_record_dir: Option<String>,

    /// With --sfu-url: how often each Janus is checked (a keepalive on the server's Janus session), in
    /// milliseconds. Two failed checks in a row (or a Janus that lost the session: restarted) count it as
    /// lost: its calls' participants get `sfu-lost`.
    #[arg(long, env = "SIGNALING_SFU_HEALTH_MS", default_value_t = 2_000)]
    pub sfu_health_ms: u64,

    /// With --redis-url: how long an instance that stopped heartbeating (every third of this) counts as
    /// alive, in milliseconds, measured by Redis's clock. After it, its dropped sessions wait out the
    /// resume grace period and then leave their rooms.
    #[arg(long, env = "SIGNALING_NODE_TTL_MS", default_value_t = 3_000)]
    pub node_ttl_ms: u64,

    /// With --redis-url: on shutdown, how long this instance keeps answering other instances that take
    /// over its sessions (clients resuming elsewhere), in milliseconds, before it exits.
    #[arg(long, env = "SIGNALING_DRAIN_MS", default_value_t = 10_000)]
    pub drain_ms: u64,

    /// Address or CIDR network of a reverse proxy or load balancer in front of this server (repeatable).
    /// Only for connections from these addresses, the client address is taken from --forwarded-header
    /// (the rightmost entry that is not itself a trusted proxy); the per-address session
    /// limit counts that address, and the pending-connection limit per address does not apply to the proxy.
    #[arg(
        long = "trusted-proxy",
        env = "SIGNALING_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,

    /// The header the --trusted-proxy appends the client's address to; only that one is read (a client can
    /// send the other itself). The proxy must append to it or overwrite it, never pass a client's through.
    #[arg(
        long,
        env = "SIGNALING_FORWARDED_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: ForwardedHeader,

    /// Without a command the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary can do besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Prints a client token (JWT) signed with this server's --auth-secret(-file), honouring
    /// --jwt-audience and --jwt-issuer, and then an invite link that carries it: the first line is the
    /// token, the second the link.
    Token(TokenArgs),
    /// Runs a push gateway for FCM and APNs (the app publisher's credentials), for --push-gateway-url of
    /// the signaling servers (docs/operations.md, "Push: calls to offline devices").
    PushGateway(GatewayArgs),
}

/// Shortest accepted secret: HS256 keys must have at least 256 bits (RFC 7518 §3.2), and the TURN secret
/// can be brute-forced offline from any one credential a client receives.
pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
    /// Parses flags and environment like [`Parser::parse`] (printing usage errors and exiting with code 2),
    /// and also returns the names of secrets that were given on the command line, where `ps` shows them.
    pub fn parse_with_warnings() -> (Config, Vec<String>) {
        let matches = Config::command().get_matches();
        let config = Config::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
        let warnings = [
            "auth_secret",
            "turn_secret",
            "sfu_api_secret",
            "sfu_admin_secret",
            "sfu_room_admin_key",
        ]
        .into_iter()
        .filter(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
        .map(|id| {
            let flag = id.replace('_', "-");
            format!(
                "--{flag} on the command line is visible to every local user (ps); use the \
                     environment variable SIGNALING_{} or --{flag}-file",
                id.to_uppercase()
            )
        })
        .collect();
        (config, warnings)
    }

    /// Reads `--auth-secret-file` and `--turn-secret-file` into the secrets they stand for. The message
    /// names the flag and the file.
    pub fn load_secret_files(&mut self) -> Result<(), String> {
        for (file, secret, flag) in [
            (
                self.auth_secret_file.take(),
                &mut self.auth_secret,
                "--auth-secret-file",
            ),
            (
                self.turn_secret_file.take(),
                &mut self.turn_secret,
                "--turn-secret-file",
            ),
            (
                self.sfu_api_secret_file.take(),
                &mut self.sfu_api_secret,
                "--sfu-api-secret-file",
            ),
            (
                self.sfu_admin_secret_file.take(),
                &mut self.sfu_admin_secret,
                "--sfu-admin-secret-file",
            ),
            (
                self.sfu_room_admin_key_file.take(),
                &mut self.sfu_room_admin_key,
                "--sfu-room-admin-key-file",
            ),
        ] {
            if let Some(path) = file {
                let text = std::fs::read_to_string(&path)
                    .map_err(|err| format!("{flag} {}: {err}", path.display()))?;
                *secret = Some(text.trim().to_owned());
            }
        }
        Ok(())
    }

    /// Checks what clap cannot: ranges and flag combinations. The message names the flag to fix.
    pub fn validate(&self) -> Result<(), String> {
        if !self.turn_urls.is_empty() && self.turn_secret.is_none() {
            return Err(
                "--turn-url needs --turn-secret (the TURN server's static-auth-secret)".into(),
            );
        }
        if self.turn_secret.is_some() && self.turn_urls.is_empty() {
            return Err("--turn-secret given without any --turn-url".into());
        }
        if self.turn_secret.is_some() && self.auth_secret.is_none() && !self.allow_open_turn {
            return Err(
                "--turn-secret without --auth-secret would hand TURN relay credentials to \
                        anyone who connects; add --auth-secret, or --allow-open-turn to accept that"
                    .into(),
            );
        }
        for url in &self.stun_urls {
            if !url.starts_with("stun:") && !url.starts_with("stuns:") {
                return Err(format!(
                    "--stun-url {url:?} must start with stun: or stuns:"
                ));
            }
        }
        for url in &self.turn_urls {
            if !url.starts_with("turn:") && !url.starts_with("turns:") {
                return Err(format!(
                    "--turn-url {url:?} must start with turn: or turns:"
                ));
            }
        }
        if matches!(&self.auth_secret, Some(s) if s.len() < MIN_SECRET_BYTES) {
            return Err(format!(
                "--auth-secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        if matches!(&self.turn_secret, Some(s) if s.len() < MIN_SECRET_BYTES) {
            return Err(format!(
                "--turn-secret must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        if self.auth_secret.is_none() && (self.jwt_audience.is_some() || self.jwt_issuer.is_some())
        {
            return Err("--jwt-audience and --jwt-issuer need --auth-secret".into());
        }
        if self.turn_ttl == 0 {
            return Err("--turn-ttl must be at least 1 second".into());
        }
        if !(256..=16 * 1024 * 1024).contains(&self.max_frame_bytes) {
            return Err("--max-frame-bytes must be between 256 and 16777216".into());
        }
        if self.rate_per_sec == 0 || self.rate_burst == 0 {
            return Err("--rate-per-sec and --rate-burst must be at least 1".into());
        }
        if self.room_capacity < 2 {
            return Err("--room-capacity must be at least 2".into());
        }
        if self.resume_buffer < 16 {
            return Err("--resume-buffer must be at least 16 frames".into());
        }
        if self.resume_buffer_bytes < 2 * self.max_frame_bytes {
            return Err("--resume-buffer-bytes must be at least twice --max-frame-bytes".into());
        }
        if self.max_buffered_bytes < self.resume_buffer_bytes {
            return Err("--max-buffered-bytes must be at least --resume-buffer-bytes".into());
        }
        if self.heartbeat_ms < 100 {
            return Err("--heartbeat-ms must be at least 100".into());
        }
        if self.hello_timeout_ms == 0 || self.handshake_timeout_ms == 0 {
            return Err("--hello-timeout-ms and --handshake-timeout-ms must be at least 1".into());
        }
        if self.max_connections == 0 || self.max_sessions == 0 || self.max_pending == 0 {
            return Err(
                "--max-connections, --max-sessions and --max-pending must be at least 1".into(),
            );
        }
        for origin in &self.allowed_origins {
            if origin != "*" && origin::normalize(origin).is_none() {
                return Err(format!(
                    "--allowed-origin {origin:?} must be scheme://host[:port], e.g. https://chat.example.org, or *"
                ));
            }
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("unix://"))
        {
            return Err("--redis-url must start with redis:// (or unix:// for a socket)".into());
        }
        // Only a URL that parses: an unreachable Redis is waited for (the server starts not ready).
        if let Some(url) = &self.redis_url
            && let Err(err) = redis::Client::open(url.as_str())
        {
            return Err(format!("--redis-url: {err}"));
        }
        if !(self.push_subject.starts_with("mailto:") || self.push_subject.starts_with("https://"))
        {
            return Err("--push-subject must be a mailto: or https:// URL".into());
        }
        if let Some(url) = &self.push_gateway_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err("--push-gateway-url must be an http:// or https:// URL".into());
        }
        if self.push_max_per_room == 0
            || self.push_max_rooms_per_device == 0
            || self.push_rings_per_minute == 0
        {
            return Err(
                "--push-max-per-room, --push-max-rooms-per-device and --push-rings-per-minute must be at least 1"
                    .into(),
            );
        }
        self.validate_sfu()?;
        if self.node_ttl_ms < 300 {
            return Err("--node-ttl-ms must be at least 300".into());
        }
        for proxy in &self.trusted_proxies {
            if ProxyNet::parse(proxy).is_none() {
                return Err(format!(
                    "--trusted-proxy {proxy:?} must be an IP address or a CIDR network, e.g. 10.0.0.0/8"
                ));
            }
        }
        if self
            .metrics_bind
            .is_some_and(|m| m == self.bind && m.port() != 0)
        {
            return Err("--metrics-bind must differ from --bind".into());
        }
        Ok(())
    }

    /// The SFU flags: one admin and one public URL per API URL, both secrets, sane sizes.
    fn validate_sfu(&self) -> Result<(), String> {
        if self.sfu_urls.is_empty() {
            if !self.sfu_admin_urls.is_empty() || !self.sfu_public_urls.is_empty() {
                return Err("--sfu-admin-url and --sfu-public-url need --sfu-url".into());
            }
            return Ok(());
        }
        if self.sfu_admin_urls.len() != self.sfu_urls.len()
            || self.sfu_public_urls.len() != self.sfu_urls.len()
        {
            return Err(
                "give one --sfu-admin-url and one --sfu-public-url per --sfu-url, in the same order"
                    .into(),
            );
        }
        for url in self.sfu_urls.iter().chain(&self.sfu_admin_urls) {
            if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                return Err(format!(
                    "--sfu-url/--sfu-admin-url {url:?} must be an http:// or https:// URL"
                ));
            }
        }
        for url in &self.sfu_public_urls {
            if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "ws" | "wss")) {
                return Err(format!(
                    "--sfu-public-url {url:?} must be a ws:// or wss:// URL"
                ));
            }
        }
        if self.sfu_api_secret.is_none() || self.sfu_admin_secret.is_none() {
            return Err(
                "--sfu-url needs --sfu-api-secret and --sfu-admin-secret (Janus's api_secret and \
                 admin_secret; or their -file flags)"
                    .into(),
            );
        }
        if self.mesh_size < 2 {
            return Err("--mesh-size must be at least 2".into());
        }
        if self.sfu_room_capacity < 2 {
            return Err("--sfu-room-capacity must be at least 2".into());
        }
        if self.sfu_health_ms < 100 {
            return Err("--sfu-health-ms must be at least 100".into());
        }
        Ok(())
    }

    /// Most peers in a room: --sfu-room-capacity when an SFU carries the large calls, else --room-capacity.
    pub fn effective_room_capacity(&self) -> usize {
        if self.sfu_urls.is_empty() {
            self.room_capacity
        } else {
            self.sfu_room_capacity
        }
    }

    pub fn sfu_health(&self) -> Duration {
        Duration::from_millis(self.sfu_health_ms)
    }

    /// Defaults plus the given flags, as a test or embedding program would build it.
    pub fn from_args<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Config::try_parse_from(
            std::iter::once("signaling-server".into()).chain(args.into_iter().map(Into::into)),
        )
    }

    pub fn node_ttl(&self) -> Duration {
        Duration::from_millis(self.node_ttl_ms)
    }

    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    pub fn resume_grace(&self) -> Duration {
        Duration::from_millis(self.resume_grace_ms)
    }

    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }

    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    /// What tokens must satisfy besides the secret.
    pub fn token_rules(&self) -> crate::auth::TokenRules {
        crate::auth::TokenRules {
            audience: self.jwt_audience.clone(),
            issuer: self.jwt_issuer.clone(),
            leeway_secs: self.jwt_leeway_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_protocol() {
        let c = Config::from_args::<_, &str>([]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            (c.max_frame_bytes, c.rate_per_sec, c.rate_burst),
            (65_536, 50, 200)
        );
        assert_eq!(
            (c.room_capacity, c.resume_grace_ms, c.heartbeat_ms),
            (8, 30_000, 10_000)
        );
        assert_eq!(c.resume_buffer, 256);
        assert_eq!(c.effective_room_capacity(), 8, "mesh only without an SFU");
        let c = Config::from_args(["--sfu-url", "http://j/janus"]).unwrap();
        assert_eq!((c.mesh_size, c.effective_room_capacity()), (4, 32));
    }

    /// docs/operations.md's configuration table lists every flag with its environment variable and default,
    /// as `--help` (built from these same definitions) shows them, and nothing else.
    #[test]
    fn the_operations_table_matches_every_flag() {
        let doc = include_str!("../../../docs/operations.md");
        let backticked = |cell: &str| -> Vec<String> {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        let mut documented = std::collections::BTreeMap::new();
        for row in doc.lines().filter(|l| l.starts_with("| `--")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let (flags, envs, defaults) = (
                backticked(cells[0]),
                backticked(cells[1]),
                backticked(cells[2]),
            );
            for (i, flag) in flags.into_iter().enumerate() {
                let default = defaults.get(i).cloned();
                documented.insert(flag, (envs.get(i).cloned(), default));
            }
        }
        let command = Config::command();
        let mut flags = std::collections::BTreeMap::new();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long().filter(|l| !["help", "version"].contains(l)) else {
                continue;
            };
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            // A switch's default is "off" in the table, not a value.
            let default = match arg.get_action() {
                ArgAction::SetTrue => None,
                _ => arg
                    .get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned()),
            };
            flags.insert(format!("--{long}"), (env, default));
        }
        let keys: std::collections::BTreeSet<_> = documented.keys().chain(flags.keys()).collect();
        let differences: Vec<String> = keys
            .into_iter()
            .filter(|flag| documented.get(*flag) != flags.get(*flag))
            .map(|flag| {
                let (doc, code) = (documented.get(flag), flags.get(flag));
                format!("{flag}: docs (env, default) {doc:?}, --help {code:?}")
            })
            .collect();
        assert!(
            differences.is_empty(),
            "docs/operations.md's Configuration table differs from the flags:\n{}",
            differences.join("\n")
        );
    }

    #[test]
    fn bad_combinations_name_the_flag() {
        let c = Config::from_args(["--turn-url", "turn:x:3478"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--turn-secret"));
        let c = Config::from_args(["--stun-url", "http://x"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--stun-url"));
        let c = Config::from_args(["--auth-secret", "sixteen-bytes-ok"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--auth-secret"));
        let c = Config::from_args([
            "--turn-url",
            "turn:x:3478",
            "--turn-secret",
            "a-turn-secret-of-32-bytes-length",
        ])
        .unwrap();
        assert!(c.validate().unwrap_err().contains("--allow-open-turn"));
        let c = Config::from_args([
            "--turn-url",
            "turn:x:3478",
            "--turn-secret",
            "short-turn-secret",
            "--allow-open-turn",
        ])
        .unwrap();
        assert!(c.validate().unwrap_err().contains("--turn-secret"));
        let c = Config::from_args(["--allowed-origin", "example.org"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--allowed-origin"));
        let c = Config::from_args(["--resume-buffer-bytes", "1000"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--resume-buffer-bytes"));
        assert!(
            Config::from_args(["--auth-secret", "x", "--auth-secret-file", "/f"]).is_err(),
            "a secret and its file conflict"
        );
        let sfu = |extra: &[&str]| {
            let mut args = vec![
                "--sfu-url",
                "http://10.0.0.5:8088/janus",
                "--sfu-admin-url",
                "http://10.0.0.5:7088/admin",
                "--sfu-public-url",
                "wss://sfu.example.org/",
                "--sfu-api-secret",
                "a",
                "--sfu-admin-secret",
                "b",
            ];
            args.extend_from_slice(extra);
            Config::from_args(args).unwrap().validate()
        };
        assert_eq!(sfu(&[]), Ok(()));
        assert!(
            sfu(&["--mesh-size", "1"])
                .unwrap_err()
                .contains("--mesh-size")
        );
        assert!(
            sfu(&["--sfu-url", "http://10.0.0.6:8088/janus"])
                .unwrap_err()
                .contains("per --sfu-url")
        );
        let c = Config::from_args([
            "--sfu-url",
            "http://j/janus",
            "--sfu-admin-url",
            "http://j/admin",
        ])
        .unwrap();
        assert!(c.validate().unwrap_err().contains("--sfu-public-url"));
        let c = Config::from_args([
            "--sfu-url",
            "http://j/janus",
            "--sfu-admin-url",
            "http://j/admin",
            "--sfu-public-url",
            "https://j/",
        ])
        .unwrap();
        assert!(c.validate().unwrap_err().contains("ws://"));
        let c = Config::from_args([
            "--sfu-url",
            "http://j/janus",
            "--sfu-admin-url",
            "http://j/admin",
            "--sfu-public-url",
            "ws://j/",
        ])
        .unwrap();
        assert!(c.validate().unwrap_err().contains("--sfu-api-secret"));
        assert!(Config::from_args(["--tls-cert", "a.pem"]).is_err());
        assert!(Config::from_args(["--bind", "nope"]).is_err());
    }
}
