//! Starts Debian's `redis-server` on a free loopback port for the multi-server benchmarks (no persistence),
//! and stops it (by its own PID) when done. `redis-cli` reads its figures.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The Redis settings the project ships for the servers' Redis host (appended to Debian's redis.conf).
const SHIPPED_CONF: &str = include_str!("../../../../docs/deploy/systemd/redis-p2pchat.conf");

pub struct RedisProcess {
    child: Child,
    port: u16,
}

impl RedisProcess {
    pub fn start() -> Result<RedisProcess> {
        Self::start_with(&[])
    }

    /// Starts Redis with `extra` settings (`--name value…` pairs as redis-server takes them).
    pub fn start_with(extra: &[String]) -> Result<RedisProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .context("cannot run redis-server (Debian package redis-server)")?;
        let redis = RedisProcess { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("redis-server did not listen within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `redis-cli` against this Redis and returns its output.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .context("cannot run redis-cli (Debian package redis-tools)")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A numeric field of `INFO <section>` (e.g. `used_memory` of `memory`), 0 if absent.
    pub fn info_field(&self, section: &str, field: &str) -> u64 {
        self.cli(&["INFO", section])
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    }
}

/// The shipped file's settings that apply to a loopback test Redis, as redis-server arguments: memory
/// (`maxmemory`, `maxmemory-policy`) and the pub/sub output buffer limit. Binding, password and persistence
/// are the test's own.
pub fn shipped_settings() -> Vec<(String, String)> {
    SHIPPED_CONF
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(name, _)| {
            [
                "maxmemory",
                "maxmemory-policy",
                "client-output-buffer-limit",
            ]
            .contains(name)
        })
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect()
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
