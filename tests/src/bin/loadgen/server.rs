//! Starts the signaling server binary under test as a child process, so its memory and CPU can be read
//! from /proc, and stops it (by its own PID) when done.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct ServerProcess {
    child: Child,
    pub port: u16,
    /// Time from spawn until the port accepted a connection.
    pub startup: Duration,
}

impl ServerProcess {
    pub fn start(binary: &PathBuf, extra_args: &[String]) -> Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let started = Instant::now();
        let child = Command::new(binary)
            .args([
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--ui-dir",
                "/nonexistent",
            ])
            .args(["--max-connections", "100000"])
            .args(extra_args)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = ServerProcess {
            child,
            port,
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
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
