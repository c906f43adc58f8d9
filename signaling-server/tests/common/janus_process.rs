//! Debian's Janus 1.1 as a test process: tests/e2e/janus.sh starts it with the configuration we ship
//! (docs/deploy/janus) on free loopback ports with the test secrets below, as tests/e2e/janus.mjs does for
//! the browser tests. Killed and its folder removed on drop. The server's tests use it through
//! `common::janus`; the native engine's (src-tauri/core/tests/sfu.rs) include this file by path, so it
//! uses the standard library only. Without `janus` these tests fail: CI installs it (.ci/deps.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const API_SECRET: &str = "test-janus-api-secret-0123456789";
pub const ADMIN_SECRET: &str = "test-janus-admin-secret-012345678";
pub const ROOM_ADMIN_KEY: &str = "test-janus-room-admin-key-0123456";

/// Bound for Janus to start.
const SLOW: Duration = Duration::from_secs(20);

pub struct JanusProcess {
    child: Child,
    dir: PathBuf,
    pub http_port: u16,
    pub admin_port: u16,
    pub ws_port: u16,
}

impl JanusProcess {
    /// Starts Janus on free loopback ports (new ones if another process took one meanwhile, or if it
    /// ended before it listened: each failed attempt is printed, shown with a failing test's output).
    pub fn start() -> JanusProcess {
        let mut attempts = Vec::new();
        for _ in 0..5 {
            match JanusProcess::try_start() {
                Ok(janus) => return janus,
                Err(why) => {
                    println!("janus did not start (tests/e2e/janus.sh), trying again: {why}");
                    attempts.push(why);
                }
            }
        }
        panic!("janus did not start in 5 attempts: {attempts:#?}");
    }

    fn try_start() -> Result<JanusProcess, String> {
        // A folder no other start shares, even one that got a port another Janus just gave up (the
        // folder of a Janus being dropped is removed after it ended).
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let (http_port, admin_port, ws_port) = (free_port(), free_port(), free_port());
        let dir = std::env::temp_dir().join(format!(
            "p2pchat-test-janus-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for Janus");
        let log = std::fs::File::create(dir.join("janus.log")).expect("Janus's log file");
        // The script execs janus: the child is Janus itself.
        let child = Command::new(janus_sh())
            .arg(&dir)
            .args([http_port, admin_port, ws_port].map(|p| p.to_string()))
            .args([API_SECRET, ADMIN_SECRET, ROOM_ADMIN_KEY])
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("tests/e2e/janus.sh runs");
        let mut janus = JanusProcess {
            child,
            dir,
            http_port,
            admin_port,
            ws_port,
        };
        let deadline = Instant::now() + SLOW;
        loop {
            let log = janus.log();
            // A port was taken (by another test meanwhile), or Janus ended before it listened (under
            // load it has ended at once with an empty log): another attempt. Checked first: Janus runs on
            // without a transport that could not listen. A shipped file janus.sh no longer fits, or no
            // janus, fails every attempt, and the test with the logs.
            if log.contains("No WebSockets server started") || log.contains("Couldn't start") {
                return Err(format!("a port was taken: {log}"));
            }
            let api_up = format!("HTTP webserver started (port {http_port},");
            if log.contains("WebSockets thread started")
                && log.contains(&api_up)
                && log.contains("Admin/monitor HTTP webserver started")
            {
                return Ok(janus);
            }
            if let Ok(Some(status)) = janus.child.try_wait() {
                return Err(format!("it ended ({status}) with the log: {log:?}"));
            }
            assert!(
                Instant::now() < deadline,
                "janus did not start in {SLOW:?} (tests/e2e/janus.sh): {log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("janus.log")).unwrap_or_default()
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/janus", self.http_port)
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}/admin", self.admin_port)
    }

    /// What clients connect to.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }

    /// The signaling server's flags naming this instance (one set per instance).
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--sfu-url".into(),
            self.api_url(),
            "--sfu-admin-url".into(),
            self.admin_url(),
            "--sfu-public-url".into(),
            self.ws_url(),
        ]
    }

    /// The signaling server's flags with the secrets every instance shares.
    pub fn secret_flags() -> Vec<String> {
        [
            "--sfu-api-secret",
            API_SECRET,
            "--sfu-admin-secret",
            ADMIN_SECRET,
            "--sfu-room-admin-key",
            ROOM_ADMIN_KEY,
        ]
        .map(str::to_owned)
        .into()
    }

    /// Stops Janus at once (SIGKILL: a crash, not a clean shutdown).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A folder of this instance's own, removed with it.
    pub fn folder(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::create_dir_all(&path).expect("a folder in Janus's");
        path
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// tests/e2e/janus.sh, in the repository holding the crate under test (signaling-server or
/// src-tauri/core).
fn janus_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("tests/e2e/janus.sh"))
        .find(|script| script.is_file())
        .expect("tests/e2e/janus.sh in the repository")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}
