//! Server configuration: every flag also reads an environment variable, and [`Config::validate`] turns a
//! bad combination into one clear sentence (the binary prints it and exits with code 2).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

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

    /// HS256 secret for client JWTs (`hello.token`). Without it the server is open to anyone (development).
    #[arg(long, env = "SIGNALING_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,

    /// STUN server URL handed to clients in `welcome.ice_servers` (repeatable), e.g. stun:stun.example.org:3478.
    #[arg(long = "stun-url", env = "SIGNALING_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// TURN server URL handed to clients with ephemeral credentials (repeatable), e.g.
    /// turn:turn.example.org:3478?transport=udp. Requires --turn-secret.
    #[arg(long = "turn-url", env = "SIGNALING_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// Shared secret of the TURN server (coturn `static-auth-secret` with `use-auth-secret`).
    #[arg(long, env = "SIGNALING_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Lifetime of issued TURN credentials, in seconds.
    #[arg(long, env = "SIGNALING_TURN_TTL", default_value_t = 86_400)]
    pub turn_ttl: u64,

    /// Largest accepted text frame in bytes; larger frames get `error{code:"too_large"}`.
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

    /// Interval of WebSocket pings; a connection silent for 3 intervals is dropped.
    #[arg(long, env = "SIGNALING_HEARTBEAT_MS", default_value_t = 10_000)]
    pub heartbeat_ms: u64,

    /// Time a new connection has to send `hello`, in milliseconds.
    #[arg(long, env = "SIGNALING_HELLO_TIMEOUT_MS", default_value_t = 10_000)]
    pub hello_timeout_ms: u64,

    /// Most simultaneous WebSocket connections; more are refused with HTTP 503.
    #[arg(long, env = "SIGNALING_MAX_CONNECTIONS", default_value_t = 50_000)]
    pub max_connections: usize,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "SIGNALING_LOG_JSON")]
    pub log_json: bool,
}

impl Config {
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
        if matches!(&self.auth_secret, Some(s) if s.len() < 16) {
            return Err("--auth-secret must be at least 16 bytes".into());
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
        if self.heartbeat_ms < 100 {
            return Err("--heartbeat-ms must be at least 100".into());
        }
        if self.hello_timeout_ms == 0 || self.max_connections == 0 {
            return Err("--hello-timeout-ms and --max-connections must be at least 1".into());
        }
        Ok(())
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

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    pub fn resume_grace(&self) -> Duration {
        Duration::from_millis(self.resume_grace_ms)
    }

    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
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
    }

    #[test]
    fn bad_combinations_name_the_flag() {
        let c = Config::from_args(["--turn-url", "turn:x:3478"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--turn-secret"));
        let c = Config::from_args(["--stun-url", "http://x"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--stun-url"));
        let c = Config::from_args(["--auth-secret", "short"]).unwrap();
        assert!(c.validate().unwrap_err().contains("--auth-secret"));
        assert!(Config::from_args(["--tls-cert", "a.pem"]).is_err());
        assert!(Config::from_args(["--bind", "nope"]).is_err());
    }
}
