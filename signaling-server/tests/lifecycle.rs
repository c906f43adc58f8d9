//! Protects operators: probes and metrics answer (metrics only on their own listener), the web UI is
//! served, bad or unsafe configuration fails with one clear line and exit code 2, secrets can stay out of
//! `ps`, and shutdown closes every session with 1001 and exits 0.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Client, expect_close, get_url, http_get, metric, metrics_text, server, ui_server};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const BIN: &str = env!("CARGO_BIN_EXE_signaling-server");

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let server = server(&[]).await;
    assert_eq!(http_get(&server, "/healthz").await, (200, "ok".into()));
    assert_eq!(http_get(&server, "/readyz").await.0, 200);
    let (mut a, _) = Client::hello(&server, "A").await;
    a.join("r").await;
    a.ping().await;
    // The public listener does not expose metrics; --metrics-bind does.
    assert_eq!(http_get(&server, "/metrics").await.0, 404);
    let metrics_url = server.metrics_url().unwrap();
    assert_eq!(get_url(&format!("{metrics_url}/healthz")).await.0, 200);
    let body = metrics_text(&server).await;
    for name in [
        "signaling_connections",
        "signaling_sessions",
        "signaling_rooms",
        "signaling_relay_latency_seconds",
        "signaling_resumes_total",
        "signaling_buffered_bytes",
        "signaling_sessions_parked",
        "signaling_pending_connections",
    ] {
        assert!(body.contains(name), "missing {name} in\n{body}");
    }
    assert_eq!(
        metric(&server, "signaling_frames_in_total", "type=\"join\"").await,
        1.0
    );
    assert_eq!(
        metric(&server, "signaling_frames_out_total", "type=\"pong\"").await,
        1.0
    );
    assert_eq!(metric(&server, "signaling_connections ", "").await, 1.0);
    assert_eq!(metric(&server, "signaling_rooms ", "").await, 1.0);
}

#[tokio::test]
async fn serves_the_built_ui_or_a_placeholder() {
    let placeholder = server(&[]).await;
    let (status, body) = http_get(&placeholder, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("web UI is not built"));

    let (ui, dir) = ui_server(
        "ui",
        &[
            ("index.html", "<!doctype html><title>p2pchat</title>"),
            ("assets/app.js", "console.log(1)"),
        ],
    )
    .await;
    assert_eq!(
        http_get(&ui, "/").await,
        (200, "<!doctype html><title>p2pchat</title>".into())
    );
    assert_eq!(
        http_get(&ui, "/assets/app.js").await,
        (200, "console.log(1)".into())
    );
    assert_eq!(http_get(&ui, "/missing.js").await.0, 404);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn graceful_shutdown_closes_sessions_with_1001() {
    let server = server(&[]).await;
    let (mut a, _) = Client::hello(&server, "A").await;
    let (mut b, _) = Client::hello(&server, "B").await;
    let addr = server.local_addr();
    let shutdown = tokio::spawn(server.shutdown());
    assert_eq!(expect_close(&mut a.ws).await, CloseCode::Away);
    assert_eq!(expect_close(&mut b.ws).await, CloseCode::Away);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown finishes")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[test]
fn invalid_configuration_exits_2_with_one_clear_line() {
    for (args, expected) in [
        (&["--turn-url", "turn:x:3478"][..], "--turn-secret"),
        (&["--bind", "not-an-address"][..], "--bind"),
        (&["--max-frame-bytes", "12"][..], "--max-frame-bytes"),
        // Short secrets, and TURN credentials for anyone, are refused.
        (
            &["--auth-secret", "only-16-bytes!!!"][..],
            "--auth-secret must be at least 32 bytes",
        ),
        (
            &[
                "--turn-url",
                "turn:x:3478",
                "--turn-secret",
                "a-coturn-secret-of-32-bytes-long",
            ][..],
            "--allow-open-turn",
        ),
        (
            &["--auth-secret-file", "/nonexistent/secret"][..],
            "--auth-secret-file /nonexistent/secret",
        ),
        (
            &["--allowed-origin", "evil.example"][..],
            "--allowed-origin",
        ),
        (
            &[
                "--tls-cert",
                "/nonexistent.pem",
                "--tls-key",
                "/nonexistent.key",
            ][..],
            "TLS",
        ),
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .args(
                ["--bind", "127.0.0.1:0"]
                    .iter()
                    .filter(|_| args[0] != "--bind"),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A configuration that is wrongly accepted starts serving: stop it instead of waiting forever.
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Booleans from the environment are read as env files write them: 1/0, true/false, yes/no.
#[tokio::test]
async fn boolean_environment_variables_accept_1_0_true_false_yes_no() {
    for (value, json) in [
        ("1", true),
        ("yes", true),
        ("true", true),
        ("0", false),
        ("no", false),
        ("false", false),
    ] {
        let (child, _) = spawn_server(&[], &[("SIGNALING_LOG_JSON", value)]).await;
        let log = stop(child);
        let first = log.lines().next().unwrap_or_default();
        assert_eq!(
            first.starts_with('{'),
            json,
            "SIGNALING_LOG_JSON={value}: {log}"
        );
    }
}

/// `signaling-server token` mints what the same server accepts: the invite link's token joins its room
/// and no other; without a secret it says what is missing.
#[tokio::test]
async fn the_token_command_prints_a_token_the_server_accepts_for_its_room_only() {
    let secret = "a-token-command-secret-of-32-bytes!";
    let out = Command::new(BIN)
        .args(["token", "--sub", "alice", "--room", "team", "--ttl", "10m"])
        .args(["--url", "https://chat.example.org"])
        .env("SIGNALING_AUTH_SECRET", secret)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (token, link) = stdout.trim().split_once('\n').unwrap();
    assert_eq!(
        link,
        format!("https://chat.example.org/#room=team&token={token}")
    );
    let (child, port) = spawn_server(&[], &[("SIGNALING_AUTH_SECRET", secret)]).await;
    let hello = serde_json::json!({"type": "hello", "v": 1, "name": "Alice", "token": token});
    let (mut alice, _) = Client::hello_url(&format!("ws://127.0.0.1:{port}/ws"), hello).await;
    assert_eq!(alice.join("team").await["type"], "joined");
    alice
        .send(serde_json::json!({"type": "join", "room": "other"}))
        .await;
    assert_eq!(alice.expect_error("unauthorized").await["ref"], "join");
    stop(child);

    let out = Command::new(BIN)
        .args(["token", "--sub", "alice"])
        .env_remove("SIGNALING_AUTH_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auth-secret-file"));
}

#[tokio::test]
async fn binary_serves_and_exits_0_on_sigterm() {
    let (mut child, port) = spawn_server(&[], &[]).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(expect_close(&mut ws).await, CloseCode::Away);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// Starts the binary with `args` and `envs`, waits until it serves, and returns it with its port.
async fn spawn_server(args: &[&str], envs: &[(&str, &str)]) -> (std::process::Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(BIN)
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--ui-dir",
            "/nonexistent",
        ])
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/healthz");
    while reqwest::get(&url).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, port)
}

/// Stops `child` with SIGTERM and returns what it logged.
fn stop(child: std::process::Child) -> String {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Secrets can come from a file or the environment instead of the command line
/// (where `ps` shows them; the server warns when one does); open TURN needs its flag and is warned about.
#[tokio::test]
async fn secrets_come_from_files_or_the_environment_and_unsafe_choices_are_logged() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    let secret = "a-file-secret-of-at-least-32-bytes";
    let dir = std::env::temp_dir().join(format!("signaling-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("auth-secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let turn_secret = "a-turn-secret-from-the-environment";
    let (child, port) = spawn_server(
        &[
            "--auth-secret-file",
            file.to_str().unwrap(),
            "--turn-url",
            "turn:turn.example.org:3478",
        ],
        &[("SIGNALING_TURN_SECRET", turn_secret)],
    )
    .await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 60;
    let token = encode(
        &Header::default(),
        &serde_json::json!({"sub": "u", "exp": exp}),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    let hello = serde_json::json!({"type": "hello", "v": 1, "name": "A", "token": token});
    let (_, welcome) = Client::hello_on(ws, hello).await;
    assert_eq!(
        welcome["ice_servers"][0]["urls"][0],
        "turn:turn.example.org:3478"
    );
    let log = stop(child);
    assert!(!log.contains("visible to every local user"), "{log}");
    assert!(!log.contains(secret) && !log.contains(turn_secret), "{log}");

    let (child, _) = spawn_server(
        &[
            "--auth-secret",
            "a-command-line-secret-of-32-bytes",
            "--metrics-bind",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let log = stop(child);
    assert!(
        log.contains("--auth-secret on the command line is visible"),
        "{log}"
    );

    let (child, _) = spawn_server(
        &[
            "--turn-url",
            "turn:turn.example.org:3478",
            "--allow-open-turn",
        ],
        &[("SIGNALING_TURN_SECRET", turn_secret)],
    )
    .await;
    let log = stop(child);
    assert!(log.contains("--allow-open-turn: every client"), "{log}");
    std::fs::remove_dir_all(&dir).ok();
}
