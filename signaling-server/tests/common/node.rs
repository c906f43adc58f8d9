//! A signaling server as a real process sharing a Redis (`--redis-url`), so a test can kill it with
//! SIGKILL: cluster.rs and sfu.rs.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::redis_server::Redis;

/// Bound for the server to start, say where it listens and exit.
const SLOW: Duration = Duration::from_secs(20);
/// Heartbeat TTL and resume grace of the test servers, short so failures resolve in seconds.
pub const NODE_TTL_MS: u64 = 1000;
pub const GRACE_MS: u64 = 2000;

/// One server process.
pub struct Node {
    child: Child,
    port: u16,
    metrics_port: u16,
}

impl Node {
    /// Starts a server on ports it picks itself (port 0), read from its JSON log, so parallel tests
    /// never share one.
    pub async fn start(redis: &Redis, extra: &[&str]) -> Node {
        let node = Node::spawn(&redis.url(), extra);
        let deadline = Instant::now() + SLOW;
        while !node.ready().await {
            assert!(Instant::now() < deadline, "the server is not ready in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        node
    }

    /// Starts a server for the Redis at `redis_url` and returns once it listens (ready or not).
    pub fn spawn(redis_url: &str, extra: &[&str]) -> Node {
        let ttl = NODE_TTL_MS.to_string();
        let grace = GRACE_MS.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_signaling-server"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--metrics-bind",
                "127.0.0.1:0",
                "--log-json",
            ])
            .args(["--ui-dir", "/nonexistent", "--redis-url", redis_url])
            .args(["--node-ttl-ms", &ttl, "--resume-grace-ms", &grace])
            .args(["--max-sessions-per-ip", "0", "--drain-ms", "5000"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .expect("the signaling-server binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (addresses, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || read_log(stdout, addresses));
        let port = |what: &str| {
            let (kind, addr) = listening
                .recv_timeout(SLOW)
                .unwrap_or_else(|_| panic!("the server did not say where it listens ({what})"));
            (kind, addr.port())
        };
        let (first, second) = (port("first"), port("second"));
        let (port, metrics_port) = if first.0 == "metrics listening" {
            (second.1, first.1)
        } else {
            (first.1, second.1)
        };
        Node {
            child,
            port,
            metrics_port,
        }
    }

    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        matches!(reqwest::get(url).await, Ok(r) if r.status() == 200)
    }

    /// One counter, gauge or histogram line of this server's `/metrics` (name without the `signaling_`
    /// prefix).
    pub async fn metric(&self, name: &str) -> f64 {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        let body = reqwest::get(url).await.unwrap().text().await.unwrap();
        let name = format!("signaling_{name} ");
        body.lines()
            .find_map(|line| line.strip_prefix(&name))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name}in {body}"))
    }

    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits (bounded) for the process to exit.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + SLOW;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Passes the addresses the server logs ("listening", "metrics listening") to `addresses`. Prints its
/// warnings and errors, which the test harness shows only for a failed test, and every line with
/// CLUSTER_TEST_LOGS=1.
fn read_log(
    stdout: std::process::ChildStdout,
    addresses: std::sync::mpsc::Sender<(String, std::net::SocketAddr)>,
) {
    use std::io::BufRead;
    let show = std::env::var_os("CLUSTER_TEST_LOGS").is_some();
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        let entry = serde_json::from_str::<Value>(&line).unwrap_or_default();
        if show || matches!(entry["level"].as_str(), Some("WARN" | "ERROR")) {
            println!("{line}");
        }
        let fields = &entry["fields"];
        if let (Some(message), Some(addr)) = (fields["message"].as_str(), fields["addr"].as_str())
            && let Ok(addr) = addr.parse()
        {
            let _ = addresses.send((message.to_owned(), addr));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
