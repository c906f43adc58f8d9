//! Starts the signaling server binary under test as a child process, so its memory and CPU can be read
//! from /proc, and stops it (by its own PID) when done.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct ServerProcess {
    child: Child,
    pub port: u16,
    /// Port of the metrics listener (`--metrics-bind`).
    pub metrics_port: u16,
    /// Time from spawn until the port accepted a connection.
    pub startup: Duration,
}

impl ServerProcess {
    /// Starts the server with the benchmark settings (every client here comes from 127.0.0.1, so the
    /// per-address limits are off and the global ones raised) plus `extra_args`, which win.
    pub fn start(binary: &PathBuf, extra_args: &[String]) -> Result<ServerProcess> {
        let benchmark: Vec<String> = [
            "--max-connections",
            "100000",
            "--max-sessions",
            "100000",
            "--max-sessions-per-ip",
            "0",
            "--max-pending-per-ip",
            "0",
        ]
        .map(String::from)
        .to_vec();
        Self::start_with(binary, &benchmark, extra_args)
    }

    /// Starts the server with its own defaults plus `args` only.
    pub fn start_with(
        binary: &PathBuf,
        args: &[String],
        extra_args: &[String],
    ) -> Result<ServerProcess> {
        let free_port = || -> Result<u16> {
            Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port())
        };
        let (port, metrics_port) = (free_port()?, free_port()?);
        let started = Instant::now();
        let child = Command::new(binary)
            .args([
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--ui-dir",
                "/nonexistent",
                "--metrics-bind",
                &format!("127.0.0.1:{metrics_port}"),
            ])
            .args(args)
            .args(extra_args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = ServerProcess {
            child,
            port,
            metrics_port,
            startup: Duration::ZERO,
        };
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                server.startup = started.elapsed();
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("server did not start listening within 10 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// The server's Prometheus text (a plain HTTP/1.0 GET on the metrics listener).
    pub fn metrics(&self) -> Result<String> {
        Self::metrics_at(self.metrics_port)
    }

    /// The Prometheus text of the metrics listener on 127.0.0.1:`port`.
    pub fn metrics_at(port: u16) -> Result<String> {
        Ok(Self::get(port, "/metrics")?.1)
    }

    /// Waits until `/readyz` says ready (with Redis: the server joined the others, so sessions may start).
    pub fn wait_ready(&self) -> Result<()> {
        let started = Instant::now();
        while !Self::get(self.metrics_port, "/readyz").is_ok_and(|(status, _)| status == 200) {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("server not ready within 10 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Status and body of a plain HTTP/1.0 GET of `path` on 127.0.0.1:`port`.
    fn get(port: u16, path: &str) -> Result<(u16, String)> {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(tcp, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut text = String::new();
        tcp.read_to_string(&mut text)?;
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, body)| body.to_owned());
        Ok((status, body))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
