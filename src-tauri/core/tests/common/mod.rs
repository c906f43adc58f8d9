//! What the core's network tests share: whether they may run here (a private network namespace) and the
//! real signaling server in process.

/// Whether this machine has a default route (the namespace made by tests/e2e/netns.sh has one).
fn has_default_route() -> bool {
    std::fs::read_to_string("/proc/net/route").is_ok_and(|routes| {
        routes
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
    })
}

/// Only inside the test's own network namespace, so ICE gathers test addresses only.
pub fn runnable() -> bool {
    if std::env::var("P2PCHAT_NETNS_TESTS").is_err() {
        let why = "runs only in a private network namespace (test.sh sets P2PCHAT_NETNS_TESTS=1 inside \
                   tests/e2e/netns.sh), so no ICE candidate is a real address";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot run under CI=true: {why}"
        );
        eprintln!("skipped: {why}");
        return false;
    }
    assert!(
        has_default_route(),
        "P2PCHAT_NETNS_TESTS is set but there is no default route: run inside tests/e2e/netns.sh"
    );
    true
}

/// The real signaling server, in process, on an ephemeral loopback port, with `extra` flags.
#[allow(dead_code)]
pub async fn start_server_with(extra: &[String]) -> signaling_server::RunningServer {
    let mut args: Vec<String> = ["--bind", "127.0.0.1:0", "--ui-dir", "/nonexistent"]
        .map(str::to_owned)
        .into();
    args.extend(extra.iter().cloned());
    let config = signaling_server::Config::from_args(args).unwrap();
    signaling_server::start(config).await.unwrap()
}

/// The real signaling server, in process, on an ephemeral loopback port.
#[allow(dead_code)] // not every test file uses both
pub async fn start_server() -> signaling_server::RunningServer {
    start_server_with(&[]).await
}
