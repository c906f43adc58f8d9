//! Debian's `redis-server` on a free loopback port, for the tests of several servers sharing Redis
//! (cluster.rs, sfu.rs). Without `redis-server` these tests fail: CI installs it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bound for Redis to start.
const SLOW: Duration = Duration::from_secs(20);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

pub struct Redis {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts an empty Redis (no persistence) on a free port.
    pub fn start() -> Redis {
        for _ in 0..5 {
            if let Some(redis) = Redis::try_start_on(free_port()) {
                return redis;
            }
        }
        panic!("redis-server could not listen on a free port 5 times");
    }

    /// Starts it on `port` (again after [`Redis::kill`], or where a server already waits for it).
    pub fn start_on(port: u16) -> Redis {
        Redis::try_start_on(port).expect("redis-server restarts on its port")
    }

    /// `None` if the port was taken (by then by someone else: tests run in parallel).
    pub fn try_start_on(port: u16) -> Option<Redis> {
        let dir = std::env::temp_dir().join(format!("signaling-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}): these tests need Debian's redis-server \
                     (apt-get install redis-server; .ci/deps.sh installs it for the tests)"
                )
            });
        let mut redis = Redis { child, port, dir };
        let deadline = Instant::now() + SLOW;
        loop {
            assert!(Instant::now() < deadline, "redis-server did not start");
            if let Ok(Some(_)) = redis.child.try_wait() {
                return None;
            }
            // The Redis answering must be this one, not another test's on the same port.
            if let Some(pid) = redis.process_id() {
                return (pid == redis.child.id()).then_some(redis);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id of the Redis answering on this port.
    pub fn process_id(&self) -> Option<u32> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_connection().ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn).ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("process_id:"))
            .and_then(|pid| pid.trim().parse().ok())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops Redis at once (SIGKILL: an outage, not a clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Makes Redis answer nobody for `ms` (DEBUG SLEEP): a stall or partition, not a restart (nothing is
    /// lost, keys with a TTL expire meanwhile). Returns once it answers again.
    pub fn stall(&self, ms: u64) {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let seconds = format!("{:.3}", ms as f64 / 1000.0);
        let () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(seconds)
            .query(&mut conn)
            .unwrap();
    }

    /// Subscribers of this cluster's server channels, as Redis counts them.
    pub async fn subscribed_servers(&self) -> usize {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let channels: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .arg("p2pchat:ch:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        channels.len()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
